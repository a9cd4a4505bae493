"""The HTML pages of a site built from the storage the real registry wrote (v2).

Parsed with BeautifulSoup, checked against what the fixture pushed with
skopeo: every platform of a multi-arch tag with its size and created date,
annotations and labels as text, artifacts with their media types, tagless
leftovers folded away, pull commands that skopeo resolves on the mirror,
and search by OCI description.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
from bs4 import BeautifulSoup, Tag

from generator import paths
from generator.emit.search_shards import ClientIndex
from generator.report import Report
from generator.sources.v2 import crawl
from tests.conftest import build_site
from tests.support import browser
from tests.support.http import get
from tests.support.registry import Skopeo
from tests.support.v2_fixture import DESCRIPTION, NOTE, PLATFORM_CREATED
from tests.v2.conftest import V2Registry

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def page(site: Path, name: str) -> BeautifulSoup:
    """The repository page of the v2 name `name` (`busybox` is `library/busybox`)."""
    parts = name.split("/")
    namespace, repo = ("library", name) if len(parts) == 1 else (parts[0], "/".join(parts[1:]))
    file = site / paths.page_file(paths.page_url("repository", namespace, repo))
    return BeautifulSoup(file.read_text("utf-8"), "html.parser")


def manifest_section(soup: BeautifulSoup, digest: str) -> Tag:
    section = soup.find(id="manifest-" + digest.removeprefix("sha256:"))
    assert section is not None, digest
    return section


def pairs(table: Tag) -> dict[str, str]:
    return {row.th.get_text(): row.td.get_text() for row in table.tbody.find_all("tr")}


def byte_count(cell: Tag) -> int:
    """The exact size a size cell carries in its title (`1,234 bytes as stored`)."""
    return int(cell.find("span", title=True)["title"].split(" bytes")[0].replace(",", ""))


def test_index_lists_every_repository_with_tags_and_folds_tagless_ones(
    v2_site: Path, v2_registry: V2Registry
) -> None:
    soup = BeautifulSoup((v2_site / "index.html").read_text("utf-8"), "html.parser")
    listed = set()
    for section in soup.find_all("section", class_="namespace"):
        namespace = section.h2.a.get_text()
        table = section.find("table", class_="repos")
        for row in table.tbody.find_all("tr") if table else ():
            listed.add(f"{namespace}/{row.td.a.get_text()}")
    with_tags = {n for n, tags in v2_registry.pushed.tags.items() if tags}
    assert listed == {n if "/" in n else f"library/{n}" for n in with_tags}
    assert "charts/demo" in listed  # an artifact only: no v1 view, still a repository
    hidden = [a.get_text() for d in soup.find_all("details", class_="hidden-repos")
              for a in d.find_all("a")]
    assert hidden == ["test/deleted"]
    tagless = page(v2_site, "test/deleted")
    assert "This repository has no tags." in tagless.main.get_text()
    # The /v2/ mirror keeps the registry's own answers for the leftover.
    catalog = json.loads((v2_site / paths.file_for_url("/v2/_catalog")).read_bytes())
    assert catalog["repositories"] == sorted(v2_registry.pushed.tags)
    tags_list = v2_site / paths.file_for_url("/v2/test/deleted/tags/list")
    assert json.loads(tags_list.read_bytes()) == {"name": "test/deleted", "tags": None}


def test_every_platform_of_a_multi_arch_tag_with_its_size_and_date(
    v2_site: Path, v2_storage: Path, v2_registry: V2Registry
) -> None:
    pushed = v2_registry.pushed
    v1_ids = {
        m.digest: m.v1_id
        for r in crawl(v2_storage, Report()).repositories if r.v2
        for m in r.v2.manifests
    }
    for name in ("library/alpine", "test/base-test"):
        soup = page(v2_site, name)
        for tag, digest in pushed.tags[name].items():
            row = soup.find("tr", attrs={"data-name": tag})
            assert row.find("td", class_="platforms").get_text() == "linux/amd64, linux/arm64/v8"
            assert row["data-digest"] == digest
            built = pushed.built[digest]
            union = {b.digest: len(b.data) for b in built.all_blobs()}
            assert byte_count(row.find_all("td")[2]) == sum(union.values())  # each blob once
            table = manifest_section(soup, digest).find("table", class_="platforms")
            rows = table.tbody.find_all("tr")
            assert [r["data-digest"] for r in rows] == [c.digest for c in built.children]
            for r, child, arch in zip(rows, built.children, ("amd64", "arm64"), strict=True):
                cells = r.find_all("td")
                assert r.th.get_text().startswith("linux/" + arch)
                assert byte_count(cells[1]) == sum(len(b.data) for b in child.blobs)
                assert cells[2].time["datetime"] == PLATFORM_CREATED[arch]
                v1_link = cells[3].find("a")  # the v1 view shows the `platform` child only
                if arch == "amd64":
                    assert v1_link["href"] == f"/images/{v1_ids[child.digest]}/"
                else:
                    assert v1_link is None and cells[3].get_text() == "—"
        newest = soup.find("table", class_="tags").tbody.tr
        assert newest.find("time")["datetime"].startswith(PLATFORM_CREATED["arm64"][:10])


def test_single_images_show_platform_date_and_v1_image(
    v2_site: Path, v2_registry: V2Registry
) -> None:
    soup = page(v2_site, "org/team/app")
    digest = v2_registry.pushed.tags["org/team/app"]["latest"]
    section = manifest_section(soup, digest)
    facts = {div.dt.get_text(): div.dd for div in section.find("dl", class_="facts")("div")}
    assert facts["Platform"].get_text() == "linux/amd64"
    assert facts["Created"].time["datetime"] == "2024-03-04T04:06:07Z"  # from +01:00
    assert facts["Media type"].get_text() == "application/vnd.docker.distribution.manifest.v2+json"
    assert byte_count(facts["Size"]) == sum(
        len(b.data) for b in v2_registry.pushed.built[digest].blobs
    )
    assert facts["v1 image"].a["href"].startswith("/images/")
    heading = [s.get_text() for s in section.h3.find_all("span", class_="tag")]
    assert heading == ["1.0.1", "latest"]  # one section per manifest, every tag naming it
    image = BeautifulSoup(
        (v2_site / paths.page_file(facts["v1 image"].a["href"])).read_text("utf-8"), "html.parser"
    )
    tagged = [li.get_text() for li in image.find("ul", class_="tagged").find_all("li")]
    assert tagged == ["org/team/app:1.0.1", "org/team/app:latest"]


def test_v2_pages_are_byte_identical_across_builds(v2_storage: Path, tmp_path: Path) -> None:
    pages = []
    for name in ("one", "two"):
        build_site(v2_storage, tmp_path / name)
        pages.append({
            str(f.relative_to(tmp_path / name)): f.read_bytes()
            for f in sorted((tmp_path / name).rglob("*.html"))
        })
    assert pages[0] == pages[1] and len(pages[0]) > 10


def test_annotations_and_labels_are_rendered_as_text(
    v2_site: Path, v2_registry: V2Registry
) -> None:
    soup = page(v2_site, "test/base-test")
    section = manifest_section(soup, v2_registry.pushed.tags["test/base-test"]["latest"])
    annotations = pairs(section.find("table", class_="labels"))
    assert annotations["org.example.note"] == NOTE
    assert annotations["org.opencontainers.image.description"] == "An OCI index"
    assert soup.main.find("script") is None
    labels = [t for t in section.find_all("table", class_="labels")][1:]
    assert [pairs(t) for t in labels] == [
        {"com.example.arch": "amd64"}, {"com.example.arch": "arm64v8"}
    ]

    app = page(v2_site, "org/team/app")
    section = manifest_section(app, v2_registry.pushed.tags["org/team/app"]["1.0"])
    labels = pairs(section.find("table", class_="labels"))
    assert labels["maintainer"] == "team <team@example.org> & co"
    assert labels["version"] == "1.0"
    raw = (v2_site / paths.page_file("/repositories/org/team/app/")).read_text("utf-8")
    assert "team &lt;team@example.org&gt; &amp; co" in raw

    base = page(v2_site, "team/base-img")
    assert base.find("p", class_="lead").get_text() == DESCRIPTION
    assert base.main.find("b") is None
    section = manifest_section(base, v2_registry.pushed.tags["team/base-img"]["latest"])
    tables = section.find_all("table", class_="labels")
    assert pairs(tables[0]) == {"org.opencontainers.image.title": "base-img"}  # annotations
    assert pairs(tables[1])["org.opencontainers.image.description"] == DESCRIPTION


def test_artifacts_are_shown_with_their_media_types(v2_site: Path, v2_registry: V2Registry) -> None:
    soup = page(v2_site, "charts/demo")
    digest = v2_registry.pushed.tags["charts/demo"]["0.1.0"]
    row = soup.find("tr", attrs={"data-name": "0.1.0"})
    assert row.find("td", class_="kind").get_text() == "artifact"
    assert row.find("td", class_="platforms").get_text() == HELM_CONFIG
    section = manifest_section(soup, digest)
    facts = {div.dt.get_text(): div.dd.get_text() for div in section.find("dl")("div")}
    assert facts["Artifact type"] == HELM_CONFIG
    assert "v1 image" not in facts  # an artifact has no v1 view
    blobs = section.find("table", class_="blobs").tbody.find_all("tr")
    built = v2_registry.pushed.built[digest]
    assert [(r.th.get_text(), r.find("td").get_text()) for r in blobs] == [
        ("config", HELM_CONFIG), ("layer 1", HELM_CHART)
    ]
    assert [byte_count(r.find_all("td")[2]) for r in blobs] == [len(b.data) for b in built.blobs]


def test_pull_commands_name_what_the_mirror_serves(
    v2_site: Path, v2_registry: V2Registry, v2_serve: str, skopeo: Skopeo
) -> None:
    """Every `docker pull` reference on the pages resolves on the mirror, to the right digest."""
    busybox = page(v2_site, "busybox")
    assert busybox.find(id="pull-command").get_text() == "docker pull registry-host/busybox:latest"
    checked = 0
    for name, tags in v2_registry.pushed.tags.items():
        if not tags:
            continue
        soup = page(v2_site, name)
        references = {el["data-pull"] for el in soup.find_all(attrs={"data-pull": True})}
        if name == "charts/demo":  # a Helm chart: docker cannot pull it
            assert references == set() and soup.find(class_="pull") is None
            continue
        assert references >= {f"{name}:{tag}" for tag in tags}, name
        for reference in sorted(references):
            raw = skopeo.inspect_raw(v2_serve, reference)
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            if "@" in reference:
                assert digest == reference.split("@")[1], reference
            else:
                assert digest == tags[reference.split(":")[1]], reference
            checked += 1
    assert checked > 20


def test_every_link_of_the_v2_pages_answers(v2_site: Path, v2_serve: str) -> None:
    """Pages, v1 and `/v2/` JSON twins, through `sitegen serve`; anchors exist."""
    seen: set[str] = set()
    v2_links = 0
    for file in sorted((v2_site / "repositories").rglob("index.html")):
        soup = BeautifulSoup(file.read_text("utf-8"), "html.parser")
        ids = {el["id"] for el in soup.find_all(id=True)}
        for a in soup.find_all(["a", "link"], href=True):
            href = a["href"]
            if href.startswith("#"):
                assert href[1:] in ids, f"{file}: {href}"
                continue
            path = urlsplit(href).path
            if path in seen:
                continue
            seen.add(path)
            answer = get(v2_serve, path)
            assert answer.status == 200, f"{file.relative_to(v2_site)}: {href}"
            if path.startswith("/v2/"):
                assert "json" in answer.headers["Content-Type"], href
                json.loads(answer.body)
                v2_links += 1
    assert v2_links > 20
    assert "/v2/org/team/app/tags/list" in seen
    assert unquote("/v2/library/alpine/manifests/latest") in seen


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("bold", ["team/base-img"]),  # one word: in the description
        ("OCI index", ["test/base-test"]),  # the index's own annotation
        ("ünïcode", ["team/base-img"]),
        ("tag:0.1.0", ["charts/demo"]),  # an artifact's tag: no v1 view
        ("label:com.example.arch=arm64", ["library/alpine", "test/base-test"]),  # not amd64
    ],
)
def test_search_by_oci_description_tags_and_labels(
    v2_site: Path, v2_serve: str, q: str, expected: list[str]
) -> None:
    answer = json.loads(get(v2_serve, f"/v1/search?q={quote(q)}").body)
    assert [r["name"] for r in answer["results"]] == expected, answer
    descriptions = {r["name"]: r["description"] for r in answer["results"]}
    if "team/base-img" in descriptions:
        assert descriptions["team/base-img"] == DESCRIPTION
    client = ClientIndex(lambda path: (v2_site / paths.SEARCH_INDEX_DIR / path).read_bytes())
    assert list(client.search(q).names) == expected


@pytest.mark.browser
def test_v2_pages_in_a_real_browser(v2_serve: str, v2_registry: V2Registry) -> None:
    """Chromium: the host fills in, tags re-sort, digests jump to their manifest, narrow
    screens scroll tables and not the page, nothing leaves the site, no script fails."""
    from selenium.webdriver.common.by import By

    why = browser.available()
    if why:
        pytest.fail(why)
    host = v2_serve.removeprefix("http://")
    with browser.chromium() as page:
        page.get(f"{v2_serve}/repositories/test/base-test/")
        pull = page.find_element(By.ID, "pull-command").text
        assert pull == f"docker pull {host}/test/base-test:latest"

        def tag_order() -> list[str]:
            rows = page.find_elements(By.CSS_SELECTOR, "table.tags tbody tr")
            return [r.get_attribute("data-name") for r in rows]

        assert tag_order() == ["dev", "latest"]  # same created date: by name
        page.find_element(By.CSS_SELECTOR, "button[data-order='version']").click()
        assert tag_order() == ["dev", "latest"]
        page.find_element(By.CSS_SELECTOR, "tr[data-name='latest'] a.id").click()
        digest = v2_registry.pushed.tags["test/base-test"]["latest"]
        assert page.execute_script("return location.hash") == "#manifest-" + digest[7:]
        note = page.find_element(By.XPATH, "//th[code='org.example.note']/following-sibling::td")
        assert note.text == NOTE
        page.set_window_size(400, 900)
        for url in ("/repositories/test/base-test/", "/repositories/charts/demo/"):
            page.get(v2_serve + url)
            width, viewport = page.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width <= viewport, url
        urls = browser.requested_urls(page)
        assert browser.left_the_site(urls, v2_serve) == []
        assert browser.console_errors(page) == []
