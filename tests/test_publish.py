"""`sitegen publish`: the site in a real S3-compatible server (SeaweedFS on loopback).

Objects are read back over plain HTTP, anonymously, as a CDN in front of a
public bucket would read them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import pytest

from generator import paths
from generator.cli import main
from generator.emit.writer import lock_path, output_lock
from generator.errors import BuildLocked, ConfigError, PublishError
from generator.publish import (
    INDEX_DOCUMENT,
    PublishResult,
    Target,
    content_type,
    expected_etag,
    publish,
    shared_output_lock,
    site_files,
)
from tests.conftest import build_site
from tests.support import oracle
from tests.support.s3 import (
    READ_ONLY_KEY,
    READ_ONLY_SECRET,
    S3Server,
    bucket_keys,
    get_object,
    key_for,
    site_urls,
)

LAYER_ID = "2f647ad85fe959c29ef8b93e3bc60771016daac4ebe07cd7db645230394d7721"


def _publish(s3: S3Server, site: Path, target: str, **kwargs: object) -> PublishResult:
    return publish(site, target, endpoint_url=s3.endpoint, **kwargs)  # type: ignore[arg-type]


# --- the whole site, read back over HTTP ----------------------------------------------------


def test_publish_uploads_every_url_under_its_exactkey_for(
    s3: S3Server, bucket: str, oracle_site: Path, capsys
) -> None:
    assert main(["publish", "-o", str(oracle_site), f"s3://{bucket}/mirror",
                 "--endpoint-url", s3.endpoint]) == 0
    summary = capsys.readouterr().out
    urls = site_urls(oracle_site)
    assert f"Done: published to s3://{bucket}/mirror: {len(urls)} uploaded" in summary
    assert ", 0 unchanged, 0 deleted in " in summary

    keys = bucket_keys(s3, bucket)
    assert set(keys) == {key_for("mirror", url) for url in urls}
    assert not any(paths.INTERNAL_DIR in k or paths.DOC_NAME in k for k in keys)
    for url, path in urls.items():
        got = get_object(s3, bucket, key_for("mirror", url))
        assert got.status == 200, url
        assert got.body == path.read_bytes(), url
        relpath = path.relative_to(oracle_site).as_posix()
        assert got.headers["Content-Type"] == content_type(url, relpath, {}), url


def test_a_key_that_is_also_a_prefix_of_others_answers_its_own_document(
    s3: S3Server, bucket: str, oracle_site: Path
) -> None:
    _publish(s3, oracle_site, f"s3://{bucket}/mirror")
    tags = get_object(s3, bucket, "mirror/v1/repositories/busybox/tags")
    tag = get_object(s3, bucket, "mirror/v1/repositories/busybox/tags/latest")
    tag_json = get_object(s3, bucket, "mirror/v1/repositories/busybox/tags/latest/json")
    assert json.loads(tags.body)["latest"] == json.loads(tag.body)
    assert tag_json.status == 200 and tags.status == 200
    assert (oracle_site / "v1/repositories/busybox/tags/.index.json").read_bytes() == tags.body


def test_the_bucket_answers_like_0_9_1_for_every_published_document(
    s3: S3Server, bucket: str, oracle_site: Path
) -> None:
    """The recorded 200 answers of the real registry, for each URL the site holds."""
    _publish(s3, oracle_site, f"s3://{bucket}/mirror")
    urls = site_urls(oracle_site)
    checked = 0
    for recorded in oracle.answers():
        if recorded.status != 200 or "?" in recorded.path or recorded.path not in urls:
            continue
        got = get_object(s3, bucket, key_for("mirror", recorded.path))
        assert got.headers["Content-Type"] == recorded.content_type, recorded.path
        if recorded.path == "/v1/search":  # the same results, maybe in another order
            results = sorted(map(json.dumps, json.loads(got.body)["results"]))
            assert results == sorted(map(json.dumps, json.loads(recorded.body)["results"]))
        else:
            assert got.body == recorded.body, recorded.path
        checked += 1
    assert checked > 150


def test_objects_carry_0_9_1_cache_headers(s3: S3Server, bucket: str, oracle_site: Path) -> None:
    _publish(s3, oracle_site, f"s3://{bucket}/m")
    image = get_object(s3, bucket, f"m/v1/images/{LAYER_ID}/json")
    layer = get_object(s3, bucket, f"m/v1/images/{LAYER_ID}/layer")
    tags = get_object(s3, bucket, "m/v1/repositories/busybox/tags")
    assert image.headers["Cache-Control"] == "public, max-age=31536000"
    assert layer.headers["Cache-Control"] == "public, max-age=31536000"
    assert layer.headers["Content-Type"] == "application/octet-stream"
    assert tags.headers["Cache-Control"] == "no-cache"


# --- only what changed ------------------------------------------------------------------------


def test_a_second_publish_without_change_uploads_nothing(
    s3: S3Server, bucket: str, oracle_site: Path
) -> None:
    first = _publish(s3, oracle_site, f"s3://{bucket}/mirror")
    before = bucket_keys(s3, bucket)
    # Images go up before the tags that name them; the search list and the root last.
    order = first.uploaded
    last_image = max(i for i, k in enumerate(order) if k.startswith("mirror/v1/images/"))
    first_tag = min(i for i, k in enumerate(order) if "/tags" in k)
    assert last_image < first_tag
    assert order.index("mirror/v1/search") > max(i for i, k in enumerate(order) if "/tags" in k)
    second = _publish(s3, oracle_site, f"s3://{bucket}/mirror")
    assert (second.uploaded, second.deleted) == ((), ())
    assert second.unchanged == len(first.uploaded) == len(before)
    assert bucket_keys(s3, bucket) == before
    forced = _publish(s3, oracle_site, f"s3://{bucket}/mirror", force=True)
    assert len(forced.uploaded) == len(before)


def test_a_rebuild_uploads_only_changed_keys_and_deletes_a_removed_repository(
    s3: S3Server, bucket: str, oracle_storage: Path, tmp_path: Path
) -> None:
    storage = tmp_path / "storage"
    shutil.copytree(oracle_storage, storage, symlinks=True)
    site = tmp_path / "site"
    build_site(storage, site, include_private=True, include_layers=True)
    _publish(s3, site, f"s3://{bucket}/mirror")
    old = {url: path.read_bytes() for url, path in site_urls(site).items()}

    shutil.rmtree(storage / "repositories/user123/my_app")
    debian = storage / "repositories/library/debian"
    (debian / "tag_newest").write_bytes((debian / "tag_latest").read_bytes())
    build_site(storage, site, include_private=True, include_layers=True)
    new = {url: path.read_bytes() for url, path in site_urls(site).items()}

    result = _publish(s3, site, f"s3://{bucket}/mirror")
    changed = {url for url in new if old.get(url) != new[url]}
    removed = set(old) - set(new)
    assert "/v1/repositories/debian/tags/newest" in changed
    assert "/v1/repositories/user123/my_app/tags" in removed
    assert sorted(result.uploaded) == sorted(key_for("mirror", url) for url in changed)
    assert sorted(result.deleted) == sorted(key_for("mirror", url) for url in removed)
    assert set(bucket_keys(s3, bucket)) == {key_for("mirror", url) for url in new}


def test_a_publish_to_a_prefix_never_touches_keys_outside_it(
    s3: S3Server, bucket: str, oracle_site: Path, tmp_path: Path
) -> None:
    client = s3.client()
    outside = ["mirror2/v1/_ping", "mirrorx", "other/mirror/v1/_ping", "top.txt", "mirror"]
    for key in outside:
        client.put_object(Bucket=bucket, Key=key, Body=f"not the site: {key}".encode())
    client.put_object(Bucket=bucket, Key="mirror/stale/key", Body=b"old")
    before = {k: v for k, v in bucket_keys(s3, bucket).items() if k in outside}

    result = _publish(s3, oracle_site, f"s3://{bucket}/mirror/")
    assert result.deleted == ("mirror/stale/key",)
    after = bucket_keys(s3, bucket)
    assert {k: v for k, v in after.items() if k in outside} == before
    assert all(k in outside or k.startswith("mirror/") for k in after)
    for key in outside:
        assert get_object(s3, bucket, key).body == f"not the site: {key}".encode()


def test_large_files_go_up_in_parts_and_are_not_uploaded_again(
    s3: S3Server, bucket: str, oracle_site: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    shutil.copytree(oracle_site, site)
    layer = site / f"v1/images/{LAYER_ID}/layer"
    layer.unlink()
    layer.write_bytes(os.urandom(11 * 1024 * 1024 + 17))
    threshold = 5 * 1024 * 1024
    first = _publish(s3, site, f"s3://{bucket}/big", multipart_threshold=threshold)
    key = f"big/v1/images/{LAYER_ID}/layer"
    assert key in first.uploaded
    etag = bucket_keys(s3, bucket)[key].strip('"')
    assert etag == expected_etag(layer, layer.stat().st_size, threshold)
    assert etag.endswith("-3")
    assert get_object(s3, bucket, key).body == layer.read_bytes()
    assert _publish(s3, site, f"s3://{bucket}/big", multipart_threshold=threshold).uploaded == ()


def test_a_whole_bucket_publish_has_no_prefix(s3: S3Server, bucket: str, oracle_site: Path) -> None:
    _publish(s3, oracle_site, f"s3://{bucket}")
    keys = bucket_keys(s3, bucket)
    assert "v1/repositories/busybox/tags" in keys and INDEX_DOCUMENT in keys
    assert set(keys) == {key_for("", url) for url in site_urls(oracle_site)}
    home = (oracle_site / INDEX_DOCUMENT).read_bytes()
    assert get_object(s3, bucket, INDEX_DOCUMENT).body == home


# --- content types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/", "application/json"),
        ("/_ping", "application/json"),
        ("/v1/_ping", "application/json"),
        ("/v1/search", "application/json"),
        ("/v1/repositories/busybox/tags", "application/json"),
        ("/v1/repositories/acme/web.frontend/tags/1.0.html", "application/json"),
        ("/v1/repositories/acme/app/tags/v1.css/json", "application/json"),
        (f"/v1/images/{LAYER_ID}/layer", "application/octet-stream"),
        (f"/v1/images/{LAYER_ID}/ancestry", "application/json"),
        ("/search-index/shards/673a.json", "application/json"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/r/acme/web/INDEX.HTML", "text/html; charset=utf-8"),
        ("/static/site.css", "text/css; charset=utf-8"),
        ("/static/search.js", "text/javascript; charset=utf-8"),
        ("/static/logo.svg", "image/svg+xml"),
        ("/static/logo.png", "image/png"),
        ("/changes.atom", "application/atom+xml"),
        ("/some/file.unknown", "application/octet-stream"),
        ("/README", "application/octet-stream"),
    ],
)
def test_content_type_by_url(url: str, expected: str) -> None:
    assert content_type(url, paths.file_for_url(url), {}) == expected


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("relpath", "expected"),
    [
        ("v2/.index.json", "application/json; charset=utf-8"),
        ("v2/_catalog", "application/json; charset=utf-8"),
        ("v2/acme/web/tags/list/.index.json", "application/json; charset=utf-8"),
        ("v2/acme/web/manifests/latest.dmv2",
         "application/vnd.docker.distribution.manifest.v2+json"),
        (f"v2/acme/web/manifests/{DIGEST}.oidx", "application/vnd.oci.image.index.v1+json"),
        ("v2/acme/web/manifests/1.0.omani", "application/vnd.oci.image.manifest.v1+json"),
        ("v2/acme/web/manifests/1.dlist",
         "application/vnd.docker.distribution.manifest.list.v2+json"),
        (f"v2/acme/web/blobs/{DIGEST}", "application/octet-stream"),
    ],
)
def test_v2_content_types_without_the_recorded_table(relpath: str, expected: str) -> None:
    """The rules alone give the types the build records (`paths.MEDIA_TYPES`)."""
    url = paths.url_for_file(relpath)
    assert url is not None
    assert content_type(url, relpath, {}) == expected


def test_the_recorded_table_wins(
    s3: S3Server, bucket: str, oracle_site: Path, tmp_path: Path
) -> None:
    """`paths.MEDIA_TYPES`: the type of a document only its emitter knows."""
    odd = "application/vnd.example.thing+json"
    url = "/v1/repositories/busybox/json"
    assert content_type(url, paths.file_for_url(url), {url: odd}) == odd
    site = tmp_path / "site"
    shutil.copytree(oracle_site, site)
    (site / paths.MEDIA_TYPES).write_text(json.dumps({url: odd}))
    _publish(s3, site, f"s3://{bucket}/m")
    assert get_object(s3, bucket, f"m{url}").headers["Content-Type"] == odd
    assert get_object(s3, bucket, "m/v1/_ping").headers["Content-Type"] == "application/json"


def test_a_v2_tree_gets_exact_keys_and_manifest_types(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    """Suffixes leave the keys, `/v2/` is its folder's index document, digests keep their colon."""
    site = _tiny_site(tmp_path / "site", {
        ".sitegen/x": "",
        "v2/.index.json": "{}",
        "v2/_catalog": '{"repositories":["acme/web"]}',
        "v2/acme/web/tags/list/.index.json": '{"name":"acme/web","tags":["latest"]}',
        "v2/acme/web/manifests/latest.dmv2": '{"schemaVersion":2}',
        f"v2/acme/web/manifests/{DIGEST}.dmv2": '{"schemaVersion":2}',
        f"v2/acme/web/blobs/{DIGEST}": "config",
    })
    result = _publish(s3, site, f"s3://{bucket}/m")
    assert set(bucket_keys(s3, bucket)) == {
        "m/v2/index.html", "m/v2/_catalog", "m/v2/acme/web/tags/list",
        "m/v2/acme/web/manifests/latest", f"m/v2/acme/web/manifests/{DIGEST}",
        f"m/v2/acme/web/blobs/{DIGEST}",
    }
    # Blobs first, then manifests by digest, then tags and lists, then the rest.
    assert result.uploaded[0] == f"m/v2/acme/web/blobs/{DIGEST}"
    assert result.uploaded[1] == f"m/v2/acme/web/manifests/{DIGEST}"
    assert set(result.uploaded[2:4]) == {"m/v2/acme/web/manifests/latest",
                                         "m/v2/acme/web/tags/list"}
    manifest = get_object(s3, bucket, "m/v2/acme/web/manifests/latest")
    docker_v2 = "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest.headers["Content-Type"] == docker_v2
    assert manifest.headers["Cache-Control"] == "no-cache"
    blob = get_object(s3, bucket, f"m/v2/acme/web/blobs/{DIGEST}")
    assert (blob.body, blob.headers["Content-Type"]) == (b"config", "application/octet-stream")
    assert blob.headers["Cache-Control"] == "max-age=31536000"
    base = get_object(s3, bucket, "m/v2/index.html")
    assert (base.body, base.headers["Content-Type"]) == (b"{}", "application/json; charset=utf-8")


# --- keys -------------------------------------------------------------------------------------


def _tiny_site(root: Path, files: dict[str, str]) -> Path:
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body)
    return root


def test_the_root_document_goes_to_index_html_unless_the_site_has_a_home_page(
    tmp_path: Path,
) -> None:
    target = Target.parse("s3://b/p")
    plain = _tiny_site(tmp_path / "a", {".index.json": '"root"', "v1/_ping": "{}",
                                         ".sitegen/errors/x": "internal"})
    assert {f.key: Path(f.path).name for f in site_files(plain, target)} == {
        "p/index.html": ".index.json", "p/v1/_ping": "_ping"}
    with_home = _tiny_site(tmp_path / "b", {".index.json": '"root"', "index.html": "<html>"})
    assert {f.key: Path(f.path).name for f in site_files(with_home, target)} == {
        "p/index.html": "index.html"}


def test_symlinks_in_the_output_are_not_published(tmp_path: Path) -> None:
    site = _tiny_site(tmp_path / "site", {"v1/_ping": "{}"})
    (tmp_path / "secret").write_text("secret")
    (site / "v1/search").symlink_to(tmp_path / "secret")
    assert [f.key for f in site_files(site, Target.parse("s3://b"))] == ["v1/_ping"]


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://b1/mirror", "b1", "mirror"),
        ("s3://b1/mirror/", "b1", "mirror"),
        ("s3://b1/a/b", "b1", "a/b"),
        ("s3://b1", "b1", ""),
        ("s3://b1/", "b1", ""),
    ],
)
def test_targets(url: str, bucket: str, prefix: str) -> None:
    assert Target.parse(url) == Target(bucket, prefix)


@pytest.mark.parametrize(
    "url", ["http://b1/x", "b1/x", "s3://", "s3:///x", "s3://b1/a//b", "s3://b1/../x",
            "s3://b1/x?y=1", "s3://us@er/x"]
)
def test_bad_targets_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="publish target"):
        Target.parse(url)


# --- failures ---------------------------------------------------------------------------------


def test_a_missing_or_unbuilt_output_is_exit_status_2(tmp_path: Path, capsys) -> None:
    assert main(["publish", "-o", str(tmp_path / "nowhere"), "s3://b1/p"]) == 2
    assert "is not a built site; run `sitegen build`" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["publish", "-o", str(tmp_path / "empty"), "s3://b1/p"]) == 2
    assert main(["publish", "-o", str(tmp_path / "empty"), "http://b1/p"]) == 2
    assert "expected s3://BUCKET" in capsys.readouterr().err


def test_a_malformed_endpoint_is_exit_status_2(oracle_site: Path, capsys) -> None:
    assert main(["publish", "-o", str(oracle_site), "s3://b1/p", "--endpoint-url", "x y"]) == 2
    assert "--endpoint-url 'x y'" in capsys.readouterr().err


def test_a_missing_bucket_is_named(s3: S3Server, oracle_site: Path, capsys) -> None:
    assert main(["publish", "-o", str(oracle_site), "s3://no-such-bucket-here/p",
                 "--endpoint-url", s3.endpoint]) == 1
    assert "bucket 'no-such-bucket-here' does not exist" in capsys.readouterr().err


def test_an_upload_failure_names_the_key_and_deletes_nothing(
    s3: S3Server, bucket: str, oracle_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.client().put_object(Bucket=bucket, Key="m/stale", Body=b"old")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READ_ONLY_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READ_ONLY_SECRET)
    with pytest.raises(PublishError, match=r"uploading m/v1/images/\S+ failed, so nothing was "
                                           r"deleted: .*AccessDenied"):
        _publish(s3, oracle_site, f"s3://{bucket}/m")
    assert "m/stale" in bucket_keys(s3, bucket)


def test_publishing_while_a_build_writes_the_output_exits_3(
    oracle_site: Path, capsys
) -> None:
    fd = os.open(lock_path(oracle_site), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert main(["publish", "-o", str(oracle_site), "s3://b1/p"]) == 3
        assert "a sitegen build is writing" in capsys.readouterr().err
    finally:
        os.close(fd)


def test_a_build_started_while_publish_reads_the_output_exits_3(oracle_site: Path) -> None:
    with shared_output_lock(oracle_site), pytest.raises(BuildLocked), output_lock(oracle_site):
        pass
