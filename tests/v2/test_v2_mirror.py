"""The `/v2/` mirror against the real registry: same answers, and skopeo pulls the same digests.

Every request goes to the registry (over the storage it wrote) and to the
mirror built from that storage, served by `sitegen serve` and by real nginx
with the block `sitegen nginx-config` prints. Manifests are asked for with
every manifest type accepted, as skopeo and podman do: the registry then
answers the stored manifest, which is all a static mirror can answer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.support.http import Response, get
from tests.support.registry import Skopeo
from tests.v2.conftest import V2Registry

ACCEPT_ALL = {
    "Accept": ", ".join(
        [
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
        ]
    )
}
COMPARED_HEADERS = (
    "Content-Type",
    "Docker-Content-Digest",
    "Etag",
    "Docker-Distribution-Api-Version",
)
ZERO = "sha256:" + "0" * 64


def _requests(registry: V2Registry) -> list[str]:
    """Every live document of the fixture, and the error answers."""
    urls = registry.pushed.live_urls()
    urls += [
        "/v2/nosuch/tags/list",
        "/v2/nosuch/manifests/latest",
        "/v2/busybox/manifests/nosuch",
        f"/v2/busybox/manifests/{ZERO}",
        f"/v2/busybox/blobs/{ZERO}",
        "/v2/busybox/blobs/sha256:xyz",
        "/v2/Busybox/tags/list",
        "/v2/busybox/nothing-here",
    ]
    for name, digests in registry.pushed.deleted.items():  # deleted through the API
        urls += [f"/v2/{name}/manifests/{digest}" for digest in sorted(digests)]
    return urls


def _comparable(url: str, response: Response) -> tuple[object, ...]:
    body: object = response.body
    if url.endswith("/tags/list") and response.status == 200:  # the registry lists in readdir order
        doc = json.loads(response.body)
        body = (doc["name"], sorted(doc["tags"] or []), doc["tags"] is None)
    headers = tuple(response.headers.get(h) for h in COMPARED_HEADERS)
    return response.status, headers, body


def test_every_answer_equals_the_registry(v2_registry: V2Registry, mirror: str) -> None:
    differences = []
    for url in _requests(v2_registry):
        expected = _comparable(url, get(v2_registry.base, url, headers=ACCEPT_ALL))
        got = _comparable(url, get(mirror, url, headers=ACCEPT_ALL))
        if got != expected:
            differences.append(f"{url}:\n  registry {expected}\n  mirror   {got}")
    assert not differences, "\n".join(differences)


def test_catalog_and_tags_equal_the_registry_as_sets(
    v2_registry: V2Registry, mirror: str, skopeo: Skopeo
) -> None:
    catalog = json.loads(get(mirror, "/v2/_catalog").body)["repositories"]
    assert catalog == json.loads(get(v2_registry.base, "/v2/_catalog").body)["repositories"]
    assert set(catalog) == set(v2_registry.pushed.tags)  # test/deleted too: it has no tags left
    for name in catalog:
        expected = set(v2_registry.pushed.tags[name])
        listed = json.loads(get(mirror, f"/v2/{name}/tags/list").body)["tags"]
        assert set(listed or []) == expected, name
        if expected:  # what `skopeo list-tags` and `inspect` read
            assert set(skopeo.list_tags(mirror, name)) == expected


def test_head_sends_the_headers_without_a_body(v2_registry: V2Registry, mirror: str) -> None:
    digest = v2_registry.pushed.tags["library/alpine"]["latest"]
    for url in ("/v2/library/alpine/manifests/latest", f"/v2/library/alpine/manifests/{digest}"):
        head = get(mirror, url, method="HEAD", headers=ACCEPT_ALL)
        assert head.status == 200 and head.body == b""
        assert head.headers["Docker-Content-Digest"] == digest
        assert (
            head.headers["Content-Type"]
            == "application/vnd.docker.distribution.manifest.list.v2+json"
        )


def test_blob_ranges_answer_206(v2_registry: V2Registry, mirror: str) -> None:
    blob = v2_registry.pushed.built[v2_registry.pushed.tags["busybox"]["latest"]].blobs[1]
    url = f"/v2/busybox/blobs/{blob.digest}"
    ranged = get(mirror, url, headers={"Range": "bytes=0-9"})
    assert ranged.status == 206
    assert ranged.body == blob.data[:10]
    assert ranged.headers["Content-Range"] == f"bytes 0-9/{len(blob.data)}"


def _pull(skopeo: Skopeo, base: str, ref: str, target: Path) -> str:
    """`skopeo copy --all` into a dir: layout; the digest of the manifest it wrote."""
    skopeo.pull(base, ref, target)
    return "sha256:" + hashlib.sha256((target / "manifest.json").read_bytes()).hexdigest()


@pytest.mark.slow
def test_skopeo_pulls_every_tag_and_digest_with_the_registrys_digests(
    v2_registry: V2Registry, mirror: str, skopeo: Skopeo, tmp_path: Path
) -> None:
    pushed = v2_registry.pushed
    for name, tags in pushed.tags.items():
        for tag, digest in tags.items():
            target = tmp_path / name / tag
            assert _pull(skopeo, mirror, f"{name}:{tag}", target) == digest, f"{name}:{tag}"
            for child in pushed.built[digest].children:  # --all copied every platform
                stored = target / f"{child.digest.removeprefix('sha256:')}.manifest.json"
                assert stored.read_bytes() == child.manifest
        for digest in sorted(pushed.digests[name]):
            target = tmp_path / name / digest.replace(":", "-")
            assert _pull(skopeo, mirror, f"{name}@{digest}", target) == digest
            for blob in pushed.built[digest].blobs:
                assert (target / blob.digest.removeprefix("sha256:")).read_bytes() == blob.data


def test_pulled_from_the_registry_and_from_the_mirror_alike(
    v2_registry: V2Registry, mirror: str, skopeo: Skopeo, tmp_path: Path
) -> None:
    for ref in ("test/base-test:dev", "charts/demo:0.1.0", "org/team/app:latest"):
        from_registry = tmp_path / "registry" / ref.replace(":", "-")
        from_mirror = tmp_path / "mirror" / ref.replace(":", "-")
        skopeo.pull(v2_registry.base, ref, from_registry)
        skopeo.pull(mirror, ref, from_mirror)
        files = sorted(p.name for p in from_registry.iterdir())
        assert files == sorted(p.name for p in from_mirror.iterdir())
        for name in files:
            assert (from_registry / name).read_bytes() == (from_mirror / name).read_bytes(), name


def test_a_v1_site_has_no_v2_api(oracle_serve: str, oracle_nginx: str) -> None:
    """Old Docker clients ping /v2/ first and fall back to v1 on a 404."""
    for base in (oracle_serve, oracle_nginx):
        assert get(base, "/v2/").status == 404
        assert get(base, "/v2/_catalog").status == 404
