"""Which files the v1 API needs: every document, marker and default of the site.

This decides *what* is published (privacy, `library/` short names, layers);
`paths` decides *where*, `v1_json` decides the bytes, the writer writes.
"""

from __future__ import annotations

import contextlib
import json
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import TYPE_CHECKING

from generator import paths
from generator.emit import units, v1_json
from generator.listings import ListingStore, digest
from generator.model import Image, Registry, Repository
from generator.report import Report
from generator.sources import v1
from generator.sources.v1_layout import LIBRARY

if TYPE_CHECKING:
    from generator.emit.html_data import RepositoryRow


@dataclass(frozen=True)
class Output:
    """One file of the site: bytes to write, or a storage file to link."""

    relpath: str
    data: bytes | None = None
    source: Path | None = None
    origin: str = ""
    """What produced it, for problems ("repository acme/web", "image <id>")."""
    unit: str = units.SITE
    """The unit it belongs to (`emit/units.py`): an incremental build keeps or redoes it whole."""


@dataclass(frozen=True)
class Selection:
    """What a build publishes once privacy is applied."""

    repositories: tuple[Repository, ...]
    images: tuple[Image, ...]
    dirty: frozenset[str] | None = None
    """The units to emit (`emit/units.py`); None: every unit (a full build)."""
    worker: bool | None = None
    """In a build split over two processes (`emit/parallel.py`): True in the forked worker,
    False in the parent, each emitting its share of the units; None: not split."""
    last: bool = False
    """In a split build's parent: the units it makes once the worker is done
    (`units.after_split`), instead of its share."""
    rows: dict[str, RepositoryRow] | None = field(default=None, compare=False)
    """What lists of repositories show of each (by full name) that is known to be current: the
    rows the previous build remembered of repositories whose unit is clean. The HTML emitter
    adds the rows it computes, and the build remembers them all (`html_data.RepositoryRow`)."""
    row_markup: dict[str, str] | None = field(default=None, compare=False)
    """The markup of the rows above (by full name) known to be current, kept like them; the
    HTML emitter adds the markup it makes (the `repository_row` filter, `emit/html.py`)."""

    def wants(self, unit: str) -> bool:
        """Whether an emitter should produce `unit`'s outputs in this build (and this process)."""
        if self.dirty is not None and unit not in self.dirty:
            return False
        if self.worker is None:
            return True
        if units.after_split(unit):
            return self.last
        return not self.last and units.in_worker_share(unit) == self.worker

    def wanted_repositories(self) -> list[Repository]:
        """The repositories whose unit this build (and process) emits, in order.

        A rebuild redoes a few units of tens of thousands: their names are
        picked out of the dirty ones, rather than each repository's unit
        name made and looked up.
        """
        if self.dirty is None:
            return [r for r in self.repositories if self.wants(units.repository(r.full_name))]
        names = dirty_names(self.dirty, units.repository(""))
        chosen = [r for r in self.repositories if r.full_name in names] if names else []
        return [r for r in chosen if self.wants(units.repository(r.full_name))]

    def wanted_images(self) -> list[Image]:
        """The images whose unit this build (and process) emits, in order (see above)."""
        if self.dirty is None:
            return [i for i in self.images if self.wants(units.image(i.id))]
        ids = dirty_names(self.dirty, units.image(""))
        chosen = compress(self.images, map(ids.__contains__, map(_ID, self.images))) if ids else ()
        return [i for i in chosen if self.wants(units.image(i.id))]


def dirty_names(dirty: frozenset[str], prefix: str) -> set[str]:
    """The names in the units of `dirty` that start with `prefix` (`units.repository("")`)."""
    return {unit[len(prefix):] for unit in dirty if unit.startswith(prefix)}


def select(
    registry: Registry, include_private: bool, hidden: frozenset[str] | None = None
) -> Selection:
    """Drop private repositories, and images reachable only from them, unless asked not to.

    Images no repository reaches (left by a deleted repository) stay
    published, as 0.9.1 still served them. A rebuild selects twice (the old
    registry and the new): the filters run at C speed, and the walk from the
    public repositories only when those private reach some image. `hidden`:
    the images `hidden_images` finds in `registry`, when known (a rebuild
    remembers the last build's, for the registry it crawled).
    """
    if include_private:
        return Selection(registry.repositories, registry.images)
    repositories = registry.repositories
    public = tuple(compress(repositories, map(operator.not_, map(_PRIVATE, repositories))))
    if hidden is None:
        hidden = hidden_images(registry, include_private)
    images = registry.images
    if hidden:
        shown = map(operator.not_, map(hidden.__contains__, map(_ID, images)))
        images = tuple(compress(images, shown))
    return Selection(public, images)


def hidden_images(registry: Registry, include_private: bool) -> frozenset[str]:
    """The ids of the images `select` leaves out: reachable from private repositories only."""
    if include_private:
        return frozenset()
    repositories = registry.repositories
    private = list(map(_PRIVATE, repositories))
    hidden = _reachable(registry, compress(repositories, private))
    if hidden:
        hidden -= _reachable(registry, compress(repositories, map(operator.not_, private)))
    return frozenset(hidden)


_PRIVATE = operator.attrgetter("private")
_ID = operator.attrgetter("id")


def _reachable(registry: Registry, repositories: Iterable[Repository]) -> set[str]:
    """The ids of the images `repositories` name and of their ancestors, walked in order (as
    their ancestry files and parents name them)."""
    seen: set[str] = set()
    add, update, image_of = seen.add, seen.update, registry.image
    for repository in repositories:
        for image_id in repository.image_ids():
            while image_id and image_id not in seen:
                add(image_id)
                image = image_of(image_id)
                if image is None:
                    break
                ancestry = image.ancestry
                if ancestry:
                    update(ancestry)
                image_id = image.parent or ""
    return seen


def site_outputs(
    selection: Selection, include_layers: bool, report: Report,
    listings: ListingStore | None = None,
) -> Iterator[Output]:
    """Every v1 file of the site, in a fixed order (`/files` answers kept in `listings`)."""
    if selection.wants(units.SITE):
        yield from _service_outputs(selection)
    for repository in selection.wanted_repositories():
        unit = units.repository(repository.full_name)
        if repository.is_directory:
            for name in _names(repository):
                yield from _repository_outputs(repository, name, unit, report)
    for image in selection.wanted_images():
        yield from _image_outputs(image, units.image(image.id), include_layers, report, listings)


def _service_outputs(selection: Selection) -> Iterator[Output]:
    origin = "service"
    yield Output(paths.file_for_url(""), v1_json.ROOT, origin=origin)
    yield Output(paths.file_for_url("_ping"), v1_json.PING, origin=origin)
    yield Output(paths.file_for_url("v1/_ping"), v1_json.PING, origin=origin)
    names = [r.full_name for r in selection.repositories]
    yield Output(paths.file_for_url("v1/search"), v1_json.search_all(names), origin=origin)
    defaults = paths.DEFAULTS_DIR
    yield Output(f"{defaults}/repository-json.json", v1_json.DEFAULT_METADATA, origin=origin)
    yield Output(f"{defaults}/properties.json", v1_json.PUBLIC, origin=origin)
    errors = paths.ERRORS_DIR
    for name, body in _ERROR_FILES.items():
        yield Output(f"{errors}/{name}", body, origin=origin)


_ERROR_FILES = {
    "repository-not-found.json": v1_json.REPOSITORY_NOT_FOUND,
    "tag-not-found.json": v1_json.TAG_NOT_FOUND,
    "images-not-found.json": v1_json.IMAGES_NOT_FOUND,
    "image-not-found.json": v1_json.IMAGE_NOT_FOUND,
    "image-in-progress.json": v1_json.IMAGE_IN_PROGRESS,
    "not-found.html": v1_json.NOT_FOUND_HTML,
    "empty-layer": b"",
}
"""Fixed error bodies nginx serves with `error_page`; `sitegen serve` uses v1_json directly."""


def _names(repository: Repository) -> tuple[str, ...]:
    """`ns/repo`, and for `library/` also the short name 0.9.1 maps to it."""
    if repository.namespace == LIBRARY:
        return (repository.full_name, repository.name)
    return (repository.full_name,)


def _repository_outputs(
    repository: Repository, name: str, unit: str, report: Report
) -> Iterator[Output]:
    origin = f"repository {name}"
    url = paths.repository_url
    file = paths.file_for_url
    if repository.has_entries:  # an empty directory answers `tags` with 404
        yield Output(file(url(name, "tags")), v1_json.tags(repository), origin=origin, unit=unit)
    for tag in repository.tags:
        tag_origin = f"{origin} tag {tag.name}"
        body = v1_json.tag(tag)
        yield Output(file(url(name, "tags", tag.name)), body, origin=tag_origin, unit=unit)
        body = _metadata(tag.metadata, f"{repository.full_name} tag{tag.name}_json", report)
        yield Output(file(url(name, "tags", tag.name, "json")), body, origin=tag_origin, unit=unit)
    body = _metadata(repository.metadata, f"{repository.full_name}/json", report)
    yield Output(file(url(name, "json")), body, origin=origin, unit=unit)
    properties = v1_json.properties(repository)
    yield Output(file(url(name, "properties")), properties, origin=origin, unit=unit)
    where = repository.index_images_file or repository.full_name
    index = _read_again(repository.stored_index_images, "_index_images", where, report)
    if index is not None:
        yield Output(file(url(name, "images")), index, origin=origin, unit=unit)


def _metadata(raw: bytes | None, where: str, report: Report) -> bytes:
    try:
        return v1_json.metadata(raw)
    except ValueError as exc:
        report.problem(
            f"repositories/{where}", f"corrupt JSON ({exc}); the default object is served"
        )
        return v1_json.DEFAULT_METADATA


def _image_outputs(
    image: Image, unit: str, include_layers: bool, report: Report, listings: ListingStore | None
) -> Iterator[Output]:
    origin = f"image {image.id}"
    meta, url = paths.image_meta, paths.image_url
    if image.in_progress:
        yield Output(meta(image.id, "inprogress"), b"", origin=origin, unit=unit)
        return
    body = _read_again(image.stored_json, "image json", image.json_file or image.id, report)
    if body is not None:
        yield Output(url(image.id, "json"), body, origin=origin, unit=unit)
        yield Output(meta(image.id, "headers.json"), _json_headers(image), origin=origin, unit=unit)
    if image.ancestry is not None:
        yield Output(url(image.id, "ancestry"), v1_json.ancestry(image), origin=origin, unit=unit)
    files = _files(image, listings, report)
    if files is not None:
        yield Output(url(image.id, "files"), files, origin=origin, unit=unit)
    elif image.files_unsupported:
        yield Output(meta(image.id, "files.400"), b"", origin=origin, unit=unit)
    if include_layers and image.layer_path is not None:
        if image.layer_size == 0:
            # 0.9.1 answers a zero-length layer with 416; a static file would be a 200.
            yield Output(meta(image.id, "layer.416"), b"", origin=origin, unit=unit)
        else:
            yield Output(url(image.id, "layer"), source=image.layer_path, origin=origin, unit=unit)


def _files(image: Image, listings: ListingStore | None, report: Report) -> bytes | None:
    """The image's `/files` answer: held, or read from the listing store.

    Should the store have lost it (removed by hand), it is computed again from
    the storage and kept again; an answer that then differs from the crawl's
    is a problem naming the file, and `/files` is left out of this build.
    """
    key = image.files_digest
    if image.files is not None or key is None:
        return image.files
    if listings is not None:
        with contextlib.suppress(OSError):
            return listings.get(key)
    answer = v1.files_of(image)
    if answer is not None and digest(answer) == key:
        if listings is not None:
            with contextlib.suppress(OSError):
                listings.put(answer)
        return answer
    where = listings.path(key) if listings is not None else image.id
    report.problem(where, "the /files answer the crawl computed is gone; not published")
    return None


def _read_again(
    read: Callable[[], bytes | None], what: str, where: str, report: Report
) -> bytes | None:
    """`read()`: a v1 file the crawl left in the storage (image JSON, `_index_images`), read
    again to publish it; None if there is none.

    A file that vanished or changed since the crawl is a problem naming it,
    and its document is left out of this build; the rest goes on, and the
    next build's fingerprints see the change and crawl it again.
    """
    try:
        return read()
    except OSError as exc:
        report.problem(where, f"{what}: {exc.strerror or exc}; not published")
        return None


def _json_headers(image: Image) -> bytes:
    """Headers 0.9.1 derived from storage for `/json`, for `sitegen serve` to send."""
    headers: dict[str, object] = {}
    if image.layer_size is not None:
        headers["X-Docker-Size"] = str(image.layer_size)
    if image.checksums:
        headers["X-Docker-Checksum-Payload"] = list(image.checksums)
    return _HEADERS.encode(headers).encode()


_HEADERS = json.JSONEncoder(sort_keys=True)
"""`json.dumps(…, sort_keys=True)`'s encoder, made once rather than per image."""
