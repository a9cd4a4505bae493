"""Folders of files named by a digest of their bytes (`listings.py`, `chunk_store.py`).

Such a file is never rewritten: equal bytes are one file, whichever build or
process wrote it first, and a file is there whole or not at all. A folder is
pruned by name, without a `Path` for each of its files (the listing store
holds 55,000 at 20,000 repositories).
"""

from __future__ import annotations

import os
from collections.abc import Container
from pathlib import Path


def write_once(folder: Path, name: str, data: bytes) -> None:
    """Write `data` as `folder/name` unless that file is there (it holds the same bytes)."""
    path = folder / name
    if path.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.{os.getpid()}"
    partial.write_bytes(data)
    partial.replace(path)  # whole or absent, whichever process gets there first


def remove_all_but(folder: Path, keep: Container[str]) -> int:
    """Remove every file of `folder` whose name is not in `keep` (partial files of a build
    that was killed included); return how many went."""
    try:
        names = os.listdir(folder)  # noqa: PTH208 (names, not a Path each)
    except FileNotFoundError:
        return 0
    removed = 0
    for name in names:
        if name not in keep:
            (folder / name).unlink(missing_ok=True)
            removed += 1
    return removed
