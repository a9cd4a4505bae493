"""Whole builds: determinism, privacy, safe publishing, overlapping runs."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator import build as build_module
from generator import state
from generator.emit.writer import SiteWriter, lock_path, output_lock
from generator.errors import SitegenError
from tests.conftest import build_site
from tests.support.http import get
from tests.support.storage import image_id, write_image, write_repository

# user123/my_app is private in the oracle; these two images are reachable only from it.
PRIVATE_ONLY = [
    "391e7c984efb3f2c4daa7fd9ab0aebb777470e3fa42758a586f2e09b77f21964",
    "a321338b81811f0a3dd0917e0ecbfe68a42ec8f1f543c2cf8d6f40e21da37204",
]
SHARED_BASE = "6be1350d0b5d18efa982e9e6e3b88b14887da8a1314f0813a08d63cba7ac9b81"


def tree(root: Path) -> dict[str, str]:
    """Every file under root with the hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_two_builds_give_byte_identical_trees(oracle_storage: Path, tmp_path: Path) -> None:
    build_site(oracle_storage, tmp_path / "a" / "site", include_layers=True)
    build_site(oracle_storage, tmp_path / "b" / "site", include_layers=True)
    first, second = tree(tmp_path / "a" / "site"), tree(tmp_path / "b" / "site")
    assert first == second
    assert len(first) > 100


def test_private_repositories_leave_no_trace(oracle_storage: Path, tmp_path: Path) -> None:
    output = tmp_path / "site"
    build_site(oracle_storage, output, include_layers=True)
    for path in output.rglob("*"):
        assert "my_app" not in str(path) and "user123" not in str(path)
        if path.is_file():
            data = path.read_bytes()
            assert b"my_app" not in data and b"user123" not in data, path
            for iid in PRIVATE_ONLY:
                assert iid.encode() not in data, path
    for iid in PRIVATE_ONLY:
        assert not (output / "v1" / "images" / iid).exists()
        assert not any(iid in str(p) for p in output.rglob("*"))
    # A base image the private repository shares with public ones stays published.
    assert (output / "v1" / "images" / SHARED_BASE / "json").is_file()


def test_include_private_publishes_them_as_0_9_1_did(oracle_site: Path) -> None:
    props = oracle_site / "v1/repositories/user123/my_app/properties"
    assert props.read_bytes() == b'{"access": "private"}'
    assert (oracle_site / "v1" / "images" / PRIVATE_ONLY[0] / "json").is_file()


def test_layers_are_hard_links_into_the_storage(oracle_storage: Path, oracle_site: Path) -> None:
    layer = oracle_site / "v1" / "images" / SHARED_BASE / "layer"
    source = oracle_storage / "images" / SHARED_BASE / "layer"
    assert layer.samefile(source)


def test_rebuild_swaps_the_site_and_drops_what_is_gone(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    first, second = image_id("one"), image_id("two")
    write_image(root, first)
    write_image(root, second)
    write_repository(root, "acme/one", {"latest": first})
    repo_two = write_repository(root, "acme/two", {"latest": second})
    output = tmp_path / "site"
    build_site(root, output)
    assert (output / "v1/repositories/acme/two/tags/.index.json").exists()
    for f in repo_two.iterdir():
        f.unlink()
    repo_two.rmdir()
    build_site(root, output)
    assert not (output / "v1/repositories/acme/two").exists()
    assert (output / "v1/repositories/acme/one/tags/.index.json").exists()
    beside = sorted(p.name for p in tmp_path.iterdir())
    assert beside == [".site.lock", ".site.state", "site", "storage"]


def test_a_build_leaves_its_objects_to_the_exit_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sitegen build` ends the process right after the build: the build's largest objects are
    left to the exit (`LEAVE_TO_EXIT`), not freed one by one. A process that goes on holds
    none of them once the build is done, and a failed build leaves none."""
    root = tmp_path / "storage"
    write_image(root, image_id("one"))
    write_repository(root, "acme/one", {"latest": image_id("one")})
    assert build_module.LEAVE_TO_EXIT is None
    build_site(root, tmp_path / "site")
    assert build_module.LEAVE_TO_EXIT is None
    left: list[object] = []
    monkeypatch.setattr(build_module, "LEAVE_TO_EXIT", left)
    build_site(root, tmp_path / "site")  # a rebuild, trusting its memory
    assert any(isinstance(o, state.Memory) for o in left)
    assert any(isinstance(o, SiteWriter) for o in left)
    left.clear()

    def failing(*args: object, **kwargs: object) -> bool:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SiteWriter, "publish", failing)
    write_repository(root, "acme/two", {"latest": image_id("one")})
    with pytest.raises(SitegenError, match="No space left"):
        build_site(root, tmp_path / "site")
    assert left == []


def _big_storage(root: Path, repos: int) -> None:
    base = image_id("base")
    write_image(root, base)
    for n in range(repos):
        iid = image_id(f"img{n}")
        write_image(root, iid, base)
        write_repository(root, f"ns{n % 50:02d}/repo{n:05d}", {"latest": iid, "1.0": iid})


@pytest.mark.slow
def test_a_killed_build_leaves_the_old_site_serving(tmp_path: Path, serve_site) -> None:
    root = tmp_path / "storage"
    _big_storage(root, 1500)
    output = tmp_path / "site"
    build_site(root, output)
    before = tree(output)
    # Add a repository, start a rebuild, and kill it with SIGKILL once it is writing.
    write_repository(root, "acme/late", {"latest": image_id("base")})
    # A full rebuild: it renders every page, on two processes, long enough to be caught.
    proc = subprocess.Popen([sys.executable, "-m", "generator", "build", "-q", "-j", "2", "--full",
                             "--source", str(root), "--output", str(output)], cwd=tmp_path)
    deadline = time.monotonic() + 60
    while len(_builds_of(output)) < 2 or not list(tmp_path.glob(".site.staging-*/v1/images")):
        assert proc.poll() is None, "the build finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # while its render worker writes too
    proc.wait()
    deadline = time.monotonic() + 1  # much less than the worker's share of the pages takes
    while _builds_of(output):  # the worker dies with it
        assert time.monotonic() < deadline, "the render worker outlived the killed build"
        time.sleep(0.01)
    assert list(tmp_path.glob(".site.staging-*")), "the killed build left its staging folder"
    assert tree(output) == before
    server = serve_site(output)
    base = next(server)
    assert get(base, "/v1/repositories/ns00/repo00000/tags").status == 200
    assert get(base, "/v1/repositories/acme/late/tags").status == 404
    # The next build is not blocked by anything the killed one left behind.
    _, report = build_site(root, output)
    assert not report.problems
    assert (output / "v1/repositories/acme/late/tags/.index.json").is_file()
    assert not list(tmp_path.glob(".site.staging-*"))
    server.close()


def _builds_of(output: Path) -> list[int]:
    """Pids of the live processes building `output` (a build and its render worker)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = next(x for x in (proc / "stat").read_text().rsplit(")", 1)[1].split())
        except (OSError, StopIteration, IndexError):
            continue
        if str(output).encode() in argv and b"generator" in argv and state != "Z":
            pids.append(int(proc.name))
    return pids


def test_a_second_build_on_the_same_output_exits_at_once(oracle_storage: Path,
                                                          tmp_path: Path) -> None:
    output = tmp_path / "site"
    with output_lock(output):
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "generator", "build", "--source", str(oracle_storage),
             "--output", str(output)], capture_output=True, text=True, timeout=60)
        assert time.monotonic() - started < 30
    assert proc.returncode == 3
    assert "another sitegen build is writing" in proc.stderr
    assert str(lock_path(output)) in proc.stderr
    assert not output.exists()
