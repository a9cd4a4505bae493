"""The build's memory, kept beside the output in `.<output>.state/`.

Beside and not inside: it holds the crawl of everything, private
repositories included, and an output folder may be copied whole to a plain
static host, which would serve it (private repositories leave no trace in the
output). Three files, so that a rebuild that finds nothing changed reads only
the two small ones:

- `sources.pickle` (`Sources`): what the storage looked like (the
  fingerprints and folder listings of `incremental.py`) and the key of
  everything else the output depends on (`output_key`). Written as soon as
  the crawl is done, so that the walk is not held while the site renders.
- `report.pickle`: the summary and problems of the build, which a no-change
  rebuild reports again without reading anything else.
- `build.pickle` (`Memory`): the crawl of every v1 entry (or the whole v2
  registry), the files of every unit (`emit/units.py`), what was published
  for the change feeds, and the feed's entries. Its large fields are
  written as chunks, so that neither writing nor reading holds it all twice
  (`dump_to`). The v1 crawl comes first, written as soon as the crawl is
  done (`dump_crawl`): the build then lets go of the crawl's entry keys and
  pairs (14 MB at 20,000 repositories), which the render processes would
  otherwise each hold (`dump_rest` writes the rest at the end).

The large fields of both `sources.pickle` and `build.pickle` are chunks
that the file names: files of their own in `chunks/`, named by digest
(`chunk_store.py`). A rebuild writes only the chunks that changed.

All are written through the `SiteWriter` (`write_state`), published last,
so they describe exactly the site beside them. Beside them, `listings/`
holds the crawl's `/files` answers by digest (`listings.py`). Anything unreadable, of
another format version, or built with another key (configuration, templates, sitegen's code,
`SOURCE_DATE_EPOCH`) is ignored and the build starts from nothing.

They are pickles because they hold the model's own objects and load fast;
they are internal files that only the build that wrote them reads. The
crawl's objects pickle as the tuple of their fields and share their image
id strings again when loaded (`tuple_state.py`).
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import hashlib
import io
import itertools
import logging
import operator
import os
import pickle
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PosixPath
from typing import Any, BinaryIO

from generator import __version__, collector
from generator.chunk_store import FOLDER as chunk_store_folder
from generator.chunk_store import ChunkStore
from generator.config import Config
from generator.emit import html_inputs
from generator.report import Problem

log = logging.getLogger("sitegen")

FORMAT = 10
"""Bump when what these files hold changes shape: old state is then ignored."""
STATE_SUFFIX = ".state"
SOURCES_FILE = "sources.pickle"
REPORT_FILE = "report.pickle"
"""The build's `Summary` and problems: written last, apart from the walk written first."""
MEMORY_FILE = "build.pickle"
_CODE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Summary:
    """What the summary line counts, replayed by a rebuild that changes nothing."""

    repositories: int = 0
    tags: int = 0
    images: int = 0
    files: int = 0


@dataclass
class Sources:
    format: int
    key: str
    layout: str
    """`v1`, `v2` or `http` (never fingerprinted)."""
    fingerprints: dict[str, bytes]
    newest_mtime_ns: int
    summary: Summary = Summary()
    """Kept in `REPORT_FILE` (known once the build is done; the rest, once the crawl is)."""
    problems: tuple[Problem, ...] = ()
    """Kept in `REPORT_FILE`, like `summary`."""
    listings: dict[str, tuple[int, int, str, int]] = field(default_factory=dict)
    """v1: the names each storage folder held, with its ctime and newest mtime
    (`incremental.Listing`)."""
    origin: _Origin | None = field(default=None, compare=False, repr=False)
    """Where it was read from, chunk by chunk (not written), as `Memory.origin`."""


@dataclass
class Memory:
    format: int
    key: str
    manifest: dict[str, str]
    """Unit → its files, packed in one string (`SiteWriter.manifest`, `writer.unpack`)."""
    cache: dict[str, Any] = field(default_factory=dict)
    """v1: entry key → (Repository or Image or None, problems), in crawl order."""
    registry: Any = None
    """v2 and HTTP sources: the whole `Registry`."""
    published: dict[str, Any] = field(default_factory=dict)
    """Repository → what the change feeds compare (`feeds.snapshot`)."""
    feed: list[Any] = field(default_factory=list)
    """The change feed's entries, newest first (`feeds.entry`)."""
    problems: dict[str, tuple[Problem, ...]] = field(default_factory=dict)
    """Unit → the problems found while making its files, reported again while it is kept."""
    search: bytes | None = None
    """The client search index's tokens and shards (`search_shards.ClientMemory.pack`)."""
    rows: dict[str, Any] = field(default_factory=dict)
    """Repository → what lists of repositories show of it (`html_data.RepositoryRow`): the
    next build lists the repositories that did not change without computing their tags."""
    row_markup: dict[str, str] = field(default_factory=dict)
    """Repository → the markup of its row in lists (the `repository_row` filter of
    `emit/html.py`), kept as `rows` are: the next build's index page reuses the rows of the
    repositories that did not change. Empty when the templates do not use the filter."""
    hidden: frozenset[str] | None = None
    """The images the build's selection left out (`v1_tree.hidden_images`): the next build
    selects from the registry it remembers without walking every repository again (None:
    not known)."""
    origin: _Origin | None = field(default=None, compare=False, repr=False)
    """Where it was read from, chunk by chunk (not written): `dump_to` copies the chunks
    whose entries the next memory holds unchanged rather than pickling them again."""


@dataclass(frozen=True)
class _Chunk:
    """One chunk of a field as read: where its pickle lies in the file, and its entries."""

    start: int
    end: int
    keys: tuple[str, ...]
    values: tuple[Any, ...]
    """The very objects read: kept, so that `is` tells an entry that was not replaced."""
    name: str | None = None
    """Its name in the chunk store, when the file names it rather than holds it."""
    key_hash: int | None = None
    """`hash(keys)`, when `keys` is not kept (`Sources`: see `_load_sources_file`)."""


@dataclass
class _Origin:
    path: Path
    identity: tuple[int, ...]
    """The file's device, inode, size and mtime: it is copied from only if it is still it."""
    chunks: dict[tuple[str, str], _Chunk] = field(default_factory=dict)
    """(field, first key) → the chunk."""
    rest_at: int | None = None
    """Where the chunks after the `Memory` begin, while they are not read (`load_rest`)."""
    store: ChunkStore | None = None
    """Where the chunks the file names are (`chunk_store.py`)."""


def output_key(config: Config) -> str:
    """Everything besides the storage that the output depends on, as one digest.

    The configuration, `SOURCE_DATE_EPOCH` (pages show it), the templates in
    use and sitegen's own code (a checkout that changed must not keep pages
    the old code rendered).
    """
    digest = hashlib.blake2b(digest_size=16)
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    values.pop("config_file", None)
    values.pop("output", None)  # where the site goes does not change its files
    digest.update(repr(sorted(values.items())).encode("utf-8", "surrogateescape"))
    digest.update(repr((FORMAT, __version__, html_inputs.source_date_epoch())).encode())
    folders = [_CODE, html_inputs.PROJECT_TEMPLATES]
    if config.templates_dir is not None:
        folders.append(config.templates_dir)
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                path = Path(root) / name
                try:
                    st = path.stat()
                except OSError:
                    continue
                line = f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n"
                digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def state_dir(output: Path) -> Path:
    """`.<output>.state` beside the output (like its lock)."""
    return output.parent / f".{output.name}{STATE_SUFFIX}"


def chunk_store(output: Path) -> ChunkStore:
    """The store of the chunks the state files of `output` name."""
    return ChunkStore(state_dir(output) / chunk_store_folder)


def load_sources(output: Path) -> Sources | None:
    """What the last build saw of the storage, with its summary and problems (`REPORT_FILE`)."""
    value = _load(state_dir(output) / SOURCES_FILE, sources=True)
    if not isinstance(value, Sources) or value.format != FORMAT:
        return None
    report = _load(state_dir(output) / REPORT_FILE)
    if not (isinstance(report, tuple) and len(report) == 2 and isinstance(report[0], Summary)):
        return None
    value.summary, value.problems = report
    return value


def load_memory(
    output: Path, key: str | None = None, *, crawl: bool = True, rest: bool = True
) -> Memory | None:
    """The memory of the site in `output`; with `key`, only if it was built with that key.

    Without `crawl`, its crawl and rows are left out (`cache`, `rows`, `row_markup` empty,
    `registry` None): a build that will not trust them need not hold them. Without `rest`,
    the fields written after the crawl in chunks (`manifest`, `published`, `rows`,
    `row_markup`) are read later, by `load_rest`.
    """
    value = _load(state_dir(output) / MEMORY_FILE, crawl, rest)
    if not isinstance(value, Memory) or value.format != FORMAT:
        return None
    return value if key is None or value.key == key else None


def load_rest(memory: Memory) -> None:
    """Read the fields `load_memory(rest=False)` left out, from the file it read (the build
    holds the output's lock: no other build writes it); MemoryUnreadable if they cannot be."""
    origin = memory.origin
    assert origin is not None and origin.rest_at is not None
    try:
        with origin.path.open("rb") as f, collector.paused():
            if _identity(f) != origin.identity:
                raise ValueError("it changed since its first part was read")
            f.seek(origin.rest_at)
            _load_chunks(memory, f, store=origin.store)
    except Exception as exc:  # any damage means: start from nothing
        raise MemoryUnreadable(f"{origin.path}: unreadable ({exc})") from exc
    origin.rest_at = None


class MemoryUnreadable(Exception):
    """The second part of a memory file could not be read (`load_rest`)."""


def _load(path: Path, crawl: bool = True, rest: bool = True, sources: bool = False) -> object:
    try:
        with path.open("rb") as f, collector.paused():
            if path.name == MEMORY_FILE:
                return _load_memory_file(path, f, crawl, rest)
            if sources:
                return _load_sources_file(path, f)
            return pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception as exc:  # any damage means: start from nothing
        log.info("%s: unreadable (%s); building everything", path, exc)
        return None


def _load_memory_file(path: Path, file: BinaryIO, crawl: bool, rest: bool) -> Memory | None:
    """The crawl's chunks, then the `Memory`, then its other chunks (`dump_to`), unless
    not `rest` (`load_rest` reads them)."""
    origin = _origin_of(path, file)
    cache = _read_field(file, "cache", origin.chunks if crawl else None, origin.store)
    value = pickle.load(file)
    if not isinstance(value, Memory) or value.format != FORMAT:
        return None
    value.origin, value.cache = origin, cache
    if rest:
        _load_chunks(value, file, crawl, origin.store)
    else:
        origin.rest_at = file.tell()
    return value


def _origin_of(path: Path, file: BinaryIO) -> _Origin:
    """Where a state file being read is, and the store of the chunks it names (beside it)."""
    return _Origin(path, _identity(file), store=ChunkStore(path.parent / chunk_store_folder))


def _load_sources_file(path: Path, file: BinaryIO) -> Sources | None:
    """The `Sources`, then its chunked fields (`dump_to`)."""
    value = pickle.load(file)
    if not isinstance(value, Sources) or value.format != FORMAT:
        return None
    origin = _origin_of(path, file)
    for name in _SOURCE_CHUNKED:
        setattr(value, name, _read_field(file, name, origin.chunks, origin.store))
    for where, chunk in origin.chunks.items():
        # Not the chunk's keys: what a walk made of them is held for the next one's
        # chunks (`_Copier`), and the keys, new strings each walk, were 10 MB of it.
        origin.chunks[where] = dataclasses.replace(chunk, keys=(), key_hash=hash(chunk.keys))
    value.origin = origin
    return value


def dump(value: Sources | Memory | tuple[Summary, tuple[Problem, ...]]) -> bytes:
    buffer = io.BytesIO()
    dump_to(value, buffer)
    return buffer.getvalue()


_CHUNKED = ("manifest", "published", "rows", "row_markup")
"""The fields of `Memory` that grow with the registry, pickled in chunks after it (`dump_rest`);
`cache` too, before it (`dump_crawl`)."""
_CHUNK = 1000
"""Entries per chunk, at most."""
_SOURCE_CHUNKED = ("fingerprints", "listings")
"""The fields of `Sources` pickled in chunks after it, as `Memory`'s."""
_CRAWLED = ("rows", "row_markup")
"""The chunked fields that `load_memory` leaves out without `crawl`, with `cache`: true of
that crawl only."""


def dump_to(
    value: Sources | Memory | tuple[Summary, tuple[Problem, ...]], file: BinaryIO,
    previous: Memory | Sources | None = None, store: ChunkStore | None = None,
) -> None:
    """Pickle `value` into `file` as it goes.

    A `Memory` is written as several pickles: its crawl (`dump_crawl`),
    then itself without its large fields, then each of those (`dump_rest`).
    Each large field is a run of chunks of entries (a tuple of their keys
    and a tuple of their values: read back without a pair for each entry),
    ended by an empty chunk. A pickler remembers every object it wrote (to
    write a shared one once): over the crawl of 20,000 repositories that memo
    alone is over 100 MB, a chunk's under one (and it dumps twice as fast).

    A chunk whose entries are the very objects `previous` read as one chunk
    is copied from the file it read instead (`_Copier`): a rebuild after one
    change pickles again only the few chunks that hold what changed. `Sources`
    are written the same way (`fingerprints`, `listings`), their chunks told
    unchanged by equal entries: a walk makes the fingerprints of repositories
    anew.

    With a `store`, the file names each chunk, which the store holds
    (`chunk_store.py`): a chunk `previous` read from the store is named again,
    and nothing is copied.
    """
    if isinstance(value, Sources):
        head = dataclasses.replace(value, origin=None, **{name: {} for name in _SOURCE_CHUNKED})
        _pickler(file).dump(head)
        with _Copier.open(previous, store) as copier:
            for name in _SOURCE_CHUNKED:
                _write_field(name, getattr(value, name), file, copier, store)
        return
    if not isinstance(value, Memory):
        _pickler(file).dump(value)
        return
    assert not isinstance(previous, Sources)
    dump_crawl(value.cache, file, previous, store)
    dump_rest(value, file, previous, store)


def dump_crawl(
    cache: dict[str, Any], file: BinaryIO, previous: Memory | None = None,
    store: ChunkStore | None = None,
) -> None:
    """The first part of a `Memory`'s file: its `cache`, which the build may then let go."""
    with _Copier.open(previous, store) as copier:
        _write_field("cache", cache, file, copier, store)


def dump_rest(
    value: Memory, file: BinaryIO, previous: Memory | None = None,
    store: ChunkStore | None = None,
) -> None:
    """The rest of a `Memory`'s file, after `dump_crawl`: all of it but its `cache`."""
    head = dataclasses.replace(value, origin=None, cache={}, **{name: {} for name in _CHUNKED})
    _pickler(file).dump(head)
    with _Copier.open(previous, store) as copier:
        for name in _CHUNKED:
            _write_field(name, getattr(value, name), file, copier, store)


def forget_walk(sources: Sources) -> None:
    """Let go of the walk `sources` holds; where its chunks are stays (`dump_to`'s previous)."""
    sources.fingerprints = {}
    sources.listings = {}


def forget_crawl(memory: Memory) -> None:
    """Let go of the crawl `memory` read, once `dump_crawl` has copied what it could."""
    memory.cache = {}
    if memory.origin is not None:
        chunks = memory.origin.chunks
        for where in [where for where in chunks if where[0] == "cache"]:
            del chunks[where]


def _write_field(
    name: str, entries: Mapping[str, Any], file: BinaryIO, copier: _Copier | None,
    store: ChunkStore | None = None,
) -> None:
    if copier is not None and isinstance(entries, dict):
        copier.dump(name, entries, file)
    else:  # streamed: a whole tree's manifest is made as it is read
        items = iter(entries.items())
        while chunk := list(itertools.islice(items, _CHUNK)):
            _write_chunk(file, tuple(zip(*chunk, strict=True)), store)
    _pickler(file).dump(())


def _write_chunk(file: BinaryIO, chunk: tuple[Any, ...], store: ChunkStore | None) -> None:
    """A chunk, into `file` or (named in `file`) into `store`."""
    if store is None:
        _pickler(file).dump(chunk)
        return
    buffer = io.BytesIO()
    _pickler(buffer).dump(chunk)
    _pickler(file).dump(store.put(buffer.getvalue()))


class _Copier:
    """Writes a field's entries in chunks, copying (or naming again, from the store) those the
    previous file holds as they are."""

    def __init__(self, origin: _Origin, source: BinaryIO, store: ChunkStore | None) -> None:
        self.chunks = origin.chunks
        self.source = source
        self.store = store
        self.same_store = store is not None and origin.store is not None and (
            store.folder == origin.store.folder
        )

    @classmethod
    @contextlib.contextmanager
    def open(
        cls, previous: Memory | Sources | None, store: ChunkStore | None = None
    ) -> Iterator[_Copier | None]:
        """A copier from the file `previous` was read from, if that is still the file there."""
        origin = previous.origin if previous is not None else None
        if origin is None or not origin.chunks:
            yield None
            return
        try:
            source = origin.path.open("rb")
        except OSError:
            yield None
            return
        with source:
            yield cls(origin, source, store) if _identity(source) == origin.identity else None

    def dump(self, name: str, entries: dict[str, Any], file: BinaryIO) -> None:
        """`entries` in chunks: the previous file's where they still match, else new ones
        that end where one of its chunks begins (so the next ones match again)."""
        keys, values = list(entries), list(entries.values())
        i = 0
        while i < len(keys):
            old = self.chunks.get((name, keys[i]))
            if old is not None and self._copied(old, keys, values, i, file):
                i += len(old.values)
                continue
            end = i + 1
            while end < len(keys) and end - i < _CHUNK and (name, keys[end]) not in self.chunks:
                end += 1
            _write_chunk(file, (tuple(keys[i:end]), tuple(values[i:end])), self.store)
            i = end

    def _copied(
        self, old: _Chunk, keys: list[str], values: list[Any], i: int, file: BinaryIO
    ) -> bool:
        end = i + len(old.values)
        if old.key_hash is None:
            if tuple(keys[i:end]) != old.keys:
                return False
            if not all(map(operator.is_, values[i:end], old.values)):
                return False
        elif hash(tuple(keys[i:end])) != old.key_hash or values[i:end] != list(old.values):
            return False  # (the walk makes new fingerprints of repositories: compared equal)
        if old.name is not None and self.same_store:
            assert self.store is not None
            self.store.use(old.name)
            _pickler(file).dump(old.name)
            return True
        if old.name is not None:  # (its chunk is in another store: written anew)
            return False
        self.source.seek(old.start)
        data = self.source.read(old.end - old.start)
        if self.store is None:
            file.write(data)
        else:  # (the previous file held it: stored now, as it is)
            _pickler(file).dump(self.store.put(data))
        return True


def _identity(file: BinaryIO) -> tuple[int, ...]:
    st = os.fstat(file.fileno())
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _load_chunks(
    memory: Memory, file: BinaryIO, crawl: bool = True, store: ChunkStore | None = None
) -> None:
    """Read back the fields `dump_rest` wrote in chunks after `memory` (the crawl's rows
    if `crawl`), noting where each chunk lies (`Memory.origin`)."""
    if not crawl:
        memory.registry = None
    chunks = memory.origin.chunks if memory.origin is not None else {}
    for name in _CHUNKED:
        keep = crawl or name not in _CRAWLED
        # Into the field's own dict: what was handed it before (`_Build.run` gives the
        # writer the manifest before `load_rest`) sees it filled.
        _read_field(file, name, chunks if keep else None, store, into=getattr(memory, name))


def _read_field(
    file: BinaryIO, name: str, chunks: dict[tuple[str, str], _Chunk] | None,
    store: ChunkStore | None = None, into: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One field's chunks, up to its empty one, into `into` (else a new dict); noted in
    `chunks` (skipped if None). A chunk the file names is read from `store`."""
    found: dict[str, Any] = {} if into is None else into
    start = file.tell()
    while chunk := pickle.load(file):
        end = file.tell()
        if chunks is not None:
            stored = None
            if isinstance(chunk, str):
                if store is None:
                    raise ValueError(f"{name}: a chunk named {chunk!r} without a store")
                try:
                    data = store.read(chunk)
                except OSError as exc:  # (not "no state": `_load` says it is unreadable)
                    raise ValueError(f"{name}: chunk {chunk!r}: {exc}") from exc
                stored, chunk = chunk, pickle.loads(data)
            keys, values = chunk
            found.update(zip(keys, values, strict=True))
            chunks[name, keys[0]] = _Chunk(start, end, keys, values, stored)
        start = end
    if not isinstance(chunk, tuple):
        raise ValueError(f"{name}: not a chunk")
    return found


def _pickler(file: BinaryIO) -> pickle.Pickler:
    pickler = pickle.Pickler(file, protocol=pickle.HIGHEST_PROTOCOL)
    # Paths as plain strings: pathlib's own reduction re-parses every part on load, a
    # third of the time it takes to load the crawl of 20,000 repositories.
    pickler.dispatch_table = {**copyreg.dispatch_table, PosixPath: _reduce_path}
    return pickler


def _reduce_path(path: PosixPath) -> tuple[type[PosixPath], tuple[str]]:
    return PosixPath, (str(path),)
