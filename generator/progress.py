"""Progress bars for people at a terminal; silence for cron.

A build shows one bar per phase (crawl, index, render, write) when stderr
is a terminal and `-q` is not given; in cron (no terminal) it shows none,
so the mail holds only warnings and the summary line. The bars are tqdm's:
no colour (so `NO_COLOR` has nothing to turn off), redrawn at most ten
times a second, and left on screen when a phase ends.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm

Advance = Callable[[int], object]


class Progress:
    """Phases of one build, each with its own bar (or nothing when disabled)."""

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled

    @classmethod
    def for_terminal(cls, quiet: bool) -> Progress:
        """Bars only on a terminal, and never with `-q`."""
        return cls(enabled=not quiet and sys.stderr.isatty())

    @contextlib.contextmanager
    def phase(self, name: str, total: int | None = None, unit: str = "item") -> Iterator[Advance]:
        """A bar for one phase; yields `advance(n)`."""
        if not self.enabled:
            yield _ignore
            return
        size = shutil.get_terminal_size()  # a terminal that says 0x0 gets 80x24
        bar = _tqdm()(
            desc=f"{name:<7}", total=total, unit=unit, file=sys.stderr, leave=True,
            ncols=min(size.columns, 120), nrows=size.lines, mininterval=0.1, colour=None,
        )
        try:
            yield bar.update
        finally:
            bar.close()

    def redirect_logging(self) -> contextlib.AbstractContextManager[None]:
        """Log lines printed above the bars instead of through them."""
        if not self.enabled:
            return contextlib.nullcontext()
        import logging

        _tqdm()
        from tqdm.contrib.logging import logging_redirect_tqdm

        return logging_redirect_tqdm(loggers=[logging.getLogger("sitegen")])


def _tqdm() -> type[tqdm]:
    """tqdm, imported only when bars are shown (cron and a build that finds nothing need none)."""
    from tqdm import tqdm

    # No monitor thread: a build forks a render worker (`emit/parallel.py`), and forking a
    # process that runs threads can leave the child a lock another thread held.
    tqdm.monitor_interval = 0
    return tqdm


def _ignore(n: int = 1) -> None:
    del n


NONE = Progress()
"""No bars: the default for code that builds without a terminal (tests, benchmarks)."""
