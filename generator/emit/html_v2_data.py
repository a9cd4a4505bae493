"""What the repository pages show of v2 storage: tags as the registry holds them.

The v1 view of a v2 repository (`sources/v2.py`) keeps one image per tag
(the configured `platform`) and drops artifacts; people want the rest too.
So a v2 repository's page lists every tag with its manifest: every platform
of a list or index with its own size and created date, the OCI annotations
of the manifests, the labels of the images, and artifacts with the media
types of their config and layers.

Everything comes from the manifests and the config blobs (schema1 is gone
from modern registries): created, architecture/os/variant and labels are
the config's; sizes are what a pull downloads (config and compressed
layers, from the descriptors), each blob counted once. v2 storage records
no push time, so tags sort newest created first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from generator import model
from generator.emit.html_data import SIGNATURE_TAG, Moment, Size
from generator.model import Descriptor, Manifest, V2Repository

KINDS = {
    model.DOCKER_MANIFEST: "Docker image",
    model.DOCKER_MANIFEST_LIST: "Docker manifest list",
    model.OCI_MANIFEST: "OCI image",
    model.OCI_INDEX: "OCI index",
}
"""Manifest media type → what the pages call it."""
_COMPRESSED = re.compile(r"(?:gzip|zstd|bzip2|xz)$")
"""Layer media types of compressed blobs (`…tar.gzip`, `…tar+zstd`)."""
CREATED_ANNOTATION = "org.opencontainers.image.created"
"""When an artifact (which has no image config) was made, if its tool said so."""
ATTESTATION = ("vnd.docker.reference.type", "attestation-manifest")
"""The index annotation buildx puts on provenance/SBOM entries (platform `unknown/unknown`)."""


def _sorted_items(values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


@dataclass(frozen=True)
class BlobView:
    """One config or layer blob of an artifact, with its media type."""

    descriptor: Descriptor

    @property
    def media_type(self) -> str:
        return self.descriptor.media_type

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def short_digest(self) -> str:
        return short_digest(self.descriptor.digest)

    @property
    def size(self) -> Size:
        return Size(self.descriptor.size)

    @property
    def title(self) -> str:
        """The file name an artifact tool (oras) recorded, if any."""
        return self.descriptor.annotations.get("org.opencontainers.image.title", "")


@dataclass(frozen=True)
class PlatformView:
    """One image manifest: a plain image tag, or one entry of a list or index."""

    digest: str
    manifest: Manifest | None
    """None when an index entry names a manifest the repository does not hold."""
    entry: Descriptor | None
    """The index entry (its `platform` and annotations); None for a plain image."""
    image_page: bool
    """The site has a v1 image page for `v1_id`."""

    @property
    def short_digest(self) -> str:
        return short_digest(self.digest)

    @property
    def media_type(self) -> str:
        if self.manifest is not None:
            return self.manifest.media_type
        return self.entry.media_type if self.entry else ""

    @property
    def platform(self) -> str:
        """`linux/arm64/v8`: from the image config, else what the index entry says."""
        found = self.manifest.platform if self.manifest else None
        if found is None and self.entry is not None:
            found = self.entry.platform
        return str(found) if found else ""

    @property
    def attestation(self) -> bool:
        """A buildx provenance/SBOM entry of an index, not a runnable platform."""
        if self.entry is None:
            return False
        return self.entry.annotations.get(ATTESTATION[0]) == ATTESTATION[1]

    @property
    def size(self) -> Size | None:
        """What pulling this platform downloads: its config and layers."""
        return None if self.manifest is None else blob_size([self.manifest])

    @cached_property
    def created(self) -> Moment | None:
        """The config's `created`, else the `org.opencontainers.image.created` annotation."""
        if self.manifest is None:
            return None
        return Moment.parse(self.manifest.image_config.get("created")) or Moment.parse(
            self.manifest.annotations.get(CREATED_ANNOTATION)
        )

    @property
    def labels(self) -> tuple[tuple[str, str], ...]:
        """The config's `Labels`, sorted by key."""
        return _sorted_items(self.manifest.labels) if self.manifest else ()

    @property
    def annotations(self) -> tuple[tuple[str, str], ...]:
        """The manifest's own annotations, sorted by key."""
        return _sorted_items(self.manifest.annotations) if self.manifest else ()

    @property
    def entry_annotations(self) -> tuple[tuple[str, str], ...]:
        """The index entry's annotations, sorted by key."""
        return _sorted_items(self.entry.annotations) if self.entry else ()

    @property
    def v1_id(self) -> str | None:
        return self.manifest.v1_id if self.manifest else None

    @cached_property
    def artifact_type(self) -> str | None:
        """`artifactType` (OCI 1.1), else a config media type that is not an image config."""
        if self.manifest is None:
            return None
        declared = _document(self.manifest).get("artifactType")
        if isinstance(declared, str) and declared:
            return declared
        return self.manifest.artifact_type

    @property
    def config(self) -> BlobView | None:
        config = self.manifest.config if self.manifest else None
        return BlobView(config) if config else None

    @property
    def layers(self) -> tuple[BlobView, ...]:
        return tuple(BlobView(d) for d in self.manifest.layers) if self.manifest else ()


@dataclass(frozen=True)
class V2TagView:
    """One tag of a v2 repository and the manifest its `current/link` names.

    Shares the attributes the generic repository code reads with `TagView`
    (`name`, `created`, `updated`, `size`, `signature`, `newest`, `image_ids`).
    """

    name: str
    manifest: Manifest
    platforms: tuple[PlatformView, ...]
    """The image itself, or every entry of a list or index in stored order."""
    signature: bool
    """A cosign `sha256-<hex>.sig|.att|.sbom` tag: shown folded."""
    updated: Moment | None = None
    """Always None: v2 storage records no push time."""

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def short_digest(self) -> str:
        return short_digest(self.manifest.digest)

    @property
    def anchor(self) -> str:
        """The id of the manifest's section on the page."""
        return manifest_anchor(self.manifest.digest)

    @property
    def media_type(self) -> str:
        return self.manifest.media_type

    @property
    def is_index(self) -> bool:
        return self.manifest.is_index

    @property
    def artifact_type(self) -> str | None:
        return None if self.is_index else self.platforms[0].artifact_type

    @property
    def kind(self) -> str:
        """`Docker image`, `OCI image`, `Docker manifest list`, `OCI index` or `artifact`."""
        if self.artifact_type:
            return "artifact"
        return KINDS.get(self.manifest.media_type, self.manifest.media_type)

    @property
    def pullable(self) -> bool:
        """`docker pull` can fetch it: an image or a list of images, not an artifact."""
        return not self.artifact_type

    @property
    def runnable(self) -> tuple[PlatformView, ...]:
        """The platforms, without buildx attestation entries."""
        return tuple(p for p in self.platforms if not p.attestation)

    @property
    def platform(self) -> str:
        """Every platform, comma-separated (empty for an artifact)."""
        if self.artifact_type:
            return ""
        return ", ".join(p.platform for p in self.runnable if p.platform)

    @cached_property
    def size(self) -> Size | None:
        """All platforms together, each blob once (for an image: its config and layers)."""
        found = [p.manifest for p in self.platforms if p.manifest is not None]
        if not found:
            return None
        size = blob_size(found)
        return Size(size.bytes, complete=len(found) == len(self.platforms),
                    compressed=size.compressed)

    @cached_property
    def created(self) -> Moment | None:
        """The newest platform's config `created`."""
        moments = [p.created for p in self.platforms if p.created]
        return max(moments, key=lambda m: m.timestamp, default=None)

    @property
    def annotations(self) -> tuple[tuple[str, str], ...]:
        """The tagged manifest's annotations (an index's own, or the image's)."""
        return _sorted_items(self.manifest.annotations)

    @property
    def newest(self) -> int:
        return self.created.timestamp if self.created else 0

    @property
    def image_ids(self) -> tuple[str, ...]:
        """The v1 ids of its images (image pages list the tags pointing at them)."""
        return tuple(p.v1_id for p in self.platforms if p.v1_id)

    @property
    def label_groups(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        """(platform, labels): one group with an empty name when every platform agrees."""
        groups = [(p.platform, p.labels) for p in self.runnable if p.labels]
        if not groups:
            return ()
        if len(groups) == len(self.runnable) and len({labels for _, labels in groups}) == 1:
            return (("", groups[0][1]),)
        return tuple(groups)


@dataclass(frozen=True)
class ManifestView:
    """A tagged manifest with every tag naming it: one section of the repository page."""

    tag: V2TagView
    """The first of its tags in the page's order (the manifest's facts)."""
    tag_names: tuple[str, ...]


@dataclass(frozen=True)
class V2RepositoryView:
    """The v2 side of a repository page."""

    repository: V2Repository

    @property
    def name(self) -> str:
        """The v2 name (`busybox`, `org/team/app`): what `docker pull` and `/v2/` use."""
        return self.repository.name

    @property
    def links(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(label, segments after `/v2/`) of its `/v2/` JSON, for `url_for('v2', …)`."""
        return (("v2 tags/list", (self.name, "tags", "list")),)


def tag_views(repo: V2Repository, has_page: Callable[[str | None], bool]) -> list[V2TagView]:
    """One view per tag, in tag-name order; `has_page(v1_id)` says if an image page exists."""
    by_digest = {m.digest: m for m in repo.manifests}
    views = []
    for tag in repo.tags:
        top = by_digest.get(tag.digest)
        if top is None:  # the crawler keeps only tags of readable manifests
            continue
        if top.is_index:
            platforms = tuple(
                _platform(child.digest, by_digest.get(child.digest), child, has_page)
                for child in top.children
            )
        else:
            platforms = (_platform(top.digest, top, None, has_page),)
        views.append(V2TagView(tag.name, top, platforms, bool(SIGNATURE_TAG.match(tag.name))))
    return views


def manifest_views(tags: Iterable[V2TagView]) -> tuple[ManifestView, ...]:
    """One view per distinct tagged manifest, in the order of `tags`."""
    first: dict[str, V2TagView] = {}
    names: dict[str, list[str]] = {}
    for tag in tags:
        first.setdefault(tag.digest, tag)
        names.setdefault(tag.digest, []).append(tag.name)
    return tuple(ManifestView(first[d], tuple(names[d])) for d in first)


def _platform(
    digest: str, manifest: Manifest | None, entry: Descriptor | None,
    has_page: Callable[[str | None], bool],
) -> PlatformView:
    return PlatformView(digest, manifest, entry, has_page(manifest.v1_id if manifest else None))


def blob_size(manifests: Iterable[Manifest]) -> Size:
    """Config and layer bytes of `manifests`, each blob counted once."""
    manifests = list(manifests)
    blobs: dict[str, Descriptor] = {}
    for manifest in manifests:
        for d in (manifest.config, *manifest.layers):
            if d is not None:
                blobs.setdefault(d.digest, d)
    layers = [d for m in manifests for d in m.layers]
    return Size(
        sum(d.size for d in blobs.values()),
        compressed=bool(layers) and all(_COMPRESSED.search(d.media_type) for d in layers),
    )


def short_digest(digest: str) -> str:
    """`sha256:` and the first 12 hex digits, as registries' UIs abbreviate."""
    algorithm, _, hex_digits = digest.partition(":")
    return f"{algorithm}:{hex_digits[:12]}"


def manifest_anchor(digest: str) -> str:
    return "manifest-" + digest.partition(":")[2]


def _document(manifest: Manifest) -> dict[str, object]:
    try:
        doc = json.loads(manifest.raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
