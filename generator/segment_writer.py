"""A rebuild's Whoosh segments, written by a fresh process while the build makes its pages.

A new tag rewrites the segment of its repository's bucket (`index.SEGMENTS`):
0.6 s of Whoosh at 20,000 repositories, a fifth of the rebuild. Written on the
second core, it costs the rebuild the wait for what is left of it once the
pages are made (0.1-0.2 s).

Why not a forked child, as the render worker is: a fork shares the build's
heap, and Python's allocator gives each new object a free slot of a page the
two processes share, which copies the page. Writing one segment, a forked
child copied 117 MB of the build's pages, and the build's own work copied as
much again while the child lived: 370 MB for both processes, against 262 MB
for the same rebuild on one. A fresh interpreter importing only the index
module has a heap of its own. It is handed, in a pickle through a temporary
file (the build never waits for it to read them), each bucket's repositories
and the images they tag (`IndexPlan.buckets`), and makes their documents
itself: reading the images' labels from the storage was 0.2 s of the build's.

It is started as soon as the walk has found a change, before the build knows
whether the search index changed: Python's start and Whoosh's import (0.15 s)
then happen on the core the walk's worker left idle, while the build crawls
and compares, not while the build waits for the segment. A build with no
segment for it ends it.

The process dies with the build (`forked.die_with`): a killed build leaves
no process writing into a staging folder the next build removes.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import generator
from generator import forked
from generator.errors import BuildError
from generator.model import Registry

_PACKAGE_ROOT = str(Path(generator.__file__).resolve().parent.parent)
"""Where the build's own `generator` is imported from: the process imports the same code."""


class SegmentWriter:
    """A process that writes segments into an index folder.

    Started before its work is known (`_Build.run` starts one once the walk
    found a change, on the core the walk's worker leaves idle), it spends its
    first 0.15 s starting Python and importing Whoosh while the build crawls
    and compares; `give` hands it the work, `wait` waits for it. One the
    build does not need, or that must stop, is ended by `kill`.
    """

    def __init__(self) -> None:
        self.directory: Path | None = None
        if not sys.executable:  # an embedded Python: the build writes them itself
            raise FileNotFoundError("no Python executable to start (sys.executable is empty)")
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by wait, kill)
        # Its work goes into this file, its standard input (the build never waits for it to
        # read it), and a byte through the pipe says it is there; the pipe closed says none.
        self._work: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by give, kill)
        go, self._go = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            # -P: the build's working folder is not put first on the path (a `generator`
            # folder there is not this one).
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-m", __name__, str(os.getpid()), str(go)],
                stdin=self._work, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env,
                pass_fds=(go,),
            )
        except BaseException:
            for file in (self._stderr, self._work):
                file.close()
            os.close(self._go)
            raise
        finally:
            os.close(go)

    def give(self, directory: Path, buckets: Sequence[tuple[str, Registry]]) -> None:
        """Have it write the segment of each (segment id, bucket's registry:
        `IndexPlan.buckets`) into the index `plan_index` began in `directory`.

        OSError if it cannot be told (it is gone): the caller writes them.
        """
        self.directory = directory
        with self._work as work:
            pickle.dump((str(directory), buckets), work, pickle.HIGHEST_PROTOCOL)
            work.seek(0)  # (the offset is the process's too: one open file)
        try:
            os.write(self._go, b"1")
        except BrokenPipeError:
            status = self._process.wait()
            raise OSError(f"it ended before its work came, exit status {status}") from None
        finally:
            os.close(self._go)
            self._go = -1

    def wait(self) -> None:
        """Wait for every segment to be written; BuildError (with what it said) if it failed."""
        status = self._process.wait()
        with self._stderr:
            self._stderr.seek(0)
            said = self._stderr.read().decode("utf-8", "replace").strip()
        said = said.splitlines()[-1] if said else ""  # a traceback's last line names the error
        if status != 0:
            raise BuildError(
                f"writing the search index segments in {self.directory} failed "
                f"(exit status {status}): {said or 'it said nothing'}"
            )

    def kill(self) -> None:
        """Stop it: the build failed before it was done, or had no work for it."""
        self._process.kill()
        self._process.wait()
        if self._go >= 0:
            os.close(self._go)
            self._go = -1
        self._work.close()
        self._stderr.close()


def main(parent: int, go: int) -> None:
    """Wait for the word that the work is there, then read (folder, buckets) from stdin and
    write their segments (`index.write_buckets`); end at once if the build had none."""
    forked.die_with(parent)
    from generator import index

    with os.fdopen(go, "rb") as word:
        if not word.read(1):
            return
    directory, buckets = pickle.load(sys.stdin.buffer)  # written by our parent, see above
    index.write_buckets(Path(directory), buckets)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
