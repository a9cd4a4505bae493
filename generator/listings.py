"""The `/files` answers a v1 crawl computed, kept on disk beside the build state, not in memory.

docker-registry 0.9.1 listed a layer's files the first time `/files` was
asked, and cached the answer in the image's `_files`; a static site computes
every image's during its crawl. An answer holds a line per file of the layer
(an OS base layer: thousands of files, hundreds of kB): held by the crawl,
every image's would stay in memory for the whole build, in both render
processes, and in the build state. The crawl writes each answer here, named
by its digest, and the image holds the digest; the emitter reads the answer
back when it makes the image's documents.

Named by content: equal answers are one file, a file is never rewritten, and
the crawl's two processes may write the same one. A build removes the files
its crawl no longer names once its site is published (`prune`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from generator import content_files
from generator.model import json_digest

FOLDER = "listings"
"""The store's folder in the build state's (`state.state_dir`)."""


digest = json_digest
"""What an image holds for its `/files` answer (`Image.files_digest`): the digest the crawl
keeps of every stored file it reads again (`model.json_digest`)."""


class ListingDamaged(OSError):
    """A stored answer no longer has the digest it is named by."""


class ListingStore:
    """The content-addressed folder of `/files` answers (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: bytes) -> Path:
        return self.folder / key.hex()

    def put(self, answer: bytes) -> bytes:
        """Store `answer` (once: a name already there holds it); return its digest."""
        key = digest(answer)
        content_files.write_once(self.folder, key.hex(), answer)
        return key

    def get(self, key: bytes) -> bytes:
        """The answer named `key`; OSError if it is gone or damaged."""
        path = self.path(key)
        answer = path.read_bytes()
        if digest(answer) != key:
            raise ListingDamaged(f"{path}: not the listing it is named by")
        return answer

    def prune(self, keep: Iterable[bytes]) -> int:
        """Remove every answer but those named in `keep`; return how many went.

        By name, without a `Path` for each (a rebuild prunes too: at 20,000
        repositories the store holds 55,000 answers).
        """
        return content_files.remove_all_but(self.folder, {key.hex() for key in keep})
