"""`/files` answers are kept in the build state's listing store (`listings.py`), not in memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator import listings, state
from generator.build import build, listings_of
from generator.config import Config
from generator.emit import v1_tree
from generator.report import Report
from generator.sources import v1
from generator.sources.layer_files import files_json
from tests.support.storage import image_id, layer_tar, write_image, write_repository


def _build(root: Path, output: Path, *, full: bool = False) -> Report:
    report = Report()
    build(Config(source=root, output=output), report, full=full, jobs=1)
    return report


def _storage(root: Path) -> dict[str, str]:
    ids = {name: image_id(name) for name in ("base", "web", "api")}
    write_image(root, ids["base"], layer=layer_tar({"etc/os-release": b"base"}))
    write_image(root, ids["web"], ids["base"], layer=layer_tar({"srv/web": b"web"}))
    write_image(root, ids["api"], ids["base"], layer=layer_tar({"srv/api": b"api", "x": b""}))
    write_repository(root, "acme/web", {"latest": ids["web"]})
    write_repository(root, "acme/api", {"latest": ids["api"]})
    return ids


def _published(output: Path, iid: str) -> bytes:
    return (output / "v1" / "images" / iid / "files").read_bytes()


def test_the_crawl_keeps_files_answers_in_the_store_not_in_memory(tmp_path: Path) -> None:
    root, output = tmp_path / "storage", tmp_path / "site"
    ids = _storage(root)
    assert not _build(root, output).problems
    memory = state.load_memory(output)
    assert memory is not None
    images = [entry for entry, _problems in memory.cache.values() if entry is not None
              and entry.__class__.__name__ == "Image"]
    assert len(images) == 3
    assert all(image.files is None and image.files_digest is not None for image in images)
    store = listings_of(output)
    for iid in ids.values():
        answer = files_json(root / "images" / iid / "layer")
        assert _published(output, iid) == answer
        assert store.get(listings.digest(answer)) == answer
    assert len(list(store.folder.iterdir())) == 3
    page = (output / "images" / ids["web"] / "index.html").read_text()
    assert f"images/{ids['web']}/files" in page  # the page links the answer it no longer holds


def test_an_answer_lost_from_the_store_is_computed_again(tmp_path: Path) -> None:
    root, output = tmp_path / "storage", tmp_path / "site"
    ids = _storage(root)
    _build(root, output)
    before = _published(output, ids["web"])
    store = listings_of(output)
    lost = store.path(listings.digest(before))
    lost.unlink()
    # A new tag naming the image: its unit is redone, its folder is not crawled again.
    write_repository(root, "acme/web", {"latest": ids["web"], "stable": ids["web"]})
    assert not _build(root, output).problems
    assert _published(output, ids["web"]) == before
    assert lost.read_bytes() == before  # and kept again


def test_an_answer_that_changed_since_the_crawl_is_a_problem_naming_it(tmp_path: Path) -> None:
    """Lost from the store, and the storage no longer gives the crawl's answer (a layer edited
    in place, which the walk does not see): `/files` is left out, with a problem."""
    root = tmp_path / "storage"
    ids = _storage(root)
    store = listings.ListingStore(tmp_path / "state" / listings.FOLDER)
    images_dir = root / "images"
    api = v1.image_entry(images_dir, ids["api"], True, Report(), store)
    web = v1.image_entry(images_dir, ids["web"], True, Report(), store)
    assert api is not None and web is not None and api.files_digest is not None
    store.path(api.files_digest).write_bytes(b"[]")  # damaged by hand
    (images_dir / ids["api"] / "layer").write_bytes(layer_tar({"other": b"!"}))
    report = Report()
    selection = v1_tree.Selection((), (api, web))
    outputs = {o.relpath: o.data for o in v1_tree.site_outputs(selection, False, report, store)}
    assert [str(p.path) for p in report.problems] == [str(store.path(api.files_digest))]
    assert "gone" in report.problems[0].reason
    assert f"v1/images/{ids['api']}/files" not in outputs
    assert json.loads(outputs[f"v1/images/{ids['web']}/files"] or b"")


@pytest.mark.parametrize("full", [False, True])
def test_answers_no_image_names_are_removed_once_the_site_is_published(
    tmp_path: Path, full: bool
) -> None:
    root, output = tmp_path / "storage", tmp_path / "site"
    ids = _storage(root)
    _build(root, output)
    store = listings_of(output)
    gone = store.path(listings.digest(_published(output, ids["api"])))
    (store.folder / f".{'0' * 32}.1234").write_bytes(b"left by a killed build")
    for path in (root / "images" / ids["api"]).iterdir():
        path.unlink()
    (root / "images" / ids["api"]).rmdir()
    write_repository(root, "acme/api", {"latest": ids["web"]})
    _build(root, output, full=full)
    assert not gone.exists()
    assert sorted(p.name for p in store.folder.iterdir()) == sorted(
        listings.digest(_published(output, i)).hex() for i in (ids["base"], ids["web"]))


def test_a_rebuild_keeps_the_store_to_the_answers_its_images_name(tmp_path: Path) -> None:
    """Pushes that only add images leave every answer named; a layer replaced (as a tool that
    writes a new file and renames it over the old one) or an image deleted leaves one unnamed,
    and the rebuild removes it."""
    root, output = tmp_path / "storage", tmp_path / "site"
    ids = _storage(root)
    _build(root, output)
    store = listings_of(output)

    def named() -> list[str]:
        images = [p.name for p in (root / "images").iterdir()]
        return sorted({listings.digest(_published(output, i)).hex() for i in images})

    extra = image_id("extra")
    write_image(root, extra, ids["web"], layer=layer_tar({"srv/extra": b"extra"}))
    write_repository(root, "acme/extra", {"latest": extra})
    _build(root, output)
    assert sorted(p.name for p in store.folder.iterdir()) == named()
    before = store.path(listings.digest(_published(output, ids["api"])))
    replacement = root / "images" / ids["api"] / "layer.new"
    replacement.write_bytes(layer_tar({"srv/api": b"api v2"}))
    replacement.replace(root / "images" / ids["api"] / "layer")
    _build(root, output)
    assert not before.exists()
    assert sorted(p.name for p in store.folder.iterdir()) == named()


def test_a_store_that_cannot_be_written_leaves_the_answer_held(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    ids = _storage(root)
    blocked = tmp_path / "state"
    blocked.write_text("a file where the store's folder goes")
    store = listings.ListingStore(blocked / listings.FOLDER)
    report = Report()
    image = v1.image_entry(root / "images", ids["web"], True, report, store)
    assert image is not None and image.files_digest is None
    assert image.files == files_json(root / "images" / ids["web"] / "layer")
    assert [p.path for p in report.problems] == [str(store.folder)]
    outputs = {o.relpath: o.data for o in
               v1_tree.site_outputs(v1_tree.Selection((), (image,)), False, Report(), store)}
    assert outputs[f"v1/images/{ids['web']}/files"] == image.files
