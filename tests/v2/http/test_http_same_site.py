"""Crawling the real registry over HTTP gives the site a crawl of its storage gives.

Byte for byte, with one documented difference: manifests no tag reaches (the
children of an overwritten index here) are only in storage, since the v2 API
cannot list them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from generator import paths
from generator.sources.http_cache import cache_dir
from tests.support.live_registry import LiveRegistry
from tests.support.token_server import TokenServer
from tests.v2.http.conftest import (
    PASSWORD,
    USER,
    assert_same_site,
    http_build,
    site_files,
    v2_repositories,
)


def test_basic_auth_with_layers_is_the_storage_site(
    basic_registry: LiveRegistry,
    http_storage: Path,
    storage_site: Callable[[bool], Path],
    tmp_path: Path,
) -> None:
    output = tmp_path / "site"
    result, report = http_build(
        basic_registry.base, output, include_layers=True, username=USER, password=PASSWORD
    )
    assert report.problems == []
    assert result.repositories == len(v2_repositories(http_storage))
    assert_same_site(output, storage_site(True), http_storage, layers=True)
    # Published blobs are hard links into the cache beside the output, never copies.
    config = next((output / "v2" / "busybox" / "blobs").iterdir())
    cached = cache_dir(output) / "blobs" / config.name.removeprefix("sha256:")
    assert config.samefile(cached)


def test_token_auth_without_layers_is_the_storage_site(
    token_pair: tuple[LiveRegistry, TokenServer],
    http_storage: Path,
    storage_site: Callable[[bool], Path],
    tmp_path: Path,
) -> None:
    registry, server = token_pair
    output = tmp_path / "site"
    _, report = http_build(registry.base, output, username=USER, password=PASSWORD)
    assert report.problems == []
    assert_same_site(output, storage_site(False), http_storage, layers=False)
    # The pages say "compressed" as for storage, from the first bytes of each layer only.
    files = site_files(output)
    assert not [f for f in files if f.endswith("/layer")]
    cache = cache_dir(output)
    assert {p.stat().st_size for p in (cache / "heads").iterdir()} == {64}
    # One token per scope: the catalog, and each repository (the ping needs none).
    scopes = sorted({scope for r in server.requests for scope in r["scopes"]})
    assert "registry:catalog:*" in scopes
    repositories = [f"repository:{r.name}:pull" for r in v2_repositories(http_storage)]
    assert scopes == sorted([*repositories, "registry:catalog:*"])


def test_the_v2_documents_match_the_registry_answers(
    basic_registry: LiveRegistry, tmp_path: Path
) -> None:
    """Every manifest published by tag is what the registry itself answers for that tag."""
    import requests

    output = tmp_path / "site"
    http_build(basic_registry.base, output, username=USER, password=PASSWORD)
    auth = (USER.encode(), PASSWORD.encode())  # UTF-8, as Docker sends it (requests: latin-1)
    for relpath in site_files(output):
        url = paths.url_for_file(relpath)
        if url is None or "/manifests/" not in url or "sha256:" in url:
            continue
        answer = requests.get(
            basic_registry.base + url,
            auth=auth,
            headers={"Accept": ", ".join(paths.V2_MANIFEST_SUFFIXES)},
            timeout=10,
        )
        assert answer.status_code == 200, url
        assert answer.content == (output / relpath).read_bytes(), url
