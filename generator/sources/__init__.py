"""Sources: each turns a registry's storage, or its API, into a `model.Registry`.

`open_source()` picks a storage crawler by name, with a plain dict
(distribution's `factory.Register`/`Create`); `auto` decides by what is on
disk: v2 storage has `docker/registry/v2/`, v1 storage `images/` or
`repositories/`. `crawler_for()` is what the build calls: a URL source (or
`source_type: http`) is crawled over HTTP (`http.py`), a folder by layout.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from generator.config import Config
from generator.errors import ConfigError
from generator.model import Registry
from generator.report import Report
from generator.sources import v1, v1_layout, v2_layout

Crawler = Callable[[Path, Report], Registry]

LAYOUTS = ("v1", "v2")
"""The storage layouts a folder may hold (`source_type`, besides `auto` and `http`)."""


def detect(root: Path) -> str:
    """The layout found at `root`."""
    if v2_layout.looks_like_v2(root):
        return "v2"
    if (root / v2_layout.BLOBS / v2_layout.ALGORITHM).is_dir():
        raise ConfigError(
            f"'source': {root} looks like the inside of v2 storage; set source to the "
            "storage root, the folder that holds docker/registry/v2"
        )
    if v1_layout.looks_like_v1(root):
        return "v1"
    raise ConfigError(
        f"'source': {root} holds no registry storage "
        "(expected docker/registry/v2/, images/ or repositories/)"
    )


def open_source(
    root: Path, source_type: str = "auto", *, platform: str | None = None
) -> Crawler:
    """The crawler for `root`; `platform` picks the child of a v2 list that v1 views show
    (`v2.DEFAULT_PLATFORM` if None)."""
    kind = detect(root) if source_type == "auto" else source_type
    if kind == "v1":
        return v1.crawl
    if kind == "v2":
        from generator.sources import v2  # (and its manifest parsers): not for v1 storage

        return functools.partial(v2.crawl, platform=platform or v2.DEFAULT_PLATFORM)
    raise ConfigError(f"'source_type': {kind!r} is not one of {', '.join(['auto', *LAYOUTS])}")


def crawler_for(config: Config) -> Callable[[Report], Registry]:
    """The crawl of `config.source`: over HTTP for a registry URL, else its storage layout."""
    url = config.source_url
    if url is not None:
        from generator.sources import http, http_cache  # requests: only an HTTP source needs it

        return functools.partial(
            http.crawl,
            url,
            options=config.http,
            cache_dir=http_cache.cache_dir(config.output),
            include_layers=config.include_layers,
            platform=config.platform,
        )
    root = Path(config.source)
    if config.source_type == "http":
        raise ConfigError(f"'source_type': 'http' needs a registry URL as source, not {root}")
    return functools.partial(open_source(root, config.source_type, platform=config.platform), root)
