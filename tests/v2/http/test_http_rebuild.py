"""Rebuilds: a `HEAD` per tag, and a `GET` only for what changed or is not cached."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from generator.sources.http_cache import cache_dir
from tests.support import v2_images
from tests.support.fault_proxy import FaultProxy, running_proxy
from tests.support.live_registry import LiveRegistry, htpasswd_auth, live_registry
from tests.support.registry import Skopeo
from tests.support.v2_fixture import busybox
from tests.v2.http.conftest import (
    PASSWORD,
    USER,
    USERS,
    assert_same_site,
    http_build,
    site_files,
    v2_repositories,
)

CREDENTIALS = {"username": USER, "password": PASSWORD}


def _gets(proxy: FaultProxy, kind: str) -> list[str]:
    return sorted(p for p in proxy.paths("GET") if f"/{kind}/" in p)


def test_only_changed_manifests_are_fetched_again(
    http_storage: Path, skopeo: Skopeo, tmp_path: Path
) -> None:
    storage = tmp_path / "storage"
    shutil.copytree(http_storage, storage, symlinks=True)
    output = tmp_path / "site"
    work = tmp_path / "registry"
    with (
        live_registry(storage, work, auth=htpasswd_auth(work, USERS)) as registry,
        running_proxy(FaultProxy(registry.base)) as proxy,
    ):
        http_build(proxy.base, output, **CREDENTIALS)
        first = site_files(output)
        repositories = v2_repositories(storage)
        tags = sum(len(r.tags) for r in repositories)
        children = sum(
            len({c.digest for t in r.tags for c in r.manifest(t.digest).children})
            for r in repositories
        )
        assert len(_gets(proxy, "manifests")) == tags + children

        proxy.clear()
        _, report = http_build(proxy.base, output, **CREDENTIALS)
        assert report.problems == []
        assert _gets(proxy, "manifests") == [] and _gets(proxy, "blobs") == []
        assert len(proxy.paths("HEAD", contains="/manifests/")) == tags  # one per tag
        assert site_files(output) == first

        # A new busybox:latest, pushed with skopeo as another user.
        newer = busybox("1.0.2")
        layout = v2_images.write_dir_layout(newer, tmp_path / "layout")
        host = registry.base.removeprefix("http://")
        skopeo.run(
            "copy", "--dest-tls-verify=false", "--dest-creds", f"pusher:{USERS['pusher']}",
            f"dir:{layout}", f"docker://{host}/busybox:latest",
        )
        proxy.clear()
        _, report = http_build(proxy.base, output, **CREDENTIALS)
        assert report.problems == []
        assert _gets(proxy, "manifests") == ["/v2/busybox/manifests/latest"]
        new_blobs = {b.digest for b in newer.blobs} - {
            b.digest for b in busybox("1.0.1").blobs
        }
        assert sorted(p.rsplit("/", 1)[1] for p in _gets(proxy, "blobs")) == sorted(new_blobs)
        assert (output / "v2/busybox/manifests/latest.dmv2").read_bytes() == newer.manifest
        assert (output / "v2/busybox/manifests/1.0.1.dmv2").read_bytes() == first[
            "v2/busybox/manifests/1.0.1.dmv2"
        ]

        # A damaged cache file is noticed, dropped and fetched again.
        cached = cache_dir(output) / "blobs" / newer.digest.removeprefix("sha256:")
        cached.write_bytes(b"{}")
        proxy.clear()
        _, report = http_build(proxy.base, output, **CREDENTIALS)
        assert report.problems == []
        assert _gets(proxy, "manifests") == ["/v2/busybox/manifests/latest"]
        assert (output / "v2/busybox/manifests/latest.dmv2").read_bytes() == newer.manifest

    # Blobs no longer used are pruned from the cache (the old busybox:latest is 1.0.1's).
    kept = {p.name for p in (cache_dir(output) / "blobs").iterdir()}
    assert newer.digest.removeprefix("sha256:") in kept


def test_dropping_include_layers_keeps_the_pages_and_frees_the_cache(
    basic_registry: LiveRegistry,
    http_storage: Path,
    storage_site: Callable[[bool], Path],
    tmp_path: Path,
) -> None:
    """Layers cached whole by one build give the next build (without layers) their first
    bytes; the whole layers are then dropped from the cache."""
    output = tmp_path / "site"
    http_build(basic_registry.base, output, include_layers=True, **CREDENTIALS)
    blobs = cache_dir(output) / "blobs"
    with_layers = sum(p.stat().st_size for p in blobs.iterdir())
    _, report = http_build(basic_registry.base, output, **CREDENTIALS)
    assert report.problems == []
    assert_same_site(output, storage_site(False), http_storage, layers=False)
    assert sum(p.stat().st_size for p in blobs.iterdir()) < with_layers
    assert len(list((cache_dir(output) / "heads").iterdir())) > 0
