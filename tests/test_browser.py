"""A real headless Chromium against `sitegen serve` on loopback: search as you type, browse.

Debian's chromium and chromium-driver (scripts/install-test-deps.sh), driven by
Selenium; nothing is downloaded. Each test checks that no request left the
site and that no script error was logged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.emit.search_shards import ClientIndex
from tests.conftest import build_site
from tests.support import browser
from tests.support.http import wait_until_up
from tests.support.nginx import free_port
from tests.test_html import HOSTILE_REPO, hostile_storage

pytestmark = pytest.mark.browser

WAIT = 15


@pytest.fixture(scope="module")
def site(oracle_storage: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The oracle storage plus a repository with a hostile name and hostile labels."""
    root = tmp_path_factory.mktemp("browser")
    storage = root / "storage"
    shutil.copytree(oracle_storage, storage, symlinks=True)
    hostile_storage(storage)
    build_site(storage, root / "site", include_private=True)
    return root / "site"


@pytest.fixture(scope="module")
def base(site: Path) -> Iterator[str]:
    """`sitegen serve` itself, as a user runs it, on a free loopback port."""
    yield from _serve(site)


@pytest.fixture(scope="module")
def by_namespace(oracle_storage: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The oracle site whose index lists namespaces (`index_limit: 0`), served."""
    site = tmp_path_factory.mktemp("by-namespace") / "site"
    build_site(oracle_storage, site, include_private=True, index_limit=0)
    yield from _serve(site)


def _serve(site: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator", "serve", "--output", str(site), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=site.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    why = browser.available()
    if why:
        pytest.fail(why)
    with browser.chromium() as chromium:
        chromium.get("about:blank")
        browser.requested_urls(chromium)  # drop the start page's own requests
        yield chromium


@pytest.fixture
def page(driver: object, base: str) -> Iterator[object]:
    """The browser, checked after each test: nothing left the site, no script failed."""
    browser.requested_urls(driver)
    browser.console_errors(driver)
    yield driver
    urls = browser.requested_urls(driver)
    assert any(u.startswith(base) for u in urls)
    assert browser.left_the_site(urls, base) == []
    assert browser.console_errors(driver) == []


def wait_for(driver: object, condition: object) -> object:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition)


def result_names(driver: object) -> list[str]:
    from selenium.webdriver.common.by import By

    return [li.find_element(By.TAG_NAME, "a").text for li in
            driver.find_elements(By.CSS_SELECTOR, "#results li")]


def reference(site: Path, q: str) -> list[str]:
    """What the reference client (search_shards.ClientIndex) answers from the same files."""
    index = ClientIndex(lambda path: (site / "search-index" / path).read_bytes())
    return index.search(q).names


def type_query(driver: object, q: str) -> None:
    """Clear the box and type `q` key by key; wait until the answer for `q` is shown."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "q")
    box.clear()
    for key in q:
        box.send_keys(key)
    wait_for(driver, lambda d: d.execute_script(
        "return new URLSearchParams(location.search).get('q')") == q)
    wait_for(driver, lambda d: not d.find_element(By.ID, "search-status").text.startswith(
        ("Searching", "Type to search")))


QUERIES = ["web", "busy", "web frontend", "tag:wheezy", "%app", "_eb", "LIBRARY/", "onerror",
           "label:evil", "a", "no-such-repository"]


def test_search_as_you_type_finds_the_right_repositories(page: object, base: str,
                                                         site: Path) -> None:
    from selenium.webdriver.common.by import By

    page.get(f"{base}/search/")
    status = page.find_element(By.ID, "search-status")
    wait_for(page, lambda d: status.text.startswith("Type to search"))
    assert page.switch_to.active_element == page.find_element(By.ID, "q")  # focused, ready
    answers = {}
    for q in QUERIES:
        type_query(page, q)
        answers[q] = result_names(page)
        assert answers[q] == reference(site, q), q
    assert answers["web"] == ["acme/web", "acme/web-server", "acme/web.frontend"]
    assert answers["busy"] == ["library/busybox"]
    assert answers["tag:wheezy"] == ["library/debian"]
    assert answers["%app"] == ["myorg99/Legacy_App", "user123/my_app"]
    assert answers["label:evil"] == ["acme/web", f"evil/{HOSTILE_REPO}"]
    assert answers["no-such-repository"] == []
    assert status.text == "No repository matches \u201cno-such-repository\u201d."


def test_hostile_names_are_text_in_search_results(page: object, base: str) -> None:
    from selenium.webdriver.common.by import By

    page.get(f"{base}/search/?q=onerror")
    wait_for(page, lambda d: result_names(d) == [f"evil/{HOSTILE_REPO}"])
    assert page.find_elements(By.CSS_SELECTOR, "#results img") == []
    assert page.execute_script("return document.querySelectorAll('img').length") == 0
    link = page.find_element(By.CSS_SELECTOR, "#results a")
    link.click()
    wait_for(page, lambda d: d.find_element(By.TAG_NAME, "h1").text == f"evil/{HOSTILE_REPO}")
    image = page.find_element(By.CSS_SELECTOR, "table.tags a.id")
    image.click()
    wait_for(page, lambda d: d.find_elements(By.CSS_SELECTOR, "table.labels"))
    cells = page.find_elements(By.CSS_SELECTOR, "table.labels td")
    assert "<script>alert(1)</script>" in [c.text for c in cells]
    assert page.execute_script("return document.querySelectorAll('script:not([src])').length") == 0


def test_from_search_to_a_repository_and_an_image(page: object, base: str) -> None:
    from selenium.webdriver.common.by import By

    page.get(f"{base}/")
    quick = page.find_element(By.ID, "quick-q")
    quick.send_keys("web\n")
    wait_for(page, lambda d: "acme/web-server" in result_names(d))
    page.find_element(By.LINK_TEXT, "acme/web-server").click()
    wait_for(page, lambda d: d.current_url == f"{base}/repositories/acme/web-server/")
    assert page.find_element(By.TAG_NAME, "h1").text == "acme/web-server"
    host = base.removeprefix("http://")
    pull = page.find_element(By.ID, "pull-command").text
    assert pull == f"docker pull {host}/acme/web-server:latest"  # the script filled in the host
    rels = page.find_elements(By.CSS_SELECTOR, "table.tags .rel")
    assert rels and all(r.text.endswith("ago") for r in rels if r.is_displayed())

    def tag_order() -> list[str]:
        return [r.get_attribute("data-name")
                for r in page.find_elements(By.CSS_SELECTOR, "table.tags tbody tr")]

    assert tag_order() == ["1.0", "1.0.1", "latest", "v2-rc.1", "old"]
    page.find_element(By.CSS_SELECTOR, "button[data-order='name']").click()
    assert tag_order() == ["1.0", "1.0.1", "latest", "old", "v2-rc.1"]
    page.find_element(By.CSS_SELECTOR, "button[data-order='version']").click()
    assert tag_order() == ["v2-rc.1", "1.0.1", "1.0", "latest", "old"]

    page.find_element(By.CSS_SELECTOR, "tr[data-name='latest'] a.id").click()
    wait_for(page, lambda d: "/images/" in d.current_url)
    assert page.find_element(By.TAG_NAME, "h1").text == "Image fe8e227ff140"
    history = page.find_elements(By.CSS_SELECTOR, "table.history tbody tr")
    assert len(history) == 6
    history[1].find_element(By.TAG_NAME, "a").click()
    wait_for(page, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Image 986280750029")


def test_index_filters_and_sorts_without_leaving_the_page(page: object, base: str) -> None:
    from selenium.webdriver.common.by import By

    page.get(f"{base}/")
    box = page.find_element(By.ID, "filter")
    box.send_keys("deb")
    visible = [a.text for a in page.find_elements(By.CSS_SELECTOR, "table.repos tbody td a")
               if a.is_displayed()]
    assert visible == ["debian"]
    assert page.find_element(By.CSS_SELECTOR, "[data-filter-count]").text == "1 match"
    box.clear()
    box.send_keys(" ")  # clear() sends no input event; a blank filter shows everything
    sizes = page.find_element(By.XPATH, "(//table[@class='repos'])[1]//th[4]//button")
    sizes.click()
    first = page.find_elements(By.CSS_SELECTOR, "table.repos")[0]
    names = [a.text for a in first.find_elements(By.CSS_SELECTOR, "tbody td a")]
    assert names == ["web", "web.frontend", "web-server"]  # 10.2 kB, 12.8 kB, 24.1 kB
    sizes.click()
    names = [a.text for a in first.find_elements(By.CSS_SELECTOR, "tbody td a")]
    assert names == ["web-server", "web.frontend", "web"]


def test_an_index_of_namespaces_filters_sorts_and_leads_to_them(
    driver: object, by_namespace: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.requested_urls(driver)
    browser.console_errors(driver)
    driver.get(f"{by_namespace}/")

    def shown() -> list[str]:
        return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table.namespaces td a")
                if a.is_displayed()]

    driver.find_element(By.ID, "filter").send_keys("my")
    assert shown() == ["myorg99"]
    assert driver.find_element(By.CSS_SELECTOR, "[data-filter-count]").text == "1 match"
    driver.find_element(By.ID, "filter").send_keys(Keys.BACKSPACE, Keys.BACKSPACE)
    assert shown() == ["acme", "library", "myorg99", "team42", "user123"]
    tags = driver.find_element(By.XPATH, "//table[contains(@class, 'namespaces')]//th[3]//button")
    tags.click()
    counts = [int(td.text) for td in
              driver.find_elements(By.CSS_SELECTOR, "table.namespaces tbody td:nth-child(3)")]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    driver.find_element(By.LINK_TEXT, "library").click()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "library")
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table.repos tbody td a")]
    assert names == ["busybox", "debian"]
    urls = browser.requested_urls(driver)
    assert browser.left_the_site(urls, by_namespace) == []
    assert browser.console_errors(driver) == []


def test_keyboard_reaches_everything_with_a_visible_focus(page: object, base: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page.get(f"{base}/repositories/acme/web-server/")
    body = page.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    skip = page.switch_to.active_element
    assert skip.text == "Skip to content"
    outline = page.execute_script(
        "return getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    seen = set()
    for _ in range(40):
        page.switch_to.active_element.send_keys(Keys.TAB)
        seen.add(page.switch_to.active_element.text)
    assert {"Copy", "Newest", "Name", "Version", "JSON"} <= seen


def test_narrow_screens_scroll_tables_not_pages(page: object, base: str) -> None:
    page.set_window_size(400, 900)  # headless Chromium keeps at least 500 CSS pixels
    try:
        for url in ("/", "/repositories/acme/web-server/", "/search/?q=web",
                    "/images/fe8e227ff140109c9e275979a4bb4531680ae08ba07d87f624ae049bdb546513/"):
            page.get(base + url)
            width, viewport = page.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width <= viewport, url
    finally:
        page.set_window_size(1280, 900)
