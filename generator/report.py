"""Per-item problems: recorded, reported, and never fatal on their own.

A corrupt file or an odd name costs one item, not the build: the crawler
records a Problem naming the file and the reason, skips the item, and goes on.
`--strict` turns any problem into exit status 1 at the end.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("sitegen")


@dataclass(frozen=True)
class Problem:
    path: str
    """The storage file, output file or request the problem is about."""
    reason: str
    kind: str = "storage"
    """A short group name for the summary: storage, name, collision, ..."""

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)

    def problem(self, path: object, reason: str, kind: str = "storage") -> None:
        entry = Problem(str(path), reason, kind)
        self.problems.append(entry)
        log.warning("%s", entry)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def counts(self) -> Counter[str]:
        return Counter(p.kind for p in self.problems)
