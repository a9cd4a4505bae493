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

WORKER_PERCENT = 70
"""Of the repository, image and namespace units, the share a split build's worker emits.

The parent emits the rest, plus `search` (the Whoosh index and the client
shards: whole-registry work) and mostly `site`, so both finish at about the
same time (`emit/parallel.py`; figures in benchmarks/bench_build.py).
"""

FEW_UNITS = 200
"""A rebuild redoing at most this many units gives `site` to the worker.

Such a rebuild (a push or two) is mostly whole-registry work: the index page,
which lists every repository, and the search indexes. On one side they would
run one after the other while the worker, with a few pages, waits; split, they
run side by side. A full build keeps `site` with the parent: there its index
page computes every repository's row, which the build remembers
(`html_data.repository_rows`), and the parent would compute them all again.
"""


def in_worker_share(unit: str, dirty: Collection[str] | None = None) -> bool:
    """Whether a split build's forked worker emits `unit`: a stable hash, the same every run.

    `dirty` is what the build redoes (None: everything), for `site` (`FEW_UNITS`).
    """
    if unit == SEARCH:
        return False
    if unit == SITE:
        return dirty is not None and len(dirty) <= FEW_UNITS
    return zlib.crc32(unit.encode("utf-8", "surrogateescape")) % 100 < WORKER_PERCENT


def repository(full_name: str) -> str:
    return f"repository:{full_name}"


def image(image_id: str) -> str:
    return f"image:{image_id}"


def namespace(name: str) -> str:
    return f"namespace:{name}"
