"""The v2 fixtures: the real registry with the pushed fixture, its storage built into a site,
and that site behind `sitegen serve` and behind real nginx."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.report import Report
from tests.conftest import _serve, build_site
from tests.support.nginx import nginx_for_site
from tests.support.registry import Skopeo, registry_binary, running_registry, skopeo_binary
from tests.support.v2_fixture import Pushed, push_fixture


@dataclass(frozen=True)
class V2Registry:
    """The running real registry, the storage it wrote, and what was pushed."""

    base: str
    storage: Path
    pushed: Pushed


def _require_tools() -> None:
    missing = [
        what
        for what, found in (("docker-registry", registry_binary()), ("skopeo", skopeo_binary()))
        if found is None
    ]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing; scripts/install-test-deps.sh installs them")


@pytest.fixture(scope="session")
def skopeo(tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    _require_tools()
    return Skopeo(tmp_path_factory.mktemp("skopeo-home"))


@pytest.fixture(scope="session")
def v2_registry(tmp_path_factory: pytest.TempPathFactory, skopeo: Skopeo) -> Iterator[V2Registry]:
    """The real registry over a fresh storage, with the whole fixture pushed."""
    work = tmp_path_factory.mktemp("v2-registry")
    storage = work / "storage"
    with running_registry(storage, work / "registry") as base:
        pushed = push_fixture(base, skopeo, work / "layouts")
        yield V2Registry(base, storage, pushed)


@pytest.fixture(scope="session")
def v2_storage(v2_registry: V2Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the storage the registry wrote, taken after the push (safe to build from)."""
    copy = tmp_path_factory.mktemp("v2-storage") / "storage"
    shutil.copytree(v2_registry.storage, copy, symlinks=True)
    return copy


@pytest.fixture(scope="session")
def v2_built(v2_storage: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Report]:
    output = tmp_path_factory.mktemp("v2-site") / "site"
    _, report = build_site(v2_storage, output, include_layers=True)
    return output, report


@pytest.fixture(scope="session")
def v2_site(v2_built: tuple[Path, Report]) -> Path:
    site, report = v2_built
    assert not report.problems, report.problems
    return site


@pytest.fixture(scope="session")
def v2_serve(v2_site: Path) -> Iterator[str]:
    yield from _serve(v2_site)


@pytest.fixture(scope="session")
def v2_nginx(v2_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nginx_for_site(v2_site, tmp_path_factory.mktemp("v2-nginx")) as base:
        yield base


@pytest.fixture(scope="session", params=["serve", "nginx"])
def mirror(request: pytest.FixtureRequest) -> str:
    """The mirror's base URL, once from `sitegen serve` and once from nginx."""
    return str(request.getfixturevalue(f"v2_{request.param}"))
