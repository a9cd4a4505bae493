"""HTML pages benchmark: build time and output size of the pages at N repositories.

    python benchmarks/bench_html.py [--sizes 2000,20000]

For each N: synthetic repositories (benchmarks/synth.py, the in-memory model,
no crawl), every repository public, then the HTML emitter alone
(`generator.emit.html.site_outputs`: index, namespace, repository, image,
search and 404 pages and the static assets). Reports pages, seconds, total
bytes, the index page's bytes (the largest page: every repository), and the
largest repository and image pages. Nothing is written to disk: sizes are
the bytes the writer would write.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import synth  # noqa: E402

from generator.config import Config  # noqa: E402
from generator.emit import html  # noqa: E402
from generator.emit.v1_tree import select  # noqa: E402
from generator.report import Report  # noqa: E402


def measure(n: int) -> dict[str, object]:
    registry = synth.synth_registry(n)
    selection = select(registry, include_private=False)
    config = Config(source=ROOT, output=ROOT / "site")
    started = time.perf_counter()
    sizes: dict[str, int] = {}
    for output in html.site_outputs(selection, registry, config, Report()):
        sizes[output.relpath] = len(output.data or b"")
    seconds = time.perf_counter() - started
    kinds = Counter(path.split("/", 1)[0] for path in sizes)

    def largest(prefix: str) -> int:
        return max((v for k, v in sizes.items() if k.startswith(prefix)), default=0)

    return {
        "repositories": len(selection.repositories),
        "images": len(selection.images),
        "pages": sum(1 for k in sizes if k.endswith(".html")),
        "seconds": round(seconds, 2),
        "total_mb": round(sum(sizes.values()) / 1e6, 1),
        "index_kb": round(sizes["index.html"] / 1e3),
        "largest_repository_kb": round(largest("repositories/") / 1e3, 1),
        "largest_image_kb": round(largest("images/") / 1e3, 1),
        "files_by_folder": dict(sorted(kinds.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000")
    args = parser.parse_args(argv)
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"N={n}: {measure(n)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
