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

from generator.emit.writer import PatchConflict, SiteWriter, pack, unpack
from generator.report import Report
from tests.support.limits import limit_file_size


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
    assert writer.manifest() == {"image:x": ""}
    assert writer.write("v1/images/x/layer", b"later", "image x again", "image:x")


# --- the manifest, packed ----------------------------------------------------------------


@pytest.mark.parametrize(("unit", "paths"), [
    ("image:ab", ("v1/images/ab/json", "images/ab/index.html", "v1/images/ab/ancestry")),
    ("repository:a/b", ("v1/repositories/a/b/json", "x/\x01/y", "z")),
    ("repository:a/b", ("\x02v1/repositories/a/b/json",)),
    ("site", ("index.html", "\x01", "\x02")),
    ("namespace:n", ()),
])
def test_a_unit_packs_and_unpacks_to_its_sorted_paths(unit: str, paths: tuple[str, ...]) -> None:
    packed = pack(unit, paths)
    assert unpack(unit, packed) == tuple(sorted(paths))
    if unit == "image:ab":
        assert packed.count("ab") == 0  # the name, written once, is implied


def test_a_whole_trees_claims_name_their_writers_and_make_the_manifest(
    writer: SiteWriter, report: Report
) -> None:
    """Claims are kept with each unit's name factored out: every answer is as written."""
    claims = [
        ("image:ab", "v1/images/ab/json", "image ab"),
        ("image:ab", "images/ab/index.html", "HTML page /images/ab/"),
        ("image:cd", "v1/images/cd/json", "image cd"),
        ("image:cd", "images/cd/index.html", "HTML page /images/cd/"),
        ("repository:a/b", "v1/repositories/a/b/json", "repository a/b"),
        ("repository:a/b", "v1/repositories/a/b/tags/x\x01y", "repository a/b tag x\x01y"),
        ("repository:a/b", "v1/repositories/a/b/tags/z", "repository a/b tag z"),
        ("site", "index.html", "HTML page /"),
    ]
    for unit, relpath, origin in claims:
        assert writer.write(relpath, b"", origin, unit)
    assert not writer.write("v1/images/cd/json", b"", "again", "image:ab")
    assert not writer.write("v1/repositories/a/b/tags/z/deeper", b"", "deeper", "site")
    assert not writer.write("v1/repositories/a/b/tags/x\x01y", b"", "again", "site")
    assert _reasons(report) == [
        "again maps to the same file as image cd; kept the first",
        "deeper needs a folder where repository a/b tag z wrote a file; not written",
        "again maps to the same file as repository a/b tag x\x01y; kept the first",
    ]
    assert writer.written() == {relpath: origin for _, relpath, origin in claims}
    manifest = writer.manifest()
    assert {unit: unpack(unit, manifest[unit]) for unit in manifest} == {
        "image:ab": ("images/ab/index.html", "v1/images/ab/json"),
        "image:cd": ("images/cd/index.html", "v1/images/cd/json"),
        "repository:a/b": (
            "v1/repositories/a/b/json", "v1/repositories/a/b/tags/x\x01y",
            "v1/repositories/a/b/tags/z",
        ),
        "site": ("index.html",),
    }
    assert manifest["image:ab"] is manifest["image:cd"]  # alike: one object, pickled once


@pytest.fixture
def published(tmp_path: Path) -> dict[str, str]:
    """A published site of three units, as the previous build left it."""
    files = {
        "image:k": ("v1/images/k/json", "v1/images/k/layer"),
        "repository:r/s": ("v1/repositories/r/s/json", "v1/repositories/r/s/old"),
        "image:gone": ("v1/images/gone/json",),
    }
    for relpaths in files.values():
        for relpath in relpaths:
            (tmp_path / "site" / relpath).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "site" / relpath).write_bytes(relpath.encode())
    return {unit: pack(unit, relpaths) for unit, relpaths in files.items()}


def test_a_patch_carries_kept_units_over_packed_and_deletes_only_what_went(
    tmp_path: Path, published: dict[str, str]
) -> None:
    output = tmp_path / "site"
    writer = SiteWriter(output, Report(), previous=published)
    writer.keep("image:k")
    assert writer.write("v1/repositories/r/s/json", b"new", "r/s", "repository:r/s")
    assert writer.write("v1/repositories/r/s/new", b"n", "r/s", "repository:r/s")
    assert writer.files == 4
    manifest = writer.manifest()
    assert manifest["image:k"] is published["image:k"]  # never unpacked
    assert unpack("repository:r/s", manifest["repository:r/s"]) == (
        "v1/repositories/r/s/json", "v1/repositories/r/s/new")
    assert "image:gone" not in manifest
    assert writer.publish()
    assert (writer.written_count, writer.deleted_count) == (2, 2)
    assert sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file()) == [
        "v1/images/k/json", "v1/images/k/layer",
        "v1/repositories/r/s/json", "v1/repositories/r/s/new",
    ]


def test_a_patch_keeps_some_files_of_a_unit_it_redoes_untouched_and_deletes_the_rest(
    tmp_path: Path, published: dict[str, str]
) -> None:
    """`keep_files`: the files of a redone unit that would be written with the same bytes stay
    as published (the same inode); a path the unit did not publish, or that this build
    claimed already, is given back to be written."""
    output = tmp_path / "site"
    kept = output / "v1/repositories/r/s/json"
    before = kept.stat()
    writer = SiteWriter(output, Report(), previous=published)
    writer.keep_all(["image:k", "image:gone"])
    assert writer.write("v1/repositories/r/s/new", b"n", "r/s", "repository:r/s")
    left = writer.keep_files(
        "repository:r/s",
        ["v1/repositories/r/s/json", "v1/repositories/r/s/new", "v1/repositories/r/s/other"],
        "r/s",
    )
    assert left == ["v1/repositories/r/s/new", "v1/repositories/r/s/other"]
    assert unpack("repository:r/s", writer.manifest()["repository:r/s"]) == (
        "v1/repositories/r/s/json", "v1/repositories/r/s/new")
    assert writer.publish()
    assert (writer.written_count, writer.deleted_count) == (1, 1)
    assert not (output / "v1/repositories/r/s/old").exists()
    after = kept.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize("relpath", [
    "v1/images/k/json",  # a kept unit's file
    "v1/images/k/json/inside",  # under a kept unit's file
    "v1/images/k",  # a published folder
])
def test_a_patch_that_meets_a_kept_unit_conflicts(
    tmp_path: Path, published: dict[str, str], relpath: str
) -> None:
    writer = SiteWriter(tmp_path / "site", Report(), previous=published)
    writer.keep("image:k")
    try:
        with pytest.raises(PatchConflict):
            writer.write(relpath, b"x", "r/s", "repository:r/s")
    finally:
        writer.discard()


def test_a_patch_may_take_over_the_files_of_units_it_redoes_or_deletes(
    tmp_path: Path, published: dict[str, str]
) -> None:
    writer = SiteWriter(tmp_path / "site", Report(), previous=published)
    writer.keep("image:k")
    assert writer.write("v1/images/gone/json", b"mine", "r/s", "repository:r/s")
    assert writer.write("v1/repositories/r/s/old/inside", b"x", "r/s", "image:new")
    writer.discard()


def test_a_write_the_system_refuses_names_its_file(tmp_path: Path) -> None:
    """A `write()` error (a full disk; here a real file-size limit) carries no file name of
    its own: the writer's does, so the build's one line names the page."""
    import subprocess
    import sys

    target = tmp_path / "page.html"
    code = "from generator.emit.writer import _write_file; "
    code += f"_write_file({str(target)!r}, b'x' * 8192)"

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          preexec_fn=limit_file_size)
    assert proc.returncode == 1
    assert f"OSError: [Errno 27] File too large: {str(target)!r}" in proc.stderr
