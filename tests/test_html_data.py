"""Page data: what a scan finds is what the maps the full build makes find."""

from __future__ import annotations

import random

import pytest

from generator.emit.html_data import SiteData
from generator.model import Registry, Repository, Tag
from tests.test_incremental_passes import random_registry


def with_lookalike_tags(rng: random.Random, registry: Registry) -> Registry:
    """`registry` with tags whose values hold another image's id (`i0` in `i01`), padded."""
    ids = [image.id for image in registry.images]
    extra = Repository(
        namespace="ns0", name="zz-lookalikes",
        tags=tuple(Tag(f"l{k}", f"  {rng.choice(ids)[:2]}\n") for k in range(3)),
    )
    return Registry(repositories=(*registry.repositories, extra), images=registry.images)


@pytest.mark.parametrize("seed", range(40))
def test_a_few_image_pages_find_their_tags_as_the_map_does(seed: int) -> None:
    rng = random.Random(seed)
    registry = with_lookalike_tags(rng, random_registry(rng))
    ids = [image.id for image in registry.images] + ["i0", "i1", "missing", ""]
    scanning = SiteData(registry.repositories, registry.images, registry)
    mapped = SiteData(registry.repositories, registry.images, registry)
    mapped.SCANS = 0
    for image_id in ids:
        scanning._scans = 0  # every lookup scans
        assert list(scanning._repositories_naming(image_id)) == list(
            mapped._repositories_naming(image_id)
        ), image_id
    assert "_naming" not in scanning.__dict__
    assert "_naming" in mapped.__dict__


def test_past_the_first_few_pages_the_map_is_made() -> None:
    registry = random_registry(random.Random(7))
    data = SiteData(registry.repositories, registry.images, registry)
    for n in range(SiteData.SCANS):
        data.tagged(registry.images[n % len(registry.images)].id)
    assert "_naming" not in data.__dict__
    data.tagged(registry.images[0].id)
    assert "_naming" in data.__dict__
