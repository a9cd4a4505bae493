"""The only way files reach the output: staged, then published all at once or as a patch.

Cron users must never see half a site, and a rebuild must not touch the files
that did not change (so `rsync`, a bucket sync and HTTP caches move nothing).
Both are met by staging: every file goes through one `SiteWriter` bound to a
staging folder beside the output (same file system, so publishing is
renames), and nothing under the output changes until the build is complete.

**Two ways to publish.**

- *Swap* (the first build, `--full`, or no usable state): the staging folder
  holds the whole site, and `publish()` exchanges it with the output in one
  `renameat2(RENAME_EXCHANGE)`. Every file is new, but with `keep_same` (a
  build whose state its settings, templates or sitegen's code made unusable):
  a file whose bytes equal the published one's is a hard link to it, and
  keeps its inode and mtime, as in a patch.
- *Patch* (an incremental build, `previous` given): the staging folder holds
  only the files whose bytes differ from the published ones (a written file
  is compared with the one it replaces first). `publish()` writes a journal
  of the moves and deletions, commits it with one rename, then applies it:
  each staged file is `rename`d over its published path (atomic per file),
  then the files of deleted units are removed and emptied folders pruned.
  Unchanged files keep their bytes, inode and mtime.

**Why a patch, and not a whole tree.** At 20,000 repositories the site has
over half a million files. Hard-linking the unchanged ones into a new tree
costs a `link` per file, and two trees behind a symlink cost a copy of
every file changed since the other tree's build and a second site on disk:
seconds either way, against tens of milliseconds for a patch of a few dozen
files (benchmarks/bench_build.py measures it). The price is that a reader
can see the patch half applied for the milliseconds it takes; each file is
either old or new, and the moves go images first, then repository
documents, then tags, then pages and search, so a tag never points at an
image the site does not have yet (the order `sitegen publish` uses too).

**Killed builds.** Killed before the journal is committed, a build leaves
the published site untouched; the next build (which holds the output's
lock) removes its staging folder. Killed while applying a committed
journal, it leaves each file whole, old or new; the next build first
completes the journal (every step can be redone), then starts.

**The build state** (`state.py`, beside the output) is written as
`<name>.new` files and moved in last, by the journal of a patch, or right
after a swap (whose old state is removed first): it always describes the
site that is published, or is absent and the next build starts over.

The writer also refuses, as named problems, a second write to the same file,
a file where a folder is needed (or the reverse), and any path that would
leave the staging folder (pelican's `sanitised_join` habit). A patch never
resolves such a clash itself: it raises `PatchConflict`, and the build
starts over as a full one, whose rule (the first file written is kept) then
decides.

**What a whole tree costs to remember.** At 20,000 repositories a site has
593,000 files and 300,000 folders: a string, a dict entry and a set entry for
each of them was 160 MB. When swapping, the staging folder starts empty and
holds exactly what was claimed, so it is its own record: every file is
created with `O_EXCL` (a second claim fails there, as does a file where a
folder is, or the reverse), and folders are made when a create finds none.
What the build still needs, the files of each unit for the state (and, for
the rare problem, what wrote a file), is kept as one string per unit
(`_Packed`), a third of the size, with the unit's own name written once, so
that units made alike (most images) share one string: 6 MB became 2.5 at
2,000 repositories. A split build's two processes share the staging folder,
so a clash across them is met on the disk too: a file or folder that this
process did not make raises SplitConflict.

A patch remembers no path of the units it keeps either: their manifest
entries (`pack`) pass through untouched. A claim meets a kept file only where
the published site has a file that no redone or deleted unit had, so the
published site, which the journal keeps equal to the manifest, is asked
(one `lstat`, as a claim already needed), and what a patch deletes is
computed from the units it redoes or deletes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from pathlib import Path
from typing import Any, BinaryIO

from generator import paths
from generator.emit import units
from generator.errors import BuildError, BuildLocked
from generator.report import Report

STAGING_INFIX = ".staging-"
JOURNAL = ".journal.json"
"""In a staging folder: the committed list of moves and deletions of a patch."""
_NEW = ".new"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100

Manifest = Mapping[str, str]
"""Unit → the output-relative paths of its files (and claimed folders), packed (`pack`).

At 20,000 repositories a manifest holds 593,000 paths: a string per path was
89 MB loaded and 49 MB in the state. Packed, a unit is one string, and the
unit's own name (an image's 64-digit id, a repository's name), which nearly
every one of its paths repeats, is written once. A patch carries a kept
unit's string over as it is, and unpacks only the units it redoes or deletes.
"""

_NAME = "\1"
"""In a packed unit, stands for the unit's name (no path holds a control character)."""
_PLAIN = "\2"
"""Starts a packed unit written as it is (one of its paths holds `_NAME` or starts so)."""


def pack(unit: str, paths: Iterable[str]) -> str:
    """`paths` as a manifest entry of `unit`: sorted, separated by NUL, its name written once."""
    joined = "\0".join(sorted(paths))
    name = unit.partition(":")[2]
    if _NAME in joined or joined.startswith(_PLAIN):
        return f"{_PLAIN}{joined}"
    if name and name in joined:
        return f"{_NAME}{joined.replace(name, _NAME)}"
    return joined


def unpack(unit: str, packed: str) -> tuple[str, ...]:
    """The sorted paths of `unit`'s manifest entry (`pack`)."""
    if packed.startswith(_NAME):
        packed = packed[1:].replace(_NAME, unit.partition(":")[2])
    elif packed.startswith(_PLAIN):
        packed = packed[1:]
    return tuple(packed.split("\0")) if packed else ()


class PatchConflict(Exception):
    """A patch would have to settle a clash between files; the build redoes everything."""


class SplitConflict(Exception):
    """Two processes of a split build claimed clashing paths; the build runs again on one."""


@dataclass
class Claims:
    """What one writer claimed and staged (kept units aside): a forked worker's answer.

    A patch's claims are path by path; a whole tree's are packed by unit (`packed`).
    """

    files: dict[str, str]
    dirs: set[str]
    units: dict[str, list[str]]
    staged: list[str]
    staged_dirs: list[str]
    unchanged: int
    packed: dict[str, str]
    folders: dict[str, str]
    count: int


def lock_path(output: Path) -> Path:
    return output.parent / f".{output.name}.lock"


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold an exclusive lock on `output` for the length of a build.

    `flock` is released by the kernel when the process dies, even by
    SIGKILL, so a killed build never leaves a lock that blocks the next one.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(output)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildLocked(
                f"another sitegen build is writing {output} (lock {path} is held); "
                "this run did nothing"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def remove_stale_staging(output: Path) -> list[tuple[Path, bool]]:
    """Finish or drop what killed builds left; call only while holding the lock.

    Returns each staging folder found, and whether its committed journal was
    completed (True) or the folder was simply dropped (False).
    """
    found = []
    for leftover in sorted(output.parent.glob(f".{output.name}{STAGING_INFIX}*")):
        journal = leftover / JOURNAL
        completed = journal.is_file()
        if completed:
            plan = json.loads(journal.read_bytes())
            _apply(plan["steps"], leftover, output, state_dir=Path(plan["state"]))
        shutil.rmtree(leftover, ignore_errors=True)
        found.append((leftover, completed))
    state = output.parent / f".{output.name}.state"
    for unfinished in sorted(state.glob(f"*{_NEW}")):  # of a build killed before its commit
        unfinished.unlink()
    return found


class SiteWriter:
    """The only way files reach the output (see the module docstring)."""

    def __init__(
        self, output: Path, report: Report, previous: Manifest | None = None,
        state_dir: Path | None = None, keep_same: bool = False,
    ) -> None:
        self.output = output
        self.report = report
        state_dir = state_dir or output.parent / f".{output.name}.state"
        self.patching = previous is not None and output.is_dir()
        """True: publish a patch against `previous`; False: swap in a whole tree."""
        self._published = (
            f"{output}/" if keep_same and not self.patching and output.is_dir() else None
        )
        """Swapping with `keep_same`: the published site, whose files equal to the ones written
        are linked instead (`_keep_or_write`)."""
        self._previous: Manifest = previous if self.patching and previous is not None else {}
        output.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(
            tempfile.mkdtemp(prefix=f".{output.name}{STAGING_INFIX}", dir=output.parent)
        )
        self.staging.chmod(0o755)  # mkdtemp makes 0700; web servers must read it
        self._root = str(self.staging)
        self._files: dict[str, str] = {}
        """A patch's claims: file (or claimed folder) → what wrote it."""
        self._dirs: set[str] = {""}
        self._packed = _Packed()
        """A whole tree's claims, by unit (see the module docstring)."""
        self._folders: dict[str, str] = {}
        """A whole tree's claimed folders (`directory()`) → what claimed them."""
        self.shared = False
        """True while another process writes into the same staging folder (`emit/parallel.py`)."""
        self._units: dict[str, list[str] | str] = {}
        """A patch's units: the paths claimed (a list), or a kept unit's manifest entry."""
        self._kept_files = 0
        self._redone: set[str] | None = None
        """The published paths of the units a patch does not keep (`_old_redone`)."""
        self._staged: list[str] = []
        self._staged_dirs: list[str] = []
        self._state: list[str] = []
        self.state_dir = state_dir
        self.unchanged = 0
        """Files written with the bytes they already had (not staged)."""
        self.written_count = 0
        """Files published by `publish()` (every file when swapping a whole tree)."""
        self.deleted_count = 0

    # -- writing -------------------------------------------------------------

    def write(
        self, relpath: str, data: bytes, origin: str, unit: str = units.SITE, compare: bool = True
    ) -> bool:
        """Write `data` at `relpath`; False (and a named problem) if refused.

        In a patch, a file that already holds `data` is left alone (`compare=False`
        skips reading it back, for files known to have changed).
        """
        if not self.patching:
            make = _write_new if self._published is None or not compare else self._keep_or_write
            return self._place(relpath, origin, unit, make, data)
        target = self._claim(relpath, origin, unit)
        if target is None:
            return False
        if self.patching and compare and _holds(f"{self.output}/{relpath}", data):
            self.unchanged += 1
            return True
        self._stage(relpath, target)
        _write_file(target, data)
        return True

    def link(self, relpath: str, source: Path, origin: str, unit: str = units.SITE) -> bool:
        """Hard-link `source` at `relpath` (copied across file systems)."""
        if not self.patching:
            try:
                return self._place(relpath, origin, unit, _link_new, source)
            except OSError as exc:
                self.report.problem(source, f"cannot link into the site: {exc.strerror}")
                self._packed.unit(unit)
                return False
        target = self._claim(relpath, origin, unit)
        if target is None:
            return False
        if self.patching and _same_file(self.output / relpath, source):
            self.unchanged += 1
            return True
        self._stage(relpath, target)
        try:
            os.link(source, target)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                self.report.problem(source, f"cannot link into the site: {exc.strerror}")
                self._files.pop(relpath, None)
                self._units[unit].remove(relpath)  # type: ignore[union-attr] (a list: claimed)
                if self.patching:
                    self._staged.pop()
                return False
            shutil.copyfile(source, target)
        return True

    def directory(self, relpath: str, origin: str, unit: str = units.SITE) -> Path | None:
        """Claim a whole folder for a library that writes its own files (the Whoosh index).

        The folder is always new: a patch replaces the published one whole.
        """
        if not self.patching:
            if not self._place(relpath, origin, unit, _mkdir_new, None):
                return None
            self._folders[relpath] = origin
            return self.staging / relpath
        claimed = self._claim(relpath, origin, unit, folder=True)
        if claimed is None:
            return None
        target = Path(claimed)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.mkdir()
        self._dirs.add(relpath)
        if self.patching:
            self._staged_dirs.append(relpath)
        return target

    def write_state(self, name: str, data: bytes) -> None:
        """Write a file of the build's state (`state.py`), published after the site.

        It goes beside the output, in `state_dir`, as `<name>.new` until `publish()`.
        """
        with self.state_file(name) as f:
            f.write(data)

    @contextlib.contextmanager
    def state_file(self, name: str) -> Iterator[BinaryIO]:
        """`write_state` as a file to write into: the state is streamed, never held whole."""
        self.state_dir.mkdir(exist_ok=True)
        self._state.append(name)  # first: `discard()` removes what a failure leaves
        with (self.state_dir / f"{name}{_NEW}").open("wb") as f:
            yield f

    def keep(self, unit: str) -> None:
        """Keep `unit`'s published files as they are (a patch carries them over)."""
        self.keep_all([unit])

    def keep_all(self, kept: list[str]) -> None:
        """`keep` each unit of `kept`, at C speed: a rebuild after one change keeps the
        75,000 units of 20,000 repositories, and a Python call each was 0.05 s of it."""
        if not self.patching:
            raise BuildError(f"internal: cannot keep {', '.join(kept)} when swapping a whole tree")
        files = list(map(self._previous.get, kept, repeat("", len(kept))))
        self._units.update(zip(kept, files, strict=True))  # carried over packed: never unpacked
        self._kept_files += sum(map(str.count, files, repeat("\0", len(files))))
        self._kept_files += len(files) - files.count("")
        self._redone = None

    def keep_files(self, unit: str, relpaths: Sequence[str], origin: str) -> list[str]:
        """Claim for `unit`, which this patch redoes, files it published last time and would
        write with the same bytes (the client search shards and name blocks no change
        reached), as `keep_all` keeps whole units: the published site is the previous
        manifest (the journal keeps them equal), so nothing is read or `stat`ed.

        Returns the paths it did not claim (not the unit's last time, or claimed already):
        the caller writes or links those. Swapping a whole tree, it claims none.
        """
        if not self.patching:
            return list(relpaths)
        published = set(unpack(unit, self._previous.get(unit, "")))
        files = self._units.setdefault(unit, [])
        if isinstance(files, str):  # a kept unit: `_reserve` raises on its first claim
            return list(relpaths)
        left = []
        for relpath in relpaths:
            parents = []
            parent = relpath.rpartition("/")[0]
            while parent and parent not in self._dirs:  # (a folder's own are there too)
                parents.append(parent)
                parent = parent.rpartition("/")[0]
            if (
                relpath not in published or relpath in self._files or relpath in self._dirs
                or any(p in self._files for p in parents)
            ):
                left.append(relpath)
                continue
            self._files[relpath] = origin
            files.append(relpath)
            self._dirs.update(parents)
            self.unchanged += 1
        return left

    def claims(self) -> Claims:
        """Everything this writer claimed, for the parent of a split build (`absorb`)."""
        written = {u: f for u, f in self._units.items() if isinstance(f, list)}
        self._packed.share()  # pickled once each: the parent gets them shared too
        return Claims(
            self._files, self._dirs, written, self._staged, self._staged_dirs, self.unchanged,
            dict(self._packed), self._folders, self._packed.count,
        )

    def absorb(self, other: Claims) -> None:
        """Add what a forked worker wrote into the same staging folder.

        The two halves never saw each other's paths, so the rules are checked
        across them here; any clash raises SplitConflict (which file a build
        keeps is decided by write order, which only a single process has).
        A whole tree's were met on the disk already, but for files written
        into a folder the other claimed whole (it cannot know).
        """
        if not self.patching:
            self._absorb_packed(other)
            return
        for relpath in other.files:
            if relpath in self._files or relpath in self._dirs:
                raise SplitConflict(relpath)
        for folder in other.dirs:
            if folder in self._files or self._kept_file(folder):
                raise SplitConflict(folder)
        for unit, files in other.units.items():
            if unit in self._units:
                raise SplitConflict(unit)
            self._units[unit] = files
        self._files.update(other.files)
        self._dirs.update(other.dirs)
        self._staged += other.staged
        self._staged_dirs += other.staged_dirs
        self.unchanged += other.unchanged

    def _absorb_packed(self, other: Claims) -> None:
        for unit in other.packed:
            if unit in self._packed:
                raise SplitConflict(unit)
        for folder in self._folders:
            if _holds_under(other.packed, folder):
                raise SplitConflict(folder)
        for folder in other.folders:
            if _holds_under(self._packed, folder):
                raise SplitConflict(folder)
        self._packed.absorb(other.packed, other.count)
        self._packed.share()
        self._folders.update(other.folders)
        self.unchanged += other.unchanged

    def written(self) -> dict[str, str]:
        """Every file written so far, with what wrote it (kept files not included)."""
        return self._packed.origins() if not self.patching else dict(self._files)

    def manifest(self) -> Manifest:
        """The published site after `publish()`, unit by unit.

        A whole tree's is unpacked one unit at a time, as it is read (the
        state is written in chunks): never all of its paths at once.
        """
        if not self.patching:
            return _Sorted(self._packed)
        # At C speed but for the units written (the kept ones, most, are packed already).
        claimed = self._units
        names = sorted(claimed)  # (by name alone: sorting the pairs takes ten times longer)
        found = dict(zip(names, map(claimed.__getitem__, names), strict=True))
        written = compress(found, map(isinstance, found.values(), repeat(list)))
        for unit in list(written):
            found[unit] = pack(unit, found[unit])  # type: ignore[arg-type] (a list: written)
        return found

    @property
    def files(self) -> int:
        """Files (and claimed folders) of the whole site, kept ones included."""
        return len(self._files) + self._kept_files + self._packed.count

    # -- a whole tree: the staging folder is the record -----------------------

    def _place(
        self, relpath: str, origin: str, unit: str, make: Callable[[str, Any], object], arg: Any
    ) -> bool:
        """Check `relpath`, then `make(target, arg)` it in the staging folder (which fails on a
        clash).

        `make` creates the file or folder at the staged path, failing as the
        system does when something is there already (`O_EXCL`, `link`,
        `mkdir`); folders are made when it finds none. Other errors of
        `make` are raised. False (and a named problem) if refused.
        """
        if _ESCAPES.search(relpath):
            self._refuse_escape(relpath, origin)
            return False
        if self._folders and self._in_claimed_folder(relpath, origin):
            return False
        target = f"{self._root}/{relpath}"
        try:
            try:
                make(target, arg)
            except FileNotFoundError:
                if not self._make_parents(relpath):
                    raise NotADirectoryError(relpath) from None
                make(target, arg)
        except FileExistsError:
            self._refuse_existing(relpath, origin)
            return False
        except NotADirectoryError:
            self._refuse_under_file(relpath, origin)
            return False
        self._packed.add(unit, relpath, origin)
        return True

    def _keep_or_write(self, target: str, data: bytes) -> None:
        """`_write_new`, or a hard link to the published file if it already holds `data`.

        A whole tree swapped over a site whose state could not be used (its
        settings, templates or sitegen changed) then keeps the inode and
        mtime of every file whose bytes did not change, as a patch does: a
        sync moves only what changed. A patch of every unit held each path
        of the site as a string and a dict entry in both processes (950 MB
        at 20,000 repositories); this costs no memory.
        """
        published = self._published + target[len(self._root) + 1:]  # type: ignore[operator]
        if _holds(published, data):
            os.link(published, target)  # FileExistsError, as `_write_new`, if claimed twice
            self.unchanged += 1
        else:
            _write_new(target, data)

    def _make_parents(self, relpath: str) -> bool:
        """Make the folders `relpath` needs; False when a file is in the way."""
        missing = []
        folder = relpath.rpartition("/")[0]
        while folder:
            try:
                os.mkdir(f"{self._root}/{folder}")  # noqa: PTH102 (the hot path: plain strings)
            except FileNotFoundError:
                missing.append(folder)
                folder = folder.rpartition("/")[0]
                continue
            except FileExistsError:
                if not os.path.isdir(f"{self._root}/{folder}"):  # noqa: PTH112
                    return False
            except NotADirectoryError:
                return False
            break
        for folder in reversed(missing):
            try:
                _make_folder(f"{self._root}/{folder}")
            except (FileExistsError, NotADirectoryError):
                return False
        return True

    def _in_claimed_folder(self, relpath: str, origin: str) -> bool:
        """Whether `relpath` is, or is inside, a folder claimed whole (a named problem)."""
        for folder, first in self._folders.items():
            if relpath == folder:
                self._problem_same_file(relpath, origin, first)
                return True
            if relpath.startswith(f"{folder}/"):
                self._problem_needs_folder(relpath, origin, first)
                return True
        return False

    def _refuse_existing(self, relpath: str, origin: str) -> None:
        """Something is at `relpath` already: a file first written by another, or a folder."""
        if os.path.isdir(f"{self._root}/{relpath}"):  # noqa: PTH112
            if self.shared and not _holds_under(self._packed, relpath):
                raise SplitConflict(relpath)  # made by the other process
            self._problem_needs_file(relpath, origin)
            return
        first = self._packed.origin_of(relpath)
        if first is None and self.shared:
            raise SplitConflict(relpath)
        self._problem_same_file(relpath, origin, first or "another document")

    def _refuse_under_file(self, relpath: str, origin: str) -> None:
        """A file is where `relpath` needs a folder: name the first one, from the top."""
        parts = relpath.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if not os.path.isdir(f"{self._root}/{parent}"):  # noqa: PTH112
                first = self._packed.origin_of(parent)
                if first is None and self.shared:
                    raise SplitConflict(parent)
                self._problem_needs_folder(relpath, origin, first or "another document")
                return
        raise SplitConflict(relpath)  # gone again: only the other process changes folders

    # -- problems --------------------------------------------------------------

    def _problem_same_file(self, relpath: str, origin: str, first: str) -> None:
        self.report.problem(
            relpath, f"{origin} maps to the same file as {first}; kept the first",
            kind="collision",
        )

    def _problem_needs_file(self, relpath: str, origin: str) -> None:
        self.report.problem(
            relpath, f"{origin} needs a file where other documents need a folder; not written",
            kind="collision",
        )

    def _problem_needs_folder(self, relpath: str, origin: str, first: str) -> None:
        self.report.problem(
            relpath, f"{origin} needs a folder where {first} wrote a file; not written",
            kind="collision",
        )

    def _stage(self, relpath: str, target: str) -> None:
        if self.patching:
            os.makedirs(os.path.dirname(target), exist_ok=True)  # noqa: PTH103, PTH120 (hot path)
            self._staged.append(relpath)

    def _claim(
        self, relpath: str, origin: str, unit: str, folder: bool = False
    ) -> str | None:
        """Check `relpath` against every rule, reserve it, create its folders; its staged path.

        Plain string work: this runs for every file of the site. A path made
        only of non-empty segments other than `.` and `..` cannot leave the
        staging folder, which holds no symlinks (the writer makes none).

        Most files land in a folder already claimed (a sibling came first).
        Such a folder's segments were checked, it exists, and no file was
        claimed at it or above it (every rule below keeps it so; a whole
        claimed folder, `directory()`, is in `_files` and goes the long way),
        so only the last segment needs a look.
        """
        parent, slash, name = relpath.rpartition("/")
        known = parent in self._dirs and parent not in self._files if parent else not slash
        if known and not self.patching:
            if name in ("", ".", ".."):
                self._refuse_escape(relpath, origin)
                return None
            return None if self._clashes(relpath, origin) else self._reserve(relpath, origin, unit)
        parts = relpath.split("/")
        if any(p in ("", ".", "..") for p in parts):
            self._refuse_escape(relpath, origin)
            return None
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if self.patching:
            self._check_patch(relpath, parents, folder)
        if self._clashes(relpath, origin):
            return None
        for parent in parents:
            if parent in self._files:
                self._problem_needs_folder(relpath, origin, self._files[parent])
                return None
        # When swapping, a folder in `_dirs` exists in the staging tree (with its parents).
        if not self.patching and parents and parents[-1] not in self._dirs:
            for folder in parents:
                if folder not in self._dirs:
                    _make_folder(f"{self._root}/{folder}")
        self._dirs.update(parents)
        return self._reserve(relpath, origin, unit)

    def _refuse_escape(self, relpath: str, origin: str) -> None:
        self.report.problem(
            relpath, f"{origin}: path would leave the output; not written", kind="collision"
        )

    def _clashes(self, relpath: str, origin: str) -> bool:
        """Whether `relpath` is already a file or a folder of the site (a named problem)."""
        if relpath in self._files:
            self._problem_same_file(relpath, origin, self._files[relpath])
            return True
        if relpath in self._dirs:
            self._problem_needs_file(relpath, origin)
            return True
        return False

    def _reserve(self, relpath: str, origin: str, unit: str) -> str:
        """Record `relpath` as written by `origin` for `unit`; its path in the staging folder."""
        self._files[relpath] = origin
        files = self._units.setdefault(unit, [])
        if isinstance(files, str):  # a kept unit written again: a full build would clash
            raise PatchConflict(relpath)
        files.append(relpath)
        return f"{self._root}/{relpath}"

    def _check_patch(self, relpath: str, parents: list[str], folder: bool) -> None:
        """A patch writes only what a full build would write the same way; else PatchConflict."""
        clash = (
            relpath in self._files
            or relpath in self._dirs
            or any(p in self._files for p in parents)
            or self._over_kept(relpath, parents, folder)
        )
        if clash:
            raise PatchConflict(relpath)

    def _over_kept(self, relpath: str, parents: list[str], folder: bool) -> bool:
        """Whether `relpath` is a kept file, lies under one, or is a published folder.

        The published site is the previous manifest (the journal keeps them
        equal), so it answers without a set of every kept path: a file there
        is kept unless a unit being redone or deleted had it. A file in the
        way of a parent folder makes the look-up fail with ENOTDIR. (A folder
        claimed whole, the Whoosh index, is a folder here: only `search`,
        redone whenever it claims, holds one, under a path no other unit has.)
        """
        try:
            mode = os.lstat(f"{self.output}/{relpath}").st_mode
        except FileNotFoundError:
            return False
        except NotADirectoryError:
            return any(self._kept_file(p) for p in parents)
        if stat.S_ISDIR(mode):
            return not folder
        return relpath not in self._old_redone()

    def _kept_file(self, relpath: str) -> bool:
        """Whether `relpath` is a published file (not a folder) of a kept unit."""
        try:
            mode = os.lstat(f"{self.output}/{relpath}").st_mode
        except (FileNotFoundError, NotADirectoryError):
            return False
        return not stat.S_ISDIR(mode) and relpath not in self._old_redone()

    def _old_redone(self) -> set[str]:
        """The published paths of every unit not kept: redone or deleted (few, in a patch)."""
        if self._redone is None:
            self._redone = {
                relpath
                for unit, packed in self._previous.items()
                if not isinstance(self._units.get(unit), str)
                for relpath in unpack(unit, packed)
            }
        return self._redone

    # -- publishing ----------------------------------------------------------

    def publish(self, advance: Callable[[int], object] | None = None) -> bool:
        """Put the staged site in place; False when a patch found nothing to change.

        The state files follow the site: when swapping, the old ones are
        removed first, so a build killed in between leaves no state (the next
        build starts from nothing) rather than a state of another site.
        """
        if not self.patching:
            for name in self._state:
                with contextlib.suppress(FileNotFoundError):
                    (self.state_dir / name).unlink()
            self._swap()
            _apply([["state", name] for name in self._state], self.staging, self.output,
                   state_dir=self.state_dir)
            self.written_count = self.files - self.unchanged
            return True
        steps = self.commit()
        if not steps:
            self.discard()
            return False
        _apply(steps, self.staging, self.output, advance, state_dir=self.state_dir)
        shutil.rmtree(self.staging, ignore_errors=True)
        return self.written_count + self.deleted_count > 0

    def commit(self) -> list[list[object]]:
        """Write and commit the journal of a patch; return its steps (none: nothing to do).

        After the commit, the patch is as good as applied: a build killed
        from here on is completed by the next one (`remove_stale_staging`).
        """
        # Kept units keep their files: only those of the units redone or deleted may go.
        deleted = sorted(self._old_redone().difference(self._files), key=_rank, reverse=True)
        if not self._staged and not self._staged_dirs and not deleted and not self._state:
            return []
        steps: list[list[object]] = [["put", p] for p in self._staged]
        for relpath in self._staged_dirs:
            steps.append(["dir", relpath, (self.staging / relpath).stat().st_ino])
        steps.sort(key=lambda step: _rank(str(step[1])))
        steps += [["del", p] for p in deleted]
        steps += [["state", name] for name in self._state]
        pending = self.staging / f"{JOURNAL}.tmp"
        with pending.open("w") as f:
            json.dump({"state": str(self.state_dir), "steps": steps}, f)
            f.flush()
            os.fsync(f.fileno())
        pending.rename(self.staging / JOURNAL)  # the commit: from here on, roll forward
        self.written_count = len(self._staged) + len(self._staged_dirs)
        self.deleted_count = len(deleted)
        return steps

    def _swap(self) -> None:
        """Swap the staging folder in place of the output, then drop the old site."""
        if self.output.exists() and not self.output.is_dir():
            raise BuildError(f"output {self.output} exists and is not a directory")
        if not self.output.exists():
            self.staging.rename(self.output)
            return
        if _exchange(self.staging, self.output):
            self._count_gone(self.staging)  # now holds the old site
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        # No atomic exchange on this system: two renames, a gap of microseconds.
        old = Path(
            tempfile.mkdtemp(
                prefix=f".{self.output.name}{STAGING_INFIX}old-", dir=self.output.parent
            )
        )
        self.output.rename(old / "site")
        self.staging.rename(self.output)
        self._count_gone(old / "site")
        shutil.rmtree(old, ignore_errors=True)

    def _count_gone(self, old_site: Path) -> None:
        """Swapping with `keep_same`: count the files of `old_site` the new site does not have."""
        if self._published is None:
            return
        gone = 0
        new_root = str(self.output)
        for folder, _dirs, files in os.walk(old_site):
            relative = folder[len(str(old_site)):]
            gone += sum(
                not os.path.lexists(f"{new_root}{relative}/{name}")
                for name in files
            )
        self.deleted_count = gone

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        for name in self._state:
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / f"{name}{_NEW}").unlink()


def _rank(relpath: str) -> int:
    """Order of a patch: images, repository documents, tags, then the rest."""
    if relpath.startswith(("v1/images/", f"{paths.INTERNAL_DIR}/meta/images/")):
        return 0
    if relpath.startswith("v2/") and "/blobs/" in relpath:
        return 0
    if relpath.startswith("v2/") and "/manifests/sha256:" in relpath:
        return 0
    if relpath.startswith("v1/repositories/"):
        return 2 if "/tags/" in relpath or relpath.endswith("/tags") else 1
    if relpath.startswith("v2/") and "/manifests/" in relpath:
        return 2
    return 3


def _apply(
    steps: Iterable[list[object]], staging: Path, output: Path,
    advance: Callable[[int], object] | None = None, *, state_dir: Path | None = None,
) -> None:
    """Carry out a committed journal; every step can be done again after a crash."""
    emptied: set[Path] = set()
    for step in steps:
        if advance is not None:
            advance(1)
        folder = _apply_step(step, staging, output, state_dir)
        if folder is not None:
            emptied.add(folder)
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        _prune(folder, output)


def _apply_step(
    step: list[object], staging: Path, output: Path, state_dir: Path | None
) -> Path | None:
    """One step of a journal; returns the folder a deletion may have emptied."""
    kind, relpath = str(step[0]), str(step[1])
    staged, published = staging / relpath, output / relpath
    if kind == "put":
        if staged.exists() or staged.is_symlink():
            published.parent.mkdir(parents=True, exist_ok=True)
            staged.replace(published)
    elif kind == "dir":
        done = published.is_dir() and published.stat().st_ino == step[2]
        if not done and staged.is_dir():
            published.parent.mkdir(parents=True, exist_ok=True)
            if not published.exists():
                staged.rename(published)
            elif not _exchange(staged, published):
                published.rename(staging / f"{relpath}.old")
                staged.rename(published)
    elif kind == "state":
        new = state_dir / f"{relpath}{_NEW}" if state_dir is not None else None
        if new is not None and new.exists():
            new.replace(new.with_name(relpath))
    else:
        if published.is_dir() and not published.is_symlink():
            shutil.rmtree(published, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                published.unlink()
        return published.parent
    return None


def _prune(folder: Path, output: Path) -> None:
    """Remove `folder` and its parents while they are empty, up to (not including) the output."""
    while folder != output and folder.is_relative_to(output):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
"""The flags of `open(path, "wb")`."""
_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
"""The flags of `open(path, "xb")`: fails if anything is there."""
_ESCAPES = re.compile(r"(?:^|/)\.{0,2}(?:/|$)")
"""An empty, `.` or `..` segment: a path that could leave the staging folder."""


def _write_new(path: str, data: bytes) -> None:
    """`_write_file` of a file that must not exist yet (FileExistsError if it does)."""
    _write_file(path, data, _CREATE_NEW)


def _mkdir_new(path: str, _: None) -> None:
    os.mkdir(path)  # noqa: PTH102


def _link_new(path: str, source: Path) -> None:
    """Hard-link `source` at `path`, which must not exist yet; copied across file systems."""
    try:
        os.link(source, path)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        _write_new(path, b"")  # claimed first: the copy then replaces only our own file
        shutil.copyfile(source, path)


def _write_file(path: str, data: bytes, flags: int = _CREATE) -> None:
    """`open(path, "wb").write(data)` in three system calls instead of six (no fstat, ioctl
    or lseek): the hot path, once per file of the site."""
    fd = os.open(path, flags, 0o666)
    try:
        done = os.write(fd, data) if data else 0
        while done < len(data):  # a regular file takes it whole but for a full disk or a signal
            done += os.write(fd, memoryview(data)[done:])
    except OSError as exc:  # a write's error names no file: this one does (a full disk)
        raise OSError(exc.errno, exc.strerror, path) from exc
    finally:
        os.close(fd)


def _make_folder(path: str) -> None:
    """`os.mkdir`, fine if the folder exists (made by `directory()` or a split build's other
    half); one system call, where `Path.mkdir(parents=True)` tries the deepest first."""
    try:
        os.mkdir(path)  # noqa: PTH102 (the hot path: plain strings)
    except FileExistsError:
        if not os.path.isdir(path):  # noqa: PTH112
            raise


def _holds(path: str, data: bytes) -> bool:
    """Whether the published file at `path` (a plain string: the hot path of a whole tree)
    is a regular file that holds exactly `data`."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        with open(path, "rb") as f:  # noqa: PTH123 (hot path: plain strings)
            return f.read() == data
    except OSError:
        return False


def _same_file(path: Path, source: Path) -> bool:
    """Whether the published `path` is already a hard link to `source`."""
    try:
        return not path.is_symlink() and path.samefile(source)
    except OSError:
        return False


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths with Linux `renameat2(RENAME_EXCHANGE)`."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


class _Packed(dict[str, str]):
    """A whole tree's claims: unit → its paths in write order, as one string.

    Tokens are separated by NUL (no path holds one); a token that starts with
    `/` (no path does: such paths are refused) names what wrote the paths
    after it, so the rare problem can still name the first writer of a file.
    One string per unit costs the characters of its paths; a string per path
    cost 50 bytes more each, and a dict or set entry for each on top.

    As in a manifest entry (`pack`), the unit's own name, which nearly every
    path and origin of it repeats (an image's 64-digit id), is written `_NAME`
    (a unit with a token that holds `_NAME` or `_PLAIN` is written as it is,
    after `_PLAIN`). Units made alike then hold equal strings: every image
    with the same files does. `share()` makes them one object, kept once here
    and pickled once in a worker's claims. At 20,000 repositories the claims
    were 57 million characters.
    """

    _SHARE_EVERY = 1 << 12
    """Paths added between two passes that share the units they changed (`_share_recent`).

    Each path added makes its unit's string anew: until shared, every image's
    is its own (with 65,536 paths between passes over every unit, the render
    worker held 16 MB of them at 20,000 repositories)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        """Paths claimed, over all units."""
        self._last_unit = self._name = ""
        self._last_origin: str | None = None
        """Of the last path added: its unit, that unit's name and its origin (unfactored)."""
        self._factored = False
        """The last path added went to a unit written with its name factored out."""
        self._until_share = self._SHARE_EVERY
        self._recent: list[str] = []
        """The units that got paths since the last pass (each once: a unit is noted when
        a path of it follows one of another)."""
        self._pool: dict[str, str] = {}
        """The strings the last pass shared: units made alike in the next one share them."""

    def unit(self, unit: str) -> None:
        """Record `unit`, if new, with no paths."""
        self.setdefault(unit, "")

    def add(self, unit: str, relpath: str, origin: str) -> None:
        self.count += 1
        self._until_share -= 1
        if not self._until_share:
            self._share_recent()
        name = self._name
        if (  # the hot path: one more path of the unit and origin of the last one
            self._factored
            and unit == self._last_unit
            and origin == self._last_origin
            and _NAME not in relpath
            and _PLAIN not in relpath
        ):
            self[unit] = f"{self[unit]}\0{relpath.replace(name, _NAME) if name else relpath}"
            return
        if unit != self._last_unit:
            self._last_unit = unit
            self._name = name = unit.partition(":")[2]
            self._recent.append(unit)
        self._last_origin = origin
        packed = self.get(unit, "")
        marked = _NAME in relpath or _PLAIN in relpath or _NAME in origin or _PLAIN in origin
        self._factored = not marked and not packed.startswith(_PLAIN)
        if not self._factored:
            self._add_plain(unit, relpath, origin)
            return
        path = relpath.replace(name, _NAME) if name else relpath
        factored = origin.replace(name, _NAME) if name else origin
        if packed and _origin_before(packed, len(packed)) == factored:
            self[unit] = f"{packed}\0{path}"
        elif packed:
            self[unit] = f"{packed}\0/{factored}\0{path}"
        else:
            self[unit] = f"/{factored}\0{path}"

    def _add_plain(self, unit: str, relpath: str, origin: str) -> None:
        """`add` to a unit written as it is (the rare path that holds `_NAME` or `_PLAIN`)."""
        packed = _expand(unit, self.get(unit, ""))
        if not packed:
            packed = f"/{origin}\0{relpath}"
        elif _origin_before(packed, len(packed)) == origin:
            packed = f"{packed}\0{relpath}"
        else:
            packed = f"{packed}\0/{origin}\0{relpath}"
        self[unit] = f"{_PLAIN}{packed}"

    def share(self) -> None:
        """Make equal units one string (see the class docstring)."""
        shared: dict[str, str] = {}
        for unit, packed in self.items():
            self[unit] = shared.setdefault(packed, packed)
        self._recent.clear()
        self._pool = {}
        self._last_unit = ""  # its next path notes it again
        self._until_share = self._SHARE_EVERY

    def _share_recent(self) -> None:
        """Share the strings of the units changed since the last pass: a pass costs what
        was added, where one over every unit costs milliseconds at 20,000 repositories."""
        shared, pool = {}, self._pool
        for unit in self._recent:
            packed = self[unit]
            self[unit] = shared[packed] = shared.get(packed) or pool.get(packed) or packed
        self._recent.clear()
        self._pool = shared
        self._last_unit = ""  # its next path notes it again
        self._until_share = self._SHARE_EVERY

    def absorb(self, other: Mapping[str, str], count: int) -> None:
        self.update(other)
        self.count += count

    def origin_of(self, relpath: str) -> str | None:
        """What wrote `relpath` (a slow search: only for a problem); None if not claimed."""
        for unit, packed in self.items():
            name = unit.partition(":")[2]
            plain = packed.startswith(_PLAIN)
            if plain or not name:
                needle = relpath
            elif _NAME in relpath:
                continue  # a factored unit holds no such path
            else:
                needle = relpath.replace(name, _NAME)
            start = 0
            while (i := packed.find(needle, start)) > 0:
                end = i + len(needle)
                if packed[i - 1] == "\0" and packed[end : end + 1] in ("", "\0"):
                    origin = _origin_before(packed, i)
                    return origin if plain or not name else origin.replace(_NAME, name)
                start = i + 1
        return None

    def origins(self) -> dict[str, str]:
        """Every path with what wrote it."""
        found = {}
        for unit, packed in self.items():
            origin = ""
            text = _expand(unit, packed)
            for token in text.split("\0") if text else ():
                if token.startswith("/"):
                    origin = token[1:]
                else:
                    found[token] = origin
        return found


def _expand(unit: str, packed: str) -> str:
    """A `_Packed` unit with its name written out (and no `_PLAIN` mark)."""
    if packed.startswith(_PLAIN):
        return packed[1:]
    name = unit.partition(":")[2]
    return packed.replace(_NAME, name) if name and _NAME in packed else packed


def _holds_under(packed: Mapping[str, str], folder: str) -> bool:
    """Whether any path of `packed` (`_Packed` units) lies inside `folder`."""
    inside = f"\0{folder}/"
    return any(inside in _expand(unit, paths) for unit, paths in packed.items())


def _origin_before(packed: str, index: int) -> str:
    """The origin token in force at `index` of a packed unit (as it is written there)."""
    found = packed.rfind("\0/", 0, index)
    start = found + 2 if found >= 0 else 2 if packed.startswith(_PLAIN) else 1
    end = packed.find("\0", start)
    return packed[start:] if end < 0 else packed[start:end]


class _Sorted(Mapping[str, str]):
    """A `_Packed` as a manifest (`pack`: sorted, no origins), made one unit at a time."""

    _ALIKE = 1024
    """Entries remembered to be returned as one object (`__getitem__`)."""

    def __init__(self, packed: _Packed) -> None:
        self._packed = packed
        self._units = sorted(packed)
        self._alike: dict[str, str] = {}

    def __getitem__(self, unit: str) -> str:
        """The unit's entry; equal to a recent one, the same object, which the state's
        chunked pickles then write once and load once (most images' entries are equal)."""
        tokens = _expand(unit, self._packed[unit]).split("\0")
        entry = pack(unit, (t for t in tokens if t and not t.startswith("/")))
        if len(self._alike) >= self._ALIKE:
            self._alike.clear()
        return self._alike.setdefault(entry, entry)

    def __iter__(self) -> Iterator[str]:
        return iter(self._units)

    def __len__(self) -> int:
        return len(self._units)
