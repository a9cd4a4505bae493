"""The rebuild's whole-model passes agree with their plain definitions.

`dirty_units`, `select` and `crawl_v1` work from what changed outward, at C
speed; these tests compare them, over random registries and random changes
(unchanged entries are the very objects the last build kept, as in a
rebuild; re-read ones are equal copies), with straightforward versions
written as the definitions read (the code before it was made fast).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from generator import index
from generator.emit import units, v1_tree
from generator.emit.v1_tree import Selection
from generator.incremental import (
    CachedEntry,
    Scan,
    SearchChanges,
    crawl_v1,
    dirty_units,
    scan,
)
from generator.model import Image, Registry, Repository, Tag
from generator.report import Report
from generator.sources import v1, v1_layout
from tests.support import storage

# --- the definitions -------------------------------------------------------------------------


def reference_dirty_units(
    old: Selection, new: Selection, old_registry: Registry, new_registry: Registry
) -> tuple[frozenset[str], set[str], SearchChanges]:
    old_repos = {r.full_name: r for r in old.repositories}
    new_repos = {r.full_name: r for r in new.repositories}
    old_images = {i.id: i for i in old.images}
    new_images = {i.id: i for i in new.images}
    changed_repos = {n for n, r in new_repos.items() if old_repos.get(n) != r}
    changed_images = {i for i, image in new_images.items() if old_images.get(i) != image}
    changed_images |= set(old_images) ^ set(new_images)
    gone = set(old_repos) - set(new_repos)
    if not (changed_repos or changed_images or gone):
        return frozenset(), set(), SearchChanges()
    moved = [r for n in changed_repos | gone for r in (old_repos.get(n), new_repos.get(n))]
    moved = [r for r in moved if r is not None]
    pointed = changed_images | {tag.image_id for repo in moved for tag in repo.tags}
    chains = {i: reference_chain(image, new_images) for i, image in new_images.items()}
    reaching = {i for i, chain in chains.items() if not changed_images.isdisjoint(chain)}
    dirty = {units.image(i) for i in chains if i in pointed or i in reaching}

    def reaches(image_id: str) -> bool:
        return image_id in reaching if image_id in chains else image_id in changed_images

    touched = {
        n for n, repo in new_repos.items()
        if n in changed_repos or any(reaches(tag.image_id) for tag in repo.tags)
    }
    dirty |= {units.repository(n) for n in touched}
    dirty |= {units.namespace(repo.namespace) for repo in moved}
    dirty |= {units.namespace(new_repos[n].namespace) for n in touched}
    dirty.add(units.SITE)
    names_moved = [r.full_name for r in old.repositories] != [r.full_name for r in new.repositories]

    def documents(selection: Selection, registry: Registry, names: set[str]) -> dict:
        chosen = [r for r in selection.repositories if r.full_name in names]
        return {doc.name: doc for doc in index.documents(chosen, registry)}

    before = documents(old, old_registry, touched | gone)
    after = documents(new, new_registry, touched)
    search = SearchChanges.between(before, after, names_moved)
    if search.needed:
        dirty.add(units.SEARCH)
    return frozenset(dirty), changed_repos, search


def reference_chain(image: Image, images: Mapping[str, Image]) -> tuple[str, ...]:
    if image.ancestry:
        return tuple(dict.fromkeys(image.ancestry))
    chain: list[str] = []
    current: Image | None = image
    while current is not None and current.id not in chain:
        chain.append(current.id)
        parent = current.parent
        current = images.get(parent) if parent else None
        if parent and current is None and parent not in chain:
            chain.append(parent)
    return tuple(chain)


def reference_select(registry: Registry, include_private: bool) -> Selection:
    if include_private:
        return Selection(registry.repositories, registry.images)

    def reachable(repositories: list[Repository]) -> set[str]:
        seen: set[str] = set()
        for repository in repositories:
            for image_id in repository.image_ids():
                while image_id and image_id not in seen:
                    seen.add(image_id)
                    image = registry.image(image_id)
                    if image is None:
                        break
                    for ancestor in image.ancestry or ():
                        seen.add(ancestor)
                    image_id = image.parent or ""
        return seen

    public = reachable([r for r in registry.repositories if not r.private])
    hidden = reachable([r for r in registry.repositories if r.private]) - public
    return Selection(
        tuple(r for r in registry.repositories if not r.private),
        tuple(i for i in registry.images if i.id not in hidden),
    )


def reference_existing_units(selection: Selection) -> set[str]:
    found = {units.SITE, units.SEARCH}
    for repo in selection.repositories:
        found.add(units.repository(repo.full_name))
        found.add(units.namespace(repo.namespace))
    found.update(units.image(image.id) for image in selection.images)
    return found


def reference_crawl_v1(
    root: Path, found: Scan, cache: Mapping[str, CachedEntry], old: Mapping[str, bytes],
    report: Report,
) -> tuple[Registry, dict[str, CachedEntry], int]:
    repos_base = v1_layout.repositories_dir(root)
    descend = {
        e.namespace: v1.namespace_entry(repos_base, e.namespace, e.is_dir, Report())
        for e in found.entries if e.kind == "N"
    }
    fresh: dict[str, CachedEntry] = {}
    for e in found.entries:
        if e.kind == "N" or (e.kind == "R" and not descend.get(e.namespace)):
            continue
        if e.key in cache and old.get(e.key) == e.fingerprint:
            continue
        sub = Report()
        obj: Any
        if e.kind == "R":
            obj = v1.repository_entry(repos_base / e.namespace, e.name, e.is_dir, sub)
        else:
            obj = v1.image_entry(v1_layout.images_dir(root), e.name, e.is_dir, sub)
        fresh[e.key] = (obj, tuple(sub.problems))
    repositories: list[Repository] = []
    images: list[Image] = []
    new_cache: dict[str, CachedEntry] = {}
    descend = {}
    for entry in found.entries:
        if entry.kind == "N":
            descend[entry.namespace] = v1.namespace_entry(
                repos_base, entry.namespace, entry.is_dir, report
            )
            continue
        if entry.kind == "R" and not descend.get(entry.namespace):
            continue
        cached = fresh[entry.key] if entry.key in fresh else cache[entry.key]
        new_cache[entry.key] = cached
        obj, problems = cached
        for problem in problems:
            report.add(problem)
        if obj is not None:
            (repositories if entry.kind == "R" else images).append(obj)
    v1.report_dangling_tags(root, tuple(repositories), {i.id for i in images}, report)
    return Registry(tuple(repositories), tuple(images)), new_cache, len(fresh)


# --- random registries and changes -----------------------------------------------------------


def random_image(rng: random.Random, image_id: str, ids: list[str]) -> Image:
    """An image, its parent among `ids` (or missing), with or without a consistent ancestry."""
    parent = rng.choice(ids) if ids and rng.random() < 0.8 else None
    if parent is None and rng.random() < 0.1:
        parent = f"gone{rng.randrange(5)}"
    ancestry: tuple[str, ...] | None = None
    roll = rng.random()
    if roll < 0.6:
        ancestry = (image_id, *([parent] if parent else []))
    elif roll < 0.7:
        ancestry = (image_id, *rng.sample(ids, min(len(ids), 2)))  # not what `parent` says
    labels = {"team": rng.choice(["a", "b"])} if rng.random() < 0.3 else {}
    body = json.dumps({"id": image_id, "config": {"Labels": labels}}).encode()
    return Image(id=image_id, json=body, parent=parent, ancestry=ancestry)


def random_repository(rng: random.Random, namespace: str, name: str, ids: list[str]) -> Repository:
    tags = tuple(
        Tag(f"t{k}", rng.choice([*ids, "missing"]) + rng.choice(["", "\n"]))
        for k in range(rng.randrange(4))
    )
    index_images = json.dumps([{"id": rng.choice(ids)}]).encode() if ids else None
    return Repository(
        namespace=namespace, name=name, private=rng.random() < 0.2, tags=tags,
        index_images=index_images, description=rng.choice([None, "web", "db"]),
    )


def random_registry(rng: random.Random) -> Registry:
    ids: list[str] = []
    images = []
    for n in range(rng.randrange(1, 25)):
        image = random_image(rng, f"i{n:02}", ids)
        images.append(image)
        ids.append(image.id)
    repositories = [
        random_repository(rng, f"ns{n % 3}", f"r{n:02}", ids) for n in range(rng.randrange(1, 12))
    ]
    repositories.sort(key=lambda r: (r.namespace, r.name))
    return Registry(repositories=tuple(repositories), images=tuple(images))


def changed(rng: random.Random, old: Registry) -> Registry:
    """`old` after a few changes; the other entries are the very same objects, or equal copies
    (an entry read again that had not changed)."""
    images = list(old.images)
    ids = [i.id for i in images]
    repositories = list(old.repositories)
    for _ in range(rng.randrange(1, 4)):
        roll = rng.random()
        if roll < 0.2 and images:
            images.pop(rng.randrange(len(images)))
        elif roll < 0.4:
            new_id = f"n{rng.randrange(1000):03}"
            if new_id not in ids:
                images.insert(rng.randrange(len(images) + 1), random_image(rng, new_id, ids))
                ids.append(new_id)
        elif roll < 0.55 and images:
            k = rng.randrange(len(images))
            images[k] = random_image(rng, images[k].id, ids)
        elif roll < 0.7 and repositories:
            repositories.pop(rng.randrange(len(repositories)))
        elif roll < 0.85 and repositories:
            k = rng.randrange(len(repositories))
            r = repositories[k]
            repositories[k] = random_repository(rng, r.namespace, r.name, ids)
        else:
            name = f"r{rng.randrange(100):02}x"
            if all(r.name != name for r in repositories):
                repositories.append(random_repository(rng, "ns1", name, ids))
                repositories.sort(key=lambda r: (r.namespace, r.name))
    for seq in (images, repositories):
        for k in range(len(seq)):
            if rng.random() < 0.1:
                seq[k] = copy.copy(seq[k])  # read again, found equal
    return Registry(repositories=tuple(repositories), images=tuple(images))


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("include_private", [False, True])
def test_select_is_its_definition(include_private: bool) -> None:
    rng = random.Random(6)
    for _ in range(300):
        registry = random_registry(rng)
        want = reference_select(registry, include_private)
        assert v1_tree.select(registry, include_private) == want
        # What a rebuild does with the hidden images the last build remembered.
        hidden = v1_tree.hidden_images(registry, include_private)
        ids = {i.id for i in registry.images}
        assert hidden & ids == ids - {i.id for i in want.images}
        assert v1_tree.select(registry, include_private, hidden) == want


@pytest.mark.parametrize("include_private", [False, True])
def test_dirty_units_are_their_definition(include_private: bool) -> None:
    rng = random.Random(2)
    for _ in range(400):
        old_registry = random_registry(rng)
        new_registry = changed(rng, old_registry)
        old = v1_tree.select(old_registry, include_private)
        new = v1_tree.select(new_registry, include_private)
        got = dirty_units(old, new, old_registry, new_registry)
        want = reference_dirty_units(old, new, old_registry, new_registry)
        assert (got.units, got.repositories, got.search) == want
        # A rebuild keeps the last build's units that are neither dirty nor gone.
        assert got.gone == reference_existing_units(old) - reference_existing_units(new)


def test_nothing_changed_is_no_dirty_unit() -> None:
    rng = random.Random(3)
    registry = random_registry(rng)
    selection = v1_tree.select(registry, False)
    assert dirty_units(selection, selection, registry, registry) == (
        frozenset(), set(), SearchChanges(), frozenset()
    )


def odd_storage(root: Path) -> None:
    """v1 storage with a problem of every kind the crawl reports, among good entries."""
    base, child = storage.image_id("base"), storage.image_id("child")
    storage.write_image(root, base)
    storage.write_image(root, child, base)
    storage.write_repository(root, "acme/web", {"latest": child, "old": base})
    storage.write_repository(root, "acme/gone", {"latest": storage.image_id("nowhere")})  # dangling
    storage.write_repository(root, "acme/bad\\x", {"latest": base})  # before the namespace's
    storage.write_repository(root, "bad\\ns/app", {"latest": base})  # a namespace refused
    storage.write_repository(root, "zeta/bad\\repo", {"latest": base})  # a repository refused
    storage.write_repository(root, "zeta/ok", {"1": child})
    (root / "repositories" / "stray-file").write_text("not a namespace")
    (root / "repositories" / "zeta" / "stray").write_text("a file in a namespace")
    (root / "repositories" / "acme" / "web" / "taglatest_json").write_text("{corrupt")
    (root / "images" / "stray").write_text("not an image")
    (root / "images" / storage.image_id("empty")).mkdir()  # an image folder without files


def crawls(root: Path, cache: Mapping[str, CachedEntry], old: Mapping[str, bytes]) -> tuple:
    found = scan(root, "v1")
    assert found is not None
    mine, theirs = Report(), Report()
    got = crawl_v1(root, found, cache, old, mine)
    want = reference_crawl_v1(root, found, cache, old, theirs)
    assert got[0] == want[0]
    assert list(got[1].items()) == list(want[1].items())
    assert got[2] == want[2]
    assert [str(p) for p in mine.problems] == [str(p) for p in theirs.problems]
    assert mine.problems
    return found, got[1]


def test_crawl_is_its_definition(tmp_path: Path) -> None:
    """Everything read, then a rebuild reading what changed: the same registry, cache and
    problems in the same order as the plain loop over every entry."""
    root = tmp_path / "storage"
    odd_storage(root)
    found, cache = crawls(root, {}, {})
    (root / "repositories" / "acme" / "web" / "tag_new").write_text(storage.image_id("base"))
    storage.write_image(root, storage.image_id("third"), storage.image_id("child"))
    storage.write_repository(root, "acme/added", {"x": storage.image_id("third")})
    (root / "repositories" / "zeta" / "stray").unlink()
    crawls(root, cache, found.fingerprints)


def test_wanted_repositories_and_images_are_those_wanted() -> None:
    rng = random.Random(4)
    for _ in range(200):
        selection = v1_tree.select(random_registry(rng), True)
        every = [units.repository(r.full_name) for r in selection.repositories]
        every += [units.image(i.id) for i in selection.images] + ["namespace:ns0", units.SITE]
        for dirty in (None, frozenset(), frozenset(rng.sample(every, rng.randrange(len(every))))):
            for worker in (None, False, True):
                chosen = Selection(selection.repositories, selection.images, dirty, worker)
                assert chosen.wanted_repositories() == [
                    r for r in selection.repositories
                    if chosen.wants(units.repository(r.full_name))
                ]
                assert chosen.wanted_images() == [
                    i for i in selection.images if chosen.wants(units.image(i.id))
                ]
