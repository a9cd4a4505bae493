"""Named fixtures over one builder: storage trees, built sites, running servers."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from generator.build import BuildResult, build
from generator.config import Config
from generator.report import Report
from generator.serve import make_site_server
from tests.support import oracle
from tests.support.nginx import nginx_for_site
from tests.support.s3 import S3Server, running_seaweedfs


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
    with nginx_for_site(oracle_site, tmp_path_factory.mktemp("nginx")) as base:
        yield base


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS) on free loopback ports, for `sitegen publish`."""
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    """The server, with the publisher's credentials where boto3's default chain finds them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return s3_server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    """A new, empty bucket on the S3 server."""
    name = f"site-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def sitegen_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    """`caplog` of the `sitegen` logger at INFO, even after a CLI test stopped its propagation
    (`cli._init_logging`)."""
    monkeypatch.setattr(logging.getLogger("sitegen"), "propagate", True)
    with caplog.at_level(logging.INFO, logger="sitegen"):
        yield caplog
