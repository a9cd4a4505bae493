"""Units: the pieces of the site an incremental build regenerates or keeps whole.

Every `Output` belongs to one unit, named after what it comes from:

- `repository:<ns/name>`: the repository's v1 and v2 documents and its page;
- `image:<id>`: the image's v1 documents, markers and page;
- `namespace:<ns>`: the namespace page;
- `search`: the client search index and the Whoosh index (one set: positions
  are shared by every repository);
- `site`: everything else (service documents, `/v1/search`, the index page,
  the v2 catalog and tables, assets, the change feeds).

A unit is regenerated whole or kept whole, so the files of a kept unit are
exactly those of the previous build (`generator/incremental.py` decides
which units are dirty; `Selection.wants` asks).
"""

from __future__ import annotations

SITE = "site"
SEARCH = "search"


def repository(full_name: str) -> str:
    return f"repository:{full_name}"


def image(image_id: str) -> str:
    return f"image:{image_id}"


def namespace(name: str) -> str:
    return f"namespace:{name}"
