"""Named fixtures over one builder: storage trees, built sites, running servers."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from generator.build import BuildResult, build
from generator.config import Config
from generator.nginx import render
from generator.report import Report
from generator.serve import make_site_server
from tests.support import oracle
from tests.support.nginx import NGINX, free_port, running_nginx


def build_site(source: Path, output: Path, **options: object) -> tuple[BuildResult, Report]:
    """Build `source` into `output` with config `options`; return the result and problems."""
    report = Report()
    config = Config(source=source, output=output, **options)  # type: ignore[arg-type]
    return build(config, report), report


@pytest.fixture(scope="session")
def oracle_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return oracle.unpack_storage(tmp_path_factory.mktemp("oracle"))


@pytest.fixture(scope="session")
def oracle_site(oracle_storage: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The oracle built as 0.9.1 served it: private repositories and layers included."""
    output = tmp_path_factory.mktemp("oracle-site") / "site"
    _, report = build_site(oracle_storage, output, include_private=True, include_layers=True)
    # The two tags 0.9.1 lists without an image: a hand-edited one, and the metadata
    # file `tag_valid_json` that its listing mistakes for a tag.
    dangling = sorted(Path(p.path).name for p in report.problems if p.kind == "dangling")
    assert dangling == ["tag_old", "tag_valid_json"], report.problems
    assert len(report.problems) == 2, report.problems
    return output


def _serve(site: Path, **kwargs: object) -> Iterator[str]:
    server = make_site_server(site, "127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        server.get_app().close()


@pytest.fixture(scope="session")
def oracle_serve(oracle_site: Path) -> Iterator[str]:
    """`sitegen serve` over the oracle site, on a free loopback port."""
    yield from _serve(oracle_site)


@pytest.fixture
def serve_site() -> Callable[..., Iterator[str]]:
    return _serve


@pytest.fixture(scope="session")
def oracle_nginx(oracle_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Real nginx with the block `sitegen nginx-config` prints for the oracle site."""
    if shutil.which("nginx") is None and not Path(NGINX).exists():
        pytest.fail("nginx is not installed; .ci/run installs it (apt-get install nginx-light)")
    block = render(oracle_site, f"127.0.0.1:{free_port()}")
    with running_nginx(block, tmp_path_factory.mktemp("nginx")) as base:
        yield base
