"""Build small container images with the standard library, as skopeo `dir:` layouts.

No Docker engine exists here, so the tests write images themselves: gzip'd
tar layers (deterministic: fixed mtimes, gzip mtime 0), a config blob, and a
manifest in the exact bytes the test wants pushed. skopeo's `dir:` transport
(`manifest.json`, `<hex>.manifest.json` for list children, one file per blob
named by its hex digest, a `version` file) copies manifests unchanged, so the
digests the registry stores are the digests computed here.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@dataclass
class Blob:
    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return digest(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "size": len(self.data),
            "digest": self.digest,
            **extra,
        }


@dataclass
class Built:
    """One manifest with everything it needs to be pushed."""

    manifest: bytes
    media_type: str
    blobs: list[Blob] = field(default_factory=list)
    children: list[Built] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return digest(self.manifest)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "size": len(self.manifest),
            "digest": self.digest,
            **extra,
        }

    def all_blobs(self) -> list[Blob]:
        blobs = list(self.blobs)
        for child in self.children:
            blobs += child.all_blobs()
        return blobs


def layer(files: dict[str, bytes], media_type: str = DOCKER_LAYER) -> tuple[Blob, str]:
    """A gzip'd layer and its diff id (the digest of the uncompressed tar)."""
    raw = tar_bytes(files)
    return Blob(gzipped(raw), media_type), digest(raw)


def image_config(
    diff_ids: list[str],
    history: list[dict[str, Any]],
    *,
    architecture: str = "amd64",
    variant: str | None = None,
    created: str = "2024-01-02T03:04:05Z",
    author: str | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"architecture": architecture}
    if author:
        doc["author"] = author
    doc["config"] = config or {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]}
    doc["created"] = created
    doc["history"] = history
    doc["os"] = "linux"
    doc["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    if variant:
        doc["variant"] = variant
    return doc


def image(
    layers: list[tuple[Blob, str]],
    config: dict[str, Any],
    *,
    oci: bool = False,
    annotations: dict[str, str] | None = None,
    config_bytes: bytes | None = None,
) -> Built:
    """A Docker schema2 manifest (3-space indent, as `docker push`) or an OCI one (compact)."""
    cfg = Blob(
        config_bytes if config_bytes is not None else json.dumps(config).encode(),
        OCI_CONFIG if oci else DOCKER_CONFIG,
    )
    doc: dict[str, Any] = {"schemaVersion": 2}
    doc["mediaType"] = OCI_MANIFEST if oci else DOCKER_MANIFEST
    doc["config"] = cfg.descriptor()
    doc["layers"] = [blob.descriptor() for blob, _ in layers]
    if annotations:
        doc["annotations"] = annotations
    raw = json.dumps(doc, separators=(",", ":")) if oci else json.dumps(doc, indent=3)
    return Built(raw.encode(), doc["mediaType"], [cfg, *(blob for blob, _ in layers)])


def artifact(config_type: str, config_data: bytes, layer_type: str, layer_data: bytes) -> Built:
    """An OCI artifact: an OCI manifest whose config is not an image config."""
    cfg, content = Blob(config_data, config_type), Blob(layer_data, layer_type)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": cfg.descriptor(),
        "layers": [content.descriptor()],
    }
    return Built(json.dumps(doc).encode(), OCI_MANIFEST, [cfg, content])


def index(
    children: list[tuple[Built, dict[str, str]]],
    *,
    oci: bool,
    annotations: dict[str, str] | None = None,
) -> Built:
    """A Docker manifest list or an OCI index over `(child, platform)` pairs."""
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX if oci else DOCKER_LIST}
    doc["manifests"] = [child.descriptor(platform=platform) for child, platform in children]
    if annotations:
        doc["annotations"] = annotations
    raw = json.dumps(doc, indent=3 if not oci else None).encode()
    return Built(raw, doc["mediaType"], children=[child for child, _ in children])


def write_dir_layout(built: Built, target: Path) -> Path:
    """skopeo's `dir:` layout for `built` (children of a list as `<hex>.manifest.json`)."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "version").write_text("Directory Transport Version: 1.1\n")
    (target / "manifest.json").write_bytes(built.manifest)
    for child in built.children:
        (target / f"{child.digest.removeprefix('sha256:')}.manifest.json").write_bytes(
            child.manifest
        )
    for blob in built.all_blobs():
        (target / blob.digest.removeprefix("sha256:")).write_bytes(blob.data)
    return target
