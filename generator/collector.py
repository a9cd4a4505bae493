"""Python's cyclic garbage collector, paused while a bulk step makes objects and no cycles.

The collector runs whenever 700 more container objects were made than
freed, and then looks at every object made since. The fingerprint walk
makes a million short-lived tuples and `stat` results, and unpickling the
state makes hundreds of thousands that live on: at 20,000 repositories the
collector took 0.1 to 0.2 s of a rebuild that changes nothing, and found
nothing to free. Reference counting still frees everything at once.
"""

from __future__ import annotations

import contextlib
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
