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

import pytest

from generator import index
from generator.emit import units, v1_tree
from generator.emit.v1_tree import Selection
from generator.incremental import SearchChanges, dirty_units, existing_units
from generator.model import Image, Registry, Repository, Tag

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
    names = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
    search = SearchChanges(
        {n: before[n] for n in names if n in before},
        {n: after[n] for n in names if n in after},
        names_moved,
    )
    if names_moved or names:
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
        assert v1_tree.select(registry, include_private) == reference_select(
            registry, include_private
        )


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
        assert got[:2] == want[:2]
        assert got[2] == want[2]
        assert existing_units(new) == reference_existing_units(new)


def test_nothing_changed_is_no_dirty_unit() -> None:
    rng = random.Random(3)
    registry = random_registry(rng)
    selection = v1_tree.select(registry, False)
    assert dirty_units(selection, selection, registry, registry) == (
        frozenset(), set(), SearchChanges()
    )
