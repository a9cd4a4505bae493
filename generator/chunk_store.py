"""The build state's chunks as files named by their content, beside the state's files.

The build state (`state.py`) writes its large fields as chunks of a thousand
entries. Held in the state's file, every rebuild wrote the file again whole:
after one change at 20,000 repositories, 62 MB copied from the last file
(0.1 s), and the last file's pages freed when the new one replaced it
(0.04 s). Kept here, a chunk that did not change is named again, not
written: the state's file holds the names, and a rebuild writes the few
chunks that changed.

Named by a digest of their bytes, chunks are never rewritten: a build
writes new ones before it publishes the file that names them, and the
published file's chunks stay until the next build has published its own
(`prune`). A chunk left by a build that failed is removed by the next
build that publishes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

FOLDER = "chunks"
"""The store's folder in the build state's (`state.state_dir`)."""


class ChunkStore:
    """A folder of pickled chunks by digest, and the names the state being written uses."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[str] = set()
        """The chunks the state written through this store names (`put`, `use`)."""

    def put(self, data: bytes) -> str:
        """Store `data` (once: a name already there holds it); return its name."""
        name = hashlib.blake2b(data, digest_size=16).hexdigest()
        path = self.folder / name
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.folder / f".{name}.{os.getpid()}"
            partial.write_bytes(data)
            partial.replace(path)  # whole or absent
        self.used.add(name)
        return name

    def use(self, name: str) -> None:
        """Note that the state being written names the stored chunk `name` again."""
        self.used.add(name)

    def read(self, name: str) -> bytes:
        """The chunk `name`; OSError if it is gone."""
        if not name.isalnum():  # a name read from a damaged state file: not a path
            raise ValueError(f"{name!r} is not a chunk's name")
        return (self.folder / name).read_bytes()

    def prune(self) -> int:
        """Remove every chunk the state written through this store does not name (it is
        published: the last one's are no longer needed); return how many went."""
        try:
            names = os.listdir(self.folder)  # noqa: PTH208 (names, not a Path each)
        except FileNotFoundError:
            return 0
        removed = 0
        for name in names:
            if name not in self.used:
                (self.folder / name).unlink(missing_ok=True)
                removed += 1
        return removed
