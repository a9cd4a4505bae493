"""`/v1/search?q=` through real HTTP: `sitegen serve`, and nginx proxying to it."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest

from generator.nginx import render
from tests.conftest import build_site
from tests.support import oracle
from tests.support.http import get
from tests.support.nginx import free_port, running_nginx
from tests.support.storage import image_id, write_image, write_repository

SEARCHES = [a for a in oracle.answers() if a.path.startswith("/v1/search?")]


def _q(path: str) -> str:
    """q as Flask decoded it: '+' is a space."""
    return urllib.parse.parse_qs(urllib.parse.urlsplit(path).query,
                                 keep_blank_values=True).get("q", [""])[0]


def _names(body: bytes) -> list[str]:
    return [r["name"] for r in json.loads(body)["results"]]


@pytest.mark.parametrize("recorded", SEARCHES, ids=[s.path[:60] for s in SEARCHES])
def test_every_recorded_search_is_answered_like_0_9_1(oracle_serve: str,
                                                      recorded: oracle.Recorded) -> None:
    got = get(oracle_serve, recorded.path)
    assert got.status == 200
    assert got.headers["Content-Type"] == "application/json"
    want, have = json.loads(recorded.body), json.loads(got.body)
    assert have["query"] == want["query"] == _q(recorded.path)
    assert have["num_results"] == len(have["results"])
    want_names, have_names = set(_names(recorded.body)), set(_names(got.body))
    if len(_q(recorded.path).split()) <= 1:
        assert have_names == want_names
        assert all(r["description"] is None for r in have["results"])
    else:
        assert have_names >= want_names


@pytest.fixture(scope="module")
def search_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search") / "storage"
    base = image_id("base")
    write_image(root, base, labels={"org.opencontainers.image.source": "https://git.example/app"})
    for name, tags in {
        "test/base-img": ["latest"],
        "acme/base": ["1.0", "PR-1234"],
        "acme/database": ["develop"],
        "other/imgbase": ["latest"],
        "zeta/base-tools": ["latest"],
    }.items():
        write_repository(root, name, dict.fromkeys(tags, base))
    output = root.parent / "site"
    build_site(root, output)
    return output


@pytest.fixture(scope="module")
def search_serve(search_site: Path):
    from tests.conftest import _serve

    yield from _serve(search_site)


def test_several_words_match_words_and_prefixes(search_serve: str) -> None:
    got = json.loads(get(search_serve, "/v1/search?q=base+img").body)
    assert "test/base-img" in _names(json.dumps(got).encode())
    assert got["query"] == "base img"


def test_ranking_exact_then_prefix_then_substring(search_serve: str) -> None:
    names = _names(get(search_serve, "/v1/search?q=base").body)
    # exact repository name, then name prefixes, then substrings, ties by name.
    assert names[0] == "acme/base"
    assert names.index("test/base-img") < names.index("acme/database")
    assert names.index("zeta/base-tools") < names.index("other/imgbase")


def test_tag_and_label_words_search_across_repositories(search_serve: str) -> None:
    assert _names(get(search_serve, "/v1/search?q=tag:PR-1234").body) == ["acme/base"]
    assert "acme/database" in _names(get(search_serve, "/v1/search?q=tag:develop").body)
    label = urllib.parse.quote("label:org.opencontainers.image.source=https://git.example/app")
    assert len(_names(get(search_serve, f"/v1/search?q={label}").body)) == 5


def test_n_and_page_are_ignored_without_paginate_as_in_0_9_1(search_serve: str) -> None:
    body = json.loads(get(search_serve, "/v1/search?q=base&n=2&page=2").body)
    assert body["num_results"] == len(body["results"]) == 5


def test_docker_search_gets_a_body_it_can_decode(search_serve: str) -> None:
    """What the Docker daemon sends: X-Docker-Token and n=1..100; it does no matching itself."""
    got = get(search_serve, "/v1/search?q=base&n=25", headers={"X-Docker-Token": "true"})
    assert got.status == 200
    body = json.loads(got.body)
    assert body["num_results"] == len(body["results"]) == 5
    assert set(body) == {"num_results", "query", "results"}


@pytest.mark.parametrize("q", ["a" * 10_000, "%" * 5000, "_%_%_" * 400, "*?()[]{}:\"~^\\",
                               "NOT base OR AND", "café ☃ 日本", "%00", "tag:", "label:"])
def test_hostile_queries_are_harmless_and_bounded(search_serve: str, q: str) -> None:
    started = time.monotonic()
    got = get(search_serve, "/v1/search?q=" + urllib.parse.quote(q))
    assert time.monotonic() - started < 2.0
    assert got.status == 200
    body = json.loads(got.body)
    assert len(body["query"]) <= 1024
    assert body["num_results"] == len(body["results"])


def test_paginate_honours_n_and_page_docker_hub_style(search_site: Path) -> None:
    from tests.conftest import _serve

    server = _serve(search_site, paginate=True)
    base = next(server)
    try:
        body = json.loads(get(base, "/v1/search?q=base&n=2&page=2").body)
        assert (body["page"], body["page_size"], body["num_pages"]) == (2, 2, 3)
        assert len(body["results"]) == 2
        assert body["num_results"] == 5
    finally:
        server.close()


@pytest.mark.nginx
def test_nginx_proxies_searches_with_q_to_sitegen_serve(search_site: Path, search_serve: str,
                                                        tmp_path: Path) -> None:
    block = render(search_site, f"127.0.0.1:{free_port()}", search_upstream=search_serve)
    with running_nginx(block, tmp_path / "nginx") as base:
        proxied = get(base, "/v1/search?q=tag:develop")
        assert _names(proxied.body) == ["acme/database"]
        static = json.loads(get(base, "/v1/search").body)
        assert static["num_results"] == 5


def test_a_running_server_searches_the_site_a_rebuild_swapped_in(tmp_path: Path) -> None:
    from tests.conftest import _serve

    root = tmp_path / "storage"
    iid = image_id("x")
    write_image(root, iid)
    write_repository(root, "acme/first", {"latest": iid})
    output = tmp_path / "site"
    build_site(root, output)
    server = _serve(output)
    base = next(server)
    try:
        assert _names(get(base, "/v1/search?q=acme").body) == ["acme/first"]
        write_repository(root, "acme/second", {"latest": iid})
        build_site(root, output)
        assert _names(get(base, "/v1/search?q=acme").body) == ["acme/first", "acme/second"]
    finally:
        server.close()
