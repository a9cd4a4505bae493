"""What changed since the last build: storage fingerprints, a partial crawl, dirty units.

**Fingerprints.** One `stat` walk of the storage gives each storage entry a
fingerprint: the name, type, size, mtime and inode of every file it is made
of (a v1 repository folder: its `tag_*`, `tag*_json`, `json`,
`_index_images`, `_private`; a v1 image folder: `json`, `ancestry`,
`_checksum`, `layer`, `_files`, `_inprogress`). The registry writes files
in place and never keeps their mtime, so an equal fingerprint means equal
bytes, and a rebuild re-reads only the entries whose fingerprint changed.
The walk opens each folder once and `stat`s its entries relative to it
(`fstatat`), which is half the cost of `stat` by full path.

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

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator import forked, index
from generator.emit import units
from generator.emit.v1_tree import Selection
from generator.model import Image, Registry, Repository
from generator.report import Problem, Report
from generator.sources import v1, v1_layout, v2_layout

Fingerprint = bytes
RACY_NS = 2_000_000_000
"""Entries modified this close to a walk are read again by the next build (see `Scan.kept`)."""


@dataclass(frozen=True, slots=True)  # one per storage entry: 75,000 at 20,000 repositories
class Entry:
    """One storage entry of a v1 crawl: a namespace, a repository or an image."""

    key: str
    """`N:<ns>`, `R:<ns>/<name>` or `I:<name>`: unique, and the key of the crawl cache."""
    kind: str
    namespace: str
    name: str
    is_dir: bool
    fingerprint: Fingerprint


@dataclass
class Scan:
    """The result of one fingerprint walk."""

    layout: str
    """`v1` or `v2`."""
    entries: list[Entry] = field(default_factory=list)
    """v1: every entry, in crawl order."""
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)
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
        return {k: (b"" if k in self.racy else v) for k, v in self.fingerprints.items()}


class _Unreadable(Exception):
    """A folder could not be listed: the crawl reports it; nothing is cached."""


# --- walking -------------------------------------------------------------------------------


def scan(root: Path, layout: str, jobs: int = 1) -> Scan | None:
    """Fingerprints of a v1 or v2 storage; None when a folder cannot be listed.

    With `jobs` > 1, a forked worker fingerprints part of v1's image folders
    (`generator/forked.py`) while this process walks the rest.
    """
    try:
        return _scan_v1(root, jobs) if layout == "v1" else _scan_v2(root)
    except _Unreadable:
        return None


def _listing(path: str, dir_fd: int | None = None) -> tuple[list[os.DirEntry[str]], int, int]:
    """(entries sorted by name bytes, an fd of the folder, its mtime); the caller closes fd."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)
    except FileNotFoundError:
        return [], -1, 0
    except OSError as exc:
        raise _Unreadable(path) from exc
    try:
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
        mtime = os.fstat(fd).st_mtime_ns
    except OSError as exc:
        os.close(fd)
        raise _Unreadable(path) from exc
    return entries, fd, mtime


def _fingerprint(entries: Iterable[os.DirEntry[str]]) -> tuple[Fingerprint, int]:
    """(digest of every entry's identity, newest mtime) of one folder's entries."""
    parts = []
    newest = 0
    for entry in entries:
        try:
            st = entry.stat()
        except OSError:
            parts.append(f"{entry.name}\0missing")
            continue
        parts.append(
            f"{entry.name}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}"
        )
        newest = max(newest, st.st_mtime_ns)
    text = "\n".join(parts).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(text, digest_size=16).digest(), newest


def _folder_fingerprint(name: str, dir_fd: int) -> tuple[Fingerprint, int]:
    entries, fd, mtime = _listing(name, dir_fd)
    try:
        digest, newest = _fingerprint(entries)
    finally:
        if fd >= 0:
            os.close(fd)
    return digest, max(newest, mtime)


def _entry_fingerprint(entry: os.DirEntry[str], dir_fd: int) -> tuple[bool, Fingerprint, int]:
    """(is a folder, fingerprint, newest mtime) of a repository or image entry."""
    is_dir = entry.is_dir()
    if is_dir:
        digest, newest = _folder_fingerprint(entry.name, dir_fd)
        return True, digest, newest
    digest, newest = _fingerprint([entry])
    return False, digest, newest


SCAN_WORKER_PERCENT = 67
"""The share of v1's image folders a scan's worker fingerprints: the parent also walks the
repositories, about a third of the walk at 20,000 repositories and 55,000 images."""


def _scan_v1(root: Path, jobs: int) -> Scan:
    result = Scan("v1")
    images, images_fd, newest = _listing(str(v1_layout.images_dir(root)))
    try:
        fingerprints, repositories_newest = forked.split_map(
            lambda image: _entry_fingerprint(image, images_fd),
            images,
            lambda: _scan_repositories(root, result),
            jobs=jobs, what="scan worker", worker_percent=SCAN_WORKER_PERCENT,
        )
    finally:
        if images_fd >= 0:
            os.close(images_fd)
    newest = max(newest, repositories_newest)
    for image, (image_is_dir, digest, mtime) in zip(images, fingerprints, strict=True):
        newest = max(newest, mtime)
        key = f"I:{image.name}"
        result.note(key, mtime)
        result.entries.append(Entry(key, "I", "", image.name, image_is_dir, digest))
    result.fingerprints = {e.key: e.fingerprint for e in result.entries}
    result.newest_mtime_ns = newest
    return result


def _scan_repositories(root: Path, result: Scan) -> int:
    """Add every namespace and repository entry to `result`; return the newest mtime."""
    base, base_fd, newest = _listing(str(v1_layout.repositories_dir(root)))
    try:
        for ns in base:
            is_dir = ns.is_dir()
            result.entries.append(Entry(f"N:{ns.name}", "N", ns.name, "", is_dir, b""))
            if not is_dir:
                continue
            repos, ns_fd, mtime = _listing(ns.name, base_fd)
            newest = max(newest, mtime)
            try:
                for repo in repos:
                    repo_is_dir, digest, mtime = _entry_fingerprint(repo, ns_fd)
                    newest = max(newest, mtime)
                    key = f"R:{ns.name}/{repo.name}"
                    result.note(key, mtime)
                    result.entries.append(Entry(key, "R", ns.name, repo.name, repo_is_dir, digest))
            finally:
                if ns_fd >= 0:
                    os.close(ns_fd)
    finally:
        if base_fd >= 0:
            os.close(base_fd)
    return newest


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


CRAWL_WORKER_PERCENT = 60
"""The share of the image folders to read that a crawl's worker reads: the parent reads the
rest and the repositories."""


def crawl_v1(
    root: Path, found: Scan, cache: Mapping[str, CachedEntry], old: Mapping[str, Fingerprint],
    report: Report, advance: Callable[[int], object] | None = None, jobs: int = 1,
) -> tuple[Registry, dict[str, CachedEntry], int]:
    """The v1 registry, re-reading only entries whose fingerprint changed.

    Returns the registry, the new cache and how many entries were read.
    Problems of entries not read again are reported again, so every build
    reports the same problems as a full one. With `jobs` > 1, a forked
    worker reads part of the image folders.
    """
    repositories: list[Repository] = []
    images: list[Image] = []
    new_cache: dict[str, CachedEntry] = {}
    repos_base = v1_layout.repositories_dir(root)
    fresh = _read_stale(root, found, cache, old, jobs)
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
    jobs: int,
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
            obj = v1.image_entry(images_base, entry.name, entry.is_dir, sub)
        return obj, tuple(sub.problems)

    stale_images = [e for e in stale if e.kind == "I"]
    stale_repositories = [e for e in stale if e.kind == "R"]
    image_entries, repository_entries = forked.split_map(
        read, stale_images, lambda: [read(e) for e in stale_repositories],
        jobs=jobs, what="crawl worker", worker_percent=CRAWL_WORKER_PERCENT,
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


def dirty_units(
    old: Selection, new: Selection, old_registry: Registry, new_registry: Registry
) -> tuple[frozenset[str], set[str], SearchChanges]:
    """(units to redo, full names of the repositories that changed, search changes).

    See the module doc.
    """
    old_repos = {r.full_name: r for r in old.repositories}
    new_repos = {r.full_name: r for r in new.repositories}
    old_images = {i.id: i for i in old.images}
    new_images = {i.id: i for i in new.images}
    changed_repos = {name for name, repo in new_repos.items() if old_repos.get(name) != repo}
    changed_images = {i for i, image in new_images.items() if old_images.get(i) != image}
    changed_images |= set(old_images) ^ set(new_images)
    gone = set(old_repos) - set(new_repos)
    if not (changed_repos or changed_images or gone):
        return frozenset(), set(), SearchChanges()
    moved = [r for name in changed_repos | gone for r in (old_repos.get(name), new_repos.get(name))]
    moved = [r for r in moved if r is not None]
    # Images: changed ones, those a changed repository points at (then or now), descendants.
    pointed = changed_images | {tag.image_id for repo in moved for tag in repo.tags}
    chains = {i: _chain(image, new_images) for i, image in new_images.items()}
    dirty = {
        units.image(i)
        for i, chain in chains.items()
        if i in pointed or not changed_images.isdisjoint(chain)
    }
    # Repositories: changed ones, and those whose tags reach a changed image.
    touched = {
        name
        for name, repo in new_repos.items()
        if name in changed_repos
        or not changed_images.isdisjoint(
            i for tag in repo.tags for i in chains.get(tag.image_id, (tag.image_id,))
        )
    }
    dirty |= {units.repository(name) for name in touched}
    dirty |= {units.namespace(repo.namespace) for repo in moved}
    dirty |= {units.namespace(new_repos[name].namespace) for name in touched}
    dirty.add(units.SITE)
    # A search document depends on the repository and the labels of its tagged images.
    names_moved = [r.full_name for r in old.repositories] != [r.full_name for r in new.repositories]
    before = _documents(old, old_registry, touched | gone)
    after = _documents(new, new_registry, touched)
    names = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
    search = SearchChanges(
        {n: before[n] for n in names if n in before},
        {n: after[n] for n in names if n in after},
        names_moved,
    )
    if names_moved or names:
        dirty.add(units.SEARCH)
    return frozenset(dirty), changed_repos, search


def _chain(image: Image, images: Mapping[str, Image]) -> tuple[str, ...]:
    """The image and its ancestors, as its page's history shows them."""
    if image.ancestry:
        return tuple(dict.fromkeys(image.ancestry))
    chain: list[str] = []
    current: Image | None = image
    while current is not None and current.id not in chain:
        chain.append(current.id)
        current = images.get(current.parent) if current.parent else None
    return tuple(chain)


def _documents(
    selection: Selection, registry: Registry, names: set[str]
) -> dict[str, index.Document]:
    """Full name -> search document, of the repositories `names` the selection has."""
    chosen = [r for r in selection.repositories if r.full_name in names]
    return {doc.name: doc for doc in index.documents(chosen, registry)}


def existing_units(selection: Selection) -> set[str]:
    """Every unit a full build of `selection` has (the files of others are deleted)."""
    found = {units.SITE, units.SEARCH}
    for repo in selection.repositories:
        found.add(units.repository(repo.full_name))
        found.add(units.namespace(repo.namespace))
    found.update(units.image(image.id) for image in selection.images)
    return found
