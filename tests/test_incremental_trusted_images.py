"""A completed image's folder that did not change keeps its fingerprint without its files
being stat'ed (`incremental._folder_fingerprint`): what a rebuild still sees, and what only
`--full` does.

Real storage, changed the way the registry (or a tool on its files) changes it, and
incremental builds compared with `--full` builds of the same storage.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from generator import incremental, paths, state
from tests.support.storage import image_id, write_image, write_repository
from tests.test_incremental import base_storage, files, replace, rewrite, run

AN_HOUR = 3600 * 10**9


def _storage(root: Path) -> dict[str, str]:
    """The base storage, an image whose push is in progress, all an hour old but `web2`'s
    layer (half an hour: the storage's clock), and older than the racy window."""
    ids = base_storage(root)
    ids["wip"] = image_id("wip")
    write_image(root, ids["wip"], ids["base"])
    (root / "images" / ids["wip"] / "_inprogress").write_text("true")
    old = time.time_ns() - AN_HOUR
    for path in [root, *root.rglob("*")]:
        os.utime(path, ns=(old, old))
    clock = root / "images" / ids["web2"] / "layer"
    os.utime(clock, ns=(old + AN_HOUR // 2, old + AN_HOUR // 2))
    time.sleep(incremental.RACY_NS / 1e9 + 0.1)  # ctimes too: listings and fingerprints kept
    return ids


def _same_sites(incremental_site: Path, full_site: Path, what: str) -> None:
    assert files(incremental_site) == files(full_site), what
    mine, theirs = state.load_sources(incremental_site), state.load_sources(full_site)
    assert mine is not None and theirs is not None
    assert mine.newest_mtime_ns == theirs.newest_mtime_ns, what


def test_a_rebuild_sees_what_the_registry_and_renaming_tools_change(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    ids = _storage(root)
    inc, full = tmp_path / "inc" / "site", tmp_path / "full" / "site"
    run(root, inc)
    run(root, full, full=True)
    # A repository file written in place and dated back: the storage's clock is still the
    # trusted `web2` folder's newest mtime, remembered from the last walk.
    tag_json = root / "repositories/acme/web/taglatest_json"
    before = tag_json.stat().st_mtime_ns
    rewrite(tag_json, '{"last_update": 1500000000}')
    os.utime(tag_json, ns=(before + 1, before + 1))
    run(root, inc)
    run(root, full, full=True)
    _same_sites(inc, full, "a repository file written in place")
    built = json.loads((inc / paths.CHANGES_JSON).read_bytes())["built"]
    web2_layer = (root / "images" / ids["web2"] / "layer").stat().st_mtime_ns
    assert built == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(web2_layer // 10**9))
    # An image whose push is in progress, its json written in place (as the registry does).
    wip = root / "images" / ids["wip"] / "json"
    meta = json.loads(wip.read_bytes())
    rewrite(wip, json.dumps({**meta, "comment": "retried"}, separators=(",", ":")))
    (root / "images" / ids["wip"] / "_inprogress").unlink()  # and then completed
    run(root, inc)
    run(root, full, full=True)
    _same_sites(inc, full, "an image in progress written in place, then completed")
    assert "retried" in (inc / "v1/images" / ids["wip"] / "json").read_text()
    # A completed image's file written anew and renamed over (editors, sed -i, rsync).
    path = root / "images" / ids["web1"] / "json"
    meta = json.loads(path.read_bytes())
    replace(path, json.dumps({**meta, "comment": "renamed over"}).encode())
    run(root, inc)
    run(root, full, full=True)
    _same_sites(inc, full, "a completed image's file renamed over")
    assert "renamed over" in (inc / "v1/images" / ids["web1"] / "json").read_text()
    # A completed image's folder gains a file (GET /files writes `_files`).
    (root / "images" / ids["api1"] / "_files").write_text('[["/f", "f", 0, 0, 0, 0, 0, 0]]')
    run(root, inc)
    run(root, full, full=True)
    _same_sites(inc, full, "a completed image gains _files")


def test_only_a_full_build_sees_a_completed_image_edited_in_place(tmp_path: Path) -> None:
    """The registry never does that (PUT json and PUT layer answer 409): a tool's in-place
    edit of a completed image is seen by the next `--full` build."""
    root = tmp_path / "storage"
    ids = _storage(root)
    inc, full = tmp_path / "inc" / "site", tmp_path / "full" / "site"
    run(root, inc)
    run(root, full, full=True)
    path = root / "images" / ids["api1"] / "json"
    meta = json.loads(path.read_bytes())
    rewrite(path, json.dumps({**meta, "comment": "edited in place"}, separators=(",", ":")))
    run(root, full, full=True)
    published = inc / "v1/images" / ids["api1"] / "json"
    result, _ = run(root, inc)
    assert not result.changed  # the folder is the same: its files were not looked at
    assert "edited in place" not in published.read_text()
    run(root, inc, full=True)
    assert "edited in place" in published.read_text()
    _same_sites(inc, full, "--full")


def test_a_walk_that_trusts_completed_images_finds_what_a_fresh_walk_finds(
    tmp_path: Path,
) -> None:
    """The fingerprints, listings and clock of a walk given the last one's (`known`, `old`)
    are a fresh walk's, for folders trusted and not."""
    root = tmp_path / "storage"
    ids = _storage(root)
    first = incremental.scan(root, "v1")
    assert first is not None
    known, old = first.kept_listings(), first.kept()
    assert all(v for k, v in old.items() if k[0] != "N")  # nothing racy: all may be trusted
    again = incremental.scan(root, "v1", 2, known, old)
    assert again is not None
    assert again.fingerprints == first.fingerprints
    assert again.newest_mtime_ns == first.newest_mtime_ns
    assert again.listings == first.listings
    # One racy entry (written in place within the racy window): blanked, stat'ed again.
    layer = root / "images" / ids["base"] / "layer"
    layer.write_bytes(layer.read_bytes() + b"\0")
    racy = incremental.scan(root, "v1", 1, known, old)
    assert racy is not None and racy.fingerprints == old  # trusted: written in place
    fresh = incremental.scan(root, "v1")
    assert fresh is not None and fresh.fingerprints != old
    old = {**old, f"I:{ids['base']}": b""}  # what `Scan.kept` leaves of a racy entry
    blanked = incremental.scan(root, "v1", 2, known, old)
    assert blanked is not None and blanked.fingerprints == fresh.fingerprints
    assert blanked.newest_mtime_ns == fresh.newest_mtime_ns


def test_the_walk_on_two_processes_finds_what_one_finds(tmp_path: Path) -> None:
    """The worker fingerprints half of the image and repository folders: the entries, in
    crawl order, are those of a walk on one process, trusted folders or not."""
    root = tmp_path / "storage"
    ids = _storage(root)
    for n in range(12):  # enough entries for the worker (`forked.MIN_WORKER_ITEMS`)
        write_image(root, image_id(f"more{n}"), ids["base"])
        write_repository(root, f"ns{n % 3}/repo{n}", {"latest": image_id(f"more{n}")})
    (root / "images" / "stray").write_text("not an image")
    (root / "repositories/ns0/stray").write_text("not a repository")
    time.sleep(incremental.RACY_NS / 1e9 + 0.1)
    first = incremental.scan(root, "v1", 1)
    assert first is not None
    for known, old in (({}, {}), (first.kept_listings(), first.kept())):
        one, two = incremental.scan(root, "v1", 1, known, old), incremental.scan(
            root, "v1", 2, known, old)
        assert one is not None and two is not None
        assert two.entries == one.entries == first.entries
        assert two.listings == one.listings == first.listings
        assert two.newest_mtime_ns == one.newest_mtime_ns == first.newest_mtime_ns
