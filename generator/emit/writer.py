"""Write the whole site into a staging folder, then swap it in at once.

Per-file atomic writes cannot keep a *set* of files consistent, and cron
users must never publish half a site: every file goes through one
`SiteWriter` bound to a staging folder beside the output (same file system,
so the swap is a rename), and `publish()` exchanges the two folders. A
failed or killed build leaves the previous site untouched; its leftover
staging folder is removed by the next build, which holds the output's lock.

The writer also refuses, as named problems, a second write to the same file,
a file where a folder is needed (or the reverse), and any path that would
leave the staging folder (pelican's `sanitised_join` habit).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from generator.errors import BuildError, BuildLocked
from generator.report import Report

STAGING_INFIX = ".staging-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


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


def remove_stale_staging(output: Path) -> list[Path]:
    """Delete staging folders left by killed builds; call only while holding the lock."""
    removed = []
    for leftover in sorted(output.parent.glob(f".{output.name}{STAGING_INFIX}*")):
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(leftover)
    return removed


class SiteWriter:
    """The only way files reach the output."""

    def __init__(self, output: Path, report: Report) -> None:
        self.output = output
        self.report = report
        output.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(
            tempfile.mkdtemp(prefix=f".{output.name}{STAGING_INFIX}", dir=output.parent)
        )
        self.staging.chmod(0o755)  # mkdtemp makes 0700; web servers must read it
        self._files: dict[str, str] = {}
        self._dirs: set[str] = {""}

    # -- writing -------------------------------------------------------------

    def write(self, relpath: str, data: bytes, origin: str) -> bool:
        """Write `data` at `relpath`; False (and a named problem) if refused."""
        target = self._claim(relpath, origin)
        if target is None:
            return False
        target.write_bytes(data)
        return True

    def link(self, relpath: str, source: Path, origin: str) -> bool:
        """Hard-link `source` at `relpath` (copied across file systems)."""
        target = self._claim(relpath, origin)
        if target is None:
            return False
        try:
            os.link(source, target)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                self.report.problem(source, f"cannot link into the site: {exc.strerror}")
                self._files.pop(relpath, None)
                return False
            shutil.copyfile(source, target)
        return True

    def directory(self, relpath: str, origin: str) -> Path | None:
        """Claim a whole folder for a library that writes its own files (the Whoosh index)."""
        target = self._claim(relpath, origin)
        if target is None:
            return None
        target.mkdir()
        self._dirs.add(relpath)
        return target

    def written(self) -> dict[str, str]:
        """Every file written so far, with what wrote it."""
        return dict(self._files)

    def _claim(self, relpath: str, origin: str) -> Path | None:
        """Check `relpath` against every rule, reserve it, create its folders."""
        pure = PurePosixPath(relpath)
        if pure.is_absolute() or not pure.parts or any(p in ("", ".", "..") for p in pure.parts):
            self.report.problem(
                relpath, f"{origin}: path would leave the output; not written", kind="collision"
            )
            return None
        relpath = str(pure)
        if relpath in self._files:
            self.report.problem(
                relpath,
                f"{origin} maps to the same file as {self._files[relpath]}; kept the first",
                kind="collision",
            )
            return None
        if relpath in self._dirs:
            self.report.problem(
                relpath,
                f"{origin} needs a file where other documents need a folder; not written",
                kind="collision",
            )
            return None
        parents = [str(p) for p in reversed(pure.parents) if str(p) != "."]
        for parent in parents:
            if parent in self._files:
                self.report.problem(
                    relpath,
                    f"{origin} needs a folder where {self._files[parent]} wrote a file;"
                    " not written",
                    kind="collision",
                )
                return None
        target = self.staging.joinpath(*pure.parts)
        if not target.resolve().is_relative_to(self.staging.resolve()):
            self.report.problem(
                relpath, f"{origin}: path would leave the output; not written", kind="collision"
            )
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        self._dirs.update(parents)
        self._files[relpath] = origin
        return target

    # -- publishing ----------------------------------------------------------

    def publish(self) -> None:
        """Swap the staging folder in place of the output, then drop the old site."""
        if self.output.exists() and not self.output.is_dir():
            raise BuildError(f"output {self.output} exists and is not a directory")
        if not self.output.exists():
            self.staging.rename(self.output)
            return
        if _exchange(self.staging, self.output):
            shutil.rmtree(self.staging, ignore_errors=True)  # now holds the old site
            return
        # No atomic exchange on this system: two renames, a gap of microseconds.
        old = Path(
            tempfile.mkdtemp(
                prefix=f".{self.output.name}{STAGING_INFIX}old-", dir=self.output.parent
            )
        )
        self.output.rename(old / "site")
        self.staging.rename(self.output)
        shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths with Linux `renameat2(RENAME_EXCHANGE)`."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0
