"""The one mapping between published URLs and files under the output folder.

Every published resource is a URL path. A file system cannot hold a URL that
is both a document and a folder (`…/tags` and `…/tags/latest`; `/` and
`/v1/…`), so this module decides, once:

* A document whose URL can also be a folder (`/`, `…/tags`, `…/tags/<tag>`)
  is stored *inside* that folder as `DOC_NAME`:
  `/v1/repositories/acme/web/tags` → `v1/repositories/acme/web/tags/.index.json`.
* Every other document is stored at its URL path exactly:
  `/v1/images/<id>/json` → `v1/images/<id>/json`.

`DOC_NAME` starts with a dot, which no Docker tag, namespace or image id may
start with, so no published name can collide with it; a name equal to it is
refused by `check_segment`. A static server resolves a URL by trying the file
`U`, then `U/.index.json` (nginx: `try_files $uri $uri/.index.json`); a bucket
gets exact keys from `url_for_file` (publishing strips `DOC_NAME`).

Everything that is not a published URL lives under `INTERNAL_DIR`
(`.sitegen/`): the search index, per-image markers and headers read by
`sitegen serve` and nginx, default and error bodies. It is never served and
never published to a bucket.

    site/
    ├── .index.json                       GET /            (folder-form document)
    ├── _ping                             GET /_ping
    ├── v1/
    │   ├── _ping, search                 GET /v1/_ping, /v1/search
    │   ├── repositories/<ns>/<repo>/
    │   │   ├── json, properties, images
    │   │   └── tags/
    │   │       ├── .index.json           GET …/tags
    │   │       └── <tag>/
    │   │           ├── .index.json       GET …/tags/<tag>
    │   │           └── json              GET …/tags/<tag>/json
    │   └── images/<id>/json, ancestry, files, layer
    └── .sitegen/                         internal, never served
        ├── index/                        Whoosh index
        ├── meta/images/<id>/             inprogress, layer.416, files.400, headers.json
        ├── defaults/                     bodies for any repository (json, properties)
        └── errors/                       fixed error bodies
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

DOC_NAME = ".index.json"
INTERNAL_DIR = ".sitegen"
MAX_SEGMENT_BYTES = 255
IMAGE_ID_RE = re.compile(r"^(?:[a-f0-9]{16}|[a-f0-9]{64})$")

# URLs whose document is stored inside a folder of the same name.
_FOLDER_FORM = (
    re.compile(r"^$"),
    re.compile(r"^v1/repositories/.+/tags$"),
    re.compile(r"^v1/repositories/.+/tags/[^/]+$"),
)


class UnsafeName(ValueError):
    """A name from storage that cannot be published as a path segment."""


def check_segment(name: str) -> str:
    """Return `name` if it can be one path segment of a published URL, else raise UnsafeName.

    Storage names are published as written on disk, so anything a file
    system or URL cannot carry safely is refused here, in one place.
    """
    if not name:
        raise UnsafeName("empty name")
    if name in (".", ".."):
        raise UnsafeName(f"{name!r} would walk out of its folder")
    if "/" in name or "\\" in name:
        raise UnsafeName("contains a slash")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise UnsafeName("contains control characters")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeName("is not valid UTF-8") from None
    if len(encoded) > MAX_SEGMENT_BYTES:
        raise UnsafeName(
            f"is {len(encoded)} bytes long; at most {MAX_SEGMENT_BYTES} fit a file name"
        )
    if name in (DOC_NAME, INTERNAL_DIR):
        raise UnsafeName(f"{name!r} is reserved by sitegen's output layout")
    return name


def url_path(*segments: str) -> str:
    """Join checked segments into a URL path without the leading slash."""
    return "/".join(check_segment(s) for s in segments)


def is_folder_form(url: str) -> bool:
    """True for URLs whose document lives in `<url>/DOC_NAME`."""
    return any(p.match(url) for p in _FOLDER_FORM)


def file_for_url(url: str) -> str:
    """The output-relative file that holds the document at `url` (no leading slash)."""
    url = url.strip("/")
    if is_folder_form(url):
        return f"{url}/{DOC_NAME}" if url else DOC_NAME
    return url


def url_for_file(relpath: str) -> str | None:
    """The URL (with leading slash) a file answers, or None for internal files.

    The inverse of `file_for_url`; publishing to a bucket uses it for exact keys.
    """
    parts = PurePosixPath(relpath).parts
    if not parts or parts[0] == INTERNAL_DIR:
        return None
    if parts[-1] == DOC_NAME:
        return "/" + "/".join(parts[:-1])
    return "/" + "/".join(parts)


def candidates(url: str) -> tuple[str, ...]:
    """Files that may answer `url`, in the order a static server tries them."""
    url = url.strip("/")
    if not url:
        return (DOC_NAME,)
    return (url, f"{url}/{DOC_NAME}")


# --- the v1 resources -------------------------------------------------------


def repository_url(name: str, resource: str, *rest: str) -> str:
    """`v1/repositories/<name>/<resource>/<rest…>`; `name` is `ns/repo` or a short name."""
    return url_path("v1", "repositories", *name.split("/"), resource, *rest)


def image_url(image_id: str, resource: str) -> str:
    return url_path("v1", "images", image_id, resource)


def image_meta(image_id: str, name: str) -> str:
    """Internal per-image file read by `sitegen serve` and nginx (markers, headers)."""
    return f"{INTERNAL_DIR}/meta/images/{check_segment(image_id)}/{name}"


INDEX_DIR = f"{INTERNAL_DIR}/index"
DEFAULTS_DIR = f"{INTERNAL_DIR}/defaults"
ERRORS_DIR = f"{INTERNAL_DIR}/errors"
