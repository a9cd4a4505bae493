"""The build's memory, kept in the output under `.sitegen/state/` (never served).

Two files, so that a rebuild that finds nothing changed reads only the small one:

- `sources.pickle` (`Sources`): what the storage looked like (the
  fingerprints of `incremental.py`), the key of everything else the output
  depends on (`output_key`), and the summary and problems of the build, which a
  no-change rebuild reports again without reading anything else.
- `build.pickle` (`Memory`): the crawl of every v1 entry (or the whole v2
  registry), the files of every unit (`emit/units.py`), what was published
  for the change feeds, and the feed's entries.

Both are written through the `SiteWriter`, last, so they describe exactly the
site they sit in. Anything unreadable, of another format version, or built
with another key (configuration, templates, sitegen's code,
`SOURCE_DATE_EPOCH`) is ignored and the build starts from nothing.

They are pickles because they hold the model's own objects and load fast;
they are internal files that only the build that wrote them reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator import __version__, paths
from generator.config import Config
from generator.emit import html
from generator.report import Problem

log = logging.getLogger("sitegen")

FORMAT = 1
"""Bump when what these files hold changes shape: old state is then ignored."""
STATE_DIR = f"{paths.INTERNAL_DIR}/state"
SOURCES_FILE = f"{STATE_DIR}/sources.pickle"
MEMORY_FILE = f"{STATE_DIR}/build.pickle"
STATE_FILES = (SOURCES_FILE, MEMORY_FILE)
_CODE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Summary:
    """What the summary line counts, replayed by a rebuild that changes nothing."""

    repositories: int = 0
    tags: int = 0
    images: int = 0
    files: int = 0


@dataclass
class Sources:
    format: int
    key: str
    layout: str
    """`v1`, `v2` or `http` (never fingerprinted)."""
    fingerprints: dict[str, bytes]
    newest_mtime_ns: int
    summary: Summary
    problems: tuple[Problem, ...]


@dataclass
class Memory:
    format: int
    key: str
    manifest: dict[str, tuple[str, ...]]
    """Unit → its files (`SiteWriter.manifest`)."""
    cache: dict[str, Any] = field(default_factory=dict)
    """v1: entry key → (Repository or Image or None, problems), in crawl order."""
    registry: Any = None
    """v2 and HTTP sources: the whole `Registry`."""
    published: dict[str, Any] = field(default_factory=dict)
    """Repository → what the change feeds compare (`feeds.snapshot`)."""
    feed: list[Any] = field(default_factory=list)
    """The change feed's entries, newest first (`feeds.Entry`)."""


def output_key(config: Config) -> str:
    """Everything besides the storage that the output depends on, as one digest.

    The configuration, `SOURCE_DATE_EPOCH` (pages show it), the templates in
    use and sitegen's own code (a checkout that changed must not keep pages
    the old code rendered).
    """
    digest = hashlib.blake2b(digest_size=16)
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    values.pop("config_file", None)
    digest.update(repr(sorted(values.items())).encode("utf-8", "surrogateescape"))
    digest.update(repr((FORMAT, __version__, html.source_date_epoch())).encode())
    folders = [_CODE, html.PROJECT_TEMPLATES]
    if config.templates_dir is not None:
        folders.append(config.templates_dir)
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                path = Path(root) / name
                try:
                    st = path.stat()
                except OSError:
                    continue
                line = f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n"
                digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def load_sources(output: Path) -> Sources | None:
    value = _load(output / SOURCES_FILE)
    return value if isinstance(value, Sources) and value.format == FORMAT else None


def load_memory(output: Path, key: str | None = None) -> Memory | None:
    """The memory of the site in `output`; with `key`, only if it was built with that key."""
    value = _load(output / MEMORY_FILE)
    if not isinstance(value, Memory) or value.format != FORMAT:
        return None
    return value if key is None or value.key == key else None


def _load(path: Path) -> object:
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception as exc:  # any damage means: start from nothing
        log.info("%s: unreadable (%s); building everything", path, exc)
        return None


def dump(value: Sources | Memory) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
