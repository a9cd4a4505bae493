"""Credentials: Basic from the config, the environment or a Docker config.json; the token
flow with caching and refresh; clear fatal errors; and no secret anywhere it could leak."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from generator.errors import BuildError, ConfigError
from generator.sources.http_auth import (
    Authenticator,
    Challenge,
    Credentials,
    find_credentials,
    parse_challenge,
)
from generator.sources.http_cache import cache_dir
from tests.support.fault_proxy import FaultProxy, running_proxy
from tests.support.live_registry import LiveRegistry, live_registry, token_auth
from tests.support.tls_certs import make_signing_pair
from tests.support.token_server import TokenServer
from tests.v2.http.conftest import PASSWORD, USER, Certs, http_build, token_registry


@pytest.fixture
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SITEGEN_REGISTRY_* and no ~/.docker/config.json of the machine running the tests."""
    monkeypatch.delenv("SITEGEN_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("SITEGEN_REGISTRY_PASSWORD", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))


def _published(output: Path) -> bool:
    return (output / "v2" / "_catalog").is_file()


@pytest.mark.usefixtures("no_ambient_credentials")
def test_anonymous_is_refused_and_nothing_changes(
    basic_registry: LiveRegistry, tmp_path: Path
) -> None:
    output = tmp_path / "site"
    output.mkdir()
    (output / "yesterday.txt").write_text("the old site")
    with pytest.raises(BuildError, match=r"wants a user and password; set http\.username"):
        http_build(basic_registry.base, output)
    assert [p.name for p in output.iterdir()] == ["yesterday.txt"]


@pytest.mark.usefixtures("no_ambient_credentials")
def test_a_wrong_password_is_named_not_shown(basic_registry: LiveRegistry, tmp_path: Path) -> None:
    with pytest.raises(BuildError) as caught:
        http_build(basic_registry.base, tmp_path / "site", username=USER, password="wrong-secret")
    message = str(caught.value)
    assert "credentials from sitegen.yaml (http.username) were refused" in message
    assert "wrong-secret" not in message


@pytest.mark.usefixtures("no_ambient_credentials")
def test_credentials_from_the_environment(
    basic_registry: LiveRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITEGEN_REGISTRY_USERNAME", USER)
    monkeypatch.setenv("SITEGEN_REGISTRY_PASSWORD", PASSWORD)
    # The environment wins over a wrong password in the file.
    _, report = http_build(basic_registry.base, tmp_path / "site", password="stale")
    assert report.problems == []
    assert _published(tmp_path / "site")


@pytest.mark.usefixtures("no_ambient_credentials")
def test_credentials_from_a_docker_config(
    basic_registry: LiveRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docker"
    folder.mkdir()
    host = basic_registry.base.removeprefix("http://")
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auths = {"other.example": {"auth": "eDp5"}, f"https://{host}/v1/": {"auth": auth}}
    (folder / "config.json").write_text(json.dumps({"auths": auths}))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    _, report = http_build(basic_registry.base, tmp_path / "a")
    assert report.problems == [] and _published(tmp_path / "a")
    # The same file named with http.docker_config, DOCKER_CONFIG pointing elsewhere.
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nothing-here"))
    _, report = http_build(
        basic_registry.base, tmp_path / "b", docker_config=folder / "config.json"
    )
    assert report.problems == [] and _published(tmp_path / "b")


def test_credential_sources_in_order(tmp_path: Path) -> None:
    from generator.config import HttpConfig

    docker = tmp_path / "config.json"
    auths = {"reg.example:5000": {"username": "d", "password": "p"}}
    docker.write_text(json.dumps({"auths": auths}))
    options = HttpConfig(username="file", password="file-pw", docker_config=docker)
    env = {"SITEGEN_REGISTRY_USERNAME": "env", "SITEGEN_REGISTRY_PASSWORD": "env-pw"}
    url = "https://reg.example:5000"
    assert find_credentials(options, url, env) == Credentials("env", "env-pw", "the environment")
    found = find_credentials(options, url, {})
    assert found is not None and (found.username, found.origin) == (
        "file",
        "sitegen.yaml (http.username)",
    )
    found = find_credentials(HttpConfig(docker_config=docker), url, {})
    assert found is not None and (found.username, found.password) == ("d", "p")
    assert find_credentials(HttpConfig(docker_config=docker), "https://other.example", {}) is None
    with pytest.raises(ConfigError, match="has no password"):
        find_credentials(HttpConfig(username="someone"), url, {})
    assert "file-pw" not in repr(options) and "env-pw" not in repr(found)


def test_tokens_refused_after_a_key_rotation_are_fetched_again(
    http_storage: Path, certs: Certs, tmp_path: Path
) -> None:
    """Mid-crawl the token server signs with a new key and the registry (restarted) trusts
    only that one: the cached tokens are refused, and the crawler fetches new ones and goes on."""
    new_signing, new_key, new_der = make_signing_pair(tmp_path / "new-key")
    with ExitStack() as stack:
        old, server = stack.enter_context(token_registry(http_storage, tmp_path / "old", certs))
        proxy = FaultProxy(old.base)

        def rotate(number: int) -> None:
            if number != 12:
                return
            auth = token_auth(server, new_signing)
            new = stack.enter_context(live_registry(http_storage, tmp_path / "new", auth=auth))
            server.rotate(new_key, new_der)
            proxy.upstream = new.base
            old.kill()

        proxy.before_forward = rotate
        stack.enter_context(running_proxy(proxy))
        _, report = http_build(
            proxy.base, tmp_path / "site", username=USER, password=PASSWORD, parallel=1
        )
    assert report.problems == []
    assert server.tokens_for("repository:busybox:pull") == 2  # before and after the rotation
    refused = [e for e in proxy.log if e.status == 401]
    assert len(refused) > 1  # the ping's challenge, then tokens of the old key


def test_anonymous_pulls_without_the_catalog_scope(
    http_storage: Path, certs: Certs, tmp_path: Path, no_ambient_credentials: None
) -> None:
    """A registry that lets anyone pull but not list: the catalog is refused, the build stops."""
    with token_registry(http_storage, tmp_path / "registry", certs, anonymous_pull=True) as pair:
        registry, _ = pair
        with pytest.raises(BuildError, match=r"registry:catalog:\* scope"):
            http_build(registry.base, tmp_path / "site")


def test_token_cache_refreshes_before_expiry() -> None:
    """Tokens are reused until shortly before `expires_in` runs out (a clock the test moves)."""
    now = [1000.0]
    fetched: list[list[tuple[str, str]]] = []

    class Answer:
        status_code = 200

        def __init__(self, number: int) -> None:
            self.number = number

        def json(self) -> dict[str, object]:
            return {"token": f"token-{self.number}", "expires_in": 60}

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    def fetch(realm: str, params: list[tuple[str, str]], authorization: str | None) -> Answer:
        fetched.append(params)
        return Answer(len(fetched))

    auth = Authenticator("https://reg.example", None, fetch, clock=lambda: now[0])
    challenge = parse_challenge(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"'
    )
    assert auth.answer(challenge, "repository:a:pull", refused=None) == "Bearer token-1"
    assert auth.header("repository:a:pull") == "Bearer token-1"
    now[0] += 49  # 60 s minus a margin of 10 s: still good
    assert auth.header("repository:a:pull") == "Bearer token-1"
    now[0] += 2
    assert auth.header("repository:a:pull") == "Bearer token-2"
    # Another scope gets its own token from the same realm, without a 401 first.
    assert auth.header("repository:b:pull") == "Bearer token-3"
    assert fetched[-1] == [("service", "reg"), ("scope", "repository:b:pull")]
    # A refused token is dropped and fetched again.
    assert auth.answer(challenge, "repository:a:pull", refused="Bearer token-2") == "Bearer token-4"


def test_challenges_are_parsed() -> None:
    bearer = parse_challenge(
        'Bearer realm="https://a.example/token?x=1",service="reg, one",scope="repository:n:pull"'
    )
    assert bearer == Challenge(
        "bearer",
        {
            "realm": "https://a.example/token?x=1",
            "service": "reg, one",
            "scope": "repository:n:pull",
        },
    )
    basic = parse_challenge('Basic realm="x \\"quoted\\""')
    assert basic == Challenge("basic", {"realm": 'x "quoted"'})
    assert parse_challenge(None) is None


def test_no_secret_in_logs_output_or_cache(
    token_pair: tuple[LiveRegistry, TokenServer], tmp_path: Path
) -> None:
    """The CLI at its most verbose, credentials in the environment: no password, Basic header
    or token in what it prints, publishes or caches."""
    registry, server = token_pair
    (tmp_path / "sitegen.yaml").write_text(f"source: {registry.base}\nhttp:\n  username: {USER}\n")
    env = {
        **os.environ,
        "SITEGEN_REGISTRY_PASSWORD": PASSWORD,
        "DOCKER_CONFIG": str(tmp_path / "none"),
    }
    before = len(server.issued)
    done = subprocess.run(
        [sys.executable, "-m", "generator", "build", "-vv"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"crawled http://127.0.0.1" in done.stderr
    tokens = server.issued[before:]
    assert tokens
    secrets = [
        PASSWORD.encode(),
        base64.b64encode(f"{USER}:{PASSWORD}".encode()),
        *(t.encode() for t in tokens),
        *(t.split(".")[2].encode() for t in tokens),  # a signature alone
    ]
    places = {"stdout": done.stdout, "stderr": done.stderr}
    for folder in (tmp_path / "site", cache_dir(tmp_path / "site")):
        for path in folder.rglob("*"):
            if path.is_file():
                places[str(path)] = path.read_bytes()
    leaks = [(where, s[:12]) for where, data in places.items() for s in secrets if s in data]
    assert leaks == []
