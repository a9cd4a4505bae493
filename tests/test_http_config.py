"""config.py for a registry given by URL: `source: https://…`, `source_type: http` and the
`http:` section; every message checked as the full text a cron user reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.config import Config, HttpConfig, load_config
from generator.errors import ConfigError
from generator.sources import crawler_for
from tests.test_config import errors_of, write_config


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding `registry/` (a storage root); it is the cwd."""
    (tmp_path / "registry").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://Registry.Example.com", "https://registry.example.com"),
        ("https://registry.example.com:5000/", "https://registry.example.com:5000"),
        ("https://registry.example.com/v2/", "https://registry.example.com"),
        ("http://127.0.0.1:5000/mirror/v2", "http://127.0.0.1:5000/mirror"),
    ],
)
def test_a_url_source_is_kept_as_the_registry_base(root: Path, given: str, kept: str) -> None:
    write_config(root, f"source: {given}\n")
    config = load_config(Path("sitegen.yaml"))
    assert config.source == kept and config.source_url == kept
    assert config.output == root / "site"
    assert Config(source=given).source_url == kept


def test_the_http_section(root: Path) -> None:
    (root / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    write_config(
        root,
        "source: https://registry.example.com\n"
        "source_type: http\n"
        "http:\n"
        "  username: mirror\n"
        "  password: hunter2\n"
        "  ca_bundle: ca.pem\n"
        "  parallel: 8\n"
        "  retries: 0\n"
        "  max_failed_percent: 0\n",
    )
    config = load_config(Path("sitegen.yaml"))
    assert config.http == HttpConfig(
        username="mirror",
        password="hunter2",
        ca_bundle=root / "ca.pem",
        parallel=8,
        retries=0,
        max_failed_percent=0,
    )
    assert "hunter2" not in repr(config)


def test_the_command_line_may_give_a_url(root: Path) -> None:
    write_config(root, "source: registry\n")
    config = load_config(Path("sitegen.yaml"), source="http://127.0.0.1:5000")
    assert config.source_url == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        pytest.param(
            "source: https://user:hunter2@registry.example.com\n",
            "sitegen.yaml: 'source': the URL holds credentials, which would show in logs; give "
            "them with http.username and the SITEGEN_REGISTRY_PASSWORD variable",
            id="credentials-in-url",
        ),
        pytest.param(
            "source: https://registry.example.com/?n=10\n",
            "sitegen.yaml: 'source': https://registry.example.com/?n=10 has a query or "
            "fragment; give the registry's base URL",
            id="query",
        ),
        pytest.param(
            "source: https://\n",
            "sitegen.yaml: 'source': https:// has no host",
            id="no-host",
        ),
        pytest.param(
            "source: https://registry.example.com:http\n",
            "sitegen.yaml: 'source': https://registry.example.com:http has a port that is not "
            "a number",
            id="bad-port",
        ),
        pytest.param(
            "source: registry\nsource_type: http\n",
            "sitegen.yaml: 'source_type': 'http' needs a registry URL as source, not "
            "{root}/registry",
            id="http-needs-url",
        ),
        pytest.param(
            "source: https://registry.example.com\nsource_type: v2\n",
            "sitegen.yaml: 'source_type': 'v2' reads a storage folder, but source is a URL; "
            "use 'http' or 'auto'",
            id="v2-needs-folder",
        ),
        pytest.param(
            "source: registry\nhttp:\n  parallel: '8'\n",
            "sitegen.yaml: 'http.parallel': expected a whole number, got '8' (a string). "
            "Hint: remove the quotes.",
            id="quoted-number",
        ),
        pytest.param(
            "source: registry\nhttp:\n  parallel: 0\n",
            "sitegen.yaml: 'http.parallel': expected a number from 1 to 64, got 0",
            id="too-few",
        ),
        pytest.param(
            "source: registry\nhttp:\n  max_failed_percent: 150\n",
            "sitegen.yaml: 'http.max_failed_percent': expected a number from 0 to 100, got 150",
            id="percent",
        ),
        pytest.param(
            "source: registry\nhttp:\n  timeout: true\n",
            "sitegen.yaml: 'http.timeout': expected a whole number, got true (a boolean).",
            id="bool-is-no-number",
        ),
        pytest.param(
            "source: registry\nhttp:\n  ca_bundle: missing.pem\n",
            "sitegen.yaml: 'http.ca_bundle': {root}/missing.pem is not a file (read from the "
            "config file's folder)",
            id="ca-bundle-missing",
        ),
        pytest.param(
            "source: registry\nhttp:\n  password: 12345678\n",
            "sitegen.yaml: 'http.password': expected a string. Hint: put it in quotes.",
            id="password-not-repeated",
        ),
        pytest.param(
            "source: registry\nhttp:\n  usernme: x\n",
            "sitegen.yaml: unknown key 'http.usernme'; did you mean 'http.username'?",
            id="typo",
        ),
    ],
)
def test_one_mistake_one_message(root: Path, yaml_text: str, expected: str) -> None:
    write_config(root, yaml_text)
    assert errors_of(Path("sitegen.yaml")) == [expected.replace("{root}", str(root))]


def test_serve_needs_no_reachable_source(root: Path) -> None:
    write_config(root, "source: https://registry.example.com\nsource_type: v2\n")
    config = load_config(Path("sitegen.yaml"), need_source=False)
    assert config.source_url == "https://registry.example.com"


def test_a_folder_with_source_type_http_built_in_code(root: Path) -> None:
    with pytest.raises(ConfigError, match="'http' needs a registry URL"):
        crawler_for(Config(source=root / "registry", source_type="http"))
