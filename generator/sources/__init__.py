"""Storage backends: each turns a registry's storage into a `model.Registry`.

`open_source()` picks one by name, with a plain dict (distribution's
`factory.Register`/`Create`); `auto` decides by what is on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from generator.errors import ConfigError
from generator.model import Registry
from generator.report import Report
from generator.sources import v1, v1_layout

Crawler = Callable[[Path, Report], Registry]

CRAWLERS: dict[str, Crawler] = {"v1": v1.crawl}


def detect(root: Path) -> str:
    """The layout found at `root`."""
    if v1_layout.looks_like_v1(root):
        return "v1"
    raise ConfigError(
        f"'source': {root} holds no registry storage (expected images/ or repositories/)"
    )


def open_source(root: Path, source_type: str = "auto") -> Crawler:
    kind = detect(root) if source_type == "auto" else source_type
    try:
        return CRAWLERS[kind]
    except KeyError:
        raise ConfigError(
            f"'source_type': {kind!r} is not one of {', '.join(['auto', *CRAWLERS])}"
        ) from None
