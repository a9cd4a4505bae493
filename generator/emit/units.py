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

import zlib
from collections.abc import Collection

SITE = "site"
SEARCH = "search"

WORKER_PERCENT = 60
"""Of the repository and image units, the share a split build's worker emits.

The parent emits the rest, plus `search` (the Whoosh index and the client
shards: whole-registry work), `site` and the namespaces, so both finish at
about the same time (`emit/parallel.py`). At 20,000 repositories, a full
build took 70.0-70.1 s with 60, and 74.4-76.0 s with 70, whose worker ended
5-10 s after the parent (two builds each, in turn).
"""

SPLIT_UNITS = 1000
"""A rebuild redoing fewer units renders in one process (`worth_splitting`).

A forked worker costs memory for as long as it lives: every page of the
shared heap that either process writes (a reference count is a write) is
then held twice. A rebuild's whole-registry work (the index page, the search
indexes, selecting what is wanted) touches most of the crawl, so at 20,000
repositories a worker beside a one-change rebuild cost 90 MB (365 MB for
both processes, 270 MB for one) to save 0.15 s. With a thousand units to
redo, the worker's share is seconds of rendering.
"""


def worth_splitting(dirty: Collection[str] | None) -> bool:
    """Whether a build redoing `dirty` (None: everything) renders on two processes."""
    return dirty is None or len(dirty) >= SPLIT_UNITS


def in_worker_share(unit: str) -> bool:
    """Whether a split build's forked worker emits `unit`: a stable hash, the same every run.

    `search` (whole-registry work) stays with the parent, and so do the units
    made once the worker is done (`after_split`).
    """
    if unit == SEARCH or after_split(unit):
        return False
    return zlib.crc32(unit.encode("utf-8", "surrogateescape")) % 100 < WORKER_PERCENT


def after_split(unit: str) -> bool:
    """Whether a split build's parent makes `unit` once its worker is done: `site` (the index
    page, which makes every repository's row for the build to remember) and the namespace
    pages, which list those rows.

    Made beside the worker, the rows and their markup (14 MB at 20,000
    repositories) were held while both processes were at their largest; in
    the worker, each row was made a second time.
    """
    return unit == SITE or unit.startswith(_NAMESPACE)


def repository(full_name: str) -> str:
    return f"repository:{full_name}"


def image(image_id: str) -> str:
    return f"image:{image_id}"


def namespace(name: str) -> str:
    return f"{_NAMESPACE}{name}"


_NAMESPACE = "namespace:"
