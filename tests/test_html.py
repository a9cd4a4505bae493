"""The HTML pages, parsed: links, escaping, content for the oracle corpus, templates, serving.

The pages are read with BeautifulSoup (as datasette tests its HTML). The real
browser lives in tests/test_browser.py.
"""

from __future__ import annotations

import gzip
import json
import re
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup, Comment

from generator import paths
from generator.config import Config
from generator.emit import html, v1_json
from generator.emit.html_data import Moment, human_size, relative
from generator.errors import BuildError, ConfigError
from generator.report import Report
from generator.sources import v1
from tests.conftest import build_site
from tests.support.http import get
from tests.support.storage import image_id, layer_tar, write_image, write_repository

ROOT = Path(__file__).resolve().parent.parent
WEB_SERVER = "/repositories/acme/web-server/"
FRONTEND_IMAGE = "2f647ad85fe959c29ef8b93e3bc60771016daac4ebe07cd7db645230394d7721"
IN_PROGRESS_IMAGE = "4d8940af5f132592e39366b4ab9b6071ed70ede4c8c569d610f8d02da794d9c1"


def soup_of(site: Path, url: str) -> BeautifulSoup:
    return BeautifulSoup((site / paths.page_file(url)).read_text("utf-8"), "html.parser")


def html_files(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if paths.INTERNAL_DIR not in p.parts)


def internal_refs(soup: BeautifulSoup) -> list[str]:
    refs = [a["href"] for a in soup.find_all(["a", "link"], href=True)]
    refs += [s["src"] for s in soup.find_all(["script", "img"], src=True)]
    refs += [f["action"] for f in soup.find_all("form", action=True)]
    return refs


def resolves(site: Path, href: str, base_url: str) -> bool:
    """Whether the site holds a file answering `href` (a page, an asset or a v1 document)."""
    path = unquote(urlsplit(href).path)
    assert path.startswith(base_url), href
    url = "/" + path[len(base_url):]
    return any((site / rel).is_file() for rel in (paths.file_for_url(url), paths.page_file(url)))


@pytest.fixture(scope="module")
def sub_path_site(oracle_storage: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("registry-sub-path") / "site"
    build_site(oracle_storage, output, include_private=True, base_url="/registry/")
    return output


# --- what is built ------------------------------------------------------------------------------


def test_every_page_is_built(oracle_site: Path) -> None:
    pages = {"/" + str(p.relative_to(oracle_site)) for p in html_files(oracle_site)}
    repositories = {
        "acme/half-pushed", "acme/only-index", "acme/web-server", "acme/web.frontend",
        "library/busybox", "library/debian", "myorg99/Legacy_App", "team42/empty-repo",
        "user123/my_app",
    }
    images = {p.name for p in (oracle_site / "v1" / "images").iterdir()
              if (p / "json").is_file()}
    assert IN_PROGRESS_IMAGE not in images
    expected = {"/index.html", "/search/index.html", "/404.html"}
    expected |= {f"/repositories/{r}/index.html" for r in repositories}
    expected |= {f"/repositories/{r.split('/')[0]}/index.html" for r in repositories}
    expected |= {f"/images/{i}/index.html" for i in images}
    assert pages == expected
    for name in html.STATIC_FILES:
        assert (oracle_site / "static" / name).read_bytes() == (
            html.PROJECT_TEMPLATES / "static" / name
        ).read_bytes()


def test_pages_are_well_formed_and_accessible(oracle_site: Path) -> None:
    for file in html_files(oracle_site):
        soup = BeautifulSoup(file.read_text("utf-8"), "html.parser")
        where = file.relative_to(oracle_site)
        assert soup.html["lang"] == "en", where
        assert soup.title.string.strip(), where
        assert len(soup.find_all("h1")) == 1, where
        assert soup.find("meta", attrs={"name": "viewport"}), where
        assert soup.find("a", class_="skip")["href"] == "#main", where
        csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp, where
        assert all(s.get("src") for s in soup.find_all("script")), f"{where}: inline script"
        assert not soup.find_all(style=True), f"{where}: inline style"
        for field in soup.find_all(["input", "select", "textarea"]):
            label = soup.find("label", attrs={"for": field.get("id")})
            assert label or field.get("aria-label"), f"{where}: input without a label"
        comments = [c for c in soup.find_all(string=lambda s: isinstance(s, Comment))]
        assert any(c.strip().startswith("Templates considered:") for c in comments), where


@pytest.mark.parametrize("base_url", ["/", "/registry/"])
def test_every_internal_link_resolves_to_a_built_file(
    oracle_site: Path, sub_path_site: Path, base_url: str
) -> None:
    site = oracle_site if base_url == "/" else sub_path_site
    checked = 0
    for file in html_files(site):
        soup = BeautifulSoup(file.read_text("utf-8"), "html.parser")
        for ref in internal_refs(soup):
            if ref.startswith("#"):
                continue
            assert not urlsplit(ref).scheme and not ref.startswith("//"), f"{file}: {ref}"
            assert ref.startswith(base_url), f"{file}: {ref} outside {base_url}"
            assert resolves(site, ref, base_url), f"{file.relative_to(site)}: {ref}"
            checked += 1
    assert checked > 400


def test_scripts_get_their_urls_from_the_pages_under_a_sub_path(sub_path_site: Path) -> None:
    form = soup_of(sub_path_site, "/search/").find("form", id="search-form")
    assert form["data-index"] == "/registry/search-index/"
    assert form["data-repository-url"] == "/registry/repositories/{0}/{1}/"
    assert (sub_path_site / "search-index" / "manifest.json").is_file()


def test_every_page_links_the_json_it_shows(oracle_site: Path) -> None:
    for file in html_files(oracle_site):
        if file.name == paths.NOT_FOUND_PAGE:
            continue
        soup = BeautifulSoup(file.read_text("utf-8"), "html.parser")
        alternate = soup.find("link", rel="alternate", type="application/json")
        assert alternate is not None, file
        assert resolves(oracle_site, alternate["href"], "/"), file


def test_page_urls_come_from_paths() -> None:
    assert paths.page_url("index") == "/"
    assert paths.page_url("repository", "acme", "web") == "/repositories/acme/web/"
    assert paths.page_file("/repositories/acme/web/") == "repositories/acme/web/index.html"
    assert paths.page_file("/") == "index.html"
    assert paths.page_file(paths.page_url("not_found")) == "404.html"
    assert paths.page_file(paths.page_url("static", "site.css")) == "static/site.css"
    assert paths.url_for("repository", "acme", "a b+c", base_url="/registry/") == (
        "/registry/repositories/acme/a%20b+c/"
    )
    assert paths.url_for("v1", "images", "ab", "json") == "/v1/images/ab/json"
    assert paths.url_pattern("repository", 2, base_url="/r/") == "/r/repositories/{0}/{1}/"
    with pytest.raises(ValueError, match="no page"):
        paths.page_url("repository", "acme")
    with pytest.raises(paths.UnsafeName):
        paths.page_url("repository", "..", "x")


# --- content for the oracle corpus ------------------------------------------------------------


def test_index_lists_repositories_with_tags_by_namespace(oracle_site: Path) -> None:
    soup = soup_of(oracle_site, "/")
    listed = {
        f"{section.h2.a.string}/{a.string}"
        for section in soup.select("section.namespace")
        for a in section.select("table.repos tbody td:first-child a")
    }
    assert listed == {
        "acme/web-server", "acme/web.frontend", "library/busybox", "library/debian",
        "myorg99/Legacy_App", "user123/my_app",
    }
    hidden = {a.string for a in soup.select("details.hidden-repos a")}
    assert hidden == {"acme/half-pushed", "acme/only-index", "team42/empty-repo"}
    assert all(d.get("open") is None for d in soup.select("details"))
    assert [h.a.string for h in soup.select("section.namespace h2")] == [
        "acme", "library", "myorg99", "team42", "user123"
    ]
    row = soup.select_one("table.repos tbody tr")
    cells = [c.get_text(" ", strip=True) for c in row.find_all("td")]
    assert cells[0] == "web-server"
    assert cells[1] == "5"
    assert cells[2].startswith("2026-11-27")
    assert cells[3] == "24.1 kB"


@pytest.mark.parametrize("limit", [0, 5])
def test_an_index_over_its_limit_lists_namespaces_as_their_pages_do(
    oracle_storage: Path, tmp_path: Path, limit: int
) -> None:
    # The oracle has 6 repositories with tags: 5 is the largest limit they exceed.
    build_site(oracle_storage, tmp_path / "site", include_private=True, index_limit=limit)
    soup = soup_of(tmp_path / "site", "/")
    assert soup.select("section.namespace") == []
    assert soup.select_one("p.lead").get_text(strip=True) == "6 repositories in 5 namespaces."
    assert soup.select_one("label[for=filter]").string == "Filter namespaces"
    rows = soup.select("table.namespaces tbody tr")
    assert [r.a.string for r in rows] == ["acme", "library", "myorg99", "team42", "user123"]
    for row in rows:
        href = row.a["href"]
        namespace = soup_of(tmp_path / "site", href)
        assert namespace.h1.string == row.a.string
        listed = namespace.select("table.repos tbody tr")
        count, tags, updated = row.find_all("td")[1:]
        assert int(count.string) == len(listed)
        assert int(tags.string) == sum(int(r.find_all("td")[1].string) for r in listed)
        times = [int(r.find_all("td")[2]["data-value"]) for r in listed]
        assert int(updated["data-value"]) == max(times, default=0)
        if times:
            assert updated.time["datetime"] == next(
                r.find_all("td")[2].time["datetime"] for r in listed
                if int(r.find_all("td")[2]["data-value"]) == max(times)
            )


def test_an_index_at_its_limit_lists_every_repository(oracle_storage: Path, tmp_path: Path) -> None:
    build_site(oracle_storage, tmp_path / "site", include_private=True, index_limit=6)
    soup = soup_of(tmp_path / "site", "/")
    assert soup.select("table.namespaces") == []
    assert len(soup.select("section.namespace table.repos tbody tr")) == 6
    assert soup.select_one("label[for=filter]").string == "Filter repositories"


def test_repository_page(oracle_site: Path) -> None:
    soup = soup_of(oracle_site, WEB_SERVER)
    assert soup.title.string == "acme/web-server · Docker registry"
    rows = soup.select("table.tags tbody tr")
    # Newest push first: four tags pushed together (by name), then the dangling one.
    assert [r["data-name"] for r in rows] == ["1.0", "1.0.1", "latest", "v2-rc.1", "old"]
    latest = next(r for r in rows if r["data-name"] == "latest")
    cells = [c.get_text(" ", strip=True) for c in latest.find_all(["th", "td"])]
    assert cells[:5] == ["latest", "fe8e227ff140", "24.1 kB", "2014-12-03", "linux/amd64"]
    image = latest.select_one("a.id")
    assert image["href"] == f"/images/{image['title']}/"
    assert image["title"].startswith("fe8e227ff140") and len(image["title"]) == 64
    old = next(r for r in rows if r["data-name"] == "old")
    assert "missing" in old.get_text() and old.select_one("a.id") is None
    pull = soup.find(id="pull-command")
    assert pull.get_text() == "docker pull registry-host/acme/web-server:latest"
    assert pull.var is not None  # the script fills in the host serving the page
    json_links = [a["href"] for a in soup.select("aside.json a")]
    assert json_links == [
        "/v1/repositories/acme/web-server/tags",
        "/v1/repositories/acme/web-server/images",
        "/v1/repositories/acme/web-server/json",
        "/v1/repositories/acme/web-server/properties",
    ]


def test_registry_host_goes_into_pull_commands(oracle_storage: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(oracle_storage, site, registry_host="registry.example.com:5000")
    pull = soup_of(site, "/repositories/library/busybox/").find(id="pull-command")
    assert pull.get_text() == "docker pull registry.example.com:5000/library/busybox:latest"
    body = soup_of(site, "/").body
    assert body["data-registry-host"] == "registry.example.com:5000"


def test_private_repositories_get_no_page_by_default(oracle_storage: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(oracle_storage, site)
    assert not (site / "repositories" / "user123").exists()
    assert "user123" not in (site / "index.html").read_text()


def test_image_page(oracle_site: Path) -> None:
    soup = soup_of(oracle_site, f"/images/{FRONTEND_IMAGE}/")
    facts = {
        div.dt.string: div.dd.get_text(" ", strip=True) for div in soup.select("dl.facts > div")
    }
    assert facts["Created"] == "2015-01-08 17:45 UTC"
    assert facts["Platform"] == "linux/amd64"
    assert facts["Layer"] == "2.56 kB tar, as stored"
    assert facts["Docker"] == "1.5.0"
    config = {
        div.dt.string: div.dd.get_text(" ", strip=True) for div in soup.select("dl.config > div")
    }
    assert config == {
        "Env": "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "Cmd": "httpd -f -h /www",
        "ExposedPorts": "8000/tcp",
    }
    ancestry = json.loads((oracle_site / "v1" / "images" / FRONTEND_IMAGE / "ancestry").read_text())
    history = soup.select("table.history tbody tr")
    assert [r.select_one(".id")["title"] for r in history] == ancestry
    assert history[0].a is None  # the image itself
    assert [r.a["href"] for r in history[1:]] == [f"/images/{i}/" for i in ancestry[1:]]
    assert "COPY dir:9a8b7c in /www" in history[0].get_text()
    assert [li.get_text() for li in soup.select("ul.tagged li")] == ["acme/web.frontend:1.0"]


def test_compressed_layers_are_told_by_their_first_bytes(tmp_path: Path) -> None:
    """The crawl reads each layer's first bytes once; the pages show what they said."""
    root = tmp_path / "storage"
    base, child = image_id("base"), image_id("child")
    write_image(root, base, layer=gzip.compress(layer_tar({"f": b"base"})))
    write_image(root, child, base)  # a plain tar
    write_repository(root, "acme/packed", {"latest": base})
    write_repository(root, "acme/mixed", {"latest": child})
    registry = v1.crawl(root, Report())
    assert [registry.image(i).compression for i in (base, child)] == ["gzip", None]
    site = tmp_path / "site"
    build_site(root, site)

    def layer_fact(image: str) -> str:
        facts = soup_of(site, f"/images/{image}/").select("dl.facts > div")
        return next(d.dd.get_text(" ", strip=True) for d in facts if d.dt.string == "Layer")

    assert layer_fact(base).endswith("(gzip)")
    assert layer_fact(child).endswith("tar, as stored")
    rows = {
        tr.td.a.string: tr.find_all("td")[3].get_text(" ", strip=True)
        for tr in soup_of(site, "/").select("table.repos tbody tr")
    }
    assert rows["packed"].endswith(" compressed")  # every layer it reaches is compressed
    assert not rows["mixed"].endswith(" compressed")


def test_sizes_dates_and_hints() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 2560, 12_400_000, 1_070_000_000)] == [
        "0 B", "999 B", "1.00 kB", "2.56 kB", "12.4 MB", "1.07 GB"
    ]
    assert Moment.parse("2015-01-08T17:45:33.901245007Z").iso == "2015-01-08T17:45:33Z"
    assert Moment.parse("2013-06-13T14:03:50.821769-07:00").text == "2013-06-13 21:03 UTC"
    assert Moment.parse("yesterday") is None and Moment.parse(True) is None
    assert [relative(s) for s in (5, 3600, -2 * 86400, 3 * 31_557_600)] == [
        "just now", "1 hour ago", "in 2 days", "3 years ago"
    ]


# --- hostile storage --------------------------------------------------------------------------

HOSTILE = {
    "evil": "<script>alert(1)</script>",
    "quotes": "\"double\" 'single' </title> & <b>bold</b>",
    "<img src=x onerror=alert(2)>": "key too",
}
HOSTILE_REPO = "x\"'><img src=y onerror=alert(3)>"


def hostile_storage(root: Path) -> Path:
    base = image_id("base")
    write_image(root, base, labels=HOSTILE)
    write_repository(root, "acme/web", {"latest": base})
    write_repository(root, f"evil/{HOSTILE_REPO}", {"1.0": base})
    return root


def test_hostile_labels_and_names_render_as_text(tmp_path: Path) -> None:
    storage = hostile_storage(tmp_path / "storage")
    site = tmp_path / "site"
    title = "</title><script>alert(4)</script>"
    _, report = build_site(storage, site, title=title)
    assert not report.problems
    image = soup_of(site, f"/images/{image_id('base')}/")
    labels = {r.th.get_text(): r.td.get_text() for r in image.select("table.labels tbody tr")}
    assert labels == HOSTILE
    for file in html_files(site):
        raw = file.read_text("utf-8")
        soup = BeautifulSoup(raw, "html.parser")
        assert soup.title.get_text().endswith(title), file
        assert raw.count("</title>") == 1, file
        for needle in ("<script>alert", "<img src=", "<b>bold"):
            assert needle not in raw, f"{file}: {needle}"
        assert not soup.find_all("img") and not soup.find_all("b"), file
        assert [s["src"] for s in soup.find_all("script")] in (
            ["/static/site.js"], ["/static/site.js", "/static/search.js"]
        ), file
    evil = soup_of(site, "/repositories/evil/")
    names = [a.get_text() for a in evil.select("table.repos tbody td:first-child a")]
    assert names == [HOSTILE_REPO]


# --- repositories' tags ------------------------------------------------------------------------


def test_signature_tags_are_folded_and_tags_sorted_newest_first(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    ids = [image_id(f"i{n}") for n in range(3)]
    for iid in ids:
        write_image(storage, iid)
    digest = "ab" * 32
    tags = {"1.0": ids[0], "2.0": ids[1], "latest": ids[1],
            f"sha256-{digest}.sig": ids[2], f"sha256-{digest}.att": ids[2]}
    repo = write_repository(storage, "acme/web", tags)
    for tag, pushed in (("1.0", 1_500_000_000), ("2.0", 1_600_000_000), ("latest", 1_600_000_000)):
        (repo / f"tag{tag}_json").write_text(json.dumps({"last_update": pushed}))
    site = tmp_path / "site"
    build_site(storage, site)
    soup = soup_of(site, "/repositories/acme/web/")
    main_rows = soup.select("section > .scroll table.tags tbody tr")
    assert [r["data-name"] for r in main_rows] == ["2.0", "latest", "1.0"]
    folded = soup.select_one("details.signatures")
    assert folded.get("open") is None
    assert folded.summary.get_text() == "2 signature and attestation tags"
    assert [r["data-name"] for r in folded.select("tbody tr")] == [
        f"sha256-{digest}.att", f"sha256-{digest}.sig"
    ]
    assert soup.find(id="pull-command").get_text().endswith("/acme/web:latest")


# --- determinism ---------------------------------------------------------------------------------


def test_pages_are_byte_identical_and_timeless(
    oracle_storage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first, second = tmp_path / "a", tmp_path / "b"
    build_site(oracle_storage, first)
    build_site(oracle_storage, second)
    for file in html_files(first):
        assert file.read_bytes() == (second / file.relative_to(first)).read_bytes(), file
        assert "Built" not in file.read_text()
        assert not re.search(r"\bago\b", BeautifulSoup(file.read_text(), "html.parser").text)


def test_source_date_epoch_dates_the_build_and_the_hints(
    oracle_storage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")  # 2027-01-15
    site = tmp_path / "site"
    build_site(oracle_storage, site)
    soup = soup_of(site, f"/images/{FRONTEND_IMAGE}/")
    assert "Built 2027-01-15 08:00 UTC" in soup.footer.get_text(" ", strip=True)
    created = soup.select_one("dl.facts .rel")
    assert created.get_text() == "12 years ago"


# --- templates -----------------------------------------------------------------------------------


def test_user_templates_come_first_and_can_extend_the_shipped_ones(
    oracle_storage: Path, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "repository.html").write_text(
        '{% extends "default:repository.html" %}'
        "{% block title %}Custom {{ repo.full_name }}{% endblock %}"
    )
    (templates / "repository-library-busybox.html").write_text(
        '{% extends "default:repository.html" %}{% block title %}Busy!{% endblock %}'
    )
    site = tmp_path / "site"
    build_site(oracle_storage, site, templates_dir=templates)
    web = (site / paths.page_file(WEB_SERVER)).read_text()
    assert "<title>Custom acme/web-server</title>" in web
    assert "<!-- Templates considered: repository-acme-web-server.html, *repository.html -->" in web
    busybox = (site / "repositories/library/busybox/index.html").read_text()
    assert "<title>Busy!</title>" in busybox
    assert "*repository-library-busybox.html, repository.html" in busybox


def test_an_image_template_may_read_any_attribute_of_a_tagging_repository(
    oracle_storage: Path, tmp_path: Path
) -> None:
    """`image.tagged` names each repository without its full view, made only when read."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "image.html").write_text(
        "{% for repo, tag in image.tagged %}{{ repo.full_name }}:{{ tag.name }}"
        " ({{ repo.tag_count }}: {{ repo.tags|map(attribute='name')|join(',') }})"
        "{% endfor %}"
    )
    site = tmp_path / "site"
    build_site(oracle_storage, site, templates_dir=templates)
    tags = json.loads((site / "v1/repositories/acme/web.frontend/tags/.index.json").read_text())
    page = (site / "images" / FRONTEND_IMAGE / "index.html").read_text()
    assert page.startswith(f"acme/web.frontend:1.0 ({len(tags)}: ")


def test_a_broken_template_fails_the_build_naming_it(oracle_storage: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "index.html").write_text('{% extends "base.html" %}\n{% block content %}\n'
                                          "{{ no_such_field }}\n{% endblock %}\n")
    site = tmp_path / "site"
    with pytest.raises(BuildError) as raised:
        build_site(oracle_storage, site, templates_dir=templates)
    message = str(raised.value)
    assert f"{templates / 'index.html'}: line 3:" in message
    assert "'no_such_field' is undefined" in message
    assert not site.exists()  # nothing published

    (templates / "index.html").write_text("{% block content %}")
    with pytest.raises(BuildError, match=r"index\.html: line 1: TemplateSyntaxError"):
        build_site(oracle_storage, site, templates_dir=templates)

    (templates / "index.html").write_text('{% include "_nope.html" %}')
    with pytest.raises(BuildError) as raised:
        build_site(oracle_storage, site, templates_dir=templates)
    assert str(raised.value) == (
        f"/: template not found: _nope.html (searched {templates}, {html.PROJECT_TEMPLATES})"
    )


def test_compiled_templates_are_remembered_and_follow_edits(
    oracle_storage: Path, tmp_path: Path
) -> None:
    """Builds reuse what earlier ones compiled: an edit shows at once, errors still name lines."""
    templates = tmp_path / "templates"
    templates.mkdir()
    page = templates / "index.html"
    site = tmp_path / "site"
    for text in ("first", "second", "first"):
        page.write_text(f"{{% block content %}}{text}{{% endblock %}}")
        build_site(oracle_storage, site, templates_dir=templates)
        assert (site / "index.html").read_text() == text
    page.write_text("{% extends 'base.html' %}\n\n{% block content %}{{ nope }}{% endblock %}")
    for _ in range(2):  # compiled, then remembered: the line is the same
        with pytest.raises(BuildError, match=r"index\.html: line 3: UndefinedError"):
            build_site(oracle_storage, site, templates_dir=templates)


def test_templates_compile_without_a_folder_to_remember_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "not-a-folder"))
    pages = html.Pages(Config(source=tmp_path, output=tmp_path / "site"))
    assert pages.env.bytecode_cache is None
    assert "<!DOCTYPE html>" in pages.render_not_found()


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("title: 5", "'title': expected a string, got 5 (an integer). Hint: put it in quotes."),
        ("base_url: registry/", "'base_url': expected a URL path such as '/' or '/registry/'"),
        ("registry_host: https://r.example", "'registry_host': expected a host such as"),
        ("templates_dir: nowhere", "'templates_dir': {dir}/nowhere is not a directory"),
    ],
)
def test_page_settings_are_checked(tmp_path: Path, yaml: str, message: str) -> None:
    from generator.config import load_config

    (tmp_path / "storage").mkdir()
    config = tmp_path / "sitegen.yaml"
    config.write_text(f"source: storage\n{yaml}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert message.format(dir=tmp_path) in str(raised.value)


def test_page_settings_are_read(tmp_path: Path) -> None:
    from generator.config import load_config

    (tmp_path / "storage").mkdir()
    (tmp_path / "mine").mkdir()
    config = tmp_path / "sitegen.yaml"
    config.write_text("source: storage\ntitle: Acme images\nbase_url: /registry\n"
                      "registry_host: r.example:5000\ntemplates_dir: mine\n")
    loaded = load_config(config)
    assert (loaded.title, loaded.base_url, loaded.registry_host) == (
        "Acme images", "/registry/", "r.example:5000"
    )
    assert loaded.templates_dir == tmp_path / "mine"


def test_templates_ship_in_the_wheel() -> None:
    """pyproject lists every package (so none is left out) and maps templates/ into the wheel."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    inits = (ROOT / "generator").rglob("__init__.py")
    packages = {".".join(p.parent.relative_to(ROOT).parts) for p in inits}
    assert set(setuptools["packages"]) == packages | {"generator.templates"}
    assert setuptools["package-dir"]["generator.templates"] == "templates"
    patterns = setuptools["package-data"]["generator.templates"]
    shipped = {str(p.relative_to(ROOT / "templates")) for p in (ROOT / "templates").rglob("*")
               if p.is_file()}
    assert all(any(Path(f).match(p) for p in patterns) for f in shipped), shipped
    assert html.PROJECT_TEMPLATES == ROOT / "templates"


# --- serving: `/` by Accept, and the 404 page -----------------------------------------------------

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
NOT_FOUND_PAGE_TEXT = b"Page not found"


def _check_root_and_404(base: str) -> None:
    page = get(base, "/", headers={"Accept": BROWSER_ACCEPT})
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert b"<h1>Repositories</h1>" in page.body
    assert "Accept" in page.headers["Vary"]
    for accept in (None, "*/*", "application/json"):
        doc = get(base, "/", headers={"Accept": accept} if accept else {})
        assert (doc.status, doc.body) == (200, v1_json.ROOT), accept
        assert doc.headers["Content-Type"] == "application/json"
        assert "Accept" in doc.headers["Vary"]
    missing = get(base, "/repositories/acme/nope/", headers={"Accept": BROWSER_ACCEPT})
    assert missing.status == 404
    assert missing.headers["Content-Type"].startswith("text/html")
    assert NOT_FOUND_PAGE_TEXT in missing.body
    api = get(base, "/v1/nope")
    assert (api.status, api.body) == (404, v1_json.NOT_FOUND_HTML)
    for url in ("/search/", WEB_SERVER, "/repositories/acme/web-server", "/static/site.css"):
        assert get(base, url).status == 200, url
    assert get(base, "/search-index/manifest.json").headers["Content-Type"].startswith(
        "application/json"
    )


def test_serve_answers_browsers_with_pages(oracle_serve: str) -> None:
    _check_root_and_404(oracle_serve)


@pytest.mark.nginx
def test_nginx_answers_browsers_with_pages(oracle_nginx: str) -> None:
    _check_root_and_404(oracle_nginx)
