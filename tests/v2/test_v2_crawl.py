"""Crawling the storage the real registry wrote: repositories, tags, manifests, platforms."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import model
from generator.errors import ConfigError
from generator.report import Report
from generator.sources import detect, open_source
from generator.sources.v2 import crawl
from tests.v2.conftest import V2Registry


@pytest.fixture(scope="module")
def crawled(v2_storage: Path) -> tuple[model.Registry, Report]:
    report = Report()
    return crawl(v2_storage, report), report


def _repo(registry: model.Registry, name: str) -> model.V2Repository:
    found = [r.v2 for r in registry.repositories if r.v2 is not None and r.v2.name == name]
    assert len(found) == 1, name
    return found[0]


def test_clean_storage_has_no_problems(crawled: tuple[model.Registry, Report]) -> None:
    registry, report = crawled
    assert report.problems == []
    assert registry.layout == "v2"


def test_every_repository_and_tag_as_pushed(
    crawled: tuple[model.Registry, Report], v2_registry: V2Registry
) -> None:
    registry, _ = crawled
    names = [r.v2.name for r in registry.repositories if r.v2 is not None]
    assert names == sorted(v2_registry.pushed.tags)  # org/team and org/team/app inside it
    for name, tags in v2_registry.pushed.tags.items():
        repo = _repo(registry, name)
        assert {t.name: t.digest for t in repo.tags} == tags, name
        assert {m.digest for m in repo.manifests} == v2_registry.pushed.digests[name], name


def test_current_link_is_the_only_truth(
    crawled: tuple[model.Registry, Report], v2_registry: V2Registry
) -> None:
    registry, _ = crawled
    base_test = _repo(registry, "test/base-test")
    (deleted,) = v2_registry.pushed.deleted["test/base-test"]  # dev's first target, still in index/
    assert deleted not in {m.digest for m in base_test.manifests}
    assert {t.name for t in base_test.tags} == {"latest", "dev"}
    assert _repo(registry, "test/deleted").tags == ()
    assert _repo(registry, "test/deleted").manifests == ()


def test_lists_artifacts_and_platforms(crawled: tuple[model.Registry, Report]) -> None:
    registry, _ = crawled
    alpine = _repo(registry, "library/alpine")
    top = alpine.manifest(next(t.digest for t in alpine.tags if t.name == "latest"))
    assert top is not None and top.is_index and top.media_type == model.DOCKER_MANIFEST_LIST
    platforms = [str(c.platform) for c in top.children]
    assert platforms == ["linux/amd64", "linux/arm64/v8"]
    for child in top.children:
        image = alpine.manifest(child.digest)
        assert image is not None and str(image.platform) == str(child.platform)
        assert image.size == sum(d.size for d in (image.config, *image.layers) if d)
    (chart,) = _repo(registry, "charts/demo").manifests
    assert chart.artifact_type == "application/vnd.cncf.helm.config.v1+json"
    assert chart.v1_id is None and chart.image_config == {}
    app = _repo(registry, "org/team/app").manifests[0]
    assert app.image_config["config"]["User"] == "nobody"
    assert all(layer.path is not None for layer in app.layers)


def test_descriptions_from_annotations_or_labels(crawled: tuple[model.Registry, Report]) -> None:
    registry, _ = crawled
    by_name = {r.v2.name: r for r in registry.repositories if r.v2 is not None}
    assert by_name["test/base-test"].description == "An OCI index"  # index annotation
    assert by_name["team/base-img"].description is not None  # config label of latest
    assert "<b>bold</b>" in by_name["team/base-img"].description
    assert by_name["busybox"].description is None


def test_v1_names(crawled: tuple[model.Registry, Report]) -> None:
    registry, _ = crawled
    names = {r.v2.name: (r.namespace, r.name) for r in registry.repositories if r.v2}
    assert names["busybox"] == ("library", "busybox")
    assert names["library/alpine"] == ("library", "alpine")
    assert names["org/team/app"] == ("org", "team/app")


def test_platform_picks_the_v1_view(v2_storage: Path) -> None:
    amd = {r.v2.name: r for r in crawl(v2_storage, Report()).repositories if r.v2}
    arm = {
        r.v2.name: r
        for r in crawl(v2_storage, Report(), platform="linux/arm64").repositories
        if r.v2
    }
    assert amd["library/alpine"].tags[0].value != arm["library/alpine"].tags[0].value
    assert amd["busybox"].tags == arm["busybox"].tags
    none = crawl(v2_storage, Report(), platform="linux/s390x").repositories
    assert [r.tags for r in none if r.v2 and r.v2.name == "library/alpine"] == [()]


def test_autodetect(v2_storage: Path) -> None:
    assert detect(v2_storage) == "v2"
    with pytest.raises(ConfigError, match="inside of v2 storage"):
        detect(v2_storage / "docker" / "registry" / "v2")
    registry = open_source(v2_storage, platform="linux/arm64/v8")(v2_storage, Report())
    assert registry.layout == "v2"
