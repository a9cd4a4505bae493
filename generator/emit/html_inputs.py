"""What the HTML pages depend on besides the registry and the configuration.

The shipped templates and `SOURCE_DATE_EPOCH`: `state.output_key` digests
both on every build, and a rebuild that finds nothing changed must not
import Jinja for them (`emit/html.py` renders with them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
PROJECT_TEMPLATES = next(
    (p for p in (_PACKAGE / "templates", _PACKAGE.parent / "templates") if p.is_dir()),
    _PACKAGE.parent / "templates",
)
"""The shipped templates: inside the installed package, else beside it in a checkout."""


def source_date_epoch(environ: Mapping[str, str] | None = None) -> int | None:
    """The reproducible-builds clock, if set to a valid number."""
    value = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.strip().isdigit() else None
