"""Bad storage never stops the build: every problem is named, everything else is published."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import build_site
from tests.support.storage import image_id, write_image, write_repository

GOOD = image_id("good")


@pytest.fixture
def broken_storage(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    write_image(root, GOOD)
    write_repository(root, "acme/good", {"latest": GOOD, "1.0": GOOD})
    # Corrupt image JSON and a corrupt ancestry.
    bad_json = write_image(root, image_id("bad-json"))
    (bad_json / "json").write_bytes(b'{"id": "truncated')
    bad_ancestry = write_image(root, image_id("bad-ancestry"))
    (bad_ancestry / "ancestry").write_bytes(b"not json")
    # An image directory that is not an id, and an image without json.
    (root / "images" / "not-an-id").mkdir()
    (root / "images" / image_id("no-json")).mkdir()
    # A tag file that is a directory, a tag with non-UTF-8 content, corrupt tag metadata.
    repo = write_repository(root, "acme/odd", {"ok": GOOD})
    (repo / "tag_dir").mkdir()
    (repo / "tag_binary").write_bytes(b"\xff\xfe")
    (repo / "tagok_json").write_bytes(b"{broken")
    # Hostile names: control characters, non-UTF-8, sitegen's reserved document name.
    write_repository(root, "acme/new\nline", {"latest": GOOD})
    os.mkdir(os.fsencode(root / "repositories" / "acme") + b"/caf\xe9")  # noqa: PTH102 - bytes name
    write_repository(root, "acme/tags-reserved", {".index.json": GOOD})
    # A dangling tag, and a stray file at the top of repositories/.
    write_repository(root, "acme/dangling", {"gone": image_id("missing")})
    (root / "repositories" / "README").write_text("not a namespace")
    return root


def test_every_problem_is_named_and_the_rest_is_published(broken_storage: Path, tmp_path: Path,
                                                          ) -> None:
    output = tmp_path / "site"
    result, report = build_site(broken_storage, output)
    text = "\n".join(str(p) for p in report.problems)
    expected = [
        (f"images/{image_id('bad-json')}/json", "corrupt JSON"),
        (f"images/{image_id('bad-ancestry')}/ancestry", "corrupt JSON"),
        ("images: entry b'not-an-id'", "not an image id"),
        (f"images/{image_id('no-json')}/json", "image has no json"),
        ("acme/odd/tag_dir", "is a directory"),
        ("acme/odd/tag_binary", "not UTF-8"),
        ("acme/odd tagok_json", "corrupt JSON"),
        ("repository b'new\\nline'", "control characters"),
        ("repository b'caf\\xe9'", "not valid UTF-8"),
        ("tag b'.index.json'", "reserved"),
        ("acme/dangling/tag_gone", "not in images/"),
        ("repositories/README", "not a namespace"),
    ]
    for where, why in expected:
        assert any(where in str(p) and why in str(p) for p in report.problems), (where, text)
    assert len(report.problems) == len(expected), text

    v1 = output / "v1"
    assert json.loads((v1 / "repositories/acme/good/tags/.index.json").read_text()) == {
        "1.0": GOOD, "latest": GOOD}
    assert (v1 / "images" / GOOD / "json").is_file()
    assert not (v1 / "images" / image_id("bad-json")).exists()
    # The image with a corrupt ancestry still answers json; ancestry falls back to 404.
    assert (v1 / "images" / image_id("bad-ancestry") / "json").is_file()
    assert not (v1 / "images" / image_id("bad-ancestry") / "ancestry").exists()
    tags = json.loads((v1 / "repositories/acme/odd/tags/.index.json").read_text())
    assert tags == {"ok": GOOD}
    # Corrupt metadata: the default object, as for any tag without metadata.
    assert json.loads((v1 / "repositories/acme/odd/tags/ok/json").read_text())["os"] == "linux"
    assert result.repositories == 4


def test_strict_turns_problems_into_exit_status_1(broken_storage: Path, tmp_path: Path) -> None:
    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "generator", "build", "--source", str(broken_storage),
             "--output", str(tmp_path / "site"), *extra],
            capture_output=True, text=True, cwd=tmp_path)

    lenient = run()
    assert lenient.returncode == 0, lenient.stderr
    assert "7 storage problems:" in lenient.stderr  # grouped by kind, the first ones named
    assert "Done: 4 repositories" in lenient.stderr
    assert "corrupt JSON" in run("-v").stderr  # -v names every problem
    strict = run("--strict")
    assert strict.returncode == 1
    assert "12 problems" in strict.stderr


def test_two_outputs_for_one_file_is_a_named_collision(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    write_image(root, GOOD)
    # library/foo's tag "json" and namespace foo's repository "tags" both claim
    # /v1/repositories/foo/tags/json, as they did in 0.9.1's router.
    write_repository(root, "library/foo", {"json": GOOD})
    write_repository(root, "foo/tags", {"latest": GOOD})
    _, report = build_site(root, tmp_path / "site")
    collisions = [p for p in report.problems if p.kind == "collision"]
    assert len(collisions) == 1, report.problems
    assert "v1/repositories/foo/tags/json/.index.json" in collisions[0].path
    assert "repository foo/tags" in collisions[0].reason
