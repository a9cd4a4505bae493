"""Memory housekeeping (`collector.py`)."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from generator import collector

_FREED_THEN_GIVEN_BACK = """
import os
from generator import collector

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

blocks = [bytes(4000) for _ in range(25_000)]  # 100 MB of C heap (over pymalloc's 512 bytes)
last = blocks[-1]  # the heap's top stays in use: only a trim can give the rest back
del blocks
freed = rss()
collector.give_back()
print(freed - rss())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_give_back_returns_freed_heap_memory_to_the_system() -> None:
    """What a step freed stays in the process until given back (measured in a fresh one)."""
    out = subprocess.run(
        [sys.executable, "-c", _FREED_THEN_GIVEN_BACK], capture_output=True, text=True,
        check=True,
    )
    assert int(out.stdout) > 80_000_000


def test_paused_restores_the_collector_as_it_was() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
