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
from pathlib import Path

from generator import content_files

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
        content_files.write_once(self.folder, name, data)
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
        return content_files.remove_all_but(self.folder, self.used)
