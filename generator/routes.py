"""The v1 GET routes of docker-registry 0.9.1, as data both servers render.

`sitegen serve` matches these patterns in Python; `sitegen nginx-config`
writes one `location` per route from the very same patterns (PCRE accepts
Python's `(?P<name>…)`), so the two cannot drift. Each route says where its
document lives (`paths.file_for_url`), what 0.9.1 answered when the file is
missing, and which family of headers it sends. Order matters as in
Werkzeug: longer rules first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from generator import paths
from generator.emit import v1_json


class Headers(Enum):
    """The header families 0.9.1 sent."""

    NO_CACHE = "no-cache"
    """`toolkit.response()`: Cache-Control/Pragma no-cache, Expires -1."""
    IMAGE = "image"
    """`set_cache_headers`: public, a year, Last-Modified at the epoch (errors: no-cache)."""
    LAYER = "layer"
    """Image cache headers plus octet-stream and Accept-Ranges."""
    PING = "ping"
    """No-cache plus `X-Docker-Registry-Standalone: True`."""
    INDEX = "index"
    """No-cache plus the index emulation (`X-Docker-Endpoints`, `X-Docker-Token`)."""


@dataclass(frozen=True)
class Missing:
    """The answer when no file holds the document."""

    status: int
    body: bytes
    default_file: str | None = None
    """For 200 defaults: the internal file nginx serves instead."""
    error_file: str | None = None
    """For errors: the internal file nginx serves with `error_page`."""


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    missing: Missing
    headers: Headers = Headers.NO_CACHE
    image: bool = False
    """Check the id (404 Invalid image ID) and the in-progress marker first (400)."""

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


_D = paths.DEFAULTS_DIR
_E = paths.ERRORS_DIR
IMAGE_NOT_FOUND = Missing(404, v1_json.IMAGE_NOT_FOUND, error_file=f"{_E}/image-not-found.json")
NOT_FOUND_HTML = Missing(404, v1_json.NOT_FOUND_HTML, error_file=f"{_E}/not-found.html")

ROUTES: tuple[Route, ...] = (
    Route("root", r"^/$", NOT_FOUND_HTML),
    Route("ping", r"^/(?:v1/)?_ping$", NOT_FOUND_HTML, Headers.PING),
    Route("search", r"^/v1/search$", NOT_FOUND_HTML),
    Route(
        "image_layer",
        r"^/v1/images/(?P<image_id>[^/]+)/layer$",
        IMAGE_NOT_FOUND,
        Headers.LAYER,
        image=True,
    ),
    Route(
        "image",
        r"^/v1/images/(?P<image_id>[^/]+)/(?:json|ancestry)$",
        IMAGE_NOT_FOUND,
        Headers.IMAGE,
        image=True,
    ),
    Route(
        "image_files",
        r"^/v1/images/(?P<image_id>[^/]+)/files$",
        IMAGE_NOT_FOUND,
        Headers.IMAGE,
        image=True,
    ),
    Route(
        "image_diff",
        r"^/v1/images/(?P<image_id>[^/]+)/diff$",
        Missing(400, v1_json.DIFF_DISABLED),
        image=True,
    ),
    Route(
        "tag_json",
        r"^/v1/repositories/(?P<repository>.+)/tags/(?P<tag>[^/]+)/json$",
        Missing(200, v1_json.DEFAULT_METADATA, default_file=f"{_D}/repository-json.json"),
    ),
    Route(
        "tag",
        r"^/v1/repositories/(?P<repository>.+)/tags/(?P<tag>[^/]+)$",
        Missing(404, v1_json.TAG_NOT_FOUND, error_file=f"{_E}/tag-not-found.json"),
    ),
    Route(
        "tags",
        r"^/v1/repositories/(?P<repository>.+)/tags$",
        Missing(404, v1_json.REPOSITORY_NOT_FOUND, error_file=f"{_E}/repository-not-found.json"),
    ),
    Route(
        "repository_json",
        r"^/v1/repositories/(?P<repository>.+)/json$",
        Missing(200, v1_json.DEFAULT_METADATA, default_file=f"{_D}/repository-json.json"),
    ),
    Route(
        "properties",
        r"^/v1/repositories/(?P<repository>.+)/properties$",
        Missing(200, v1_json.PUBLIC, default_file=f"{_D}/properties.json"),
    ),
    Route(
        "repository_images",
        r"^/v1/repositories/(?P<repository>.+)/images$",
        Missing(404, v1_json.IMAGES_NOT_FOUND, error_file=f"{_E}/images-not-found.json"),
        Headers.INDEX,
    ),
)

USERS_URL = "/v1/users/"
"""0.9.1's standalone `/v1/users/` answers `"OK"`; `/v1/users` redirects there."""

IN_PROGRESS = Missing(400, v1_json.IMAGE_IN_PROGRESS)
INVALID_IMAGE_ID = Missing(404, v1_json.INVALID_IMAGE_ID)
MARKERS = {
    "layer.416": Missing(416, b""),
    "files.400": Missing(400, v1_json.LAYER_FORMAT),
}
"""Per-image markers under `.sitegen/meta/images/<id>/` for answers a file cannot carry."""


def match(url: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a decoded URL path, with its named groups."""
    for route in ROUTES:
        m = route.regex.match(url)
        if m:
            return route, m.groupdict()
    return None


def token_repository(repository: str) -> str:
    """The normalised `ns/repo` 0.9.1 put in `X-Docker-Token` (`busybox` → `library/busybox`)."""
    parts = repository.rstrip("/").split("/", 1)
    return "/".join(parts) if len(parts) == 2 else f"library/{parts[0]}"


# --- the v2 mirror ------------------------------------------------------------
#
# distribution's read routes, with its own grammar for names, tags and
# digests: a URL outside it gets the router's plain-text 404, as from the
# registry. Group names double as nginx variables (`$v2name`…), so the
# patterns are written once for both servers.

V2_NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
r"""distribution's `[a-z0-9]+((\.|_|__|-*)[a-z0-9]+)*`, with `-+` for `-*` (the same names):
its `-*` may match nothing, which makes PCRE (nginx) and Python backtrack exponentially."""
V2_NAME = rf"{V2_NAME_COMPONENT}(?:/{V2_NAME_COMPONENT})*"
V2_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
V2_DIGEST = r"sha256:[a-f0-9]{64}"
V2_DIGEST_SHAPED = r"[A-Za-z0-9_+.-]+:[A-Za-z0-9_+.=-]+"
"""What the router takes for a digest (go-digest's `DigestRegexp`); not all of it is valid."""

V2_ROUTES: dict[str, str] = {
    "v2_base": r"^/v2/$",
    "v2_catalog": r"^/v2/_catalog$",
    "v2_tags": rf"^/v2/(?P<v2name>{V2_NAME})/tags/list$",
    "v2_manifest_digest": rf"^/v2/(?P<v2name>{V2_NAME})/manifests/(?P<v2digest>{V2_DIGEST})$",
    "v2_manifest_tag": rf"^/v2/(?P<v2name>{V2_NAME})/manifests/(?P<v2tag>{V2_TAG})$",
    "v2_blob": rf"^/v2/(?P<v2name>{V2_NAME})/blobs/(?P<v2digest>{V2_DIGEST})$",
    "v2_blob_invalid": rf"^/v2/(?P<v2name>{V2_NAME})/blobs/(?P<v2digest>{V2_DIGEST_SHAPED})$",
}
"""Route name → pattern, tried in this order; anything else under `/v2/` is a plain 404."""


def match_v2(url: str) -> tuple[str, dict[str, str]] | None:
    """The v2 route for a decoded URL path, with its named groups."""
    for name, pattern in V2_ROUTES.items():
        m = re.match(pattern, url)
        if m:
            return name, m.groupdict()
    return None
