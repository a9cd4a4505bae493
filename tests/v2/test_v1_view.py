"""v1 views of v2 images equal the schema1 manifests the real registry converts them to.

Asked for a tag without a schema2 `Accept` header, registry 2.8 converts a
Docker schema2 manifest (or a list's linux/amd64 child) to schema1; its
`history[].v1Compatibility` strings are the v1 image JSONs, newest first.
The site must publish exactly those strings under those ids, with the same
chain as ancestry, and point the v1 tags at the top id.
"""

from __future__ import annotations

import json

import pytest

from generator import gojson
from generator.sources import schema1
from tests.support.http import get
from tests.v2.conftest import V2Registry

SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def _v1_name(name: str) -> str:
    """How the site names a v2 repository in the v1 API (see sources/v2.py)."""
    return name if "/" in name else f"library/{name}"


def _converted(registry: V2Registry) -> list[tuple[str, str, dict[str, object]]]:
    """(name, tag, schema1 manifest) for every tag the registry converts."""
    found = []
    for name, tags in registry.pushed.tags.items():
        for tag in tags:
            answer = get(registry.base, f"/v2/{name}/manifests/{tag}")  # no Accept header
            if answer.status == 200:
                assert answer.headers["Content-Type"] == SCHEMA1
                found.append((name, tag, json.loads(answer.body)))
    return found


def test_v1_json_ancestry_and_tags_equal_the_registrys_schema1(
    v2_registry: V2Registry, v2_serve: str
) -> None:
    converted = _converted(v2_registry)
    # Docker schema2 and Docker lists convert; OCI manifests and indexes are a 404 there.
    names = {name for name, _, _ in converted}
    assert names == {"busybox", "library/alpine", "org/team", "org/team/app"}
    produced: dict[str, set[bytes]] = {}
    for name, tag, manifest in converted:
        history = [entry["v1Compatibility"] for entry in manifest["history"]]  # type: ignore[index]
        ids = [json.loads(entry)["id"] for entry in history]
        tag_answer = get(v2_serve, f"/v1/repositories/{_v1_name(name)}/tags/{tag}")
        assert json.loads(tag_answer.body) == ids[0], (name, tag)
        assert json.loads(get(v2_serve, f"/v1/images/{ids[0]}/ancestry").body) == ids
        assert get(v2_serve, f"/v1/images/{ids[0]}/json").body == history[0].encode()
        for v1_id, entry in zip(ids, history, strict=True):
            produced.setdefault(v1_id, set()).add(entry.encode())
    shared = 0
    for v1_id, entries in produced.items():
        # A layer shared with the same parent has one id, but its JSON carries the history entry
        # of the image converted; the registry answers each, the v1 API can hold one of them.
        answer = get(v2_serve, f"/v1/images/{v1_id}/json")
        assert answer.status == 200 and answer.body in entries, v1_id
        shared += len(entries) > 1
    assert shared  # the fixture's images share their base layer under different histories


def test_library_and_nested_names_in_the_v1_api(v2_serve: str) -> None:
    for short, full in (("busybox", "library/busybox"), ("alpine", "library/alpine")):
        assert (
            get(v2_serve, f"/v1/repositories/{short}/tags").body
            == get(v2_serve, f"/v1/repositories/{full}/tags").body
        )
    nested = json.loads(get(v2_serve, "/v1/repositories/org/team/app/tags").body)
    assert set(nested) == {"1.0", "1.0.1", "latest"}
    assert set(json.loads(get(v2_serve, "/v1/repositories/org/team/tags").body)) == {"1.0"}
    names = {r["name"] for r in json.loads(get(v2_serve, "/v1/search").body)["results"]}
    assert {"library/busybox", "org/team", "org/team/app", "charts/demo"} <= names
    # An artifact has no v1 view: its repository is listed, with no tags.
    assert json.loads(get(v2_serve, "/v1/repositories/charts/demo/tags").body) == {}


def test_oci_images_get_v1_views_by_the_same_rules(v2_serve: str) -> None:
    tags = json.loads(get(v2_serve, "/v1/repositories/team/base-img/tags").body)
    assert set(tags) == {"1.0", "1.0.1", "latest"}
    top = json.loads(get(v2_serve, f"/v1/images/{tags['latest']}/json").body)
    assert top["config"]["Labels"]["org.opencontainers.image.version"] == "1.0.1"
    assert top["created"] == "2024-02-03T04:05:06.123456789+02:00"
    assert "rootfs" not in top and "history" not in top and top["throwaway"] is True


@pytest.mark.parametrize(
    ("text", "written"),
    [
        (None, "0001-01-01T00:00:00Z"),
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.500Z", "2024-01-02T03:04:05.5Z"),
        ("2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.1234567891Z", "2024-01-02T03:04:05.123456789Z"),
        ("2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05-00:00", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.10+05:30", "2024-01-02T03:04:05.1+05:30"),
    ],
)
def test_times_as_go_writes_them(text: str | None, written: str) -> None:
    assert schema1.go_time(text) == written


@pytest.mark.parametrize("text", ["2024-01-02 03:04:05Z", "2024-02-30T00:00:00Z", "yesterday", 5])
def test_times_go_cannot_parse_leave_no_v1_view(text: object) -> None:
    with pytest.raises(schema1.Schema1Error):
        schema1.go_time(text)


def test_go_json_escaping() -> None:
    assert gojson.marshal({"b": '<&>\u2028\x01\n"é', "a": [True, None, 1]}) == (
        '{"b":"\\u003c\\u0026\\u003e\\u2028\\u0001\\n\\"é","a":[true,null,1]}'.encode()
    )
    assert gojson.compact('{ "a" : [ 1, "x <y>" ],\n "b":"\\u003c" }') == (
        '{"a":[1,"x \\u003cy\\u003e"],"b":"\\u003c"}'
    )


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (b"[]", "not a JSON object"),
        (b'{"rootfs": {"diff_ids": []}}', "empty history"),
        (b'{"history": [{}], "rootfs": {"diff_ids": ["a", "b"]}}', "differ"),
        (b'{"history": [{"created_by": 1}], "rootfs": {"diff_ids": []}}', "not a string"),
    ],
)
def test_configs_the_registry_cannot_convert(config: bytes, reason: str) -> None:
    with pytest.raises(schema1.Schema1Error, match=reason):
        schema1.v1_chain(config, [])
