"""SiteWriter's rules on the write path (emit/writer.py), on a real staging folder.

The writer takes shortcuts on its hot path (a folder already claimed is not
checked again, files are written with `os.open`); these tests hold every
rule to what it was, whichever path a file takes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.emit.writer import SiteWriter
from generator.report import Report


@pytest.fixture
def report() -> Report:
    return Report()


@pytest.fixture
def writer(tmp_path: Path, report: Report) -> Iterator[SiteWriter]:
    w = SiteWriter(tmp_path / "site", report)
    yield w
    w.discard()


def _reasons(report: Report) -> list[str]:
    return [p.reason for p in report.problems]


def test_bytes_reach_the_file_exactly(writer: SiteWriter, tmp_path: Path) -> None:
    big = os.urandom(1 << 20)
    assert writer.write("a/b/big", big, "test")
    assert writer.write("a/b/empty", b"", "test")
    assert writer.write("top", b"x", "test")
    writer.publish()
    site = tmp_path / "site"
    assert (site / "a/b/big").read_bytes() == big
    assert (site / "a/b/empty").read_bytes() == b""
    umask = os.umask(0)
    os.umask(umask)
    assert (site / "top").stat().st_mode & 0o777 == 0o666 & ~umask  # as open(…, "wb") makes it


def test_a_second_write_to_a_file_keeps_the_first(writer: SiteWriter, report: Report) -> None:
    assert writer.write("a/b", b"first", "one")
    assert not writer.write("a/b", b"second", "two")  # its folder is known: the short path
    assert not writer.write("a", b"third", "three")
    assert (writer.staging / "a/b").read_bytes() == b"first"
    assert _reasons(report) == [
        "two maps to the same file as one; kept the first",
        "three needs a file where other documents need a folder; not written",
    ]


def test_a_folder_where_a_file_is_is_refused(writer: SiteWriter, report: Report) -> None:
    assert writer.write("a/b", b"file", "one")
    assert not writer.write("a/b/c", b"", "two")
    assert not writer.write("a/b/c/d", b"", "three")
    assert _reasons(report) == [
        "two needs a folder where one wrote a file; not written",
        "three needs a folder where one wrote a file; not written",
    ]


@pytest.mark.parametrize("relpath", ["", ".", "..", "/top", "a/../b", "a//b", "a/.", "a/", "a/.."])
def test_paths_that_leave_the_output_are_refused(
    writer: SiteWriter, report: Report, relpath: str
) -> None:
    assert writer.write("a/sibling", b"", "first")  # makes `a` a known folder
    assert not writer.write(relpath, b"x", "bad")
    assert _reasons(report) == ["bad: path would leave the output; not written"]
    assert sorted(p.name for p in writer.staging.rglob("*")) == ["a", "sibling"]


def test_a_claimed_folder_takes_no_files_from_others(writer: SiteWriter, report: Report) -> None:
    folder = writer.directory(".sitegen/index", "search index")
    assert folder is not None and folder.is_dir()
    assert writer.write(".sitegen/other", b"", "beside")
    assert not writer.write(".sitegen/index/x", b"", "inside")
    assert _reasons(report) == [
        "inside needs a folder where search index wrote a file; not written"
    ]


def test_a_layer_that_cannot_be_linked_is_a_problem(
    writer: SiteWriter, report: Report, tmp_path: Path
) -> None:
    missing = tmp_path / "storage" / "layer"
    assert not writer.link("v1/images/x/layer", missing, "image x", "image:x")
    assert _reasons(report) == ["cannot link into the site: No such file or directory"]
    assert writer.manifest() == {"image:x": ()}
    assert writer.write("v1/images/x/layer", b"later", "image x again", "image:x")
