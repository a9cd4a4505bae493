"""The v2 registry's generated bodies, byte for byte as distribution 2.8 writes them.

Its handlers write JSON with Go's `json.NewEncoder(w).Encode(…)`: compact,
Go's escaping, and a trailing newline (`gojson.encoder_line`), except
`GET /v2/`, which writes `{}` with no newline. Errors are always
`{"errors":[{"code","message","detail"}]}`; the router's own 404 (an invalid
name, an unknown route) is plain text. Manifests and blobs are never
generated: the mirror serves their stored bytes.
"""

from __future__ import annotations

from typing import Any

from generator import gojson

BASE = b"{}"
"""`GET /v2/`: 200, so that clients know this host speaks v2."""
JSON_TYPE = "application/json; charset=utf-8"
"""The Content-Type of every generated v2 body (errors included)."""
API_VERSION = ("Docker-Distribution-Api-Version", "registry/2.0")
"""Sent with every v2 answer."""
PAGE_NOT_FOUND = b"404 page not found\n"
"""The router's answer (text/plain) for an invalid name or an unknown v2 route."""
PAGE_NOT_FOUND_TYPE = "text/plain; charset=utf-8"


def catalog(names: list[str]) -> bytes:
    """`GET /v2/_catalog`: every repository, sorted, in one answer (no `n`, so no `Link`)."""
    return gojson.encoder_line({"repositories": names})


def tags_list(name: str, tags: list[str]) -> bytes:
    """`GET /v2/<name>/tags/list`; a repository without tags answers `"tags":null`."""
    return gojson.encoder_line({"name": name, "tags": tags or None})


def error(code: str, message: str, detail: Any) -> bytes:
    return gojson.encoder_line({"errors": [{"code": code, "message": message, "detail": detail}]})


def name_unknown(name: str) -> bytes:
    return error("NAME_UNKNOWN", "repository name not known to registry", {"name": name})


def manifest_unknown_tag(tag: str) -> bytes:
    """A tag the repository does not have (also any tag of a repository that does not exist)."""
    return error("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": tag})


def manifest_unknown_digest(name: str, digest: str) -> bytes:
    return error("MANIFEST_UNKNOWN", "manifest unknown", {"Name": name, "Revision": digest})


def blob_unknown(digest: str) -> bytes:
    return error("BLOB_UNKNOWN", "blob unknown to registry", digest)


DIGEST_INVALID = error("DIGEST_INVALID", "provided digest did not match uploaded content", {})
"""A blob reference shaped like a digest that is not one (`sha256:xyz`): 400."""
