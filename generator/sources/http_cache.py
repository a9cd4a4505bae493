"""What an HTTP crawl keeps between builds, beside the output: verified blobs and tag digests.

    .<output>.http-cache/
    ├── blobs/<64 hex>     manifests, configs and (with include_layers) layers, by sha256
    ├── heads/<64 hex>     the first bytes of a layer, enough to tell its compression
    └── state.json         {"source": url, "tags": {repository: {tag: digest}}}

Beside the output and not inside it, because the build swaps the output
whole; the output's lock covers it too. Blobs are immutable: each is
checked against its digest before it is stored (temp file + rename), so a
blob held here is never fetched again, and a tag whose `HEAD` still answers
the digest of last time costs no `GET`. Published blobs are hard links to
these files, never copies; a link keeps its bytes after the cache drops the
file. Delete the folder at any time: the next build fetches everything again.
Nothing secret is stored here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

log = logging.getLogger("sitegen")

CACHE_SUFFIX = ".http-cache"
STATE_FILE = "state.json"
HEAD_BYTES = 64
"""How much of a layer is kept without include_layers: every compression magic fits."""
_HEX = re.compile(r"^[0-9a-f]{64}$")


class DigestMismatch(ValueError):
    """Bytes that are not what their digest says."""


def cache_dir(output: Path) -> Path:
    """`.<output>.http-cache` beside the output (same file system: published blobs are links)."""
    return output.parent / f".{output.name}{CACHE_SUFFIX}"


class BlobCache:
    """Verified blobs by sha256 digest, and the tag → digest table of the last crawl."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.heads = root / "heads"
        for folder in (self.blobs, self.heads):
            folder.mkdir(parents=True, exist_ok=True)
        self._counter = 0
        self._lock = threading.Lock()

    # -- blobs --------------------------------------------------------------------------------

    def path(self, digest: str) -> Path:
        return self.blobs / _hex(digest)

    def head_path(self, digest: str) -> Path:
        return self.heads / _hex(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def has_head(self, digest: str) -> bool:
        """The first bytes are cached, or made from the whole blob when that is."""
        if self.head_path(digest).is_file():
            return True
        try:
            with self.path(digest).open("rb") as blob:
                head = blob.read(HEAD_BYTES)
        except OSError:
            return False
        self.write_head(digest, head)
        return True

    def read(self, digest: str) -> bytes | None:
        """The blob's bytes, checked again (a damaged file is dropped and fetched anew)."""
        try:
            data = self.path(digest).read_bytes()
        except OSError:
            return None
        if sha256_digest(data) != digest:
            log.warning("%s: damaged cache file, fetched again", self.path(digest))
            self.path(digest).unlink(missing_ok=True)
            return None
        return data

    def write(self, digest: str, data: bytes) -> Path:
        """Store `data` if it matches `digest` (else DigestMismatch); return the file."""
        if sha256_digest(data) != digest:
            raise DigestMismatch(digest)
        return self._store(self.path(digest), [data])

    def write_stream(self, digest: str, chunks: Iterable[bytes]) -> Path:
        """Store a streamed blob, hashing it on the way; nothing is kept unless it matches."""
        hasher = hashlib.sha256()

        def hashed() -> Iterator[bytes]:
            for chunk in chunks:
                hasher.update(chunk)
                yield chunk

        return self._store(self.path(digest), hashed(), lambda: hasher.hexdigest() == _hex(digest))

    def write_head(self, digest: str, data: bytes) -> Path:
        """Store the first bytes of a layer (not checkable against its digest on their own)."""
        return self._store(self.head_path(digest), [data[:HEAD_BYTES]])

    def _store(
        self, target: Path, chunks: Iterable[bytes], check: Callable[[], bool] | None = None
    ) -> Path:
        """Write `target` through a temp file, kept only if `check()` (when given) holds."""
        with self._lock:
            self._counter += 1
            temp = target.with_name(f".{target.name}.{os.getpid()}.{self._counter}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            if check is not None and not check():
                raise DigestMismatch(target.name)
            temp.replace(target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return target

    def prune(self, blobs: set[str], heads: set[str]) -> int:
        """Delete the cached blobs not in `blobs` and heads not in `heads`; return how many."""
        removed = 0
        for folder, keep in ((self.blobs, blobs), (self.heads, heads)):
            wanted = {_hex(d) for d in keep}
            for entry in folder.iterdir():
                if entry.name not in wanted:
                    with contextlib.suppress(OSError):
                        entry.unlink()
                        removed += 1
        return removed

    # -- tag digests of the last crawl ----------------------------------------------------------

    def load_tags(self, source: str) -> dict[str, dict[str, str]]:
        """repository → tag → digest from the last crawl of `source` (empty for another source)."""
        try:
            doc = json.loads((self.root / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(doc, dict) or doc.get("source") != source:
            return {}
        tags = doc.get("tags")
        if not isinstance(tags, dict):
            return {}
        return {
            str(repo): {str(t): d for t, d in by_tag.items() if _is_digest(d)}
            for repo, by_tag in tags.items()
            if isinstance(by_tag, dict)
        }

    def save_tags(self, source: str, tags: dict[str, dict[str, str]]) -> None:
        body = json.dumps({"source": source, "tags": tags}, sort_keys=True, indent=1)
        self._store(self.root / STATE_FILE, [body.encode()])


def sha256_digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and value.startswith("sha256:") and bool(_HEX.match(value[7:]))


def _hex(digest: str) -> str:
    hex_ = digest.removeprefix("sha256:")
    if not digest.startswith("sha256:") or not _HEX.match(hex_):
        raise ValueError(f"not a sha256 digest: {digest[:80]!r}")
    return hex_
