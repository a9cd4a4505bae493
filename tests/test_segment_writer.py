"""The process that writes a rebuild's Whoosh segments beside the build (`segment_writer.py`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from generator.errors import BuildError
from generator.index import Reuse, SearchIndex, build_index, plan_index, segment_of
from generator.segment_writer import SegmentWriter
from tests.support.processes import open_fds


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


@pytest.fixture(scope="module")
def registry():
    import synth

    return synth.synth_registry(300, seed=11)


def test_its_segments_make_the_index_an_in_process_build_makes(tmp_path, registry):
    build_index(registry.repositories, registry, tmp_path / "before")
    names = {r.full_name for r in registry.repositories[::41]}
    changed = frozenset(map(segment_of, names))
    build_index(registry.repositories, registry, tmp_path / "in-process",
                Reuse(tmp_path / "before", changed))

    plan = plan_index(registry.repositories, tmp_path / "beside",
                      Reuse(tmp_path / "before", changed))
    assert {segid for segid, _ in plan.to_write} == {f"bucket{b:03d}" for b in changed}
    _writing(tmp_path / "beside", plan.buckets(registry)).wait()
    plan.finish()

    assert _tree(tmp_path / "beside") == _tree(tmp_path / "in-process")
    with SearchIndex.open(tmp_path / "beside") as ix:
        assert len(ix.names) == len(registry.repositories)


def test_a_failure_is_a_build_error_that_says_what_failed(tmp_path, registry):
    plan = plan_index(registry.repositories, tmp_path / "index")
    documents = plan.buckets(registry)[:1]
    gone = tmp_path / "gone"  # no index was begun there
    writer = _writing(gone, documents)
    with pytest.raises(BuildError) as raised:
        writer.wait()
    message = str(raised.value)
    assert str(gone) in message
    assert "exit status 1" in message
    assert "EmptyIndexError" in message  # what the process itself said


def test_it_imports_the_builds_own_code_whatever_the_working_folder_holds(
    tmp_path, registry, monkeypatch
):
    """A `generator` folder in the working folder is not the one the process imports."""
    decoy = tmp_path / "cwd" / "generator"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('the decoy was imported')\n")
    monkeypatch.chdir(decoy.parent)
    plan = plan_index(registry.repositories, tmp_path / "index")
    _writing(tmp_path / "index", plan.buckets(registry)).wait()
    plan.finish()
    with SearchIndex.open(tmp_path / "index") as ix:
        assert len(ix.names) == len(registry.repositories)


def test_kill_stops_it(tmp_path, registry):
    plan = plan_index(registry.repositories, tmp_path / "index")
    writer = _writing(tmp_path / "index", plan.buckets(registry))
    pid = writer._process.pid
    writer.kill()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: no such process


def test_one_started_early_waits_for_its_work_and_writes_it(tmp_path, registry):
    """Started before the work is known (as a rebuild starts it), it is still there, alive
    and idle, when the work comes; the index it writes is the in-process one."""
    writer = SegmentWriter()
    time.sleep(0.5)  # a rebuild crawls and compares meanwhile
    assert writer._process.poll() is None
    build_index(registry.repositories, registry, tmp_path / "in-process")
    plan = plan_index(registry.repositories, tmp_path / "beside")
    writer.give(tmp_path / "beside", plan.buckets(registry))
    writer.wait()
    plan.finish()
    assert _tree(tmp_path / "beside") == _tree(tmp_path / "in-process")


def test_one_with_no_work_is_ended_without_writing(tmp_path):
    before = open_fds()
    writer = SegmentWriter()
    writer.kill()
    assert writer._process.returncode is not None
    assert open_fds() == before


def _writing(directory: Path, buckets: list) -> SegmentWriter:
    writer = SegmentWriter()
    writer.give(directory, buckets)
    return writer
