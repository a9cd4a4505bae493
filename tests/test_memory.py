"""What keeps a build's memory small: the model, the build state, the search index writer.

At 20,000 repositories a build must stay under 300 MB (README, "Speed and
memory"). These tests pin the mechanisms that keep it there, each in a way
that would fail if it were undone, without timing or measuring a whole build.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import pickle
import tracemalloc
from pathlib import Path
from typing import BinaryIO

import pytest

from generator import build, chunk_store, index, state
from generator.emit import v1_tree
from generator.emit.writer import SiteWriter, pack, unpack
from generator.model import Image, Repository, Tag, pack_checksums
from generator.report import Report
from generator.sources import v1
from tests.support.storage import image_id, write_image, write_repository

# --- the model -------------------------------------------------------------------------------


def test_image_config_is_decoded_from_the_stored_json_and_not_kept() -> None:
    raw = b'{"os":"linux","config":{"Labels":{"team":"blue"}}}'
    image = Image(id="a" * 64, json=raw)
    assert image.config == {"os": "linux", "config": {"Labels": {"team": "blue"}}}
    assert image.labels == {"team": "blue"}
    assert b"linux" in pickle.dumps(image)  # in the raw bytes, once
    assert pickle.dumps(image).count(b"team") == 1
    for stored in (None, b"", b"[1, 2]", b'"text"', b"{not json", b"\xff"):
        assert Image(id="b" * 64, json=stored).config == {}


def test_a_crawl_holds_one_string_per_image_id(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    base, child = image_id("base"), image_id("child")
    write_image(root, base)
    write_image(root, child, base)
    write_repository(root, "acme/web", {"latest": child})
    registry = v1.crawl(root, Report())
    parent, image = registry.image(base), registry.image(child)
    assert parent is not None and image is not None and image.ancestry is not None
    assert image.ancestry[1] is parent.id
    assert image.parent is parent.id
    assert registry.repositories[0].tags[0].value is image.id
    assert registry.repositories[0].image_ids()[0] is image.id
    # The layer as a string (a Path per image is 400 bytes), a Path when asked for.
    assert image.layer_file == str(root / "images" / child / "layer")
    assert image.layer_path == root / "images" / child / "layer"
    # Neither is held: both images share one string, their storage's `images` folder.
    assert image.images_dir is parent.images_dir
    assert pickle.dumps(registry.images).count(str(root).encode()) == 1


def test_the_registry_made_again_before_the_render_is_the_crawl_with_one_string_per_id(
    tmp_path: Path,
) -> None:
    """`_Crawled.compact` replaces the crawl by a copy of it made in one go (why: there)."""
    root = tmp_path / "storage"
    base, child = image_id("base"), image_id("child")
    write_image(root, base)
    write_image(root, child, base, labels={"team": "blue"})
    write_repository(root, "acme/web", {"latest": child, "base": base})
    crawled = v1.crawl(root, Report())
    crawl = build._Crawled(crawled, {}, orphans=True)
    try:
        crawl.compact()
    finally:
        gc.unfreeze()  # (as `build` does once it is over)
    again = crawl.registry
    assert again == crawled
    assert again.images[0] is not crawled.images[0]
    assert again.repositories[0] is not crawled.repositories[0]
    parent, image = again.image(base), again.image(child)
    assert parent is not None and image is not None and image.ancestry is not None
    assert image.ancestry[1] is parent.id and image.parent is parent.id
    assert {tag.value for tag in again.repositories[0].tags} == {base, child}
    assert again.repositories[0].image_ids()[1] is image.id
    assert image.labels == {"team": "blue"}


def test_a_crawl_holds_plain_sha256_checksums_as_their_digests(tmp_path: Path) -> None:
    """32 bytes for a checksum rather than a string in a tuple; `checksums` gives them back."""
    root = tmp_path / "storage"
    plain, odd = image_id("plain"), image_id("odd")
    written = {
        plain: ["sha256:" + "0f" * 32, "sha256:" + "a1" * 32],
        odd: ["tarsum+sha256:" + "0f" * 32, "sha256:" + "AB" * 32, "sha256:short"],
    }
    for iid, values in written.items():
        write_image(root, iid)
        (root / "images" / iid / "_checksum").write_text(json.dumps(values))
    registry = v1.crawl(root, Report())
    for iid, values in written.items():
        image = registry.image(iid)
        assert image is not None and image.checksums == tuple(values)
    packed = registry.image(plain).packed_checksums  # type: ignore[union-attr]
    assert packed == bytes.fromhex("0f" * 32 + "a1" * 32)
    assert pack_checksums([]) == () and not Image(id="c" * 64).checksums


def test_a_repository_holds_equal_metadata_once(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    iid = image_id("web")
    write_image(root, iid)
    folder = write_repository(root, "acme/web", {"latest": iid, "v1": iid, "v2": iid})
    (folder / "json").write_bytes((folder / "taglatest_json").read_bytes())
    repository = v1.crawl(root, Report()).repositories[0]
    first = repository.tags[0].metadata
    assert first is not None and all(tag.metadata is first for tag in repository.tags)
    assert repository.metadata is first


def test_the_build_state_keeps_one_string_per_image_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every entry in a chunk of its own: each chunk is a pickle with its own memo, and
    # loading shares the strings again.
    monkeypatch.setattr(state, "_CHUNK", 1)
    root = tmp_path / "storage"
    base, child = image_id("base"), image_id("child")
    write_image(root, base)
    write_image(root, child, base)
    write_repository(root, "acme/web", {"latest": child, "v1": child})
    registry = v1.crawl(root, Report())
    registry.repositories[0].image_ids()
    cache = {f"R:{r.full_name}": (r, ()) for r in registry.repositories}
    cache.update({f"I:{i.id}": (i, ()) for i in registry.images})
    memory = state.Memory(state.FORMAT, "key", {}, cache=cache)
    folder = state.state_dir(tmp_path / "site")
    folder.mkdir()
    (folder / state.MEMORY_FILE).write_bytes(state.dump(memory))
    loaded = state.load_memory(tmp_path / "site")
    assert loaded == memory
    repository = loaded.cache["R:acme/web"][0]
    parent, image = loaded.cache[f"I:{base}"][0], loaded.cache[f"I:{child}"][0]
    assert image.ancestry == (child, base) and image.ancestry[0] is image.id
    assert image.ancestry[1] is parent.id and image.parent is parent.id
    assert all(tag.value is image.id for tag in repository.tags)
    assert repository.image_ids() == (child,) and repository.image_ids()[0] is image.id
    assert image.json_file == str(root / "images" / child / "json")
    assert image.stored_json() == (root / "images" / child / "json").read_bytes()


def test_a_v1_crawl_reads_image_json_again_rather_than_holding_it(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    iid = image_id("web")
    folder = write_image(root, iid, labels={"team": "blue"})
    raw = (folder / "json").read_bytes()
    image = v1.crawl(root, Report()).images[0]
    assert image.json is None and image.has_json
    assert image.json_file == str(folder / "json")
    assert b"blue" not in pickle.dumps(image)  # the build state holds a path and a digest
    assert image.stored_json() == raw
    assert image.labels == {"team": "blue"}


def test_image_json_gone_or_changed_since_the_crawl_is_a_problem(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    gone, changed, kept = image_id("gone"), image_id("changed"), image_id("kept")
    for iid in (gone, changed, kept):
        write_image(root, iid)
    registry = v1.crawl(root, Report())
    (root / "images" / gone / "json").unlink()
    (root / "images" / changed / "json").write_text('{"id": "edited"}')
    report = Report()
    outputs = list(v1_tree.site_outputs(v1_tree.select(registry, True), False, report))
    published = {o.relpath for o in outputs}
    assert f"v1/images/{kept}/json" in published
    assert f"v1/images/{gone}/json" not in published
    assert f"v1/images/{changed}/json" not in published
    assert f"v1/images/{gone}/ancestry" in published  # the rest of the image goes on
    assert sorted(p.path for p in report.problems) == sorted(
        str(root / "images" / i / "json") for i in (gone, changed))
    assert registry.image(changed).config == {}  # type: ignore[union-attr]


def test_a_v1_crawl_reads_index_images_again_rather_than_holding_it(tmp_path: Path) -> None:
    """`_index_images` lists every image pushed: read again to publish `/images`. The
    registry rewrites it at each push: what it holds then is published, and a file gone is
    a problem naming it (the rest of the repository goes on)."""
    root = tmp_path / "storage"
    web, api = image_id("web"), image_id("api")
    for iid in (web, api):
        write_image(root, iid)
    folders = {name: write_repository(root, f"acme/{name}", {"latest": iid})
               for name, iid in (("web", web), ("api", api))}
    (folders["web"] / "_index_images").write_text(json.dumps([{"id": api}, {"id": web}]))
    registry = v1.crawl(root, Report())
    repository = registry.repositories[1]
    assert repository.full_name == "acme/web" and repository.index_images is None
    assert repository.image_ids() == tuple(sorted((web, api)))  # read while crawling
    assert api.encode() not in pickle.dumps(repository.index_images_digest)
    assert repository.index_images_file == str(folders["web"] / "_index_images")
    (folders["web"] / "_index_images").write_text(json.dumps([{"id": web}]))  # a push since
    (folders["api"] / "_index_images").unlink()
    report = Report()
    outputs = {o.relpath: o.data for o in
               v1_tree.site_outputs(v1_tree.select(registry, True), False, report)}
    assert json.loads(outputs["v1/repositories/acme/web/images"] or b"") == [{"id": web}]
    assert "v1/repositories/acme/api/images" not in outputs
    assert any(k.startswith("v1/repositories/acme/api/tags/") for k in outputs)
    assert [p.path for p in report.problems] == [str(folders["api"] / "_index_images")]


# --- the writer ------------------------------------------------------------------------------


def test_a_whole_tree_is_remembered_by_unit_not_by_path(tmp_path: Path) -> None:
    # 593,000 files at 20,000 repositories: a string and a dict entry per path was 160 MB.
    writer = SiteWriter(tmp_path / "site", Report())
    ids = [f"{i:064x}" for i in range(200)]
    paths = [f"v1/images/{i}/{name}" for i in ids for name in ("json", "ancestry", "files", "x")]
    paths += [f"v1/images/{i}/more/{n}" for i in ids for n in range(16)]
    tracemalloc.start()
    try:
        for relpath in paths:
            image = relpath[10:74]
            writer.write(relpath, b"", f"image {image}", f"image:{image}")
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    characters = sum(len(p) for p in paths)
    assert held < characters + 24 * len(paths), (held, characters, len(paths))
    manifest = writer.manifest()
    assert sum(len(unpack(u, files)) for u, files in manifest.items()) == len(paths)
    first = f"image:{ids[0]}"
    assert unpack(first, manifest[first])[0] == f"v1/images/{ids[0]}/ancestry"
    writer.discard()


def test_units_made_alike_share_one_string_while_they_are_written(tmp_path: Path) -> None:
    """The emitters write every image's documents, then every image's page: each path makes
    its unit's string anew, and a pass every few thousand paths shares the equal ones."""
    writer = SiteWriter(tmp_path / "site", Report())
    ids = [f"{i:064x}" for i in range(3000)]
    for names in (("json", "ancestry"), ("page.html",)):
        for i in ids:
            for name in names:
                writer.write(f"v1/images/{i}/{name}", b"", f"image {i}", f"image:{i}")
    held = dict(writer._packed)  # as written: `claims()` would share them all
    strings = {id(packed) for packed in held.values()}
    # Only the units written since the last pass hold their own string (9,000 paths: 808).
    assert len(held) == len(ids) and len(strings) < len(ids) // 3, len(strings)
    manifest = writer.manifest()
    assert set(unpack(f"image:{ids[7]}", manifest[f"image:{ids[7]}"])) == {
        f"v1/images/{ids[7]}/{name}" for name in ("json", "ancestry", "page.html")}
    writer.discard()


# --- the build state -------------------------------------------------------------------------


def _memory(n: int) -> state.Memory:
    images = [Image(id=f"{i:064x}", json=b'{"os":"linux"}', ancestry=(f"{i:064x}",))
              for i in range(n)]
    repos = [Repository("ns", f"r{i}", tags=(Tag("latest", f"{i:064x}"),)) for i in range(n)]
    cache = {f"I:{i.id}": (i, ()) for i in images}
    cache.update({f"R:{r.full_name}": (r, ()) for r in repos})
    manifest = {f"image:{i.id}": pack(f"image:{i.id}", (f"v1/images/{i.id}/json", "x"))
                for i in images}
    published = {f"ns/r{i}": {"latest": f"{i:064x}"} for i in range(n)}
    return state.Memory(state.FORMAT, "key", manifest, cache=cache, published=published,
                        feed=[{"title": "x"}])


def test_the_memory_state_round_trips_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "_CHUNK", 7)
    memory = _memory(100)
    folder = state.state_dir(tmp_path / "site")
    folder.mkdir()
    with (folder / state.MEMORY_FILE).open("wb") as f:
        state.dump_to(memory, f)
    loaded = state.load_memory(tmp_path / "site")
    assert loaded == memory
    assert loaded is not None and list(loaded.cache) == list(memory.cache)  # crawl order kept
    # A build that will not trust the crawl (--full, other settings) does not hold it.
    without = state.load_memory(tmp_path / "site", crawl=False)
    assert without is not None and without.cache == {} and without.registry is None
    assert (without.manifest, without.published, without.feed) == (
        memory.manifest, memory.published, memory.feed)
    # Sources are one pickle, their summary and problems another (written when known).
    sources = state.Sources(state.FORMAT, "key", "v1", {"I:x": b"f"}, 1, state.Summary(1), ())
    (folder / state.SOURCES_FILE).write_bytes(state.dump(sources))
    assert state.load_sources(tmp_path / "site") is None  # no report: start from nothing
    (folder / state.REPORT_FILE).write_bytes(state.dump((state.Summary(1), ())))
    assert state.load_sources(tmp_path / "site") == sources


def _remembered_300(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> state.Memory:
    """The memory of 300 repositories and images, written in chunks of 10 and read back."""
    monkeypatch.setattr(state, "_CHUNK", 10)
    folder = state.state_dir(tmp_path / "site")
    folder.mkdir()
    with (folder / state.MEMORY_FILE).open("wb") as f:
        state.dump_to(_memory(300), f)
    loaded = state.load_memory(tmp_path / "site")
    assert loaded is not None and loaded.origin is not None
    return loaded


def test_the_next_memory_state_copies_the_chunks_that_did_not_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = _remembered_300(tmp_path, monkeypatch)
    assert loaded.origin is not None
    folder = state.state_dir(tmp_path / "site")
    path = folder / state.MEMORY_FILE
    # The next build: one image changed, one added, one repository gone; the rest is kept.
    cache = dict(loaded.cache)
    changed = next(iter(k for k in cache if k.startswith("I:")))
    cache[changed] = (Image(id=changed[2:], json=b"{}"), ())
    cache["I:" + "f" * 64] = (Image(id="f" * 64), ())
    del cache["R:ns/r7"]
    after = dataclasses.replace(loaded, cache=cache, origin=None)
    pickled = []
    real = state._pickler

    def counting(file: BinaryIO) -> pickle.Pickler:
        pickled.append(file)
        return real(file)

    monkeypatch.setattr(state, "_pickler", counting)
    with (folder / "next").open("wb") as f:
        state.dump_to(after, f, previous=loaded)
    chunks = len(loaded.origin.chunks)
    assert chunks > 60 and len(pickled) < 10, (chunks, len(pickled))  # head, ends, 3 changes
    path.unlink()
    (folder / "next").rename(path)
    assert state.load_memory(tmp_path / "site") == after
    # A file that is no longer the one read is not copied from.
    pickled.clear()
    with (folder / "other").open("wb") as f:
        state.dump_to(after, f, previous=loaded)
    assert len(pickled) > chunks


def test_a_build_writes_the_crawl_first_and_then_lets_go_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build writes the crawl as soon as it has it (`dump_crawl`) and drops the entries'
    keys and pairs while it renders; with the rest (`dump_rest`) it reads back whole."""
    loaded = _remembered_300(tmp_path, monkeypatch)
    assert loaded.origin is not None
    folder = state.state_dir(tmp_path / "site")
    path = folder / state.MEMORY_FILE
    cache = dict(loaded.cache)
    cache["I:" + "f" * 64] = (Image(id="f" * 64), ())
    after = dataclasses.replace(loaded, cache=cache, origin=None)
    with (folder / "in-two").open("wb") as f:
        state.dump_crawl(cache, f, previous=loaded)
        state.forget_crawl(loaded)
        assert loaded.cache == {} and all(field != "cache" for field, _ in loaded.origin.chunks)
        state.dump_rest(after, f, previous=loaded)  # its other fields still copied
    path.unlink()
    (folder / "in-two").rename(path)
    assert state.load_memory(tmp_path / "site") == after


def test_a_memory_state_with_a_store_names_its_chunks_and_writes_only_the_changed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a chunk store, the state's file names its chunks (it is small) and a rebuild
    writes only the chunks that changed; the store, pruned, keeps what the file names."""
    loaded = _remembered_300(tmp_path, monkeypatch)  # (a file holding its chunks: converted)
    site = tmp_path / "site"
    folder, store = state.state_dir(site), state.chunk_store(site)
    path = folder / state.MEMORY_FILE
    inline = path.stat().st_size
    with (folder / "next").open("wb") as f:
        state.dump_to(loaded, f, previous=loaded, store=store)
    (folder / "next").replace(path)
    first = {p.name for p in store.folder.iterdir()}
    assert path.stat().st_size < inline / 4 and len(first) > 60
    assert first == store.used
    assert state.load_memory(site) == dataclasses.replace(loaded, origin=None)
    # The next build: one image changed; the rest is named again, not written.
    loaded = state.load_memory(site)
    assert loaded is not None
    cache = dict(loaded.cache)
    changed = next(iter(k for k in cache if k.startswith("I:")))
    cache[changed] = (Image(id=changed[2:], json=b"{}"), ())
    after = dataclasses.replace(loaded, cache=cache, origin=None)
    store = state.chunk_store(site)
    with (folder / "next").open("wb") as f:
        state.dump_to(after, f, previous=loaded, store=store)
    (folder / "next").replace(path)
    second = {p.name for p in store.folder.iterdir()}
    assert len(second - first) == 1  # the chunk of the changed image
    assert store.prune() == 1 and {p.name for p in store.folder.iterdir()} == store.used
    assert state.load_memory(site) == after
    # A chunk gone: the memory is unreadable, and the build starts from nothing.
    (store.folder / sorted(store.used)[0]).unlink()
    assert state.load_memory(site) is None


def test_the_next_walk_in_the_state_names_the_chunks_that_did_not_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk's fingerprints and listings are chunked as the memory is. The next walk
    makes new fingerprints of every repository (equal ones) and lets go of the last one's
    before the state is written: its chunks are still named again where nothing changed."""
    monkeypatch.setattr(state, "_CHUNK", 10)
    site = tmp_path / "site"
    folder = state.state_dir(site)
    folder.mkdir()
    (folder / state.REPORT_FILE).write_bytes(state.dump((state.Summary(1), ())))
    keys = [f"R:ns/r{i:03d}" for i in range(300)]
    listings = {k: (1, i, f"json\0tag_{i}", 2) for i, k in enumerate(keys)}
    sources = state.Sources(state.FORMAT, "key", "v1", {k: bytes(16) for k in keys}, 5,
                            listings=listings)
    store = state.chunk_store(site)
    with (folder / state.SOURCES_FILE).open("wb") as f:
        state.dump_to(sources, f, store=store)
    first = {p.name for p in store.folder.iterdir()}
    assert len(first) > 30  # (a chunk of zero fingerprints repeats: stored once)
    loaded = state.load_sources(site)
    assert loaded == dataclasses.replace(sources, summary=state.Summary(1))
    assert loaded is not None and loaded.origin is not None
    # The next walk: equal fingerprints made anew, one changed; a listing changed.
    after = dataclasses.replace(
        loaded, fingerprints={k: bytes(bytearray(16)) for k in keys}, origin=None,
        listings=dict(loaded.listings),
    )
    after.fingerprints[keys[7]] = b"\1" * 16
    after.listings[keys[250]] = (3, 250, "json", 4)
    state.forget_walk(loaded)
    store = state.chunk_store(site)
    put = []
    monkeypatch.setattr(store, "put", lambda data: put.append(data) or "x" * 32)
    with (folder / "next").open("wb") as f:
        state.dump_to(after, f, previous=loaded, store=store)
    assert len(put) == 2  # the chunks of what changed: the others are named again
    with (folder / "next").open("wb") as f:  # (a store of its own: `put` as it is)
        state.dump_to(after, f, previous=loaded, store=state.chunk_store(site))
    (folder / "next").replace(folder / state.SOURCES_FILE)
    assert len({p.name for p in store.folder.iterdir()} - first) == 2
    assert state.load_sources(site) == after


def test_a_chunk_store_holds_each_chunk_once_by_its_digest(tmp_path: Path) -> None:
    store = chunk_store.ChunkStore(tmp_path / "chunks")
    name = store.put(b"chunk")
    assert store.put(b"chunk") == name and store.read(name) == b"chunk"
    assert name == hashlib.blake2b(b"chunk", digest_size=16).hexdigest()
    other = chunk_store.ChunkStore(tmp_path / "chunks")  # the next build's
    other.use(name)
    other.put(b"new")
    (tmp_path / "chunks" / ".partial.123").write_bytes(b"left by a killed build")
    assert other.prune() == 1
    assert {p.name for p in (tmp_path / "chunks").iterdir()} == other.used
    with pytest.raises(ValueError, match="not a chunk"):
        store.read("../x")


def test_a_truncated_memory_state_reads_as_none(tmp_path: Path) -> None:
    folder = state.state_dir(tmp_path / "site")
    folder.mkdir()
    data = state.dump(_memory(5000))
    (folder / state.MEMORY_FILE).write_bytes(data[: len(data) * 2 // 3])
    assert state.load_memory(tmp_path / "site") is None


def test_the_memory_state_read_in_two_steps_is_the_same(tmp_path: Path) -> None:
    memory = _memory(3000)
    folder = state.state_dir(tmp_path / "site")
    folder.mkdir()
    (folder / state.MEMORY_FILE).write_bytes(state.dump(memory))
    first = state.load_memory(tmp_path / "site", rest=False)
    assert first is not None and first.cache == memory.cache
    assert first.feed == memory.feed and first.manifest == {} and first.published == {}
    state.load_rest(first)
    assert first == memory
    # Damage in the second part is met by `load_rest`, naming the file.
    data = state.dump(memory)
    (folder / state.MEMORY_FILE).write_bytes(data[: len(data) - 100])
    first = state.load_memory(tmp_path / "site", rest=False)
    assert first is not None
    with pytest.raises(state.MemoryUnreadable, match=state.MEMORY_FILE):
        state.load_rest(first)


def test_writing_the_memory_state_holds_neither_the_file_nor_a_memo_of_it(
    tmp_path: Path,
) -> None:
    memory = _memory(20_000)
    path = tmp_path / "build.pickle"
    with path.open("wb") as f:
        tracemalloc.start()
        try:
            state.dump_to(memory, f)
            # What stays (pickling gives each object its `__dict__`) was not held for the file.
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    size = path.stat().st_size
    assert size > 5_000_000
    # One pickle of it all held it whole (BytesIO) and a memo of every object in it.
    assert peak - current < size / 10, (peak - current, size)


# --- the search index ------------------------------------------------------------------------


def test_the_search_index_spills_postings_to_disk_with_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "storage"
    base = image_id("base")
    write_image(root, base, labels={"org.opencontainers.image.title": "Base Image"})
    for n in range(150):
        iid = image_id(f"img{n}")
        write_image(root, iid, base, labels={"team": f"team-{n % 7}", "version": f"1.{n}"})
        write_repository(root, f"ns{n % 5}/service-{n:03d}", {"latest": iid, f"v1.{n}": iid})
    registry = v1.crawl(root, Report())
    repositories = v1_tree.select(registry, include_private=False).repositories

    index.build_index(repositories, registry, tmp_path / "held")
    runs = []
    write_run = index._ChunkedPool._write_run

    def counting(self: index._ChunkedPool, f: object, items: object) -> None:
        runs.append(1)
        write_run(self, f, items)

    monkeypatch.setattr(index._ChunkedPool, "_write_run", counting)
    monkeypatch.setattr(index, "_POOL_MB", 0.05)
    monkeypatch.setattr(index, "_RUN_CHUNK", 100)
    index.build_index(repositories, registry, tmp_path / "spilled")
    assert len(runs) > 3
    held = {p.name: p.read_bytes() for p in (tmp_path / "held").iterdir()}
    spilled = {p.name: p.read_bytes() for p in (tmp_path / "spilled").iterdir()}
    assert spilled == held
    with index.SearchIndex.open(tmp_path / "spilled") as found:
        assert found.ranked("label:team=team-3")
