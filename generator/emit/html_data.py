"""What the HTML pages show: plain view objects computed from the gathered registry.

The templates only format these (their attributes are the template context,
documented in the README); everything that needs the whole registry is
decided here once: sizes summed over ancestry, signature tags folded away,
repositories without tags hidden from lists, tags newest first, images
linked only when the site publishes their page.

Sizes are the sizes of the layer files as the registry stored them. v1
clients pushed plain tars or compressed ones, so a layer says `compressed`
only when its first bytes say so (gzip, bzip2, xz, zstd magic numbers), as the
crawl recorded (`Image.compression`).

A repository crawled from v2 storage also carries `RepositoryView.v2`, and
its `tags` and `signatures` are then `V2TagView`s (`html_v2_data.py`): every
tag the registry lists, artifacts and tags without a v1 view included.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import operator
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from generator.model import BY_NAME, Image, Registry, Repository, Tag

if TYPE_CHECKING:
    from generator.emit.html_v2_data import ManifestView, V2RepositoryView, V2TagView
    from generator.emit.v1_tree import Selection

SIGNATURE_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.(?:sig|att|sbom)$")
"""cosign's signature, attestation and SBOM tags: folded away by default."""

_CREATED = re.compile(
    r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)?$"
)


_YEAR_10000 = 253_402_300_800
"""Unix seconds of 10000-01-01: `datetime` has no later moment."""


# --- small values ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Moment:
    """A point in time, shown in ISO form with a relative hint."""

    timestamp: int
    """Unix seconds (UTC)."""

    @property
    def iso(self) -> str:
        """`2015-01-08T17:45:33Z`, for `<time datetime>`."""
        return self._format("%Y-%m-%dT%H:%M:%SZ")

    @property
    def text(self) -> str:
        """`2015-01-08 17:45 UTC`, what people read."""
        return self._format("%Y-%m-%d %H:%M UTC")

    @property
    def date(self) -> str:
        """`2015-01-08`, for tight table cells."""
        return self._format("%Y-%m-%d")

    def forms(self) -> tuple[str, str, str]:
        """(`iso`, `text`, `date`) from one conversion, for pages that show all three."""
        if 0 <= self.timestamp < _YEAR_10000:
            return moment_forms(self.timestamp)
        return self.iso, self.text, self.date

    def ago(self, now: int | None) -> str:
        """`3 years ago` relative to `now` (Unix seconds); empty when `now` is unknown."""
        return "" if now is None else relative(now - self.timestamp)

    def _format(self, pattern: str) -> str:
        """`strftime(pattern)` of the moment in UTC.

        Through `time.gmtime` where it gives what `datetime` gives (years
        1970-9999, every moment `parse` makes), five times faster: the index
        page shows a date for each repository.
        """
        if 0 <= self.timestamp < _YEAR_10000:
            return time.strftime(pattern, time.gmtime(self.timestamp))
        return dt.datetime.fromtimestamp(self.timestamp, dt.UTC).strftime(pattern)

    @classmethod
    def parse(cls, value: Any) -> Moment | None:
        """From Unix seconds or Docker's RFC 3339 `created` (nanoseconds, any offset)."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return cls(int(value)) if 0 <= value < 1e11 else None
        if not isinstance(value, str):
            return None
        m = _CREATED.match(value.strip())
        if not m:
            return None
        zone = m.group(3) or "Z"
        zone = "+00:00" if zone == "Z" else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
        try:
            moment = dt.datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{zone}")
        except ValueError:
            return None
        return cls(int(moment.timestamp()))


def moment_forms(timestamp: int) -> tuple[str, str, str]:
    """`Moment(timestamp).forms()` for a moment of years 1970-9999, by arithmetic.

    The index page shows a date for each repository: the day's date is
    made once (`_day`), the time of day from two divisions.
    """
    day, second = divmod(timestamp, 86_400)
    hour, second = divmod(second, 3_600)
    minute, second = divmod(second, 60)
    date = _day(day)
    clock = f"{hour:02}:{minute:02}"
    return f"{date}T{clock}:{second:02}Z", f"{date} {clock} UTC", date


@lru_cache(maxsize=4096)
def _day(day: int) -> str:
    """`2015-01-08`: the date of the `day`th day since 1970-01-01."""
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))


def relative(seconds: int) -> str:
    """`5 minutes ago`, `in 2 days`: the largest whole unit (the pages' script does the same)."""
    ahead, seconds = seconds < 0, abs(seconds)
    for unit, length in (("year", 31_557_600), ("month", 2_629_800), ("day", 86_400),
                         ("hour", 3_600), ("minute", 60)):
        if seconds >= length:
            n = seconds // length
            amount = f"{n} {unit}{'' if n == 1 else 's'}"
            return f"in {amount}" if ahead else f"{amount} ago"
    return "just now"


@dataclass(frozen=True, slots=True)
class Size:
    """A number of stored bytes, perhaps a lower bound (a layer was missing)."""

    bytes: int
    complete: bool = True
    """False when some layer's size is unknown: the real size is larger."""
    compressed: bool = False
    """Every layer counted is stored compressed."""

    @property
    def human(self) -> str:
        """`12.4 MB` (decimal units, as docker prints sizes)."""
        return human_size(self.bytes)


def human_size(n: int) -> str:
    """`512 B`, `2.5 kB`, `12.4 MB`, `1.07 GB`: three significant digits, decimal units."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 999.95 or unit == "PB":
            digits = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:.{digits}f} {unit}"
    raise AssertionError("unreachable")


def platform(image: Image | None) -> str:
    """`linux/amd64`, whatever parts the image JSON names."""
    return "" if image is None else _platform(image.config)


def _platform(config: dict[str, Any]) -> str:
    parts = [config.get("os"), config.get("architecture")]
    # Interned: a registry has a handful of platforms and many tags to show them on.
    return sys.intern("/".join(str(p) for p in parts if isinstance(p, str) and p))


def command_text(value: Any) -> str:
    """A Cmd/Entrypoint as one line: a list joined with spaces, a string as is."""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


# --- the views -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagView:
    tag: Tag
    image: Image | None
    """The image when it exists in the site (else the tag dangles or its image is private)."""
    image_page: bool
    """The site has an HTML page for the image."""
    size: Size | None
    created: Moment | None
    """The image's `created`."""
    updated: Moment | None
    """The tag's `last_update` (when it was pushed)."""
    signature: bool
    platform: str = ""
    """`linux/amd64`, from the image JSON (read once, with `created`)."""

    @property
    def name(self) -> str:
        return self.tag.name

    @property
    def image_id(self) -> str:
        return self.tag.image_id

    @property
    def short_id(self) -> str:
        return self.tag.image_id[:12]

    @property
    def newest(self) -> int:
        """Sort key of "newest first": pushed, else created, else the epoch."""
        moment = self.updated or self.created
        return moment.timestamp if moment else 0

    @property
    def image_ids(self) -> tuple[str, ...]:
        """The images the tag names (one; a v2 tag may name one per platform)."""
        return (self.tag.image_id,)

    @property
    def pullable(self) -> bool:
        """`docker pull` can fetch it (always for v1; not a v2 artifact)."""
        return True


class _RepositoryNames:
    """What a repository's views answer from the `Repository` itself (`self.repository`)."""

    __slots__ = ()
    repository: Repository

    @property
    def namespace(self) -> str:
        return self.repository.namespace

    @property
    def name(self) -> str:
        return self.repository.name

    @property
    def full_name(self) -> str:
        return self.repository.full_name

    @property
    def description(self) -> str | None:
        return self.repository.description

    @property
    def private(self) -> bool:
        return self.repository.private


@dataclass(frozen=True)
class RepositoryView(_RepositoryNames):
    repository: Repository
    tags: tuple[TagView | V2TagView, ...]
    """Ordinary tags, newest first (then by name); `V2TagView`s when `v2` is set."""
    signatures: tuple[TagView | V2TagView, ...]
    """`sha256-<hex>.sig|.att|.sbom` tags, by name: shown folded."""
    size: Size | None
    """All layers any tag reaches, each counted once (v2: every blob of every platform)."""
    v2: V2RepositoryView | None = None
    """The repository as v2 storage holds it; None for v1 storage."""
    manifests: tuple[ManifestView, ...] = ()
    """v2: each tagged manifest once, with the tags naming it, in the order of the tags."""

    @property
    def pull_name(self) -> str:
        """The name `docker pull` takes: the v2 name (`busybox`) on a v2 site, else `ns/repo`."""
        return self.v2.name if self.v2 else self.full_name

    @property
    def pull_tag(self) -> TagView | V2TagView | None:
        """The tag the pull command names: `latest` if there is one, else the newest.

        Only tags docker can pull count (a v2 artifact such as a Helm chart is none).
        """
        pullable = [t for t in self.tags if t.pullable]
        latest = [t for t in pullable if t.name == "latest"]
        return (latest or pullable or [None])[0]

    @property
    def tag_count(self) -> int:
        return len(self.tags) + len(self.signatures)

    @property
    def listed(self) -> bool:
        """Shown in lists by default: a real repository with tags left."""
        return self.repository.is_directory and self.tag_count > 0

    @property
    def updated(self) -> Moment | None:
        """The newest tag push (or image creation)."""
        moments = [t.updated or t.created for t in (*self.tags, *self.signatures)]
        return max((m for m in moments if m), key=lambda m: m.timestamp, default=None)

    @property
    def row(self) -> RepositoryRow:
        """What lists show of it, as a `ListedRepository` holds it."""
        return RepositoryRow.of(self)

    @property
    def json_links(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(label, v1 segments) of each JSON document the site has for the repository."""
        base = ("repositories", self.namespace, self.name)
        links: list[tuple[str, tuple[str, ...]]] = []
        if not self.repository.is_directory:
            return ()
        if self.repository.has_entries:
            links.append(("tags", (*base, "tags")))
        if self.repository.has_index_images:
            links.append(("images", (*base, "images")))
        links += [("json", (*base, "json")), ("properties", (*base, "properties"))]
        return tuple(links)


class RepositoryRow(NamedTuple):
    """What lists of repositories (the index and namespace pages) show of one repository.

    Every change redoes the index page, which lists every repository; its row
    takes computing every tag of it. So rows are remembered across builds
    (`state.Memory.rows`) and a rebuild computes only the rows of repositories
    whose unit is dirty (their unit is dirty whenever anything the row shows
    may have changed: see `incremental.dirty_units`). Plain numbers, so
    that the rows of 20,000 repositories pickle small and load fast.
    """

    tag_count: int
    updated: int | None
    """`RepositoryView.updated`, in Unix seconds."""
    size: int | None
    """`RepositoryView.size`: its bytes, then whether it is complete and compressed."""
    size_complete: bool = True
    size_compressed: bool = False

    @classmethod
    def of(cls, view: RepositoryView) -> RepositoryRow:
        updated, size = view.updated, view.size
        return cls(
            view.tag_count,
            None if updated is None else updated.timestamp,
            None if size is None else size.bytes,
            True if size is None else size.complete,
            False if size is None else size.compressed,
        )


class _ViewOnDemand(_RepositoryNames):
    """A stand-in for a `RepositoryView` that makes the full view only if a template asks
    for more than the stand-in holds (`_make_view`, `_view` and `repository` are set)."""

    __slots__ = ()
    _make_view: Callable[[Repository], RepositoryView]
    _view: RepositoryView | None

    @property
    def view(self) -> RepositoryView:
        """The full view, made when first asked for."""
        if self._view is None:
            self._view = self._make_view(self.repository)
        return self._view

    def __getattr__(self, name: str) -> Any:
        """What the stand-in does not hold, from the full view (not private or special names)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.view, name)


class ListedRepository(_ViewOnDemand):
    """A repository in a list: a `RepositoryView` whose row fields come from its `RepositoryRow`.

    The shipped index and namespace templates read only the row (name, tag
    count, last update, size), so listing a repository whose row is
    remembered computes none of its tags. A replaced template may read any
    other attribute of `RepositoryView` (`repo.tags`, `repo.pull_tag`): the
    full view is then made on demand, and answers it.
    """

    __slots__ = ("_make_view", "_view", "repository", "row")

    def __init__(
        self, repository: Repository, row: RepositoryRow,
        make_view: Callable[[Repository], RepositoryView],
    ) -> None:
        self.repository = repository
        self.row = row
        self._view: RepositoryView | None = None
        self._make_view = make_view

    @property
    def tag_count(self) -> int:
        return self.row.tag_count

    @property
    def listed(self) -> bool:
        """As `RepositoryView.listed`: a real repository with tags left."""
        return self.repository.is_directory and self.row.tag_count > 0

    @property
    def updated(self) -> Moment | None:
        return None if self.row.updated is None else Moment(self.row.updated)

    @property
    def size(self) -> Size | None:
        row = self.row
        if row.size is None:
            return None
        return Size(row.size, complete=row.size_complete, compressed=row.size_compressed)


class NamedRepository(_ViewOnDemand):
    """A repository an image page names (`ImageView.tagged`): its names, its full view on demand.

    The shipped image template reads only the names; a replaced one may
    read any attribute of `RepositoryView`, computed when first asked for.
    """

    __slots__ = ("_make_view", "_view", "repository")

    def __init__(
        self, repository: Repository, make_view: Callable[[Repository], RepositoryView]
    ) -> None:
        self.repository = repository
        self._view: RepositoryView | None = None
        self._make_view = make_view


def _in_view_order(
    rows: list[TagView], split: bool = False
) -> Any:
    """Tags as a `RepositoryView` orders them: newest first (then by name), signatures last
    by name. With `split`, (ordinary tags, signatures) as two tuples."""
    plain = sorted((t for t in rows if not t.signature), key=lambda t: (-t.newest, t.name))
    signatures = sorted((t for t in rows if t.signature), key=lambda t: t.name)
    return (tuple(plain), tuple(signatures)) if split else (*plain, *signatures)


@dataclass(frozen=True)
class NamespaceView:
    name: str
    repositories: tuple[ListedRepository, ...]
    """Every repository of the namespace, by name."""

    @cached_property
    def listed(self) -> tuple[ListedRepository, ...]:
        return tuple(r for r in self.repositories if r.listed)

    @cached_property
    def hidden(self) -> tuple[ListedRepository, ...]:
        """Repositories without tags (emptied by deletes, or stray entries): folded away."""
        return tuple(r for r in self.repositories if not r.listed)

    @property
    def tag_count(self) -> int:
        """The tags of its listed repositories (the index page's row of the namespace)."""
        return sum(r.row.tag_count for r in self.listed)

    @property
    def updated(self) -> Moment | None:
        """The last update of its listed repositories."""
        times = [r.row.updated for r in self.listed if r.row.updated is not None]
        return Moment(max(times)) if times else None

    @property
    def listed_count(self) -> int:
        return len(self.listed)


@dataclass(frozen=True, slots=True)
class NamespaceSummary:
    """A namespace's row on the index page of a large registry (`SiteData.namespace_summaries`):
    what `NamespaceView` tells of it, without a view of each of its repositories."""

    name: str
    listed_count: int
    """Its listed repositories (`NamespaceView.listed`)."""
    tag_count: int
    updated: Moment | None


@dataclass(frozen=True, slots=True)
class LayerView:
    """One step of an image's history (the image itself first).

    Slotted, its fields set when made: a history makes one per ancestor
    (`SiteData.layer`), and a lazily cached attribute gave each a dictionary
    of 400 bytes.
    """

    image_id: str
    image: Image | None
    image_page: bool
    size: Size | None
    compression: str | None
    created: Moment | None = None
    created_by: str = ""
    """The build step: `container_config.Cmd` (`/bin/sh -c #(nop) COPY …`)."""

    @property
    def short_id(self) -> str:
        return self.image_id[:12]


@dataclass(frozen=True)
class ImageView:
    image: Image
    layer: LayerView
    history: tuple[LayerView, ...]
    """The image, then its parent, … down to the base image."""
    total: Size | None
    tagged: tuple[tuple[RepositoryView, TagView], ...]
    """Tags of published repositories pointing at this image."""

    @property
    def id(self) -> str:
        return self.image.id

    @property
    def short_id(self) -> str:
        return self.image.id[:12]

    @property
    def created(self) -> Moment | None:
        return Moment.parse(self.image.config.get("created"))

    @property
    def author(self) -> str:
        return str(self.image.config.get("author") or "")

    @property
    def comment(self) -> str:
        return str(self.image.config.get("comment") or "")

    @property
    def docker_version(self) -> str:
        return str(self.image.config.get("docker_version") or "")

    @property
    def platform(self) -> str:
        return platform(self.image)

    @cached_property
    def settings(self) -> tuple[tuple[str, Any], ...]:
        """(name, value) of the run configuration people look for, when set.

        Values are strings, or lists of strings for Env and ExposedPorts.
        """
        cfg = self.image.run_config
        found: list[tuple[str, Any]] = []
        env = cfg.get("Env")
        if isinstance(env, list) and env:
            found.append(("Env", [str(e) for e in env]))
        for key in ("Entrypoint", "Cmd"):
            text = command_text(cfg.get(key))
            if text:
                found.append((key, text))
        for key in ("WorkingDir", "User"):
            if cfg.get(key):
                found.append((key, str(cfg[key])))
        ports = cfg.get("ExposedPorts")
        if isinstance(ports, dict) and ports:
            found.append(("ExposedPorts", sorted(str(p) for p in ports)))
        return tuple(found)

    @cached_property
    def labels(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.image.labels.items()))

    @cached_property
    def json_links(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        base = ("images", self.image.id)
        links = [("json", (*base, "json"))]
        if self.image.ancestry is not None:
            links.append(("ancestry", (*base, "ancestry")))
        if self.image.has_files:
            links.append(("files", (*base, "files")))
        return tuple(links)


def repository_rows(
    selection: Selection, registry: Registry, known: dict[str, RepositoryRow]
) -> dict[str, RepositoryRow]:
    """The row of every repository of `selection`: `known`'s, else computed (and added to it).

    The rows the build remembers for the next; the index page has computed
    them all already (it lists every repository), unless a template skipped it.
    """
    data = SiteData(selection.repositories, selection.images, registry, known)
    for repository in selection.repositories:
        data.row(repository)
    return {r.full_name: data.rows[r.full_name] for r in selection.repositories
            if r.full_name in data.rows}


# --- building the views ----------------------------------------------------------------------


_FULL_NAME = operator.attrgetter("full_name")
_TAGS = operator.attrgetter("tags")
_VALUE = operator.attrgetter("value")


class SiteData:
    """Every view of one build, computed lazily, and only for the pages made.

    `rows` holds the `RepositoryRow`s known to be current (remembered by the
    previous build, of repositories whose unit is clean); lists of
    repositories use them, and add the rows they compute to it.

    A v1 repository's view is not kept: the index page makes every one for
    its row, its page makes it again and image pages want only the tags
    naming them, while the views of 20,000 repositories held 75 MB. What is
    costly in a view is kept instead, small, per image (`_image_facts`: its
    date and platform come from its JSON, read from the storage). A v2
    repository's view is kept (image pages need them all to know which
    images a tag names).
    """

    def __init__(self, repositories: Sequence[Repository], images: Sequence[Image],
                 registry: Registry, rows: dict[str, RepositoryRow] | None = None) -> None:
        self.registry = registry
        self._repositories = sorted(repositories, key=BY_NAME)
        # The registry's own table when nothing is left out (a private repository's images).
        same = images is registry.images
        self._images = registry.images_by_id() if same else {image.id: image for image in images}
        self._total: dict[str, Size | None] = {}
        self._facts: dict[str, tuple[int | None, str, str]] = {}
        self._pushed: dict[int, tuple[int | None, ...]] = {}
        self._sizes: dict[int, Size | None] = {}
        self._views: dict[int, RepositoryView] = {}
        self._namespaces: dict[str, NamespaceView] = {}
        self._scans = 0
        self.rows: dict[str, RepositoryRow] = {} if rows is None else rows

    # -- which images have pages ---------------------------------------------------------

    def image(self, image_id: str) -> Image | None:
        """An image the site publishes (private-only images are not)."""
        return self._images.get(image_id)

    def has_page(self, image: Image | None) -> bool:
        """Images in upload have no page: the site answers their JSON with 400."""
        return image is not None and not image.in_progress and image.has_json

    @cached_property
    def image_pages(self) -> tuple[Image, ...]:
        return tuple(i for i in sorted(self._images.values(), key=lambda i: i.id)
                     if self.has_page(i))

    def image_pages_among(self, ids: Iterable[str]) -> tuple[Image, ...]:
        """The images of `image_pages` whose id is one of `ids` (a rebuild's few), in order."""
        found = [image for i in ids if self.has_page(image := self._images.get(i))]
        return tuple(sorted(found, key=lambda i: i.id))  # type: ignore[union-attr]

    # -- repositories --------------------------------------------------------------------

    @property
    def sorted_repositories(self) -> Sequence[Repository]:
        """Every repository, by namespace and name: the order of pages and lists."""
        return self._repositories

    def repository_view(self, repository: Repository) -> RepositoryView:
        """The repository page's view: every tag of it, sized (kept for v2 only, see above)."""
        if repository.v2 is None:
            return self._repository(repository)
        # By identity: v2 storage may hold `busybox` and `library/busybox`, both shown so.
        view = self._views.get(id(repository))
        if view is None:
            view = self._views[id(repository)] = self._repository(repository)
        return view

    @cached_property
    def repositories(self) -> tuple[RepositoryView, ...]:
        return tuple(self.repository_view(r) for r in self._repositories)

    def row(self, repository: Repository) -> RepositoryRow:
        """What lists show of `repository`: known, else computed from its view (and kept)."""
        name = repository.full_name
        if name in self._shared_names:  # two repositories, one name: rows by name cannot tell
            return RepositoryRow.of(self.repository_view(repository))
        row = self.rows.get(name)
        if row is None:
            row = self.rows[name] = RepositoryRow.of(self.repository_view(repository))
        return row

    @cached_property
    def _shared_names(self) -> frozenset[str]:
        """Full names that more than one repository shows (v2 `busybox` and `library/busybox`)."""
        counts = Counter(map(_FULL_NAME, self._repositories))
        return frozenset(name for name, count in counts.items() if count > 1)

    @cached_property
    def _by_namespace(self) -> dict[str, list[Repository]]:
        groups: dict[str, list[Repository]] = {}
        for repository in self._repositories:
            groups.setdefault(repository.namespace, []).append(repository)
        return groups

    @property
    def namespace_names(self) -> Sequence[str]:
        """Every namespace, in order (`namespaces` without listing their repositories)."""
        return list(self._by_namespace)

    def namespace(self, name: str) -> NamespaceView:
        """The namespace `name` with its repositories as lists show them (`ListedRepository`)."""
        view = self._namespaces.get(name)
        if view is None:
            listed = tuple(
                ListedRepository(r, self.row(r), self.repository_view)
                for r in self._by_namespace[name]
            )
            view = self._namespaces[name] = NamespaceView(name, listed)
        return view

    @cached_property
    def namespaces(self) -> tuple[NamespaceView, ...]:
        """Every namespace: what the index page lists (every repository's row)."""
        return tuple(self.namespace(name) for name in self._by_namespace)

    @cached_property
    def namespace_summaries(self) -> tuple[NamespaceSummary, ...]:
        """Every namespace's counts and last update, from the rows of its repositories: the
        index page of a large registry lists these (20,000 repositories: 0.01 s, against
        0.04 s to make every `NamespaceView` and sum it)."""
        found = []
        rows, shared = self.rows, self._shared_names
        for name, repositories in self._by_namespace.items():
            listed = tags = 0
            newest: int | None = None
            for repository in repositories:
                if not repository.is_directory:  # (not `ListedRepository.listed`)
                    continue
                full_name = f"{name}/{repository.name}"  # (`row`, inlined: 20,000 of them)
                row = None if full_name in shared else rows.get(full_name)
                if row is None:
                    row = self.row(repository)
                if not row.tag_count:
                    continue
                listed += 1
                tags += row.tag_count
                if row.updated is not None and (newest is None or row.updated > newest):
                    newest = row.updated
            updated = None if newest is None else Moment(newest)
            found.append(NamespaceSummary(name, listed, tags, updated))
        return tuple(found)

    def tagged(self, image_id: str) -> tuple[tuple[RepositoryView, TagView], ...]:
        """The (repository, tag) pairs pointing at `image_id`, in the order of the pages.

        A v1 repository is a `NamedRepository`: the pairs are made from the
        tags naming the image, and the repository's full view only if a
        template reads more than its names.
        """
        found: list[tuple[Any, Any]] = []
        for repository in self._repositories_naming(image_id):
            if repository.v2 is None:
                named = NamedRepository(repository, self.repository_view)
                # Each tag names one image, so each is read here once: nothing to keep.
                rows = [self._tag(t, t.last_update) for t in repository.tags
                        if t.image_id == image_id]
                found.extend((named, tag) for tag in _in_view_order(rows))
                continue
            view = self.repository_view(repository)
            found.extend((view, tag) for tag in (*view.tags, *view.signatures)
                         if image_id in tag.image_ids)
        return tuple(found)

    SCANS = 16
    """Image pages that find their tags by a scan of every tag rather than from `_naming`:
    a rebuild makes a few image pages, and the map of 20,000 repositories takes 0.1 s to
    make (a full build makes it after the first few)."""

    def _repositories_naming(self, image_id: str) -> Sequence[Repository]:
        """The repositories with a tag naming `image_id`, in order (as `_naming` has them)."""
        if "_naming" in self.__dict__ or self._scans >= self.SCANS or not self._all_v1:
            return self._naming.get(image_id, ())
        self._scans += 1
        values, ends = self._tag_values
        # A tag's value holds its image id, perhaps with whitespace (`Tag.image_id`): the
        # tags whose value holds `image_id` are found at C speed, then checked exactly.
        holding = itertools.compress(
            itertools.count(), map(operator.contains, values, itertools.repeat(image_id))
        )
        found = dict.fromkeys(bisect.bisect_right(ends, i) for i in holding)
        repositories = self._repositories
        return [repositories[i] for i in found
                if any(tag.image_id == image_id for tag in repositories[i].tags)]

    @cached_property
    def _all_v1(self) -> bool:
        return all(r.v2 is None for r in self._repositories)

    @cached_property
    def _tag_values(self) -> tuple[list[str], list[int]]:
        """The value of every tag, repository by repository in order, and where each
        repository's tags end in that list."""
        tags = list(map(_TAGS, self._repositories))
        values = list(map(_VALUE, itertools.chain.from_iterable(tags)))
        return values, list(itertools.accumulate(map(len, tags)))

    @cached_property
    def _naming(self) -> dict[str, tuple[Repository, ...]]:
        """Image id -> the repositories with a tag naming it, in order.

        A v1 tag names its image itself, so an image page computes the views
        of only the repositories naming it; a v2 tag may name one image per
        platform, which its view tells.
        """
        found: dict[str, list[Repository]] = {}
        for repository in self._repositories:
            if repository.v2 is None:
                ids: Iterable[str] = dict.fromkeys(tag.image_id for tag in repository.tags)
            else:
                view = self.repository_view(repository)
                ids = dict.fromkeys(
                    i for tag in (*view.tags, *view.signatures) for i in tag.image_ids
                )
            for image_id in ids:
                found.setdefault(image_id, []).append(repository)
        self.__dict__.pop("_tag_values", None)  # what the first image pages scanned instead
        named: dict[str, Any] = found
        for image_id, repositories in found.items():  # in place: each list goes as it is done
            named[image_id] = tuple(repositories)  # most hold one: 40 bytes less an image
        return named

    def _repository(self, repository: Repository) -> RepositoryView:
        if repository.v2 is not None:
            return self._v2_repository(repository)
        pushed = zip(repository.tags, self._pushed_at(repository), strict=True)
        rows = [self._tag(tag, at) for tag, at in pushed]
        plain, signatures = _in_view_order(rows, split=True)
        key = id(repository)
        if key not in self._sizes:
            reached = {i for t in rows if t.image for i in self._ancestry(t.image)}
            self._sizes[key] = self._sum(reached) if reached else None
        return RepositoryView(repository, plain, signatures, self._sizes[key])

    def _pushed_at(self, repository: Repository) -> tuple[int | None, ...]:
        """Each tag's `last_update`, in the order of `repository.tags` (decoded once: a tag
        holds it as JSON, and a repository's view is made for its row and its page)."""
        key = id(repository)
        pushed = self._pushed.get(key)
        if pushed is None:
            pushed = self._pushed[key] = tuple(tag.last_update for tag in repository.tags)
        return pushed

    def _v2_repository(self, repository: Repository) -> RepositoryView:
        """Every v2 tag (not only those with a v1 view), sized from its manifests."""
        # Imported here: html_v2_data builds on this module's small values.
        from generator.emit import html_v2_data as v2

        assert repository.v2 is not None
        rows = v2.tag_views(repository.v2, lambda v1_id: self.has_page(self.image(v1_id or "")))
        plain = sorted((t for t in rows if not t.signature), key=lambda t: (-t.newest, t.name))
        signatures = sorted((t for t in rows if t.signature), key=lambda t: t.name)
        manifests = [p.manifest for t in rows for p in t.platforms if p.manifest is not None]
        return RepositoryView(
            repository,
            tuple(plain),
            tuple(signatures),
            v2.blob_size(manifests) if manifests else None,
            v2=v2.V2RepositoryView(repository.v2),
            manifests=v2.manifest_views((*plain, *signatures)),
        )

    def _tag(self, tag: Tag, pushed: int | None) -> TagView:
        image = self.image(tag.image_id)
        created, platform, _ = self._image_facts(image) if image else (None, "", "")
        return TagView(
            tag=tag,
            image=image,
            image_page=self.has_page(image),
            size=self.total_size(image) if image else None,
            created=created,
            updated=Moment.parse(pushed),
            signature=bool(SIGNATURE_TAG.match(tag.name)),
            platform=platform,
        )

    def _image_facts(self, image: Image) -> tuple[Moment | None, str, str]:
        """The image's `created`, platform and build step: its JSON is read once, not once
        per view (nor kept: it is read from the storage)."""
        facts = self._facts.get(image.id)
        if facts is None:
            config = image.config
            step = config.get("container_config")
            created = Moment.parse(config.get("created"))
            text = command_text(step.get("Cmd")) if isinstance(step, dict) else ""
            # Kept for every image a build shows (50,000 at 20,000 repositories): the time
            # as seconds, and one string for each platform.
            facts = self._facts[image.id] = (
                None if created is None else created.timestamp,
                sys.intern(_platform(config)),
                text,
            )
        created_at, platform, text = facts
        return None if created_at is None else Moment(created_at), platform, text

    # -- images --------------------------------------------------------------------------

    def image_view(self, image: Image) -> ImageView:
        history = tuple(self.layer(i) for i in self._ancestry(image))
        return ImageView(
            image=image,
            layer=self.layer(image.id),
            history=history,
            total=self.total_size(image),
            tagged=self.tagged(image.id),
        )

    def layer(self, image_id: str) -> LayerView:
        """One step of a history, made when asked: image pages show their ancestors' steps,
        and keeping one per image (with its size) held 14 MB per process at 20,000
        repositories; what is costly in it (from the JSON) is kept in `_image_facts`."""
        image = self.image(image_id)
        if image is None:
            return LayerView(image_id, None, False, None, None)
        size = None
        if image.layer_size is not None:
            size = Size(image.layer_size, compressed=image.compression is not None)
        created, _, step = self._image_facts(image)
        return LayerView(
            image_id, image, self.has_page(image), size, image.compression, created, step
        )

    def total_size(self, image: Image) -> Size | None:
        """The image's layer plus its ancestors' layers."""
        if image.id not in self._total:
            self._total[image.id] = self._sum(self._ancestry(image))
        return self._total[image.id]

    def _ancestry(self, image: Image) -> list[str]:
        """The image id, then its ancestors' ids (the `ancestry` file, else the parent chain)."""
        if image.ancestry:
            return list(dict.fromkeys(image.ancestry))
        chain, current = [], image
        while current is not None and current.id not in chain:
            chain.append(current.id)
            current = self.image(current.parent) if current.parent else None
        return chain

    def _sum(self, image_ids: Iterable[str]) -> Size | None:
        """The layers' sizes summed (from the images: a size needs no `LayerView`)."""
        total = layers = known = 0
        compressed = True
        for image_id in image_ids:
            layers += 1
            image = self.image(image_id)
            if image is not None and image.layer_size is not None:
                known += 1
                total += image.layer_size
                compressed = compressed and image.compression is not None
        if not known:
            return None
        return Size(total, complete=known == layers, compressed=compressed)
