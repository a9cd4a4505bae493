"""`sitegen serve`'s answers under `/v2/`: the registry's, from the mirror's files.

Routes are `routes.V2_ROUTES`, files `paths`' v2 mapping, bodies `v2_json`.
What only a program can add, and nginx's block does from the URL or the
tag table: each manifest's `Content-Type` (its file's suffix),
`Docker-Content-Digest` and `Etag` (for a tag, the digest of the bytes
sent, so it can never disagree with the body), byte ranges on blobs.

Only sites built from v2 storage have `/v2/`; on others `answer()` returns
None and the request is answered like any unknown URL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from generator import paths, routes
from generator.emit import v2_json

FileLookup = Callable[[str], Path | None]
"""A site-relative path → the file inside the site, or None (the server's safe lookup)."""

BLOB_CACHE = ("Cache-Control", "max-age=31536000")
OCTET_STREAM = "application/octet-stream"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class V2Answer:
    status: int
    body: bytes
    content_type: str
    headers: list[tuple[str, str]] = field(default_factory=list)


def answer(url: str, find: FileLookup, range_header: str | None = None) -> V2Answer | None:
    """The answer to a GET of `url` (`/v2` or under `/v2/`), or None on a site without v2."""
    base = find(paths.file_for_url(paths.V2_BASE_URL))
    if base is None:
        return None
    result = _answer(url, base, find, range_header)
    result.headers.append(v2_json.API_VERSION)
    return result


def _answer(url: str, base: Path, find: FileLookup, range_header: str | None) -> V2Answer:
    if url == paths.V2_BASE_URL.rstrip("/"):
        return V2Answer(301, b"", "text/html; charset=utf-8", [("Location", paths.V2_BASE_URL)])
    found = routes.match_v2(url)
    if found is None:
        return _page_not_found()
    route, groups = found
    if route == "v2_base":
        return _json(200, base.read_bytes())
    if route == "v2_blob_invalid":
        return _json(400, v2_json.DIGEST_INVALID)
    if route == "v2_blob":
        path = find(url.lstrip("/"))
        if path is None:
            return _json(404, v2_json.blob_unknown(groups["v2digest"]))
        return _blob(path.read_bytes(), groups["v2digest"], range_header)
    if route in ("v2_manifest_digest", "v2_manifest_tag"):
        return _manifest(url, groups, find)
    path = find(paths.file_for_url(url))
    if path is not None:
        return _json(200, path.read_bytes())
    if route == "v2_tags":
        return _json(404, v2_json.name_unknown(groups["v2name"]))
    return _page_not_found()  # no catalog: cannot happen on a site with /v2/


def _manifest(url: str, groups: dict[str, str | None], find: FileLookup) -> V2Answer:
    for relpath, media_type in paths.v2_manifest_candidates(url):
        path = find(relpath)
        if path is not None:
            body = path.read_bytes()
            digest = groups.get("v2digest") or f"sha256:{hashlib.sha256(body).hexdigest()}"
            headers = [("Docker-Content-Digest", digest), ("Etag", f'"{digest}"')]
            return V2Answer(200, body, media_type, headers)
    if groups.get("v2digest"):
        return _json(
            404, v2_json.manifest_unknown_digest(str(groups["v2name"]), str(groups["v2digest"]))
        )
    return _json(404, v2_json.manifest_unknown_tag(str(groups["v2tag"])))


def _blob(body: bytes, digest: str, range_header: str | None) -> V2Answer:
    headers = [
        ("Accept-Ranges", "bytes"),
        BLOB_CACHE,
        ("Docker-Content-Digest", digest),
        ("Etag", f'"{digest}"'),
    ]
    span = _range(range_header, len(body)) if range_header else None
    if span is None:
        return V2Answer(200, body, OCTET_STREAM, headers)
    if span == (-1, -1):
        return V2Answer(
            416, b"", OCTET_STREAM, [*headers, ("Content-Range", f"bytes */{len(body)}")]
        )
    start, end = span
    headers.append(("Content-Range", f"bytes {start}-{end}/{len(body)}"))
    return V2Answer(206, body[start : end + 1], OCTET_STREAM, headers)


def _range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=` range as Go's `http.ServeContent` reads it; None ignores it, (-1,-1) is 416."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        count = int(last)
        return (max(size - count, 0), size - 1) if count and size else (-1, -1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return (-1, -1)
    return start, end


def _json(status: int, body: bytes) -> V2Answer:
    return V2Answer(status, body, v2_json.JSON_TYPE)


def _page_not_found() -> V2Answer:
    return V2Answer(
        404,
        v2_json.PAGE_NOT_FOUND,
        v2_json.PAGE_NOT_FOUND_TYPE,
        [("X-Content-Type-Options", "nosniff")],
    )
