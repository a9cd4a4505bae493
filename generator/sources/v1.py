"""Crawl a legacy v1 storage directory into the model, with 0.9.1's semantics.

Bad storage never stops the crawl: a corrupt file, an unreadable directory or
a name that cannot be published becomes a Problem naming the path, and the
item is skipped. Walks are sorted by the names' bytes, so two crawls of the
same storage meet items in the same order.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generator import paths
from generator.listings import ListingStore
from generator.model import Image, Registry, Repository, Tag, json_digest, pack_checksums
from generator.report import Report
from generator.sources import v1_layout as layout
from generator.sources.layer_files import (
    COMPRESSION_HEAD,
    LayerFormatError,
    compression,
    files_json,
)


def crawl(root: Path, report: Report) -> Registry:
    """Read every repository and image under `root`."""
    repositories = tuple(_crawl_repositories(root, report))
    images = tuple(_crawl_images(root, report))
    report_dangling_tags(root, repositories, {image.id for image in images}, report)
    return Registry(repositories=repositories, images=images)


def report_dangling_tags(
    root: Path, repositories: tuple[Repository, ...], image_ids: set[str], report: Report
) -> None:
    """Name tags whose image is gone; they stay listed, as 0.9.1 listed them."""
    for repository in repositories:
        for tag in repository.tags:
            if tag.image_id not in image_ids:
                where = layout.repositories_dir(root) / repository.full_name / f"tag_{tag.name}"
                report.problem(
                    where,
                    f"points at image {tag.image_id[:80]!r}, which is not in images/; "
                    "listed as 0.9.1 listed it",
                    kind="dangling",
                )


# --- directory walking --------------------------------------------------------


def _sorted_entries(directory: Path, report: Report) -> list[os.DirEntry[str]] | None:
    """Entries of `directory` in byte order, or None (with a problem) if unreadable."""
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except FileNotFoundError:
        return []
    except OSError as exc:
        report.problem(directory, f"cannot list directory: {exc.strerror or exc}")
        return None
    return sorted(entries, key=lambda e: os.fsencode(e.name))


def _publishable(name: str, where: Path, report: Report, what: str) -> bool:
    try:
        paths.check_segment(name)
    except paths.UnsafeName as exc:
        shown = os.fsencode(name)[:80]
        report.problem(
            where / name if len(shown) < 80 else where,
            f"{what} {shown!r} {exc}; skipped",
            kind="name",
        )
        return False
    return True


def _read(path: Path, report: Report) -> bytes | None:
    """File bytes, None if absent, None with a problem if unreadable."""
    try:
        return _read_bytes(path)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        report.problem(path, "is a directory, expected a file; ignored")
        return None
    except OSError as exc:
        report.problem(path, f"cannot read: {exc.strerror or exc}")
        return None


def _read_bytes(path: Path) -> bytes:
    """`path.read_bytes()` in four system calls instead of nine (no fstat, ioctl or lseek):
    it runs for every metadata file of the storage. A folder raises IsADirectoryError too."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 16384)  # metadata files are small: most take one read
        if not data:
            return data
        chunks = [data]
        while chunk := os.read(fd, 262144):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return data if len(chunks) == 1 else b"".join(chunks)


def _read_json(path: Path, report: Report) -> tuple[bool, Any]:
    """(present, value); a corrupt file is a problem and reads as absent."""
    raw = _read(path, report)
    if raw is None:
        return False, None
    try:
        return True, json.loads(raw)
    except ValueError as exc:
        report.problem(path, f"corrupt JSON ({exc}); ignored")
        return False, None


# --- repositories ---------------------------------------------------------------


def _crawl_repositories(root: Path, report: Report) -> Iterator[Repository]:
    base = layout.repositories_dir(root)
    for ns_entry in _sorted_entries(base, report) or []:
        if not namespace_entry(base, ns_entry.name, ns_entry.is_dir(), report):
            continue
        ns_dir = base / ns_entry.name
        for entry in _sorted_entries(ns_dir, report) or []:
            repo = repository_entry(ns_dir, entry.name, entry.is_dir(), report)
            if repo is not None:
                yield repo


# One entry of the storage at a time: what `crawl` does for each, and what an
# incremental build (generator/incremental.py) redoes for the entries that changed.


def namespace_entry(base: Path, name: str, is_dir: bool, report: Report) -> bool:
    """Whether `repositories/<name>` is a namespace to descend into (else a problem)."""
    if not is_dir:
        report.problem(base / name, "not a namespace directory; ignored")
        return False
    return _publishable(name, base, report, "namespace")


def repository_entry(ns_dir: Path, name: str, is_dir: bool, report: Report) -> Repository | None:
    """The repository `repositories/<ns>/<name>` (a stray file included), or None."""
    if not _publishable(name, ns_dir, report, "repository"):
        return None
    if is_dir:
        return _crawl_repository(sys.intern(ns_dir.name), ns_dir / name, report)
    # 0.9.1's search walk lists every entry, files included.
    return Repository(
        namespace=sys.intern(ns_dir.name), name=name, is_directory=False, has_entries=False
    )


def _crawl_repository(namespace: str, repo_dir: Path, report: Report) -> Repository | None:
    entries = _sorted_entries(repo_dir, report)
    if entries is None:
        return None
    tags = []
    # The tags of one push hold the same metadata, and the repository's `json` is the
    # `latest` tag's: one bytes object for equal ones (at 20,000 repositories, 80,000
    # tags held 20,000 different metadata).
    metadata: dict[bytes, bytes] = {}
    for entry in entries:
        name = layout.tag_name(entry.name)
        if name is None or not _publishable(name, repo_dir, report, "tag"):
            continue
        tag = _crawl_tag(repo_dir, entry.name, name, report, metadata)
        if tag is not None:
            tags.append(tag)
    repository = Repository(
        namespace=namespace,
        name=repo_dir.name,
        has_entries=bool(entries),
        private=layout.private_flag_file(repo_dir).exists(),
        tags=tuple(tags),
        index_images=_read(layout.index_images_file(repo_dir), report),
        metadata=_shared(_read(layout.repository_json_file(repo_dir), report), metadata),
    )
    # A list of every image pushed: read again to publish it (5 MB at 20,000 repositories).
    return repository.index_images_stored(sys.intern(str(repo_dir.parent.parent)))


def _shared(raw: bytes | None, seen: dict[bytes, bytes]) -> bytes | None:
    """`raw`, or the equal bytes object met before."""
    return raw if raw is None else seen.setdefault(raw, raw)


def _crawl_tag(
    repo_dir: Path, entry: str, name: str, report: Report, metadata: dict[bytes, bytes]
) -> Tag | None:
    path = repo_dir / entry
    raw = _read(path, report)
    if raw is None:
        return None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        report.problem(path, "tag file is not UTF-8 text; skipped")
        return None
    return Tag(
        name=sys.intern(name),  # `latest` in most repositories
        value=sys.intern(value),  # an image id, as in `Image.id`: one string for both
        metadata=_shared(_read(layout.tag_metadata_file(repo_dir, name), report), metadata),
    )


# --- images ---------------------------------------------------------------------


def _crawl_images(root: Path, report: Report) -> Iterator[Image]:
    base = layout.images_dir(root)
    for entry in _sorted_entries(base, report) or []:
        image = image_entry(base, entry.name, entry.is_dir(), report)
        if image is not None:
            yield image


def image_entry(
    base: Path, name: str, is_dir: bool, report: Report, listings: ListingStore | None = None
) -> Image | None:
    """The image `images/<name>`, or None (with a problem) if it cannot be one.

    With `listings`, its `/files` answer is kept there, the image holding its digest.
    """
    if not paths.IMAGE_ID_RE.match(name):
        shown = os.fsencode(name)[:80]
        report.problem(
            base, f"entry {shown!r} is not an image id; the v1 API cannot reach it", kind="name"
        )
        return None
    if not is_dir:
        report.problem(base / name, "not an image directory; ignored")
        return None
    return _crawl_image(base, name, report, listings)


def _crawl_image(
    base: Path, name: str, report: Report, listings: ListingStore | None
) -> Image | None:
    image_dir = base / name
    image_id = sys.intern(name)  # one string for the id in every ancestry and tag
    in_progress = layout.image_file(image_dir, "_inprogress").exists()
    if in_progress:
        # 0.9.1 answers 400 on every route before reading anything else.
        return Image(id=image_id, in_progress=True)
    json_path = layout.image_file(image_dir, "json")
    raw_json = _read(json_path, report)
    if raw_json is None:
        report.problem(json_path, "image has no json; skipped")
        return None
    try:
        config = json.loads(raw_json)
    except ValueError as exc:
        report.problem(json_path, f"corrupt JSON ({exc}); image skipped")
        return None
    if not isinstance(config, dict):
        report.problem(json_path, "image json is not an object; image skipped")
        return None
    layer = layout.image_file(image_dir, "layer")
    layer_size, packed = _layer(layer, report)
    files, unsupported = _files_answer(image_dir, layer if layer_size is not None else None, report)
    files_digest = None
    if files is not None and listings is not None:
        files_digest = _stored(listings, files, report)
        if files_digest is not None:  # else held: the answer is still published
            files = None
    parent = config.get("parent")
    return Image(
        id=image_id,
        images_dir=sys.intern(str(base)),  # its files' paths, one string for all images
        json_digest=json_digest(raw_json),  # the JSON is read again when published
        parent=sys.intern(parent) if isinstance(parent, str) else None,
        ancestry=_ancestry(layout.image_file(image_dir, "ancestry"), report),
        packed_checksums=pack_checksums(
            _checksums(layout.image_file(image_dir, "_checksum"), report)
        ),
        layer_size=layer_size,
        compression=packed,
        files=files,
        files_digest=files_digest,
        files_unsupported=unsupported,
    )


def _stored(listings: ListingStore, answer: bytes, report: Report) -> bytes | None:
    """`answer`'s digest once in `listings`; None (a problem: the image then holds the
    answer itself) if it cannot be written."""
    try:
        return listings.put(answer)
    except OSError as exc:
        report.problem(listings.folder, f"cannot keep a /files answer: {exc.strerror or exc}")
        return None


def files_of(image: Image) -> bytes | None:
    """A v1 image's `/files` answer read again from its storage (`_files`, else its layer),
    or None: what the crawl computed, should its listing store have lost it."""
    if image.images_dir is None:
        return None
    image_dir = Path(image.images_dir) / image.id
    files, _unsupported = _files_answer(image_dir, image.layer_path, Report())
    return files


def _layer(layer: Path, report: Report) -> tuple[int | None, str | None]:
    """(size, compression) of the layer file; (None, None) when it is missing.

    One open tells both (its fstat and its first bytes): the pages show
    whether each layer is compressed, and asking now spares them reopening
    every layer of the site.
    """
    try:
        fd = os.open(layer, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, None
    except OSError:  # not readable: its size as `stat` tells it, its compression unknown
        return _layer_size(layer, report), None
    try:
        size = os.fstat(fd).st_size
        head = os.read(fd, COMPRESSION_HEAD)
    except OSError:  # a folder named `layer` (EISDIR): sized by `stat`, not compressed
        return _layer_size(layer, report), None
    finally:
        os.close(fd)
    return size, compression(head)


def _layer_size(layer: Path, report: Report) -> int | None:
    try:
        st = layer.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        report.problem(layer, f"cannot stat layer: {exc.strerror or exc}")
        return None
    return st.st_size


def _ancestry(path: Path, report: Report) -> tuple[str, ...] | None:
    """The ids of the `ancestry` file, interned: a base image's id is in thousands of them."""
    present, value = _read_json(path, report)
    if not present:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        report.problem(path, "ancestry is not a list of ids; ignored")
        return None
    return tuple(map(sys.intern, value))


def _checksums(path: Path, report: Report) -> tuple[str, ...]:
    """0.9.1's `load_checksums`: a JSON list, else the bare string (≤0.6)."""
    raw = _read(path, report)
    if raw is None:
        return ()
    try:
        value = json.loads(raw)
    except ValueError:
        value = [raw.decode("utf-8", "replace")]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        report.problem(path, "checksum is neither a list nor a string; ignored")
        return ()
    checksums = tuple(str(v).strip() for v in value)
    if any("\n" in c or "\r" in c for c in checksums):
        report.problem(path, "checksum contains a line break; ignored")
        return ()
    return checksums


def _files_answer(image_dir: Path, layer: Path | None, report: Report) -> tuple[bytes | None, bool]:
    """(`/files` body, layer format unsupported): the `_files` cache, else computed."""
    cached = _read(layout.image_file(image_dir, "_files"), report)
    if cached is not None:
        return cached, False
    if layer is None:
        return None, False
    try:
        return files_json(layer), False
    except LayerFormatError as exc:
        report.problem(layer, f"{exc}; /files answers 400 as 0.9.1 did", kind="layer")
        return None, True
    except OSError as exc:
        report.problem(layer, f"cannot read layer: {exc.strerror or exc}")
        return None, False
