"""`sitegen publish` of the v2 mirror: the bucket answers what the real registry answered.

The site built from the registry's storage goes to a real S3-compatible server
(SeaweedFS). Each live document is then read from the bucket over plain HTTP
and compared with the registry's answer: the same body and the same
Content-Type, each manifest with its own media type. The headers a bucket
cannot send (`Docker-Content-Digest`, `Docker-Distribution-Api-Version`)
are not compared; the README lists them.
"""

from __future__ import annotations

import json
from pathlib import Path

from generator.publish import publish
from tests.support.http import get
from tests.support.s3 import S3Server, bucket_keys, get_object, key_for, site_urls
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


def _body(url: str, body: bytes) -> object:
    if url.endswith("/tags/list") or url == "/v2/_catalog":  # the registry lists in readdir order
        doc = json.loads(body)
        return {k: sorted(v) if isinstance(v, list) else v for k, v in doc.items()}
    return body


def test_the_bucket_answers_every_v2_document_like_the_registry(
    s3: S3Server, bucket: str, v2_registry: V2Registry, v2_site: Path
) -> None:
    result = publish(v2_site, f"s3://{bucket}/mirror", endpoint_url=s3.endpoint)
    keys = set(bucket_keys(s3, bucket))
    assert keys == {key_for("mirror", url) for url in site_urls(v2_site)}
    assert len(result.uploaded) == len(keys)

    urls = v2_registry.pushed.live_urls()
    assert len(urls) > 20
    differences = []
    for url in urls:
        expected = get(v2_registry.base, url, headers=ACCEPT_ALL)
        assert expected.status == 200, url
        got = get_object(s3, bucket, key_for("mirror", url))
        want = (200, expected.headers["Content-Type"], _body(url, expected.body))
        have = (got.status, got.headers.get("Content-Type"), _body(url, got.body))
        if have != want:
            differences.append(f"{url}:\n  registry {want}\n  bucket   {have}")
    assert not differences, "\n".join(differences)

    again = publish(v2_site, f"s3://{bucket}/mirror", endpoint_url=s3.endpoint)
    assert (again.uploaded, again.deleted) == ((), ())
