"""Memory housekeeping: Python's cyclic garbage collector, paused while a bulk step makes
objects and no cycles; the C heap's free memory, given back after a step that used a lot.

The collector runs whenever 700 more container objects were made than
freed, and then looks at every object made since. The fingerprint walk
makes a million short-lived tuples and `stat` results, and unpickling the
state makes hundreds of thousands that live on: at 20,000 repositories the
collector took 0.1 to 0.2 s of a rebuild that changes nothing, and found
nothing to free. Reference counting still frees everything at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (as it was after: it may be off already)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def give_back() -> None:
    """Return the C heap's free memory to the system (glibc's `malloc_trim`; a no-op elsewhere).

    Memory a step freed stays in the process (its RSS) until `malloc` finds a
    use for it: a forked worker's parent that waits for it keeps it while
    both are at their largest.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return
    trim(0)
