#!/usr/bin/env python3
"""Regenerate the README's screenshots of the HTML pages (docs/screenshots/*.png).

    python3 scripts/screenshots.py [--out docs/screenshots]

Builds the embedded sample registry (`sample/registry`) into a temporary
folder, serves it with `sitegen serve`'s server on loopback, and photographs
the index, a repository, an image and a search in Debian's headless Chromium,
once with `prefers-color-scheme: light` and once with `dark`. Needs what the
browser tests need (scripts/install-test-deps.sh). Relative dates ("3 years
ago") follow the clock, so the pictures change a little from day to day.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator.build import build  # noqa: E402
from generator.config import Config  # noqa: E402
from generator.report import Report  # noqa: E402
from generator.serve import make_site_server  # noqa: E402
from tests.support import browser  # noqa: E402

PAGES = {
    "index": "/",
    "repository": "/repositories/acme/web-server/",
    "image": "/images/2f647ad85fe959c29ef8b93e3bc60771016daac4ebe07cd7db645230394d7721/",
    "search": "/search/?q=web",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    why = browser.available()
    if why:
        print(why, file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        config = Config(source=ROOT / "sample" / "registry", output=site,
                        registry_host="registry.example.com")
        build(config, Report())
        server = make_site_server(site, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            with browser.chromium(args.width, args.height) as driver:
                driver.get("about:blank")
                browser.requested_urls(driver)
                for scheme in ("light", "dark"):
                    browser.color_scheme(driver, scheme)
                    for name, url in PAGES.items():
                        driver.get(base + url)
                        time.sleep(0.4)  # the search page answers as it loads
                        target = args.out / f"{name}-{scheme}.png"
                        driver.save_screenshot(str(target))
                        print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)
                left = browser.left_the_site(browser.requested_urls(driver), base)
                if left:
                    print(f"requests left the site: {left}", file=sys.stderr)
                    return 1
        finally:
            server.shutdown()
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
