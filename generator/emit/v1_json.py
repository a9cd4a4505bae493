"""The v1 registry's answers, one function per GET endpoint, each returning bytes.

docker-registry 0.9.1 sent every generated body through one serialiser,
`toolkit.response()`: Python 2 `json.dumps(data, sort_keys=True,
skipkeys=True)`. `encode()` is that line, and every generated body here goes
through it. Stored JSON that 0.9.1 served raw (image json, `_index_images`,
`_files`) is passed through untouched instead.
"""

from __future__ import annotations

import json
from typing import Any

from generator.model import Image, Repository, Tag

_ENCODER = json.JSONEncoder(sort_keys=True, skipkeys=True, ensure_ascii=True)
"""What `json.dumps` with these arguments builds on every call: made once (a hot path)."""


def encode(data: Any) -> bytes:
    """Python 2 `json.dumps(sort_keys=True)` bytes: `", "`/`": "`, ASCII escapes, no newline."""
    return _ENCODER.encode(data).encode("ascii")


def error(message: str) -> bytes:
    """`toolkit.api_error()`: the one error body shape of the v1 API."""
    return encode({"error": message})


# --- fixed answers -------------------------------------------------------------

PING = encode({})
"""0.9.x `/_ping` with `debug: false` (the debug body leaks the host; a clone sends `{}`)."""
ROOT = encode('"docker-registry server"')
"""`GET /`: `json.dumps(cfg.issue)` of the sample config's `issue`."""
USERS = encode("OK")
DEFAULT_METADATA = encode(
    {
        "arch": "amd64",
        "docker_go_version": None,
        "docker_version": None,
        "kernel": None,
        "last_update": None,
        "os": "linux",
    }
)
"""`/json` and `/tags/<tag>/json` of anything without stored metadata: never a 404."""
PUBLIC = encode({"access": "public"})
PRIVATE = encode({"access": "private"})

REPOSITORY_NOT_FOUND = error("Repository not found")
TAG_NOT_FOUND = error("Tag not found")
IMAGES_NOT_FOUND = error("images not found")
IMAGE_NOT_FOUND = error("Image not found")
INVALID_IMAGE_ID = error("Invalid image ID")
IMAGE_IN_PROGRESS = error("Image is being uploaded, retry later")
LAYER_FORMAT = error("Layer format not supported")
DIFF_DISABLED = error("Diff queue is disabled")

NOT_FOUND_HTML = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'
    b"<title>404 Not Found</title>\n"
    b"<h1>Not Found</h1>\n"
    b"<p>The requested URL was not found on the server.  "
    b"If you entered the URL manually please check your spelling and try again.</p>\n"
)
"""Werkzeug 0.9's 404 page: what 0.9.1 answered for any unknown route."""
METHOD_NOT_ALLOWED_HTML = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'
    b"<title>405 Method Not Allowed</title>\n"
    b"<h1>Method Not Allowed</h1>\n"
    b"<p>The method is not allowed for the requested URL.</p>\n"
)


# --- per-item answers ------------------------------------------------------------


def search_all(names: list[str], description: str | None = None) -> bytes:
    """`/v1/search` without `q`: every repository, as a fresh 0.9.1 search DB lists them."""
    results = [{"description": description, "name": name} for name in names]
    return encode({"num_results": len(results), "query": "", "results": results})


def tags(repository: Repository) -> bytes:
    """`…/tags`: tag → file content (trailing newline kept)."""
    return encode({tag.name: tag.value for tag in repository.tags})


def tag(tag: Tag) -> bytes:
    """`…/tags/<tag>`: the file content as a JSON string."""
    return encode(tag.value)


def metadata(raw: bytes | None) -> bytes:
    """`…/json` and `…/tags/<tag>/json`: stored metadata re-sorted, else the default.

    Raises ValueError for a stored file that is not JSON (the caller names it).
    """
    if raw is None:
        return DEFAULT_METADATA
    return encode(json.loads(raw))


def properties(repository: Repository) -> bytes:
    return PRIVATE if repository.private else PUBLIC


def ancestry(image: Image) -> bytes:
    return encode(list(image.ancestry or ()))
