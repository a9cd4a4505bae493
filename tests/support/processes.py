"""What this test process holds open: file descriptors and child processes (Linux `/proc`)."""

from __future__ import annotations

from pathlib import Path


def open_fds() -> list[str]:
    """This process's open file descriptors (empty where there is no `/proc`)."""
    fds = Path("/proc/self/fd")
    return sorted(p.name for p in fds.iterdir()) if fds.is_dir() else []


def children() -> list[str]:
    """The processes this one started that are still there, zombies included."""
    found: list[str] = []
    for task in Path("/proc/self/task").glob("*/children"):
        found += task.read_text().split()
    return sorted(found)
