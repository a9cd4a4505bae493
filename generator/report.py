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
        self.add(Problem(str(path), reason, kind))

    def add(self, problem: Problem) -> None:
        """Record a problem; each is logged at INFO (`-v`), `grouped()` sums them up."""
        self.problems.append(problem)
        log.info("%s", problem)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def counts(self) -> Counter[str]:
        return Counter(p.kind for p in self.problems)

    def grouped(self, first: int = 3) -> list[str]:
        """One message per kind, most frequent first: the count and the first problems.

        What cron mail shows: a storage with 5,000 dangling tags gives four
        lines, not 5,000 (`-v` lists every problem as it is found).
        """
        lines = []
        for kind, count in sorted(self.counts().items(), key=lambda kc: (-kc[1], kc[0])):
            shown = [str(p) for p in self.problems if p.kind == kind][:first]
            noun = "problem" if count == 1 else "problems"
            text = [f"{count} {kind} {noun}:", *(f"  {line}" for line in shown)]
            if count > len(shown):
                text.append(f"  and {count - len(shown)} more (-v lists every problem)")
            lines.append("\n".join(text))
        return lines
