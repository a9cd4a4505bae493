"""Replay every GET the real docker-registry 0.9.1 answered, against serve and real nginx.

Excluded, as the corpus README names them: values that depend on the request
or the clock (token signatures, `X-Docker-Endpoints`, `Expires`), the
original's 500s (we answer what it meant: `[]`), and `/v1/search` with a `q`
(tests/test_search_served.py). `/v1/search` without `q` compares as a set.
"""

from __future__ import annotations

import json

import pytest

from tests.support import oracle
from tests.support.http import Response, get

ANSWERS = [a for a in oracle.answers() if not a.path.startswith("/v1/search?")]
REQUEST_DEPENDENT = {"X-Docker-Token", "WWW-Authenticate", "X-Docker-Endpoints"}


def _check_answer(recorded: oracle.Recorded, got: Response) -> None:
    if recorded.status == 500:
        # 0.9.1 crashed on empty layers; it meant an empty file list.
        assert (got.status, got.body) == (200, b"[]"), recorded.path
        return
    assert got.status == recorded.status, recorded.path
    if recorded.path == "/v1/search":
        want, have = json.loads(recorded.body), json.loads(got.body)
        assert have["query"] == want["query"]
        assert have["num_results"] == want["num_results"]
        assert sorted(map(json.dumps, have["results"])) == sorted(map(json.dumps, want["results"]))
    else:
        assert got.body == recorded.body, recorded.path
    assert got.headers.get("Content-Type") == recorded.content_type, recorded.path


@pytest.mark.parametrize("recorded", ANSWERS, ids=[a.path[:90] for a in ANSWERS])
def test_serve_answers_like_0_9_1(oracle_serve: str, recorded: oracle.Recorded) -> None:
    got = get(oracle_serve, recorded.path, headers={"Host": "localhost:5000"})
    _check_answer(recorded, got)
    if recorded.status == 500:
        return
    for name, value in recorded.headers.items():
        want = value if isinstance(value, list) else [value]
        if name in REQUEST_DEPENDENT:
            assert len(got.all(name)) == 1, (recorded.path, name)
            continue
        assert got.all(name) == want, (recorded.path, name)


@pytest.mark.nginx
@pytest.mark.parametrize("recorded", ANSWERS, ids=[a.path[:90] for a in ANSWERS])
def test_nginx_answers_like_0_9_1(oracle_nginx: str, recorded: oracle.Recorded) -> None:
    _check_answer(recorded, get(oracle_nginx, recorded.path))


def test_serve_sends_request_dependent_headers_in_0_9_1_shape(oracle_serve: str) -> None:
    got = get(oracle_serve, "/v1/repositories/busybox/images", headers={"Host": "example:5000"})
    assert got.headers["X-Docker-Endpoints"] == "example:5000"
    token = got.headers["X-Docker-Token"]
    assert token == got.headers["WWW-Authenticate"]
    prefix, rest = token.split("=", 1)
    signature, tail = rest.split(",", 1)
    assert prefix == "Token signature"
    assert len(signature) == 16 and signature.isalnum() and signature.upper() == signature
    assert tail == 'repository="library/busybox",access=read'
