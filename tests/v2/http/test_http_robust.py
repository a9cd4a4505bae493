"""Paging, retries (429 with Retry-After, 5xx), a repository that keeps failing, a registry
that dies mid-crawl, and TLS with a private CA: all against the real registry."""

from __future__ import annotations

import logging
import math
import shutil
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.errors import BuildError
from tests.support.fault_proxy import Fault, FaultProxy, running_proxy
from tests.support.live_registry import LiveRegistry, live_registry
from tests.v2.http.conftest import (
    PASSWORD,
    USER,
    Certs,
    assert_same_site,
    http_build,
    site_files,
    v2_repositories,
)

CREDENTIALS = {"username": USER, "password": PASSWORD}


def test_catalog_and_tags_are_read_page_by_page(
    basic_registry: LiveRegistry,
    http_storage: Path,
    storage_site: Callable[[bool], Path],
    tmp_path: Path,
) -> None:
    """`_catalog?n=3` as the registry pages it, and `tags/list` paged by two as newer
    registries do (the proxy pages it: distribution 2.8 ignores `n` there)."""
    with running_proxy(FaultProxy(basic_registry.base, tags_page=2)) as proxy:
        _, report = http_build(proxy.base, tmp_path / "site", page_size=3, **CREDENTIALS)
    assert report.problems == []
    names = sorted(r.name for r in v2_repositories(http_storage))
    catalog = proxy.paths(contains="/_catalog")
    assert len(catalog) >= math.ceil(len(names) / 3)
    assert catalog[0] == "/v2/_catalog?n=3"
    second = "/v2/_catalog?" + urllib.parse.urlencode({"last": names[2], "n": 3})
    assert second in catalog  # the registry's own Link
    busybox = [p for p in proxy.paths(contains="/v2/busybox/tags/list")]
    assert "/v2/busybox/tags/list?n=2&last=1.0.1" in busybox  # 3 tags: two pages
    assert_same_site(tmp_path / "site", storage_site(False), http_storage, layers=False)


def test_429_and_5xx_are_retried(
    basic_registry: LiveRegistry,
    http_storage: Path,
    storage_site: Callable[[bool], Path],
    tmp_path: Path,
) -> None:
    """A 429 with Retry-After on the catalog, a 503 on every first tags/list, a 500 and a
    502 on manifests, a 504 on a blob: each is asked again, and the site is the same."""

    def rule(method: str, path: str, before: int) -> Fault | None:
        if before:
            return None
        if path.startswith("/v2/_catalog"):
            return Fault(429, {"Retry-After": "1"})
        if path.endswith("/tags/list?n=100"):
            return Fault(503)
        if path == "/v2/busybox/manifests/latest":
            return Fault(500)
        if "/org/team/app/manifests/" in path:
            return Fault(502)
        if "/library/alpine/blobs/" in path:
            return Fault(504)
        return None

    with running_proxy(FaultProxy(basic_registry.base, rule=rule)) as proxy:
        _, report = http_build(proxy.base, tmp_path / "site", retries=2, **CREDENTIALS)
    assert report.problems == []
    assert_same_site(tmp_path / "site", storage_site(False), http_storage, layers=False)
    injected = [e for e in proxy.log if e.injected]
    assert {e.status for e in injected} == {429, 500, 502, 503, 504}
    for fault in injected:  # each one was followed by the same request, answered
        again = [e for e in proxy.log if e.path == fault.path and e.at > fault.at]
        assert again and again[0].status in (200, 206), fault
    catalog = [e for e in proxy.log if e.path.startswith("/v2/_catalog")]
    assert catalog[1].at - catalog[0].at >= 1.0  # Retry-After: 1 was honoured


def test_a_failing_repository_is_left_out_under_the_threshold(
    basic_registry: LiveRegistry, http_storage: Path, tmp_path: Path
) -> None:
    """One repository of eight or so answering 500 forever: 12.5% failed. With
    max_failed_percent 20 the rest is published and the failure named; with 10 (the
    default) the build stops and yesterday's site stays."""

    def rule(method: str, path: str, before: int) -> Fault | None:
        return Fault(500) if path.startswith("/v2/charts/demo/") else None

    output = tmp_path / "site"
    with running_proxy(FaultProxy(basic_registry.base, rule=rule)) as proxy:
        result, report = http_build(
            proxy.base, output, retries=1, max_failed_percent=20, **CREDENTIALS
        )
        total = len(v2_repositories(http_storage))
        assert 5 <= total <= 9  # one is more than 10% and less than 20%
        assert result.repositories == total - 1
        (problem,) = report.problems
        assert problem.path == f"{proxy.base}/v2/charts/demo/"
        assert "could not be read, left out of this build" in problem.reason
        assert "500 Internal Server Error after 1 retries" in problem.reason
        before = site_files(output)
        with pytest.raises(BuildError, match=rf"1 of {total} repositories could not be read"):
            http_build(proxy.base, output, retries=1, **CREDENTIALS)
    assert site_files(output) == before
    assert not list(tmp_path.glob(".site.staging-*"))


def test_a_registry_that_dies_mid_crawl_leaves_the_site_alone(
    http_storage: Path, tmp_path: Path
) -> None:
    """The real registry is SIGKILLed after 15 requests (behind a front proxy that then
    answers 502): the crawl stops early, names the failures, and publishes nothing."""
    output = tmp_path / "site"
    storage = tmp_path / "storage"
    shutil.copytree(http_storage, storage, symlinks=True)
    with live_registry(storage, tmp_path / "registry") as registry:
        http_build(registry.base, output)  # yesterday's site
        before = site_files(output)
        proxy = FaultProxy(registry.base)
        proxy.before_forward = lambda number: registry.kill() if number == 15 else None
        with running_proxy(proxy), pytest.raises(BuildError) as caught:
            http_build(proxy.base, output, retries=1, parallel=2)
    message = str(caught.value)
    assert "repositories could not be read" in message
    assert "the crawl stopped and the site was not changed" in message
    assert "502 Bad Gateway after 1 retries" in message
    assert site_files(output) == before
    requested = len(proxy.log)
    assert requested < 40  # stopped early, not every remaining request tried and retried


def test_a_registry_that_is_down(http_storage: Path, tmp_path: Path) -> None:
    with live_registry(http_storage, tmp_path / "registry") as registry:
        registry.kill()
        with pytest.raises(BuildError, match=r"/v2/: connection refused \(after 1 retries\)"):
            http_build(registry.base, tmp_path / "site", retries=1)


def test_tls_with_a_private_ca(
    tls_registry: LiveRegistry,
    certs: Certs,
    http_storage: Path,
    storage_site: Callable[[bool], Path],
    tmp_path: Path,
) -> None:
    assert tls_registry.base.startswith("https://")
    with pytest.raises(BuildError, match=r"certificate verify failed.*http\.ca_bundle"):
        http_build(tls_registry.base, tmp_path / "refused")
    _, report = http_build(tls_registry.base, tmp_path / "site", ca_bundle=certs.ca.cert)
    assert report.problems == []
    assert_same_site(tmp_path / "site", storage_site(False), http_storage, layers=False)


def test_tls_verify_false_is_said(
    tls_registry: LiveRegistry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The CLI's tests leave "sitegen" with its own handler and without propagation.
    monkeypatch.setattr(logging.getLogger("sitegen"), "handlers", [caplog.handler])
    caplog.set_level(logging.WARNING, logger="sitegen")
    _, report = http_build(tls_registry.base, tmp_path / "site", tls_verify=False)
    assert report.problems == []
    assert "the registry's certificate is not checked" in caplog.text
