"""Emit on two cores: a forked worker writes its share of the units into the same staging folder.

Rendering 110,000 pages and encoding half a million documents is CPU work on
a registry that is already in memory. The worker (`generator/forked.py`)
gets the registry for free, writes its files through its copy of the
`SiteWriter` into the same staging folder, and sends back only what it
claimed (paths, units, problems), which the parent's writer absorbs. Which
process emits a unit is a stable hash of the unit's name
(`units.in_worker_share`), so files never depend on the split: each unit's
files are made by one process, exactly as on one core.

Rules that span units (two documents mapped to one file) are checked again
when the parent absorbs the worker's claims; a clash raises SplitConflict
(emit/writer.py) and the build runs again on one core, whose write order
decides as it always has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from generator.emit.v1_tree import Selection
from generator.emit.writer import Claims, SiteWriter, SplitConflict
from generator.forked import Forked
from generator.progress import Advance

Found = TypeVar("Found")
"""What each half returns besides its files (the build's problems by unit)."""


def split(
    work: Callable[[Selection, Advance], Found],
    selection: Selection,
    writer: SiteWriter,
    advance: Advance,
) -> tuple[Found, Found, Found]:
    """Run `work` for the parent's share here and the worker's share in a forked child, then
    for the units made once the worker is done (`units.after_split`), here.

    Returns (the parent's result, the worker's, the last units'); the worker's
    files are absorbed into `writer`. A failure in either half is raised here.
    """

    def worker_half() -> tuple[Found, Claims]:
        found = work(dataclasses.replace(selection, worker=True), _no_progress)
        return found, writer.claims()

    writer.shared = True  # both write into one staging folder: what this one did not make
    try:
        worker = Forked(worker_half, "render worker")
        try:
            mine = work(dataclasses.replace(selection, worker=False), advance)
        except _CLASHES as exc:
            worker.kill()
            raise SplitConflict(str(exc.filename)) from exc
        except BaseException:
            worker.kill()
            raise
        try:
            theirs, claims = worker.result()
            # Before the worker's claims are absorbed: a clash with its files is met on the
            # disk, as during the split.
            last = work(dataclasses.replace(selection, worker=False, last=True), advance)
        except _CLASHES as exc:
            raise SplitConflict(str(exc.filename)) from exc
    finally:
        writer.shared = False
    writer.absorb(claims)
    return mine, theirs, last


_CLASHES = (FileExistsError, IsADirectoryError, NotADirectoryError)
"""What a half meets when the other made a file where it needs a folder, or the reverse:
one process's writer refuses such clashes before touching the disk, two halves cannot."""


def _no_progress(n: int = 1) -> None:
    """The worker draws no bar: the terminal belongs to the parent."""
