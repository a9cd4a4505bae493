"""Bad v2 storage: every problem is named with its path, only that item is skipped."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from generator.report import Problem
from tests.conftest import build_site
from tests.support.http import get
from tests.support.registry import Skopeo
from tests.v2.conftest import V2Registry

V2 = ("docker", "registry", "v2")


def _put_blob(root: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    folder = root.joinpath(*V2, "blobs", "sha256", digest[:2], digest)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").write_bytes(data)
    return f"sha256:{digest}"


def _link(folder: Path, digest: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "link").write_text(digest)
    return folder / "link"


def _repo(root: Path, name: str) -> Path:
    return root.joinpath(*V2, "repositories", *name.split("/"))


def _revision(root: Path, name: str, digest: str, tag: str | None = None) -> None:
    repo = _repo(root, name)
    _link(repo / "_manifests" / "revisions" / "sha256" / digest[7:], digest)
    if tag:
        _link(repo / "_manifests" / "tags" / tag / "current", digest)


@pytest.fixture(scope="module")
def broken(
    v2_storage: Path, v2_registry: V2Registry, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str]]:
    """The registry's storage with one kind of damage per repository; returns what was broken."""
    root = tmp_path_factory.mktemp("v2-broken") / "storage"
    shutil.copytree(v2_storage, root, symlinks=True)
    pushed = v2_registry.pushed
    # A manifest that is not JSON (its digest is right), and one with an unknown media type.
    _revision(root, "bad/not-json", _put_blob(root, b"not json at all"), "latest")
    odd = json.dumps({"schemaVersion": 2, "mediaType": "application/x-odd"}).encode()
    _revision(root, "bad/odd-type", _put_blob(root, odd), "latest")
    # A revision link and a tag to a manifest whose blob is gone.
    _revision(root, "bad/missing", "sha256:" + "1" * 64, "latest")
    # A config whose bytes do not match its digest (team/base-img 1.0).
    base_img = pushed.built[pushed.tags["team/base-img"]["1.0"]]
    config = base_img.blobs[0].digest
    root.joinpath(*V2, "blobs", "sha256", config[7:9], config[7:], "data").write_bytes(b"{}")
    # A _layers link to a blob that does not exist (as garbage collection leaves them: no
    # problem), the data of a blob a live manifest needs, and a layer unlinked from its repository.
    _link(_repo(root, "busybox") / "_layers" / "sha256" / ("2" * 64), "sha256:" + "2" * 64)
    chart_layer = pushed.built[pushed.tags["charts/demo"]["0.1.0"]].blobs[1].digest
    root.joinpath(*V2, "blobs", "sha256", chart_layer[7:9], chart_layer[7:], "data").unlink()
    app_layer = pushed.built[pushed.tags["org/team/app"]["1.0"]].blobs[2].digest
    shutil.rmtree(_repo(root, "org/team/app") / "_layers" / "sha256" / app_layer[7:])
    # A tag pointing at a digest the repository has no revision of; a tag without current/link.
    _link(
        _repo(root, "charts/demo") / "_manifests" / "tags" / "ghost" / "current",
        "sha256:" + "3" * 64,
    )
    (_repo(root, "charts/demo") / "_manifests" / "tags" / "empty").mkdir()
    # A folder that is not a valid repository name.
    _revision(root, "Bad/Upper", pushed.tags["busybox"]["1.0"], "latest")
    return root, {"config": config, "app_layer": app_layer, "chart_layer": chart_layer}


def _named(problems: list[Problem], path_part: str, reason_part: str) -> bool:
    return any(path_part in p.path and reason_part in p.reason for p in problems)


def test_each_problem_is_named_and_the_rest_is_published(
    broken: tuple[Path, dict[str, str]], tmp_path: Path, skopeo: Skopeo, serve_site: object
) -> None:
    root, damaged = broken
    site = tmp_path / "site"
    _, report = build_site(root, site, include_layers=True)
    problems = report.problems
    expected = [
        ("repositories/bad/not-json/_manifests/tags/latest", "not a readable manifest"),
        ("repositories/bad/odd-type/_manifests/tags/latest", "not a readable manifest"),
        ("repositories/bad/missing/_manifests/tags/latest", "not a readable manifest"),
        ("blobs/sha256", "manifest is not JSON"),
        ("blobs/sha256", "unknown media type application/x-odd"),
        ("repositories/bad/missing/_manifests/revisions", "whose blob data is missing"),
        (f"{damaged['config'][7:]}/data", "bytes do not match the digest"),
        ("repositories/charts/demo/_manifests/revisions", f"{damaged['chart_layer']} is not"),
        ("repositories/org/team/app/_manifests/revisions", f"layer {damaged['app_layer']} is not"),
        ("repositories/charts/demo/_manifests/tags/ghost/current/link", "not a readable manifest"),
        ("repositories/charts/demo/_manifests/tags/empty/current/link", "points nowhere"),
        ("repositories/Bad", "not a valid repository name component"),
    ]
    missing = [e for e in expected if not _named(problems, *e)]
    assert not missing, f"not reported: {missing}\nreported: {[str(p) for p in problems]}"
    assert len(problems) == len(expected), [str(p) for p in problems]

    catalog = json.loads((site / "v2" / "_catalog").read_bytes())["repositories"]
    assert "bad/not-json" in catalog and "busybox" in catalog and "Bad/Upper" not in catalog
    tags = json.loads((site / "v2/bad/not-json/tags/list/.index.json").read_bytes())
    assert tags == {"name": "bad/not-json", "tags": None}
    assert not (site / "v2/team/base-img/blobs" / damaged["config"]).exists()  # never bad bytes
    assert (site / "v2/team/base-img/manifests/1.0.omani").exists()  # the manifest is fine
    assert not (site / "v2/org/team/app/blobs" / damaged["app_layer"]).exists()
    demo = json.loads((site / "v2/charts/demo/tags/list/.index.json").read_bytes())
    assert demo["tags"] == ["0.1.0"]

    serve = serve_site(site)  # type: ignore[operator]
    base = next(serve)
    try:
        out = tmp_path / "pulled"
        skopeo.pull(base, "busybox:latest", out)  # the undamaged images still pull
        assert get(base, "/v2/bad/missing/manifests/latest").status == 404
    finally:
        next(serve, None)
