"""Real limits the system enforces on a test's subprocess (no mock of a full disk)."""

from __future__ import annotations

import resource

FILE_SIZE_LIMIT = 1024
"""Bytes: a write past it fails as a full disk's does (EFBIG; Python ignores SIGXFSZ)."""


def limit_file_size() -> None:
    """`preexec_fn` of a subprocess whose files may not grow past `FILE_SIZE_LIMIT`."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
