"""Write small v1 storage trees by hand, in the layout docker-registry 0.9.1 writes."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path


def image_id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1400000000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_image(root: Path, iid: str, parent: str | None = None, *,
                labels: dict[str, str] | None = None, layer: bytes | None = None) -> Path:
    """An image as a docker 1.x push leaves it: json, ancestry, _checksum, layer."""
    d = root / "images" / iid
    d.mkdir(parents=True, exist_ok=True)
    meta: dict[str, object] = {"id": iid, "created": "2015-01-01T00:00:00Z",
                               "architecture": "amd64", "os": "linux"}
    if parent:
        meta["parent"] = parent
    if labels:
        meta["config"] = {"Labels": labels}
    (d / "json").write_text(json.dumps(meta, separators=(",", ":")))
    ancestry = [iid]
    if parent:
        ancestry += json.loads((root / "images" / parent / "ancestry").read_text())
    (d / "ancestry").write_text(json.dumps(ancestry))
    (d / "_checksum").write_text(json.dumps(["sha256:" + "0" * 64]))
    (d / "layer").write_bytes(layer if layer is not None else layer_tar({"f": iid.encode()}))
    return d


def write_repository(root: Path, name: str, tags: dict[str, str], *, private: bool = False,
                     ) -> Path:
    d = root / "repositories" / name
    d.mkdir(parents=True, exist_ok=True)
    for tag, iid in tags.items():
        (d / f"tag_{tag}").write_text(iid)
        (d / f"tag{tag}_json").write_text('{"last_update": 1420070400, "arch": "amd64"}')
    ids = sorted(set(tags.values()))
    (d / "_index_images").write_text(json.dumps([{"id": i} for i in ids]))
    if private:
        (d / "_private").write_bytes(b"")
    return d
