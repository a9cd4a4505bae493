"""Run a function in a forked child and get back what it returns: the build's second core.

A build's data is already in memory when there is CPU work to share (the
fingerprint walk's folder list, the crawled registry). `fork` hands it to a
second process for free (copy on write, nothing pickled on the way in); only
the child's answer is pickled back, through an unnamed file.

The child dies with its parent (`PR_SET_PDEATHSIG`): a killed build leaves no
process writing into a staging folder the next build removes, and no
inherited copy of the output lock held. The child leaves with `os._exit`: no
atexit handlers, no flushing of buffers it inherited, no cleanup of what the
parent still uses.

`sitegen build` runs no other thread when it forks (tqdm's monitor thread is
off, see progress.py), so no lock is inherited half-held.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pickle
import signal
import tempfile
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Generic, TypeVar

from generator.errors import BuildError

T = TypeVar("T")
X = TypeVar("X")
Y = TypeVar("Y")
_PR_SET_PDEATHSIG = 1
MIN_WORKER_ITEMS = 16
"""`split_map` forks for at least this many items: fewer cost less than a fork of a big process."""
CHUNKS = 256
"""How many chunks `split_map` cuts its items into: at 20,000 repositories a chunk of the walk
takes 4 ms, and the processes end at most that far apart."""


def available() -> bool:
    """Whether this system can fork (POSIX only)."""
    return hasattr(os, "fork")


class Forked(Generic[T]):
    """`function()` running in a forked child; `result()` waits for its return value."""

    def __init__(self, function: Callable[[], T], what: str) -> None:
        self.what = what
        # The answer goes through an unnamed file, read once the child is gone: through a
        # pipe, it was read while the child still held everything it had made (a render
        # worker's claims, tens of MB at 20,000 repositories, were then held twice).
        self._answer = tempfile.TemporaryFile()  # noqa: SIM115 (closed by result, kill)
        parent = os.getpid()
        # The cyclic GC writes into the header of every object it scans: in the child, each
        # page of the parent's heap would be copied. Frozen objects are never scanned (the
        # CPython docs' advice for fork), by either process until the child is reaped; if
        # the caller had already set objects aside (`gc.freeze`), it decides when to thaw.
        self._thaw = gc.get_freeze_count() == 0
        gc.freeze()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            die_with(parent)
            _answer(function, self._answer.fileno())

    def result(self) -> T:
        """The child's return value; what it raised is raised here."""
        _, status = os.waitpid(self.pid, 0)
        if self._thaw:
            gc.unfreeze()
        with self._answer as answer:
            if status != 0:
                raise BuildError(f"the {self.what} (pid {self.pid}) died: {_describe(status)}")
            answer.seek(0)
            try:  # unpickled as it is read: the answer's bytes are never held whole
                ok, value = pickle.load(answer)  # our own child's, in a file only we have
            except (EOFError, pickle.UnpicklingError) as exc:
                raise BuildError(f"the {self.what} (pid {self.pid}) left no answer") from exc
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def kill(self) -> None:
        """Stop the child and reap it (when the parent's own half failed)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self._answer.close()
        if self._thaw:
            gc.unfreeze()


def split_map(
    function: Callable[[X], Y],
    items: Sequence[X],
    beside: Callable[[], T],
    *,
    jobs: int,
    what: str,
) -> tuple[list[Y], T]:
    """`[function(x) for x in items]` and `beside()`, on two cores when `jobs` > 1.

    The items are cut into chunks (`CHUNKS`), whose numbers wait in a pipe.
    A forked worker maps chunk after chunk as it takes them from the pipe;
    this process runs `beside()`, then does the same until the pipe is
    empty. Whichever process is slowed (by `beside`, by the other's cache
    misses, by the machine's other load) takes fewer: both end within a
    chunk of each other. A fixed share missed by a tenth of a second or
    more, either way, from one build to the next (a walk of 20,000
    repositories beside the state's reading). The results come back in the
    order of `items`; a failure on either side is raised here.
    """
    if jobs <= 1 or len(items) < MIN_WORKER_ITEMS or not available():
        alongside = beside()
        return [function(x) for x in items], alongside
    size = -(-len(items) // CHUNKS)
    starts = range(0, len(items), size)
    queue, feed = os.pipe()
    try:
        # Every number at once, before the fork, then the end of the pipe: a read of 4 bytes
        # is atomic (below PIPE_BUF), and once the pipe is empty every read answers EOF.
        os.write(feed, b"".join(start.to_bytes(4, "little") for start in starts))
    finally:
        os.close(feed)

    def chunks() -> list[tuple[int, list[Y]]]:
        done = []
        while token := os.read(queue, 4):
            start = int.from_bytes(token, "little")
            done.append((start, [function(x) for x in items[start:start + size]]))
        return done

    try:
        worker = Forked(chunks, what)
    except BaseException:
        os.close(queue)
        raise
    try:
        alongside = beside()
        mine = chunks()
    except BaseException:
        worker.kill()
        raise
    finally:
        os.close(queue)
    by_start = dict(mine)
    by_start.update(worker.result())
    return list(chain.from_iterable(map(by_start.__getitem__, starts))), alongside


def _answer(function: Callable[[], object], fd: int) -> None:
    """Run `function`, write (ok, value) or (False, exception) into `fd`, and exit.

    The value is pickled into the file as it goes; one that does not pickle
    exits with status 1, which the parent reports as the child's death.
    """
    status = 0
    try:
        with os.fdopen(fd, "wb", closefd=False) as file:
            try:
                value = function()
            except BaseException as exc:  # everything goes back to the parent
                file.write(_pickled_error(exc))
            else:
                try:
                    pickle.dump((True, value), file, pickle.HIGHEST_PROTOCOL)
                except Exception as exc:
                    os.write(2, f"cannot send the answer: {type(exc).__name__}: {exc}\n".encode())
                    status = 1
    finally:
        os._exit(status)


def _pickled_error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps((False, exc), pickle.HIGHEST_PROTOCOL)
    except Exception:  # it does not pickle: keep its text
        text = f"{type(exc).__name__}: {exc}"
        return pickle.dumps((False, BuildError(text)), pickle.HIGHEST_PROTOCOL)


def die_with(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
