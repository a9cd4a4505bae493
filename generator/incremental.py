"""What changed since the last build: storage fingerprints, a partial crawl, dirty units.

**Fingerprints.** One `stat` walk of the storage gives each storage entry a
fingerprint: the name, type, size, mtime and inode of every file it is made
of (a v1 repository folder: its `tag_*`, `tag*_json`, `json`,
`_index_images`, `_private`; a v1 image folder: `json`, `ancestry`,
`_checksum`, `layer`, `_files`, `_inprogress`). The registry writes files
in place and never keeps their mtime, so an equal fingerprint means equal
bytes, and a rebuild re-reads only the entries whose fingerprint changed.
Files are `stat`ed relative to an open folder (`fstatat`), half the cost of
`stat` by full path. A folder is listed only when its ctime or inode
changed since the previous walk (its names are kept in the state,
`Scan.listings`): listing a folder on ext4 costs more than `stat`ing the
files in it, and a rebuild that finds nothing changed is that walk.

**Completed images are not stat'ed again.** docker-registry 0.9.1 writes an
image's files only while its `_inprogress` mark exists (`images.py`, and
/work/shared/reference/v1-api.md, storage table): PUT json writes the mark
first and answers 409 when `json` exists without it; PUT layer answers 409
when `layer` exists without it; PUT checksum answers 409 without it and, on
success, removes it. GET files writes `_files` only when it is missing, and
every other write creates a name. Creating, removing or renaming a name
gives the folder a new ctime. So an image folder whose ctime and inode are
those the previous walk recorded, whose names then held `json` and `layer`
and no `_inprogress` (`_completed`), and whose fingerprint then was not
blanked as racy (`Scan.kept`), holds the very files it held then: it keeps
that fingerprint, and the newest mtime recorded with its listing (the
storage's clock, `Scan.newest_mtime_ns`, must stay exact: feeds and pages
show it), for one `stat` of the folder instead of five. Repository folders
are `stat`ed file by file every time: the registry rewrites their files in
place. A completed image's file edited in place by something other than the
registry (`cat > json`) is therefore seen only by a `--full` build; tools
that write a new file and rename it over the old one (editors, `sed -i`,
rsync) change the folder's ctime and are seen.

v2 storage is fingerprinted as a whole: every file under `repositories/`
(the `link` files that name tags, revisions and layers; blobs are
addressed by digest and never change). When it changed, the whole v2
storage is crawled again (it reads manifests and configs only); rendering
and writing stay incremental. An HTTP source is always crawled (its blob
cache makes that cheap).

**Dirty units** (`emit/units.py`). From the old and the new model, the units
whose outputs may differ: a repository that changed, or whose tags reach an
image that changed (its page shows their sizes); an image that changed, or
an ancestor of it (its page shows its history), or that a changed
repository points at now or pointed at before (its page lists the tags
pointing at it); the namespace of any of those repositories; `search` when
a search document changed; `site` whenever anything did. Units of
repositories and images that left the site are not dirty: their files are
deleted.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import operator
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from generator import collector, forked
from generator.emit import units
from generator.emit.v1_tree import Selection
from generator.listings import ListingStore
from generator.model import Image, Registry, Repository, Tag
from generator.report import Problem, Report
from generator.sources import v1, v1_layout, v2_layout

if TYPE_CHECKING:
    from generator import index

Fingerprint = bytes
_T = TypeVar("_T")
RACY_NS = 2_000_000_000
"""Entries modified this close to a walk are read again by the next build (see `Scan.kept`)."""
RACY_CTIME = -1
"""The ctime a remembered listing holds when it must be read again (`Scan.kept_listings`)."""


class Entry(NamedTuple):
    """One storage entry of a v1 crawl: a namespace, a repository or an image.

    A named tuple: every build makes one per entry (75,000 at 20,000
    repositories), three times faster than a frozen dataclass.
    """

    key: str
    """`N:<ns>`, `R:<ns>/<name>` or `I:<name>`: unique, and the key of the crawl cache."""
    kind: str
    namespace: str
    name: str
    is_dir: bool
    fingerprint: Fingerprint


Listing = tuple[int, int, str, int]
"""A folder's ctime, inode, sorted names joined by NUL, and the newest mtime of it and its files
(of an entry's folder; a folder of folders: its own), as a walk found them
(`_folder_fingerprint`). One string, shared by the folders that hold the same names: the
state of 75,000 folders loads in a third of the time tuples of names take."""


@dataclass
class Scan:
    """The result of one fingerprint walk."""

    layout: str
    """`v1` or `v2`."""
    entries: list[Entry] = field(default_factory=list)
    """v1: every entry, in crawl order."""
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)
    listings: dict[str, Listing] = field(default_factory=dict)
    """v1: the listing of every folder (by entry key; `D:images`, `D:repositories`), for the
    next walk."""
    newest_mtime_ns: int = 0
    """The newest mtime seen (files and the folders that list them): the storage's clock."""
    started_ns: int = field(default_factory=time.time_ns)
    racy: set[str] = field(default_factory=set)
    """Entries changed within `RACY_NS` of the walk: their fingerprint is not kept."""

    def note(self, key: str, newest: int) -> None:
        """Mark `key` racy when a write in the same clock tick could leave its stat as is."""
        if newest >= self.started_ns - RACY_NS:
            self.racy.add(key)

    def kept(self) -> dict[str, Fingerprint]:
        """The fingerprints to remember: racy ones blanked, so the next build reads them again.

        git's "racily clean" rule: a file written in the same timestamp tick
        as the walk could change again without its size or mtime changing.
        """
        kept = dict(self.fingerprints)
        for key in self.racy.intersection(kept):
            kept[key] = b""
        return kept

    def release(self) -> None:
        """Let go of the walk once the crawl has read it and the state has kept it."""
        self.entries = []
        self.fingerprints = {}
        self.listings = {}
        self.racy = set()

    def kept_listings(self) -> dict[str, Listing]:
        """The listings to remember. Those of folders changed (their ctime) within `RACY_NS`
        of the walk, which a name added in the same clock tick would leave as is, with a
        ctime no folder has (`RACY_CTIME`): the next walk lists them again, and can tell
        whether their names changed (`_names_changed`)."""
        recent = self.started_ns - RACY_NS
        kept = dict(self.listings)
        for key in list(compress(kept, map(recent.__le__, map(_FIRST, kept.values())))):
            kept[key] = (RACY_CTIME, *kept[key][1:])
        return kept


class _Unreadable(Exception):
    """A folder could not be listed: the crawl reports it; nothing is cached."""


# --- walking -------------------------------------------------------------------------------


def scan(
    root: Path, layout: str, jobs: int = 1, known: Mapping[str, Listing] | None = None,
    old: Mapping[str, Fingerprint] | None = None, beside: Callable[[], object] | None = None,
) -> Scan | None:
    """Fingerprints of a v1 or v2 storage; None when a folder cannot be listed.

    `known`: the listings a previous walk of this storage found (`Scan.kept_listings`); `old`:
    its fingerprints (`Scan.kept`), which a completed image folder that did not change keeps
    (`_folder_fingerprint`). With `jobs` > 1, a forked worker fingerprints part of v1's
    image and repository folders (`generator/forked.py`) while this process does the rest.

    `beside`: work for this process while the worker walks (the build reads its memory),
    run once the fork is made, so that the worker does not copy what it makes; the worker
    then walks more of the storage (`forked.split_map`). It is run only when the walk
    knows before the fork that the storage changed: a name was added to or removed from
    `images/`, `repositories/` or a namespace, as a push does (the work is for a build
    that will not stop at "nothing changed"). Nor is it run on a v2 layout, or when a
    folder cannot be listed: the caller checks whether it ran.
    """
    try:
        with collector.paused():
            if layout == "v1":
                return _scan_v1(root, jobs, known or {}, old or {}, beside)
            return _scan_v2(root)
    except _Unreadable:
        return None


def _nothing() -> None:
    pass


Listed = tuple[list[tuple[str, bool]], int, int, Listing | None]
"""((name, is a folder) of each entry sorted by name bytes, an fd of the folder, its mtime, its
listing); the caller closes the fd (-1 when the folder does not exist)."""


def _listing(path: str, dir_fd: int | None, known: Listing | None) -> Listed:
    """The entries of a folder of folders (`images/`, `repositories/` and a namespace).

    As in `_folder_fingerprint`, a folder whose ctime and inode are those
    `known` recorded is not read again; its listing marks folders with a
    trailing `/` (a name holds none).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)
    except FileNotFoundError:
        return [], -1, 0, None
    except OSError as exc:
        raise _Unreadable(path) from exc
    try:
        st = os.fstat(fd)  # before its names: a name added after this changes its ctime
        if known is not None and known[0] == st.st_ctime_ns and known[1] == st.st_ino:
            names = known[2].split("\0") if known[2] else []
            entries = [(n[:-1], True) if n[-1] == "/" else (n, False) for n in names]
            return entries, fd, st.st_mtime_ns, known
        with os.scandir(fd) as it:
            found = list(it)
        kinds = set(map(_IS_DIR, found))  # (d_type, else a `stat` it keeps)
    except OSError as exc:
        os.close(fd)
        raise _Unreadable(path) from exc
    if kinds == {True}:  # folders only, as `images/` holds: a push relists its 55,000 names
        names = list(map(_NAME, found))
        names.sort(key=None if "".join(names).isascii() else os.fsencode)
        entries = list(zip(names, repeat(True)))
        joined = "/\0".join(names) + "/"
    else:
        if "".join(map(_NAME, found)).isascii():  # then str order is byte order
            found.sort(key=_NAME)
        else:
            found.sort(key=lambda e: os.fsencode(e.name))
        entries = list(zip(map(_NAME, found), map(_IS_DIR, found), strict=True))
        joined = "\0".join(f"{n}/" if is_dir else n for n, is_dir in entries)
    return entries, fd, st.st_mtime_ns, (st.st_ctime_ns, st.st_ino, joined, st.st_mtime_ns)


_IMAGES = "D:images"
_REPOSITORIES = "D:repositories"
"""The keys of the listings of `images/` and `repositories/` (`Scan.listings`)."""
_NAME = operator.attrgetter("name")
_IS_DIR = os.DirEntry.is_dir
_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
_IDENTITY = operator.attrgetter("st_mode", "st_size", "st_mtime_ns", "st_ino")
"""What a file's fingerprint holds besides its name: a write in place changes its size or
mtime, a file written anew and renamed over it its inode."""
_MTIME = operator.attrgetter("st_mtime_ns")


def _stats(paths: Sequence[str], dir_fd: int) -> list[os.stat_result | None]:
    """`stat` of each path relative to `dir_fd`; None for one that cannot be stat'ed."""
    try:
        return [os.stat(path, dir_fd=dir_fd) for path in paths]
    except OSError:
        return [_stat_or_none(path, dir_fd) for path in paths]


def _stat_or_none(path: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(path, dir_fd=dir_fd)
    except OSError:
        return None


def _fingerprint(names: str, stats: Sequence[os.stat_result | None]) -> tuple[Fingerprint, int]:
    """(digest of the files' names, joined by NUL, and their identities, their newest mtime).

    The identities are digested by `hash()` of a tuple of ints, which is
    the same in every process of one Python (only str and bytes hashes are
    salted per process) and 20 times faster than formatting them: this
    runs for 200,000 files on every build (the repositories' at 20,000).
    Another Python may hash them otherwise; then its first build reads
    again every entry whose files it `stat`s.
    """
    if None in stats:
        identities = tuple(() if st is None else _IDENTITY(st) for st in stats)
        present = [st for st in stats if st is not None]
    else:
        identities = tuple(map(_IDENTITY, stats))
        present = stats  # type: ignore[assignment]
    text = names.encode("utf-8", "surrogateescape")
    text += hash(identities).to_bytes(8, "little", signed=True)
    return hashlib.blake2b(text, digest_size=16).digest(), max(map(_MTIME, present), default=0)


_NOTHING = _fingerprint("", [])[0]
"""The fingerprint of a folder that vanished during the walk."""


@functools.lru_cache(maxsize=256)
def _completed(names: str) -> bool:
    """Whether an image folder holding `names` (a listing's) is one the registry no longer
    writes: its push completed (no `_inprogress`), and PUT json and PUT layer answer 409
    (its `json` and `layer` exist). A few sets of names recur over all the image folders."""
    files = names.split("\0")
    return "_inprogress" not in files and "json" in files and "layer" in files


def _folder_fingerprint(
    path: str, dir_fd: int, known: Listing | None, previous: Fingerprint | None = None
) -> tuple[Fingerprint, int, Listing | None]:
    """(fingerprint, newest mtime, listing) of the folder `path` of `dir_fd`.

    A folder gets a new ctime whenever a name in it is added, removed or
    renamed (and when its mode changes, or its mtime is set); while its
    ctime and inode are those `known` recorded, it holds the names it held
    then, and can still be read. Its files are then stat'ed by those names (one
    `fstatat` each) without reading the folder again, which on ext4 costs
    more than stat'ing its files (`getdents` twice, plus open and close). A
    folder changed within `RACY_NS` of a walk is read again by the next
    one (`Scan.kept_listings`).

    `previous`: an image folder's fingerprint in the previous walk (blank when that walk
    found it racy, `Scan.kept`). If its push had completed then (`_completed`) and the
    folder is the same, no file in it was written since (see the module doc): it keeps
    that fingerprint and newest mtime (`known[3]`) for one `stat` of the folder.
    """
    if known is not None:  # (else it is listed: no need to stat it first)
        try:
            st = os.stat(path, dir_fd=dir_fd)
        except FileNotFoundError:
            return _NOTHING, 0, None
        except OSError as exc:
            raise _Unreadable(path) from exc
        if st.st_ctime_ns == known[0] and st.st_ino == known[1]:
            names = known[2]
            if previous and _completed(names):
                return previous, known[3], known
            files = names.split("\0") if names else []
            digest, newest = _fingerprint(names, _stats([f"{path}/{f}" for f in files], dir_fd))
            newest = max(newest, st.st_mtime_ns)
            return digest, newest, known if newest == known[3] else (*known[:3], newest)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)
    except FileNotFoundError:
        return _NOTHING, 0, None
    except OSError as exc:
        raise _Unreadable(path) from exc
    try:
        st = os.fstat(fd)  # before its names: a name added after this changes its ctime
        files = sorted(os.listdir(fd))  # noqa: PTH208 (names of an fd)
        stats = _stats(files, fd)
    except OSError as exc:
        raise _Unreadable(path) from exc
    finally:
        os.close(fd)
    names = sys.intern("\0".join(files))  # one string for the folders that hold the same
    digest, newest = _fingerprint(names, stats)
    newest = max(newest, st.st_mtime_ns)
    return digest, newest, (st.st_ctime_ns, st.st_ino, names, newest)


Fingerprinted = tuple[bool, Fingerprint, int, Listing | None]
"""(is a folder, fingerprint, newest mtime, its listing, or None when `known` holds it)."""


def _entry_fingerprint(
    path: str, is_dir: bool, dir_fd: int, known: Listing | None,
    previous: Fingerprint | None = None,
) -> Fingerprinted:
    """The fingerprint of a repository or image entry: a folder, or a file in its place.

    `path`: its name, under its namespace's for a repository (`<ns>/<repo>`: relative to
    `repositories/`); the fingerprint of a file holds its name only.
    """
    if is_dir:
        digest, newest, listing = _folder_fingerprint(path, dir_fd, known, previous)
        return True, digest, newest, (None if listing is known else listing)
    digest, newest = _fingerprint(path.rpartition("/")[2], _stats((path,), dir_fd))
    return False, digest, newest, None


class _Repositories(NamedTuple):
    """`repositories/` listed: its namespaces and the repository entries in each."""

    namespaces: list[tuple[str, bool, int]]
    """(namespace, is a folder, how many repository entries it holds), in crawl order."""
    paths: list[str]
    """`<ns>/<repo>` of every repository entry, in crawl order."""
    is_dirs: list[bool]
    fd: int
    """An fd of `repositories/` (-1 when it does not exist): the caller closes it."""
    newest: int
    """The newest mtime of `repositories/` and the namespace folders."""


def _list_repositories(
    root: Path, known: Mapping[str, Listing], listings: dict[str, Listing]
) -> _Repositories:
    """List `repositories/` and its namespaces (their listings go into `listings`)."""
    base, base_fd, newest, listing = _listing(
        str(v1_layout.repositories_dir(root)), None, known.get(_REPOSITORIES)
    )
    if listing is not None:
        listings[_REPOSITORIES] = listing
    namespaces: list[tuple[str, bool, int]] = []
    paths: list[str] = []
    is_dirs: list[bool] = []
    try:
        for ns, is_dir in base:
            if not is_dir:
                namespaces.append((ns, False, 0))
                continue
            ns_key = f"N:{ns}"
            repos, ns_fd, mtime, listing = _listing(ns, base_fd, known.get(ns_key))
            if ns_fd >= 0:
                os.close(ns_fd)
            if listing is not None:
                listings[ns_key] = listing
            newest = max(newest, mtime)
            namespaces.append((ns, True, len(repos)))
            paths.extend(f"{ns}/{repo}" for repo, _ in repos)
            is_dirs.extend(map(_SECOND, repos))
    except BaseException:
        if base_fd >= 0:
            os.close(base_fd)
        raise
    return _Repositories(namespaces, paths, is_dirs, base_fd, newest)


def _scan_v1(
    root: Path, jobs: int, known: Mapping[str, Listing], old: Mapping[str, Fingerprint],
    beside: Callable[[], object] | None,
) -> Scan:
    result = Scan("v1")
    images, images_fd, newest, listing = _listing(
        str(v1_layout.images_dir(root)), None, known.get(_IMAGES)
    )
    if listing is not None:
        result.listings[_IMAGES] = listing
    try:
        repos = _list_repositories(root, known, result.listings)
    except BaseException:
        if images_fd >= 0:
            os.close(images_fd)
        raise
    if not any(map(_names_changed, result.listings.values(), map(known.get, result.listings))):
        beside = None  # (no name came or went: maybe nothing changed)
    image_keys = [f"I:{name}" for name, _ in images]
    repo_keys = [f"R:{path}" for path in repos.paths]
    n_images = len(images)
    keys = image_keys + repo_keys
    paths = list(map(_FIRST, images)) + repos.paths
    is_dirs = list(map(_SECOND, images)) + repos.is_dirs

    def fingerprint(i: int) -> Fingerprinted:  # (only an image folder may be trusted)
        if i < n_images:
            key = keys[i]
            return _entry_fingerprint(paths[i], is_dirs[i], images_fd, known.get(key), old.get(key))
        return _entry_fingerprint(paths[i], is_dirs[i], repos.fd, known.get(keys[i]))

    try:
        fingerprints, _ = forked.split_map(
            fingerprint, range(len(keys)), beside or _nothing, jobs=jobs, what="scan worker"
        )
    finally:
        for fd in (images_fd, repos.fd):
            if fd >= 0:
                os.close(fd)
    if not keys:
        result.newest_mtime_ns = max(newest, repos.newest)
        return result
    # The columns, put together at C speed: there are 75,000 entries at 20,000 repositories.
    found_dirs, digests, mtimes, new_listings = zip(*fingerprints, strict=True)
    entries = result.entries
    start = n_images
    for ns, ns_is_dir, count in repos.namespaces:
        entries.append(Entry(f"N:{ns}", "N", ns, "", ns_is_dir, b""))
        end = start + count
        names = (path.partition("/")[2] for path in paths[start:end])
        entries.extend(map(
            Entry, keys[start:end], repeat("R"), repeat(ns), names,
            found_dirs[start:end], digests[start:end],
        ))
        start = end
    result.fingerprints = {e.key: e.fingerprint for e in entries}
    entries.extend(map(
        Entry, image_keys, repeat("I"), repeat(""), paths[:n_images],
        found_dirs[:n_images], digests[:n_images],
    ))
    result.fingerprints.update(zip(image_keys, digests[:n_images], strict=True))
    racy_from = result.started_ns - RACY_NS  # `Scan.note`, for all at once
    result.racy.update(compress(keys, map(racy_from.__le__, mtimes)))
    # Each folder's listing: the one the walk made, else the one it kept from `known`.
    kept = list(compress(keys, map(operator.and_, found_dirs, map(known.__contains__, keys))))
    result.listings.update(zip(kept, map(known.__getitem__, kept), strict=True))
    result.listings.update(compress(zip(keys, new_listings, strict=True), new_listings))
    result.newest_mtime_ns = max(newest, repos.newest, max(mtimes))
    return result


def _names_changed(listing: Listing, before: Listing | None) -> bool:
    """Whether a folder listed again holds other names than the last walk found in it.

    Not known for a folder the last walk did not list (a new one: the names of the folder
    holding it changed)."""
    return before is not None and listing is not before and listing[2] != before[2]


def _scan_v2(root: Path) -> Scan:
    """One fingerprint for the whole v2 storage: every file under `repositories/`."""
    found = Scan("v2")
    digest = hashlib.blake2b(digest_size=16)
    newest = 0
    base = v2_layout.repositories_dir(root)
    for folder, dirs, files in os.walk(base, onerror=_raise_unreadable):
        dirs[:] = sorted(d for d in dirs if d != "_uploads")
        here = Path(folder)
        newest = max(newest, here.stat().st_mtime_ns)
        for name in sorted(files):
            st = (here / name).stat()
            line = f"{here.relative_to(base)}/{name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n"
            digest.update(line.encode("utf-8", "surrogateescape"))
            newest = max(newest, st.st_mtime_ns)
    found.fingerprints, found.newest_mtime_ns = {"v2": digest.digest()}, newest
    found.note("v2", newest)
    return found


def _raise_unreadable(exc: OSError) -> None:
    if not isinstance(exc, FileNotFoundError):
        raise _Unreadable(str(exc.filename)) from exc


# --- crawling what changed -----------------------------------------------------------------

CachedEntry = tuple[Any, tuple[Problem, ...]]
"""The crawl of one v1 entry: its Repository or Image (or None), and its problems."""


def crawl_v1(
    root: Path, found: Scan, cache: Mapping[str, CachedEntry], old: Mapping[str, Fingerprint],
    report: Report, advance: Callable[[int], object] | None = None, jobs: int = 1,
    listings: ListingStore | None = None,
) -> tuple[Registry, dict[str, CachedEntry], int]:
    """The v1 registry, re-reading only entries whose fingerprint changed.

    Returns the registry, the new cache and how many entries were read.
    Problems of entries not read again are reported again, so every build
    reports the same problems as a full one. With `jobs` > 1, a forked
    worker reads part of the image folders. With `listings`, images keep
    their `/files` answers there (`v1.image_entry`).
    """
    repositories: list[Repository] = []
    images: list[Image] = []
    new_cache: dict[str, CachedEntry] = {}
    repos_base = v1_layout.repositories_dir(root)
    fresh = _read_stale(root, found, cache, old, jobs, listings)
    descend: dict[str, bool] = {}
    for entry in found.entries:
        if advance is not None:
            advance(1)
        if entry.kind == "N":
            descend[entry.namespace] = v1.namespace_entry(
                repos_base, entry.namespace, entry.is_dir, report
            )
            continue
        if entry.kind == "R" and not descend.get(entry.namespace):
            continue
        cached = fresh[entry.key] if entry.key in fresh else cache[entry.key]
        new_cache[entry.key] = cached
        obj, problems = cached
        for problem in problems:
            report.add(problem)
        if obj is not None:
            (repositories if entry.kind == "R" else images).append(obj)
    image_ids = {image.id for image in images}
    v1.report_dangling_tags(root, tuple(repositories), image_ids, report)
    registry = Registry(repositories=tuple(repositories), images=tuple(images))
    return registry, new_cache, len(fresh)


def _read_stale(
    root: Path, found: Scan, cache: Mapping[str, CachedEntry], old: Mapping[str, Fingerprint],
    jobs: int, listings: ListingStore | None,
) -> dict[str, CachedEntry]:
    """Read every repository and image entry the cache cannot answer (changed or new)."""
    repos_base = v1_layout.repositories_dir(root)
    images_base = v1_layout.images_dir(root)
    descend = {
        e.namespace: v1.namespace_entry(repos_base, e.namespace, e.is_dir, Report())
        for e in found.entries if e.kind == "N"
    }
    stale = [
        e for e in found.entries
        if e.kind != "N"
        and (e.kind == "I" or descend.get(e.namespace))
        and (e.key not in cache or old.get(e.key) != e.fingerprint)
    ]

    def read(entry: Entry) -> CachedEntry:
        sub = Report()
        if entry.kind == "R":
            obj: Any = v1.repository_entry(
                repos_base / entry.namespace, entry.name, entry.is_dir, sub
            )
        else:
            obj = v1.image_entry(images_base, entry.name, entry.is_dir, sub, listings)
        return obj, tuple(sub.problems)

    stale_images = [e for e in stale if e.kind == "I"]
    stale_repositories = [e for e in stale if e.kind == "R"]
    image_entries, repository_entries = forked.split_map(
        read, stale_images, lambda: [read(e) for e in stale_repositories],
        jobs=jobs, what="crawl worker",
    )
    fresh = dict(zip((e.key for e in stale_repositories), repository_entries, strict=True))
    fresh.update(zip((e.key for e in stale_images), image_entries, strict=True))
    return fresh


# --- dirty units -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchChanges:
    """What changed in the search documents: the search indexes redo only that."""

    old: dict[str, index.Document] = field(default_factory=dict)
    """Full name -> the previous document, of each repository whose document changed."""
    new: dict[str, index.Document] = field(default_factory=dict)
    """Full name -> its document now (a repository that left has none)."""
    names_moved: bool = False
    """Repositories came or went: the walk positions of the others moved."""

    @classmethod
    def between(
        cls, before: Mapping[str, index.Document], after: Mapping[str, index.Document],
        names_moved: bool,
    ) -> SearchChanges:
        """The documents that differ between `before` and `after` (full name -> document)."""
        names = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
        return cls(
            {n: before[n] for n in names if n in before},
            {n: after[n] for n in names if n in after},
            names_moved,
        )

    @property
    def needed(self) -> bool:
        """Whether the search indexes must be redone at all."""
        return self.names_moved or bool(self.old or self.new)


class Dirty(NamedTuple):
    """What `dirty_units` found."""

    units: frozenset[str]
    """The units to redo."""
    repositories: set[str]
    """The full names of the repositories that changed."""
    search: SearchChanges
    gone: frozenset[str]
    """The units of the last build that left the site (their files are deleted)."""


def dirty_units(
    old: Selection, new: Selection, old_registry: Registry, new_registry: Registry
) -> Dirty:
    """The units to redo and the units gone, from the last build's selection and this one's.

    See the module doc. It works outward from what changed: an entry the
    build did not read again is the very object the last build kept, so the
    objects that differ are found by identity (at C speed, over all of them),
    and only those are compared field by field. The passes that must see every
    image or repository (which reach a changed image) run at C speed too.
    """
    old_only, new_only = _differing(old.repositories, new.repositories)
    old_repos = {r.full_name: r for r in old_only}
    new_by_name = {r.full_name: r for r in new_only}
    changed_repos = {name for name, r in new_by_name.items() if not _same(old_repos.get(name), r)}
    gone = old_repos.keys() - new_by_name.keys()
    old_only, new_only = _differing(old.images, new.images)
    old_images = {i.id: i for i in old_only}
    new_images = {i.id: i for i in new_only}
    changed_images = {i for i, image in new_images.items() if not _same(old_images.get(i), image)}
    changed_images |= old_images.keys() - new_images.keys()
    if not (changed_repos or changed_images or gone):
        return Dirty(frozenset(), set(), SearchChanges(), frozenset())
    moved = [old_repos[name] for name in changed_repos | gone if name in old_repos]
    moved += [new_by_name[name] for name in changed_repos]
    # Images: changed ones, those a changed repository points at (then or now), descendants.
    pointed = changed_images | {tag.image_id for repo in moved for tag in repo.tags}
    site_images = dict(zip(map(_ID, new.images), new.images, strict=True))
    reaching = _reaching(new.images, site_images, changed_images)
    dirty = set(map(units.image, (pointed | reaching) & site_images.keys()))
    # Repositories: changed ones, and those whose tags reach a changed image (one the site
    # lacks: itself).
    reach = reaching | (changed_images - site_images.keys())
    touched_by_name = {name: new_by_name[name] for name in changed_repos}
    touched_by_name.update((r.full_name, r) for r in _tagging(new.repositories, reach))
    touched, touched_repos = touched_by_name.keys(), list(touched_by_name.values())
    dirty |= {units.repository(name) for name in touched}
    dirty |= {units.namespace(repo.namespace) for repo in moved + touched_repos}
    dirty.add(units.SITE)
    # A search document depends on the repository and the labels of its tagged images.
    names_moved = _names_moved(old.repositories, new.repositories)
    before_repos = [old_repos[name] for name in gone]
    for repo in touched_repos:
        name = repo.full_name
        if name in old_repos:
            before_repos.append(old_repos[name])
        elif name not in new_by_name:  # the very object the last build had
            before_repos.append(repo)
    before = _documents(before_repos, old_registry)
    after = _documents(touched_repos, new_registry)
    search = SearchChanges.between(before, after, names_moved)
    if search.needed:
        dirty.add(units.SEARCH)
    left = {units.repository(name) for name in gone}
    left |= set(map(units.image, old_images.keys() - site_images.keys()))
    namespaces = {old_repos[name].namespace for name in gone}
    left |= set(map(units.namespace, namespaces - set(map(_NAMESPACE, new.repositories))))
    return Dirty(frozenset(dirty), changed_repos, search, frozenset(left))


_ID = operator.attrgetter("id")
_NAMESPACE = operator.attrgetter("namespace")
_ANCESTRY = operator.attrgetter("ancestry")
_TAGS = operator.attrgetter("tags")
_TAG_IMAGE = Tag.image_id.fget  # type: ignore[attr-defined]


def _differing(old: Sequence[_T], new: Sequence[_T]) -> tuple[list[_T], list[_T]]:
    """(the objects of `old` not in `new`, those of `new` not in `old`), by identity, in order."""
    old_ids, new_ids = list(map(id, old)), list(map(id, new))
    in_old, in_new = set(old_ids), set(new_ids)
    return (
        list(compress(old, map(operator.not_, map(in_new.__contains__, old_ids)))),
        list(compress(new, map(operator.not_, map(in_old.__contains__, new_ids)))),
    )


def _reaching(
    images: Sequence[Image], by_id: Mapping[str, Image], changed: set[str]
) -> set[str]:
    """The ids of `images` whose chain (`_chain`) holds a changed image."""
    ancestries = list(map(_ANCESTRY, images))
    with_ancestry = compress(images, ancestries)  # their chain: the ancestry
    disjoint = map(changed.isdisjoint, filter(None, ancestries))
    found = set(map(_ID, compress(with_ancestry, map(operator.not_, disjoint))))
    for image in compress(images, map(operator.not_, ancestries)):
        if not changed.isdisjoint(_chain(image, by_id)):
            found.add(image.id)
    return found


def _tagging(repositories: Sequence[Repository], image_ids: set[str]) -> list[Repository]:
    """The repositories with a tag on one of `image_ids`, in order."""
    tags = list(map(_TAGS, repositories))
    hits = map(image_ids.__contains__, map(_TAG_IMAGE, chain.from_iterable(tags)))
    positions = list(compress(itertools.count(), hits))
    if not positions:
        return []
    ends = list(itertools.accumulate(map(len, tags)))
    found = dict.fromkeys(bisect.bisect_right(ends, p) for p in positions)
    return [repositories[i] for i in found]


def _names_moved(old: Sequence[Repository], new: Sequence[Repository]) -> bool:
    """Whether the repositories' full names, in order, differ (an entry the build did not read
    again is the very object it was: only the others are asked their names)."""
    if len(old) != len(new):
        return True
    differ = compress(range(len(new)), map(operator.is_not, old, new))
    return any(old[i].full_name != new[i].full_name for i in differ)


def _same(old: object, new: object) -> bool:
    return old is new or old == new


def _chain(image: Image, images: Mapping[str, Image]) -> tuple[str, ...]:
    """The image and its ancestors, as its page's history shows them.

    Without an `ancestry` file the chain of `parent`s ends at the first parent
    the site lacks; that parent's id ends it here too, so that an image whose
    parent was just deleted counts as reaching a changed image (its history
    and size shrink).
    """
    if image.ancestry:
        return tuple(dict.fromkeys(image.ancestry))
    chain: list[str] = []
    current: Image | None = image
    while current is not None and current.id not in chain:
        chain.append(current.id)
        parent = current.parent
        current = images.get(parent) if parent else None
        if parent and current is None and parent not in chain:
            chain.append(parent)
    return tuple(chain)


def _documents(repositories: Sequence[Repository], registry: Registry) -> dict[str, index.Document]:
    """Full name -> search document, of `repositories`."""
    from generator import index  # Whoosh: not for a build that finds nothing changed

    return {doc.name: doc for doc in index.documents(repositories, registry)}
