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
    ├── v2/                               the pullable mirror (v2 storage only)
    │   ├── .index.json                   GET /v2/  ({})
    │   ├── _catalog                      GET /v2/_catalog
    │   └── <name: 1+ segments>/
    │       ├── tags/list/.index.json     GET …/tags/list
    │       ├── manifests/<ref>.<suffix>  GET …/manifests/<tag or digest> (suffix = media type)
    │       └── blobs/sha256:<hex>        GET …/blobs/<digest>
    └── .sitegen/                         internal, never served
        ├── index/                        Whoosh index
        ├── meta/images/<id>/             inprogress, layer.416, files.400, headers.json
        ├── defaults/                     bodies for any repository (json, properties)
        └── errors/                       fixed error bodies
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from pathlib import PurePosixPath
from urllib.parse import quote

DOC_NAME = ".index.json"
INTERNAL_DIR = ".sitegen"
MAX_SEGMENT_BYTES = 255
IMAGE_ID_RE = re.compile(r"^(?:[a-f0-9]{16}|[a-f0-9]{64})$")

# URLs whose document is stored inside a folder of the same name.
_FOLDER_FORM = (
    re.compile(r"^$"),
    re.compile(r"^v1/repositories/.+/tags$"),
    re.compile(r"^v1/repositories/.+/tags/[^/]+$"),
    re.compile(r"^v2$"),
    re.compile(r"^v2/.+/tags/list$"),
)


class UnsafeName(ValueError):
    """A name from storage that cannot be published as a path segment."""


_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f/\\\\\ud800-\udfff]")
"""Characters `check_segment` refuses: slashes, control characters (Unicode category Cc is
exactly U+0000–U+001F and U+007F–U+009F) and lone surrogates (bytes that were not UTF-8)."""
_RESERVED = frozenset((".", "..", DOC_NAME, INTERNAL_DIR))


def check_segment(name: str) -> str:
    """Return `name` if it can be one path segment of a published URL, else raise UnsafeName.

    Storage names are published as written on disk, so anything a file
    system or URL cannot carry safely is refused here, in one place.
    """
    # The common case in one regex and a length (this runs for every segment of every
    # URL); anything suspect takes the checks below, which name what is wrong.
    if (
        name
        and _SUSPECT.search(name) is None
        and (len(name) if name.isascii() else len(name.encode("utf-8"))) <= MAX_SEGMENT_BYTES
        and name not in _RESERVED
    ):
        return name
    return _refuse_segment(name)


def _refuse_segment(name: str) -> str:
    """`check_segment`, one rule at a time, so that the problem names the first one broken."""
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
    for segment in segments:
        check_segment(segment)
    return "/".join(segments)


_ANY_FOLDER_FORM = re.compile("|".join(p.pattern for p in _FOLDER_FORM))
"""`_FOLDER_FORM` in one regex: it runs for every document of the site."""


def is_folder_form(url: str) -> bool:
    """True for URLs whose document lives in `<url>/DOC_NAME`."""
    return _ANY_FOLDER_FORM.match(url) is not None


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
        url = "/" + "/".join(parts[:-1])
        return V2_BASE_URL if url == V2_BASE_URL.rstrip("/") else url
    url = "/" + "/".join(parts)
    manifest = _V2_MANIFEST_FILE.match(url)
    return manifest.group("url") if manifest else url


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
MEDIA_TYPES = f"{INTERNAL_DIR}/media-types.json"
"""Optional `{"/url": "media/type"}` for documents whose type no rule can tell (v2 manifests);
publishing sends these types (see `publish.content_type`)."""


# --- the HTML pages ---------------------------------------------------------
#
# Pages are folder URLs stored as `<folder>/index.html` (lektor's rule), so
# links stay clean and any static server finds them. They live beside `v1/`,
# never inside it: `/v1/…` belongs to the API.
#
#     site/
#     ├── index.html                        GET / with Accept: text/html
#     ├── 404.html                          every other non-/v1/ 404
#     ├── repositories/<ns>/index.html      namespace page
#     ├── repositories/<ns>/<repo>/index.html
#     ├── images/<id>/index.html
#     ├── search/index.html                 client-side search
#     ├── search-index/                     its static index (search_shards.py)
#     ├── changes.json, changes.atom        what the last builds changed (emit/feeds.py)
#     └── static/                           CSS and JS of the pages

PAGE_FILE = "index.html"
"""The file inside a page's folder; also `/`'s HTML twin of `.index.json`."""
NOT_FOUND_PAGE = "404.html"
STATIC_DIR = "static"
SEARCH_INDEX_DIR = "search-index"
"""Where the static client-side search index is published (`/search-index/…`)."""
CHANGES_JSON = "changes.json"
"""`/changes.json`: the repositories and tags the last build added, updated, removed."""
CHANGES_FEED = "changes.atom"
"""`/changes.atom`: the same, as an Atom feed of the last builds that changed any."""


def page_url(page: str, *names: str) -> str:
    """The URL path (leading slash, not percent-encoded, no base_url) of a page or asset.

    `page` is `index`, `namespace` (ns), `repository` (ns, repo), `image`
    (id), `search`, `not_found`, `static` (file name), `search_index`, or
    `v1` / `v2` (segments after `/v1/` or `/v2/`) for the JSON a page shows.
    """
    match page, names:
        case "index", ():
            return "/"
        case "namespace", (namespace,):
            return f"/{url_path('repositories', namespace)}/"
        case "repository", (namespace, name):  # a v2 name may have more segments
            return f"/{url_path('repositories', namespace, *name.split('/'))}/"
        case "image", (image_id,):
            return f"/{url_path('images', image_id)}/"
        case "search", ():
            return "/search/"
        case "not_found", ():
            return f"/{NOT_FOUND_PAGE}"
        case "static", (name,):
            return f"/{url_path(STATIC_DIR, name)}"
        case "search_index", ():
            return f"/{SEARCH_INDEX_DIR}/"
        case "changes", ():
            return f"/{CHANGES_JSON}"
        case "changes_feed", ():
            return f"/{CHANGES_FEED}"
        case ("v1" | "v2") as api, segments if segments:  # a v2 name may have more segments
            return f"/{url_path(api, *'/'.join(segments).split('/'))}"
    raise ValueError(f"no page {page!r} with {len(names)} name(s)")


def page_file(url: str) -> str:
    """The output file of a page URL from `page_url`: folders get `PAGE_FILE`."""
    relpath = url.lstrip("/")
    return relpath + PAGE_FILE if relpath == "" or relpath.endswith("/") else relpath


def url_for(page: str, *names: str, base_url: str = "/") -> str:
    """The href of a page: `base_url` + its percent-encoded URL path.

    Templates reach URLs only through this (bound to the configured
    base_url), so a site published under `/registry/` links correctly and
    no template joins paths itself.
    """
    return base_url.rstrip("/") + quote(page_url(page, *names), safe=_HREF_SAFE)


def url_builder(base_url: str = "/", remember: int = 4096) -> Callable[..., str]:
    """`url_for` bound to `base_url`, for pages that link thousands of URLs.

    The index page links every repository, so the common case is short: a
    page named by plain names (letters, digits, `_`, `-`, and `.` but not
    first: what Docker names mostly are) needs no check and no encoding,
    and is formatted at once. Other URLs are remembered (`remember` of
    them): pages link the same ones again and again (assets, ancestors,
    namespaces).
    """
    base = base_url.rstrip("/")
    plain_forms, plain = _PLAIN_PAGES, _PLAIN_SEGMENT.fullmatch
    checked = functools.lru_cache(maxsize=remember)(
        functools.partial(url_for, base_url=base_url)
    )

    def bound_url_for(page: str, *names: str) -> str:
        form = plain_forms.get(page)
        if form is not None and len(names) == form[1]:
            for name in names:
                if plain(name) is None:
                    return checked(page, *names)
            return base + form[0].format(*names)
        return checked(page, *names)

    return bound_url_for


_PLAIN_SEGMENT = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9_.-]{{0,{MAX_SEGMENT_BYTES - 1}}}")
"""A segment that `check_segment` accepts and `quote` keeps as is: no leading dot (so not
`.`, `..` or a reserved name), no slash, ASCII, at most `MAX_SEGMENT_BYTES` long."""
_PLAIN_PAGES = {
    "repository": ("/repositories/{}/{}/", 2),
    "namespace": ("/repositories/{}/", 1),
    "image": ("/images/{}/", 1),
}
"""`page_url`'s forms of the pages that lists link by the thousand (`url_builder`)."""


def url_pattern(page: str, arity: int, *, base_url: str = "/") -> str:
    """`url_for` with `{0}`, `{1}`… in place of the names, for scripts that fill them in.

    The script must percent-encode what it puts in (`encodeURIComponent`).
    """
    placeholders = [f"{{{i}}}" for i in range(arity)]
    return base_url.rstrip("/") + quote(page_url(page, *placeholders), safe=_HREF_SAFE + "{}")


_HREF_SAFE = "/-._~!$&'()*+,;=:@"
"""Characters RFC 3986 allows unencoded in a path (`quote` encodes the rest)."""


# --- the v2 mirror ----------------------------------------------------------
#
# A v2 client picks the manifest parser from `Content-Type` alone, and every
# manifest has its own media type, so a manifest's file name carries it as a
# suffix: `manifests/<tag or digest>.<suffix>`. A static server maps the
# suffix to the type (nginx: `types { … }` + `try_files $uri.<suffix> …`), a
# bucket strips it from the key (`url_for_file`) and sends the type, and the
# site needs no per-build server configuration. Tags (`[\w][\w.-]*`) and
# digests have no suffix of their own to collide with: `<ref>.<suffix>` is
# always one reference plus one suffix. `tags/list` is folder-form, so a
# repository `a/tags/list` can coexist with `a`'s tag list.

V2_BASE_URL = "/v2/"
"""The v2 API root: it answers 200 `{}` (clients ping it), and only on v2 sites."""
V2_MANIFEST_SUFFIXES = {
    "application/vnd.docker.distribution.manifest.v2+json": "dmv2",
    "application/vnd.docker.distribution.manifest.list.v2+json": "dlist",
    "application/vnd.oci.image.manifest.v1+json": "omani",
    "application/vnd.oci.image.index.v1+json": "oidx",
}
"""Media type → file suffix of a manifest; the one table servers and buckets read."""
V2_TAG_DIGESTS = f"{INTERNAL_DIR}/nginx/v2-tag-digests.map"
"""`"<name>:<tag>" "sha256:…";` lines: nginx's `Docker-Content-Digest` for tags."""
_V2_MANIFEST_FILE = re.compile(
    r"^(?P<url>/v2/.+/manifests/[^/]+)\.(?:" + "|".join(V2_MANIFEST_SUFFIXES.values()) + ")$"
)


def v2_url(name: str, *rest: str) -> str:
    """`v2/<name segments…>/<rest…>` (no leading slash); `name` may have several segments."""
    return url_path("v2", *name.split("/"), *rest)


def v2_manifest_file(name: str, reference: str, media_type: str) -> str:
    """The file of `/v2/<name>/manifests/<reference>`, suffixed with its media type."""
    return f"{v2_url(name, 'manifests', reference)}.{V2_MANIFEST_SUFFIXES[media_type]}"


def v2_manifest_candidates(url: str) -> tuple[tuple[str, str], ...]:
    """(file, media type) pairs that may answer a manifest URL, in the order servers try them."""
    url = url.strip("/")
    return tuple((f"{url}.{suffix}", kind) for kind, suffix in V2_MANIFEST_SUFFIXES.items())
