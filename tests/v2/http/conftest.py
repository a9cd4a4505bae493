"""The HTTP crawl's fixtures: the real registry serving the pushed fixture's storage with
htpasswd Basic auth, behind the test token server, and over TLS; the storage site to compare
with; and helpers to build over HTTP and compare two sites file by file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator import paths
from generator.build import BuildResult
from generator.config import HttpConfig
from generator.report import Report
from generator.sources import v2
from tests.conftest import build_site
from tests.support.live_registry import LiveRegistry, htpasswd_auth, live_registry, token_auth
from tests.support.tls_certs import KeyPair, make_ca_and_server, make_signing_pair
from tests.support.token_server import TokenServer, running_token_server
from tests.v2.conftest import V2Registry

USER = "crawler"
PASSWORD = "pa55-Wörd:with-colon"
"""Distinctive, so that a leak is easy to find."""
USERS = {USER: PASSWORD, "pusher": "push-pa55"}


@pytest.fixture(scope="session")
def http_storage(v2_registry: V2Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the pushed storage that the HTTP tests' registries serve (read only)."""
    copy = tmp_path_factory.mktemp("http-storage") / "storage"
    shutil.copytree(v2_registry.storage, copy, symlinks=True)
    return copy


@pytest.fixture(scope="session")
def storage_site(
    http_storage: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[bool], Path]:
    """The site of a storage crawl of `http_storage`, with or without layers (built once each)."""
    built: dict[bool, Path] = {}

    def site(include_layers: bool) -> Path:
        if include_layers not in built:
            output = tmp_path_factory.mktemp(f"storage-site-{include_layers}") / "site"
            _, report = build_site(http_storage, output, include_layers=include_layers)
            assert not report.problems, report.problems
            built[include_layers] = output
        return built[include_layers]

    return site


@dataclass(frozen=True)
class Certs:
    ca: KeyPair
    server: KeyPair
    signing: KeyPair
    signing_key: Any
    signing_der: bytes


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("certs")
    ca, server = make_ca_and_server(folder)
    signing, key, der = make_signing_pair(folder)
    return Certs(ca, server, signing, key, der)


@pytest.fixture(scope="session")
def basic_registry(
    http_storage: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveRegistry]:
    """The real registry with htpasswd Basic auth over the fixture's storage."""
    work = tmp_path_factory.mktemp("basic-registry")
    with live_registry(http_storage, work, auth=htpasswd_auth(work, USERS)) as registry:
        yield registry


@contextmanager
def token_registry(
    storage: Path, workdir: Path, certs: Certs, **server_options: Any
) -> Iterator[tuple[LiveRegistry, TokenServer]]:
    """The real registry in `auth: token` mode, and the test token server it trusts."""
    server = TokenServer(certs.signing_key, certs.signing_der, USERS, **server_options)
    with (
        running_token_server(server),
        live_registry(storage, workdir, auth=token_auth(server, certs.signing)) as registry,
    ):
        yield registry, server


@pytest.fixture(scope="session")
def token_pair(
    http_storage: Path, certs: Certs, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveRegistry, TokenServer]]:
    with token_registry(http_storage, tmp_path_factory.mktemp("token-registry"), certs) as pair:
        yield pair


@pytest.fixture(scope="session")
def tls_registry(
    http_storage: Path, certs: Certs, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveRegistry]:
    """The real registry serving TLS with a certificate of the test CA (anonymous)."""
    with live_registry(
        http_storage, tmp_path_factory.mktemp("tls-registry"), tls=certs.server
    ) as registry:
        yield registry


# --- building and comparing ----------------------------------------------------------------------


def http_build(
    base: str, output: Path, *, include_layers: bool = False, **http: Any
) -> tuple[BuildResult, Report]:
    """Build the registry at `base` over HTTP into `output`, with `http:` options."""
    return build_site(  # type: ignore[arg-type]
        base, output, include_layers=include_layers, http=HttpConfig(**http)
    )


def v2_repositories(storage: Path) -> list[Any]:
    """The `V2Repository`s of a storage crawl, to count what the HTTP crawl must fetch."""
    return [r.v2 for r in v2.crawl(storage, Report()).repositories if r.v2 is not None]


def site_files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def untagged_only(storage: Path, include_layers: bool) -> set[str]:
    """Files only a storage crawl publishes: manifests that no tag reaches (the API cannot
    list them), and the blobs that only those manifests use."""
    only: set[str] = set()
    for repo in v2_repositories(storage):
        reachable: set[str] = set()
        stack = [tag.digest for tag in repo.tags]
        while stack:
            digest = stack.pop()
            manifest = repo.manifest(digest)
            if digest in reachable or manifest is None:
                continue
            reachable.add(digest)
            stack.extend(child.digest for child in manifest.children)

        def blobs(manifest: Any) -> set[str]:
            found = [manifest.config, *(manifest.layers if include_layers else ())]
            return {b.digest for b in found if b is not None and b.path is not None}

        kept = set().union(*(blobs(repo.manifest(d)) for d in reachable))
        for manifest in repo.manifests:
            if manifest.digest in reachable:
                continue
            only.add(paths.v2_manifest_file(repo.name, manifest.digest, manifest.media_type))
            only.update(paths.v2_url(repo.name, "blobs", d) for d in blobs(manifest) - kept)
    return only


def assert_same_site(http_site: Path, storage_site: Path, storage: Path, layers: bool) -> None:
    """Byte for byte, but for what the API cannot show (`untagged_only`)."""
    over_http, from_storage = site_files(http_site), site_files(storage_site)
    expected_missing = untagged_only(storage, layers)
    assert expected_missing, "the fixture has untagged manifests: the difference is tested"
    assert sorted(set(over_http) - set(from_storage)) == []
    assert sorted(set(from_storage) - set(over_http)) == sorted(expected_missing)
    differ = [
        name
        for name, data in over_http.items()
        if data != from_storage[name]
        and name not in (paths.MEDIA_TYPES, paths.CHANGES_JSON, paths.CHANGES_FEED)
    ]
    assert differ == []
    types = json.loads(from_storage[paths.MEDIA_TYPES])
    for name in expected_missing:
        types.pop(paths.url_for_file(name), None)
    assert json.loads(over_http[paths.MEDIA_TYPES]) == types
