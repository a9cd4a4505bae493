"""Builds split over two processes (`emit/parallel.py`) publish what one process does."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import paths, segment_writer, state
from generator.build import build
from generator.config import Config
from generator.emit import units
from generator.errors import BuildError
from generator.index import SearchIndex
from generator.report import Report
from tests.support.processes import children
from tests.support.storage import image_id, write_image, write_repository
from tests.test_build import tree

GOOD = image_id("good")


def build_with(source: Path, output: Path, jobs: int, **options: object) -> Report:
    report = Report()
    config = Config(source=source, output=output, **options)  # type: ignore[arg-type]
    build(config, report, jobs=jobs)
    return report


def test_two_processes_write_the_same_site_as_one(oracle_storage: Path, tmp_path: Path) -> None:
    options = {"include_private": True, "include_layers": True}
    one = build_with(oracle_storage, tmp_path / "one" / "site", 1, **options)
    two = build_with(oracle_storage, tmp_path / "two" / "site", 2, **options)
    assert tree(tmp_path / "one" / "site") == tree(tmp_path / "two" / "site")
    assert [str(p) for p in one.problems] == [str(p) for p in two.problems]
    assert one.problems, "the oracle has dangling tags: problems must survive the split"
    # Both processes had work: the oracle's units fall on both sides of the split.
    shares = {units.in_worker_share(units.repository(f"library/{n}")) for n in "abcdefgh"}
    assert shares == {True, False}


def _clashing_pair(name: str) -> str:
    """A namespace `ns` whose `library/ns` and `ns/<name>` units fall in different processes."""
    for i in range(1000):
        ns = f"ns{i}"
        left = units.in_worker_share(units.repository(f"library/{ns}"))
        if left != units.in_worker_share(units.repository(f"{ns}/{name}")):
            return ns
    raise AssertionError("the split never separates two units")


def test_a_clash_across_the_split_is_settled_on_one_core(
    tmp_path: Path, sitegen_log: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "storage"
    write_image(root, GOOD)
    ns = _clashing_pair("tags")
    # library/<ns>'s tag "json" and <ns>/tags' document both map to v1/repositories/<ns>/tags/json.
    write_repository(root, f"library/{ns}", {"json": GOOD})
    write_repository(root, f"{ns}/tags", {"latest": GOOD})
    one = build_with(root, tmp_path / "one" / "site", 1)
    two = build_with(root, tmp_path / "two" / "site", 2)
    assert "building again on one core" in sitegen_log.text
    assert tree(tmp_path / "one" / "site") == tree(tmp_path / "two" / "site")
    collisions = [str(p) for p in two.problems if p.kind == "collision"]
    assert collisions == [str(p) for p in one.problems if p.kind == "collision"]
    assert len(collisions) == 1
    assert not list(tmp_path.glob("two/.site.staging-*"))


def _worker_image_id() -> str:
    """An image id whose page the worker renders."""
    for i in range(1000):
        candidate = image_id(f"worker {i}")
        if units.in_worker_share(units.image(candidate)):
            return candidate
    raise AssertionError("the worker's share holds no image")


def test_a_failure_in_the_worker_fails_the_build_and_keeps_the_old_site(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    image = _worker_image_id()
    write_image(root, image)
    write_repository(root, "acme/web", {"latest": image})
    output = tmp_path / "site"
    build_with(root, output, 2)
    before = tree(output)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "image.html").write_text("{{ no_such_variable.field }}\n")
    # Only the worker renders an image page: its error comes back through the pipe.
    with pytest.raises(BuildError, match=r"image\.html: line 1: UndefinedError"):
        build_with(root, output, 2, templates_dir=templates)
    assert tree(output) == before
    assert not list(tmp_path.glob(".site.staging-*"))


def test_a_split_walk_and_crawl_read_what_one_process_reads(tmp_path: Path) -> None:
    # Enough image folders for the scan's and the crawl's workers to take a share.
    root = tmp_path / "storage"
    parent = None
    for i in range(60):
        image = image_id(f"image {i}")
        write_image(root, image, parent if i % 4 else None)
        parent = image
        if i % 3 == 0:
            write_repository(root, f"ns{i % 7}/repo{i}", {"latest": image, "v1": parent})
    (root / "images" / image_id("image 7") / "json").write_text("{not json")  # a problem
    (root / "images" / "stray-file").write_text("")  # an image entry that is no folder
    one = build_with(root, tmp_path / "one" / "site", 1)
    two = build_with(root, tmp_path / "two" / "site", 2)
    assert tree(tmp_path / "one" / "site") == tree(tmp_path / "two" / "site")
    assert [str(p) for p in two.problems] == [str(p) for p in one.problems]
    assert any("image 7" in str(p) or image_id("image 7") in str(p) for p in two.problems)


def test_a_file_where_the_other_half_made_a_folder_is_settled_on_one_core(
    tmp_path: Path,
) -> None:
    # library/<ns> publishes the file v1/repositories/<ns>/json; <ns>/json needs it as a folder.
    ns = _clashing_pair("json")
    root = tmp_path / "storage"
    write_image(root, GOOD)
    write_repository(root, f"library/{ns}", {"latest": GOOD})
    write_repository(root, f"{ns}/json", {"latest": GOOD})
    one = build_with(root, tmp_path / "one" / "site", 1)
    two = build_with(root, tmp_path / "two" / "site", 2)
    assert tree(tmp_path / "one" / "site") == tree(tmp_path / "two" / "site")
    assert [str(p) for p in two.problems] == [str(p) for p in one.problems]
    assert any(p.kind == "collision" for p in two.problems)


def test_a_small_rebuild_renders_on_one_process_and_a_large_one_on_two(
    tmp_path: Path, sitegen_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker costs a copy of each shared page either process writes while it lives: a
    rebuild redoing fewer than `units.SPLIT_UNITS` units is not worth it."""
    root = tmp_path / "storage"
    write_image(root, GOOD)
    for name in ("web", "api", "db"):
        write_repository(root, f"acme/{name}", {"latest": GOOD})
    output = tmp_path / "site"

    def rendered_on() -> str:
        sitegen_log.clear()
        build_with(root, output, 2)
        lines = [m for m in sitegen_log.messages if m.startswith("rendering")]
        assert len(lines) == 1, lines
        return lines[0]

    assert rendered_on() == "rendering every unit on two processes"
    write_repository(root, "acme/cache", {"latest": GOOD})
    assert rendered_on().endswith(" units on one process")
    monkeypatch.setattr(units, "SPLIT_UNITS", 2)
    write_repository(root, "acme/queue", {"latest": GOOD})
    assert rendered_on().endswith(" units on two processes")
    feeds = {paths.CHANGES_JSON, paths.CHANGES_FEED}  # a full build lists every change
    full = tree(_full_build(root, tmp_path / "full" / "site"))
    assert {k: v for k, v in tree(output).items() if k not in feeds} == {
        k: v for k, v in full.items() if k not in feeds}
    # Whole-registry work stays with the parent, whatever the build redoes, and so do the
    # namespace pages, which list the index page's rows.
    assert not units.in_worker_share(units.SITE) and not units.in_worker_share(units.SEARCH)
    assert not any(units.in_worker_share(units.namespace(f"ns{i}")) for i in range(100))


def _full_build(root: Path, output: Path) -> Path:
    build(Config(source=root, output=output), Report(), full=True, jobs=1)
    return output


def test_a_small_rebuild_writes_its_search_segments_in_a_process_beside_it(
    tmp_path: Path, sitegen_log: pytest.LogCaptureFixture
) -> None:
    """A new tag's search segment is written on the second core, into the same index files
    a full build writes (`segment_writer.py`); with one core, by the build itself. The
    process reads the labels of the tagged images from their JSON in the storage."""
    root = tmp_path / "storage"
    write_image(root, GOOD)
    labelled = image_id("labelled")
    write_image(root, labelled, GOOD, labels={"team": "payments"})
    for name in ("web", "api", "db"):
        write_repository(root, f"acme/{name}", {"latest": GOOD})
    sites = {jobs: tmp_path / f"j{jobs}" / "site" for jobs in (1, 2)}
    for jobs, output in sites.items():
        build_with(root, output, jobs)
    write_repository(root, "acme/web", {"latest": GOOD, "brand-new": labelled})

    for jobs, output in sites.items():
        sitegen_log.clear()
        build_with(root, output, jobs)
        beside = [m for m in sitegen_log.messages if "segments beside the pages" in m]
        assert beside == (["writing 1 search index segments beside the pages"] if jobs == 2 else [])
    assert tree(sites[2]) == tree(sites[1])
    full = tmp_path / "full" / "site"
    build_with(root, full, 1)
    assert tree(sites[2] / paths.INDEX_DIR) == tree(full / paths.INDEX_DIR)
    with SearchIndex.open(sites[2] / paths.INDEX_DIR) as ix:
        assert ix.ranked("tag:brand-new") == ["acme/web"]
        assert ix.ranked("label:team=payments") == ["acme/web"]


def _built_then_tagged(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(storage, site, reference): two repositories built into `site` on two processes and
    into the reference on one, then a new tag in the storage (a rebuild's segment beside)."""
    root = tmp_path / "storage"
    write_image(root, GOOD)
    for name in ("web", "api"):
        write_repository(root, f"acme/{name}", {"latest": GOOD})
    output, reference = tmp_path / "site", tmp_path / "reference" / "site"
    build_with(root, output, 2)
    build_with(root, reference, 1)
    write_repository(root, "acme/api", {"latest": GOOD, "v2": GOOD})
    return root, output, reference


def test_a_rebuild_ends_the_segment_writer_it_started_early_whether_it_used_it_or_not(
    tmp_path: Path, sitegen_log: pytest.LogCaptureFixture
) -> None:
    """The process is started once the walk finds a change, before the build knows whether
    a search document changed: a push that changes none leaves no process behind, and the
    site is the one a build on one core makes."""
    root, output, reference = _built_then_tagged(tmp_path)
    before = children()  # (servers other tests' fixtures started)
    build_with(root, output, 2)  # the new tag: its segment written by the early process
    assert "writing 1 search index segments beside the pages" in sitegen_log.messages
    assert children() == before
    build_with(root, reference, 1)  # (the change feeds list every build's changes)
    other = image_id("other")
    write_image(root, other, GOOD)
    write_repository(root, "acme/web", {"latest": other})  # same tags, no labels: same document
    sitegen_log.clear()
    build_with(root, output, 2)
    assert not [m for m in sitegen_log.messages if "segments beside" in m]
    assert children() == before
    build_with(root, reference, 1)
    assert tree(output) == tree(reference)


def test_a_build_that_fails_after_its_pages_stops_the_process_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The segments are waited for just before publishing: a failure before then kills the
    process writing them, and the published site stays as it was."""
    root, output, reference = _built_then_tagged(tmp_path)
    published = tree(output)
    started: list[segment_writer.SegmentWriter] = []
    start = segment_writer.SegmentWriter.__init__

    def starting(writer: segment_writer.SegmentWriter, *args: object) -> None:
        start(writer, *args)  # type: ignore[arg-type]
        started.append(writer)

    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    with monkeypatch.context() as patch:
        patch.setattr(segment_writer.SegmentWriter, "__init__", starting)
        patch.setattr(state, "dump_rest", failing)  # after the pages and the search indexes
        with pytest.raises(RuntimeError, match="the disk is full"):
            build_with(root, output, 2)
    assert len(started) == 1
    assert started[0]._process.returncode is not None  # stopped and reaped
    assert tree(output) == published
    build_with(root, output, 2)
    build_with(root, reference, 1)
    assert tree(output) == tree(reference)


@pytest.mark.parametrize("python", ["/bin/false", "/nonexistent/python3"])
def test_when_the_process_beside_fails_the_build_writes_the_segments_itself(
    tmp_path: Path, sitegen_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
    python: str,
) -> None:
    """A process that exits with an error, or cannot start: a warning, and the same site."""
    root, output, reference = _built_then_tagged(tmp_path)
    build_with(root, reference, 1)

    monkeypatch.setattr("sys.executable", python)
    sitegen_log.clear()
    report = build_with(root, output, 2)
    warnings = [r.getMessage() for r in sitegen_log.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    assert "search index segments" in warnings[0]
    assert ("exit status 1" if python == "/bin/false" else "No such file") in warnings[0]
    assert not report.problems
    assert tree(output) == tree(reference)
