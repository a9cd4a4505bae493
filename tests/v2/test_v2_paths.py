"""The v2 output mapping, the `platform` key, and byte-identical rebuilds of v2 storage."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from generator import paths, routes
from generator.config import load_config
from generator.errors import ConfigError
from tests.conftest import build_site

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("/v2/", "v2/.index.json"),
        ("/v2/_catalog", "v2/_catalog"),
        ("/v2/busybox/tags/list", "v2/busybox/tags/list/.index.json"),
        ("/v2/org/team/app/tags/list", "v2/org/team/app/tags/list/.index.json"),
        (f"/v2/org/team/app/blobs/{DIGEST}", f"v2/org/team/app/blobs/{DIGEST}"),
    ],
)
def test_v2_urls_map_to_one_file_and_back(url: str, file: str) -> None:
    assert paths.file_for_url(url) == file
    assert paths.url_for_file(file) == url


@pytest.mark.parametrize(("media_type", "suffix"), list(paths.V2_MANIFEST_SUFFIXES.items()))
def test_a_manifest_file_carries_its_media_type(media_type: str, suffix: str) -> None:
    for reference in ("1.0.1", DIGEST):
        file = paths.v2_manifest_file("org/team/app", reference, media_type)
        assert file == f"v2/org/team/app/manifests/{reference}.{suffix}"
        assert paths.url_for_file(file) == f"/v2/org/team/app/manifests/{reference}"
        url = f"/v2/org/team/app/manifests/{reference}"
        assert (file, media_type) in paths.v2_manifest_candidates(url)


@pytest.mark.parametrize(
    ("url", "route"),
    [
        ("/v2/", "v2_base"),
        ("/v2/a/b-c/d__e/tags/list", "v2_tags"),
        (f"/v2/a/manifests/{DIGEST}", "v2_manifest_digest"),
        ("/v2/a/manifests/v1.0_rc-1", "v2_manifest_tag"),
        (f"/v2/a/blobs/{DIGEST}", "v2_blob"),
        ("/v2/a/blobs/sha256:xyz", "v2_blob_invalid"),
        ("/v2/A/tags/list", None),
        ("/v2/a-/tags/list", None),
        ("/v2/a/manifests/.hidden", None),
    ],
)
def test_v2_routes_follow_distributions_grammar(url: str, route: str | None) -> None:
    found = routes.match_v2(url)
    assert (found[0] if found else None) == route


def test_hostile_names_match_in_linear_time() -> None:
    """distribution's own name regex backtracks exponentially outside RE2 (PCRE, Python)."""
    pattern = re.compile(routes.V2_ROUTES["v2_tags"])
    assert pattern.match("/v2/" + "a-" * 5000 + "A/tags/list") is None


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("amd64", "expected os/architecture[/variant] such as 'linux/amd64', got 'amd64'"),
        ("linux//v8", "got 'linux//v8'"),
        (5, "expected a string, got 5 (an integer)"),
    ],
)
def test_platform_is_checked(tmp_path: Path, value: object, error: str) -> None:
    (tmp_path / "storage").mkdir()
    (tmp_path / "sitegen.yaml").write_text(f"source: storage\nplatform: {value}\n")
    with pytest.raises(ConfigError, match=re.escape(error)):
        load_config(tmp_path / "sitegen.yaml")


def test_platform_default_and_variant(tmp_path: Path) -> None:
    (tmp_path / "storage").mkdir()
    (tmp_path / "sitegen.yaml").write_text("source: storage\nplatform: linux/arm64/v8\n")
    assert load_config(tmp_path / "sitegen.yaml").platform == "linux/arm64/v8"
    (tmp_path / "sitegen.yaml").write_text("source: storage\n")
    assert load_config(tmp_path / "sitegen.yaml").platform == "linux/amd64"


def _tree(site: Path) -> dict[str, str]:
    return {
        str(p.relative_to(site)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(site.rglob("*"))
        if p.is_file() and not p.relative_to(site).as_posix().startswith(paths.INDEX_DIR)
    }


def test_same_storage_same_bytes(v2_storage: Path, tmp_path: Path) -> None:
    build_site(v2_storage, tmp_path / "a" / "site", include_layers=True)
    build_site(v2_storage, tmp_path / "b" / "site", include_layers=True)
    first = _tree(tmp_path / "a" / "site")
    assert first == _tree(tmp_path / "b" / "site")
    assert any(name.startswith("v2/") for name in first)
