"""`sitegen serve` over real HTTP: read-only, never outside the output, 0.9.1's extras."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.http import get, wait_until_up

LAYER_IMAGE = "5e15580bf1e5d53ec317bbc7036d61343772f777e0e2824d89eccd1a85eaab2d"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get_and_head_are_answered(oracle_serve: str, method: str) -> None:
    got = get(oracle_serve, "/v1/_ping", method=method)
    assert got.status == 405
    assert got.headers["Allow"] == "GET, HEAD"


def test_head_sends_headers_without_a_body(oracle_serve: str) -> None:
    got = get(oracle_serve, f"/v1/images/{LAYER_IMAGE}/json", method="HEAD")
    assert got.status == 200
    assert got.body == b""
    assert got.headers["X-Docker-Size"] == "10752"


@pytest.mark.parametrize(
    "path",
    [
        "/../../etc/passwd",
        "/v1/../../../etc/passwd",
        "/v1/%2e%2e/%2e%2e/etc/passwd",
        "/v1/images/%2E%2E/json",
        "/.sitegen/defaults/properties.json",
        "/%2esitegen/errors/not-found.html",
        "/v1/repositories/acme/web-server/tags/.index.json",
        "/v1/%00/json",
    ],
)
def test_nothing_outside_the_published_urls_is_served(oracle_serve: str, path: str) -> None:
    got = get(oracle_serve, path)
    assert got.status == 404
    assert b"root:" not in got.body


def test_a_symlink_out_of_the_output_is_refused(tmp_path: Path, serve_site) -> None:
    site = tmp_path / "site"
    (site / "v1").mkdir(parents=True)
    (site / "v1" / "_ping").write_text("{}")
    secret = tmp_path / "secret"
    secret.write_text("do not serve")
    (site / "v1" / "search").symlink_to(secret)
    server = serve_site(site)
    base = next(server)
    assert get(base, "/v1/_ping").status == 200
    got = get(base, "/v1/search")
    assert got.status == 404 and b"do not serve" not in got.body
    server.close()


def test_layer_ranges_as_0_9_1_sent_them(oracle_serve: str) -> None:
    got = get(oracle_serve, f"/v1/images/{LAYER_IMAGE}/layer", headers={"Range": "bytes=0-99"})
    assert got.status == 206
    assert len(got.body) == 100
    assert got.headers["Content-Range"] == "0-99/10752"
    assert get(oracle_serve, f"/v1/images/{LAYER_IMAGE}/layer",
               headers={"Range": "bytes=99999-"}).status == 416


def test_if_modified_since_answers_304_on_image_routes(oracle_serve: str) -> None:
    got = get(oracle_serve, f"/v1/images/{LAYER_IMAGE}/json",
              headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert got.status == 304 and got.body == b""


def test_image_routes_expire_in_a_year(oracle_serve: str) -> None:
    from email.utils import parsedate_to_datetime

    got = get(oracle_serve, f"/v1/images/{LAYER_IMAGE}/ancestry")
    expires = parsedate_to_datetime(got.headers["Expires"])
    date = parsedate_to_datetime(got.headers["Date"])
    assert 364 <= (expires - date).days <= 366
    assert get(oracle_serve, "/v1/_ping").headers["Expires"] == "-1"


def test_unknown_repository_json_is_the_default_object(oracle_serve: str) -> None:
    got = get(oracle_serve, "/v1/repositories/never/pushed/tags/x/json")
    assert got.status == 200
    assert b'"os": "linux"' in got.body


def test_users_redirects_like_werkzeug(oracle_serve: str) -> None:
    got = get(oracle_serve, "/v1/users", headers={"Host": "reg.example:5000"})
    assert got.status == 301
    assert got.headers["Location"] == "http://reg.example:5000/v1/users/"


def test_cli_serve_runs_on_a_free_port(oracle_site: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator", "serve", "--output", str(oracle_site),
         "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=oracle_site.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        assert get(base, "/v1/_ping").headers["X-Docker-Registry-Standalone"] == "True"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/" in out
