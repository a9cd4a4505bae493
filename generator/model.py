"""The domain nouns every source produces and every emitter reads.

A source crawls storage into these frozen objects, all of them gathered
before anything is written (mkdocs' two phases). Tuples are kept sorted by
name so that everything downstream is deterministic by construction. Stored
bytes stay bytes: the v1 registry served several files raw, and re-encoding
them would break byte-for-byte answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Tag:
    """One `tag_<name>` file of a repository."""

    name: str
    """The tag name: the file name after `tag_`, as the registry wrote it."""
    value: str
    """The file's content, decoded, trailing newline kept (0.9.1 serves it so)."""
    metadata: bytes | None = None
    """Raw `tag<name>_json` (the pushing client's User-Agent facts), if any."""

    @property
    def image_id(self) -> str:
        """The image the tag points at, whitespace stripped for lookups."""
        return self.value.strip()


@dataclass(frozen=True)
class Repository:
    """One entry under `repositories/<namespace>/`."""

    namespace: str
    name: str
    is_directory: bool = True
    """False for a stray file: the registry's search walk lists it, nothing else does."""
    has_entries: bool = True
    """An empty directory answers `tags` with 404 but still appears in search."""
    private: bool = False
    tags: tuple[Tag, ...] = ()
    index_images: bytes | None = None
    """Raw `_index_images`, served as stored by `/images`."""
    metadata: bytes | None = None
    """Raw repository `json` (the `latest` tag's metadata), if any."""
    description: str | None = None
    """Search description: v1 storage has none (0.9.1 answers null)."""

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    def image_ids(self) -> tuple[str, ...]:
        """Ids named by tags and by `_index_images`, sorted, without duplicates."""
        ids = {tag.image_id for tag in self.tags}
        ids.update(_index_image_ids(self.index_images))
        return tuple(sorted(ids))


@dataclass(frozen=True)
class Image:
    """One `images/<id>/` directory."""

    id: str
    json: bytes | None = None
    """Raw image JSON, served untouched."""
    parent: str | None = None
    ancestry: tuple[str, ...] | None = None
    checksums: tuple[str, ...] = ()
    """One `X-Docker-Checksum-Payload` header per element."""
    layer_size: int | None = None
    """Size of the layer file; None when it is missing."""
    layer_path: Path | None = None
    in_progress: bool = False
    """`_inprogress` present: every GET on the image answers 400."""
    files: bytes | None = None
    """The `/files` answer: the stored `_files` cache, or computed from the layer."""
    files_unsupported: bool = False
    """The layer is not a tar: 0.9.1 answers `/files` with 400."""
    config: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Decoded image JSON, for indexing and pages; empty when it did not decode."""

    @property
    def labels(self) -> dict[str, str]:
        """`config.Labels` of the image, as strings."""
        cfg = self.config.get("config") or self.config.get("container_config") or {}
        labels = cfg.get("Labels") if isinstance(cfg, dict) else None
        if not isinstance(labels, dict):
            return {}
        return {str(k): str(v) for k, v in labels.items()}


@dataclass(frozen=True)
class Registry:
    """Everything a build publishes, gathered before anything is written."""

    repositories: tuple[Repository, ...] = ()
    images: tuple[Image, ...] = ()

    def image(self, image_id: str) -> Image | None:
        return self._images_by_id().get(image_id)

    def _images_by_id(self) -> dict[str, Image]:
        cache = self.__dict__.get("_by_id")
        if cache is None:
            cache = {image.id: image for image in self.images}
            object.__setattr__(self, "_by_id", cache)
        return cache


def _index_image_ids(raw: bytes | None) -> list[str]:
    """Ids listed in an `_index_images` file; nothing if it does not decode."""
    if not raw:
        return []
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(entries, list):
        return []
    return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]
