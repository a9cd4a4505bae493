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
    """A process writing segments into an index folder; `wait()` for it to be done."""

    def __init__(self, directory: Path, buckets: Sequence[tuple[str, Registry]]) -> None:
        self.directory = directory
        if not sys.executable:  # an embedded Python: the build writes them itself
            raise FileNotFoundError("no Python executable to start (sys.executable is empty)")
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by wait, kill)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            with tempfile.TemporaryFile() as given:
                pickle.dump((str(directory), buckets), given, pickle.HIGHEST_PROTOCOL)
                given.seek(0)
                # -P: the build's working folder is not put first on the path (a `generator`
                # folder there is not this one).
                self._process = subprocess.Popen(
                    [sys.executable, "-P", "-m", __name__, str(os.getpid())],
                    stdin=given, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env,
                )
        except BaseException:
            self._stderr.close()
            raise

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
        """Stop it (the build failed before it was done)."""
        self._process.kill()
        self._process.wait()
        self._stderr.close()


def main(parent: int) -> None:
    """Read (folder, buckets) from stdin and write their segments (`index.write_buckets`)."""
    forked.die_with(parent)
    from generator import index

    directory, buckets = pickle.load(sys.stdin.buffer)  # written by our parent, see above
    index.write_buckets(Path(directory), buckets)


if __name__ == "__main__":
    main(int(sys.argv[1]))
