"""Which files the `/v2/` mirror needs, so that skopeo and podman can pull from a static host.

Only sites built from v2 storage have it: on a v1 site `/v2/` stays a 404,
which is what tells old Docker clients to fall back to the v1 API.

Published: `/v2/` (`{}`), `_catalog` (every repository, also those left with
no tags, as the registry lists them), each repository's `tags/list`, every
live manifest by each tag pointing at it and by digest (list and index
children too), as stored, and the blobs those manifests reference that the
repository serves: configs always, layers with `include_layers` (hard links
into the storage). Leftovers of deleted manifests are not published, though
the registry serves them until a garbage collection.

Besides the documents: `paths.V2_TAG_DIGESTS`, the tag → digest table the
nginx block includes for `Docker-Content-Digest` on tag requests, and
`paths.MEDIA_TYPES`, the URL → type table bucket publishing sends.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

from generator import paths
from generator.emit import units, v2_json
from generator.emit.v1_tree import Output, Selection
from generator.model import Registry, V2Repository


def site_outputs(
    selection: Selection, registry: Registry, include_layers: bool
) -> Iterator[Output]:
    """Every file of the mirror, in a fixed order; nothing for v1 storage."""
    if registry.layout != "v2":
        return
    repositories = [r.v2 for r in selection.repositories if r.v2 is not None]
    origin = "v2 mirror"
    yield Output(paths.file_for_url(paths.V2_BASE_URL), v2_json.BASE, origin=origin)
    names = sorted(repo.name for repo in repositories)
    yield Output(paths.file_for_url("v2/_catalog"), v2_json.catalog(names), origin=origin)
    media_types = {
        paths.V2_BASE_URL: v2_json.JSON_TYPE,
        "/v2/_catalog": v2_json.JSON_TYPE,
    }
    tag_digests: list[str] = []
    for repository in selection.repositories:
        if repository.v2 is None:
            continue
        # Every repository's outputs are made (cheap: stored bytes) because the tables
        # below need them all; the build writes only those of the units it redoes.
        unit = units.repository(repository.full_name)
        for output in _repository_outputs(repository.v2, include_layers, media_types, tag_digests):
            yield dataclasses.replace(output, unit=unit)
    yield Output(paths.V2_TAG_DIGESTS, "".join(tag_digests).encode(), origin=origin)
    yield Output(
        paths.MEDIA_TYPES,
        json.dumps(media_types, sort_keys=True, indent=0).encode(),
        origin=origin,
    )


def _repository_outputs(
    repo: V2Repository, include_layers: bool, media_types: dict[str, str], tag_digests: list[str]
) -> Iterator[Output]:
    origin = f"v2 repository {repo.name}"
    tags_url = paths.v2_url(repo.name, "tags", "list")
    body = v2_json.tags_list(repo.name, [tag.name for tag in repo.tags])
    yield Output(paths.file_for_url(tags_url), body, origin=origin)
    media_types[f"/{tags_url}"] = v2_json.JSON_TYPE
    for tag in repo.tags:
        manifest = repo.manifest(tag.digest)
        if manifest is None:  # the crawler keeps only tags of readable manifests
            continue
        relpath = paths.v2_manifest_file(repo.name, tag.name, manifest.media_type)
        yield Output(relpath, manifest.raw, origin=f"{origin} tag {tag.name}")
        media_types[str(paths.url_for_file(relpath))] = manifest.media_type
        tag_digests.append(f'"{repo.name}:{tag.name}" "{manifest.digest}";\n')
    published: set[str] = set()
    for manifest in repo.manifests:
        relpath = paths.v2_manifest_file(repo.name, manifest.digest, manifest.media_type)
        yield Output(relpath, manifest.raw, origin=f"{origin} manifest {manifest.digest}")
        media_types[str(paths.url_for_file(relpath))] = manifest.media_type
        blobs = [manifest.config, *(manifest.layers if include_layers else ())]
        for blob in blobs:
            if blob is None or blob.path is None or blob.digest in published:
                continue
            published.add(blob.digest)
            yield Output(
                paths.v2_url(repo.name, "blobs", blob.digest),
                source=blob.path,
                origin=f"{origin} blob {blob.digest}",
            )
