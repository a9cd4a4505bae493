"""Crawl CNCF distribution (v2) storage into the same model as v1 storage.

A repository is any folder of `repositories/` that holds `_manifests`, at any
depth, also inside another repository. A tag is what `current/link` says
(the `index/` history and empty revision folders of deleted manifests are
leftovers). Every manifest and config is read and checked against its
digest (one that does not match is never published); layers are only
stat'ed, never read.

Each repository also gets its v1 view (`sources/schema1.py`): the tags point
at the v1 id of their image (for a list or index, of the child for the
configured `platform`), and every v1 image of those chains becomes an
`Image`, so the v1 API and the pages work the same for both layouts.

v1 names have a namespace: a one-segment v2 name `busybox` is
`library/busybox` (and `busybox`, as 0.9.1 aliased `library/`); a deeper
name keeps every segment (`org/team/app` → namespace `org`, repository
`team/app`, served at `/v1/repositories/org/team/app/…`).

Bad storage never stops the crawl: a link to a missing blob, bytes that do
not match their digest, a manifest that is not JSON or has an unknown media
type become Problems naming the file, and only that item is skipped.

The HTTP crawler (`http.py`) ends the same way: `parse_manifest()`,
`with_image_config()` and `assemble()` are shared, so both sources give the
same model from the same manifests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from generator import model
from generator.emit import v1_json
from generator.model import (
    Descriptor,
    Image,
    Manifest,
    Platform,
    Registry,
    Repository,
    Tag,
    V2Repository,
    V2Tag,
)
from generator.report import Report
from generator.sources import schema1
from generator.sources import v2_layout as layout
from generator.sources.layer_files import layer_compression
from generator.sources.v1_layout import LIBRARY

log = logging.getLogger("sitegen")

DEFAULT_PLATFORM = "linux/amd64"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""distribution refuses to store larger manifests; a bigger revision is not a manifest."""
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MANIFEST_MEDIA_TYPES = frozenset(
    {model.DOCKER_MANIFEST, model.DOCKER_MANIFEST_LIST, model.OCI_MANIFEST, model.OCI_INDEX}
)
DESCRIPTION_KEYS = ("org.opencontainers.image.description", "org.opencontainers.image.title")


def crawl(root: Path, report: Report, *, platform: str = DEFAULT_PLATFORM) -> Registry:
    """Read every repository under `root/docker/registry/v2`."""
    blobs = _Blobs(root, report)
    wanted = parse_platform(platform)
    found = sorted(_find_repositories(layout.repositories_dir(root), report))
    return assemble(
        (_crawl_repository(name, repo_dir, blobs, report) for name, repo_dir in found),
        wanted,
        blobs,
    )


class BlobFiles(Protocol):
    """The blob files the v1 view links: storage's `data` files, or an HTTP crawl's cache."""

    chains: dict[str, list[schema1.V1Layer]]
    """The v1 chain of every image manifest that has one, by manifest digest."""

    def exists(self, digest: str) -> bool: ...

    def path(self, digest: str) -> Path: ...


def assemble(repos: Iterable[V2Repository], wanted: Platform, blobs: BlobFiles) -> Registry:
    """The registry of `repos` (sorted by name), each with its v1 view: how every v2 source ends."""
    repositories: list[Repository] = []
    images: dict[str, Image] = {}
    for v2_repo in repos:
        repositories.append(_v1_view(v2_repo, wanted, images, blobs))
    return Registry(
        repositories=tuple(repositories),
        images=tuple(images[i] for i in sorted(images)),
        layout="v2",
    )


def parse_platform(text: str) -> Platform:
    """`os/architecture[/variant]`, as `platform` is written in sitegen.yaml."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"expected os/architecture[/variant] such as linux/amd64, got {text!r}")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


# --- finding repositories ----------------------------------------------------------------------


def _find_repositories(base: Path, report: Report) -> Iterator[tuple[str, Path]]:
    """(name, folder) of every repository, descending into repositories too."""
    stack: list[tuple[Path, tuple[str, ...]]] = [(base, ())]
    while stack:
        folder, parts = stack.pop()
        for entry in _entries(folder, report):
            if entry.name.startswith("_") or not entry.is_dir(follow_symlinks=False):
                if entry.is_symlink():
                    report.problem(folder / entry.name, "is a symlink; not followed")
                continue
            path = folder / entry.name
            name = "/".join((*parts, entry.name))
            if not layout.NAME_COMPONENT_RE.match(entry.name) or len(name) > 255:
                report.problem(
                    path,
                    f"{entry.name[:80]!r} is not a valid repository name component; "
                    "skipped with everything inside",
                    kind="name",
                )
                continue
            if layout.is_repository(path):
                yield name, path
            stack.append((path, (*parts, entry.name)))


def _entries(folder: Path, report: Report) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: os.fsencode(e.name))
    except FileNotFoundError:
        return []
    except OSError as exc:
        report.problem(folder, f"cannot list directory: {exc.strerror or exc}")
        return []


def _read_link(path: Path, report: Report, expected: str | None = None) -> str | None:
    """The digest a `link` file holds; None if absent, or (with a problem) if malformed."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        report.problem(path, f"cannot read: {exc.strerror or exc}")
        return None
    text = raw.decode("ascii", "replace").strip()
    if not layout.DIGEST_RE.match(text):
        report.problem(path, f"is not a sha256 digest link ({raw[:80]!r}); ignored")
        return None
    if expected is not None and text != expected:
        report.problem(path, f"holds {text} inside the folder of {expected}; ignored")
        return None
    return text


def _linked(folder: Path, report: Report) -> list[str]:
    """Digests linked by `<folder>/<hex>/link` files (`_layers` or `revisions`)."""
    digests = []
    for entry in _entries(folder, report):
        expected = f"sha256:{entry.name}"
        if not layout.DIGEST_RE.match(expected):
            continue
        digest = _read_link(layout.link_in(folder / entry.name), report, expected)
        if digest is not None:
            digests.append(digest)
    return digests


# --- blobs ---------------------------------------------------------------------------------------


@dataclass
class _Blobs:
    """Blob files, each stat'ed or read (and digest-checked) at most once per crawl."""

    root: Path
    report: Report
    chains: dict[str, list[schema1.V1Layer]] = field(default_factory=dict)
    """The v1 chain of every image manifest that has one, by manifest digest."""
    _read: dict[str, bytes | None] = field(default_factory=dict)
    _exists: dict[str, bool] = field(default_factory=dict)

    def path(self, digest: str) -> Path:
        return layout.blob_data(self.root, digest)

    def exists(self, digest: str) -> bool:
        if digest not in self._exists:
            self._exists[digest] = self.path(digest).is_file()
        return self._exists[digest]

    def read(self, digest: str, limit: int, what: str) -> bytes | None:
        """The blob's bytes if present, small enough and matching `digest`; else None."""
        if digest in self._read:
            return self._read[digest]
        path = self.path(digest)
        data: bytes | None = None
        try:
            size = path.stat().st_size
            if size > limit:
                self.report.problem(path, f"is {size} bytes, too large for a {what}; skipped")
            else:
                data = path.read_bytes()
        except FileNotFoundError:
            pass  # the caller names the link that leads here
        except OSError as exc:
            self.report.problem(path, f"cannot read: {exc.strerror or exc}")
        if data is not None and f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            self.report.problem(path, f"bytes do not match the digest {digest}; skipped")
            data = None
        self._read[digest] = data
        return data


# --- one repository -----------------------------------------------------------------------------


def _crawl_repository(name: str, repo_dir: Path, blobs: _Blobs, report: Report) -> V2Repository:
    # `registry garbage-collect` deletes blob data but leaves `_layers` links: a link to
    # missing data is only a problem when a live manifest needs it (`_with_path` names it).
    linked = {
        digest: blobs.path(digest)
        for digest in _linked(layout.layers_dir(repo_dir), report)
        if blobs.exists(digest)
    }
    manifests: dict[str, Manifest] = {}
    revisions = layout.revisions_dir(repo_dir)
    for digest in _linked(revisions, report):
        link = layout.link_in(revisions / layout.digest_hex(digest))
        manifest = _manifest(digest, link, linked, blobs, report)
        if manifest is not None:
            manifests[digest] = manifest
    for manifest in manifests.values():
        for child in manifest.children:
            if child.digest not in manifests:
                report.problem(
                    layout.blob_data(blobs.root, manifest.digest),
                    f"{name}: the index lists {child.digest}, which the repository does not "
                    "hold; pulls of every platform fail",
                )
    return V2Repository(
        name=name,
        tags=tuple(_tags(repo_dir, manifests, report)),
        manifests=tuple(manifests[d] for d in sorted(manifests)),
    )


def _tags(repo_dir: Path, manifests: dict[str, Manifest], report: Report) -> Iterator[V2Tag]:
    base = layout.tags_dir(repo_dir)
    for entry in _entries(base, report):
        if not entry.is_dir():
            continue
        if not layout.TAG_RE.match(entry.name):
            report.problem(base / entry.name, "is not a valid tag name; skipped", kind="name")
            continue
        link = layout.current_link(repo_dir, entry.name)
        digest = _read_link(link, report)
        if digest is None:
            if not link.exists():
                report.problem(link, "missing: the tag points nowhere; skipped")
            continue
        if digest not in manifests:
            report.problem(
                link, f"points at {digest}, which is not a readable manifest here; skipped"
            )
            continue
        yield V2Tag(entry.name, digest)


def _manifest(
    digest: str, link: Path, linked: dict[str, Path], blobs: _Blobs, report: Report
) -> Manifest | None:
    raw = blobs.read(digest, MAX_MANIFEST_BYTES, "manifest")
    if raw is None:
        if not blobs.exists(digest):
            report.problem(link, f"links {digest}, whose blob data is missing; skipped")
        return None
    try:
        manifest = parse_manifest(digest, raw)
    except BadManifest as exc:
        report.problem(blobs.path(digest), str(exc))
        return None
    if manifest.config is None:  # a list or an index
        return manifest
    # Whether a blob is served depends on the repository: named at its revision link.
    config = _with_path(manifest.config, linked, report, link, "config")
    layers = tuple(_with_path(d, linked, report, link, "layer") for d in manifest.layers)
    config_raw = blobs.read(config.digest, MAX_CONFIG_BYTES, "config") if config.path else None
    if config_raw is None:  # bad bytes are never published
        config = dataclasses.replace(config, path=None)
    manifest = dataclasses.replace(manifest, config=config, layers=layers)
    return with_image_config(manifest, config_raw, blobs.path(config.digest), report, blobs.chains)


class BadManifest(ValueError):
    """Bytes that are no manifest sitegen can publish; the message says why, for a Problem."""


def parse_manifest(digest: str, raw: bytes) -> Manifest:
    """The manifest in `raw` (checked against `digest` by the caller), without blob files.

    Raises BadManifest for bytes that are not JSON, an unknown media type or a
    malformed descriptor: the storage and HTTP crawlers skip those alike.
    """
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise BadManifest(f"manifest is not JSON ({exc}); skipped") from None
    media_type = _media_type(doc)
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise BadManifest(f"manifest has an unknown media type {media_type[:100]}; skipped")
    try:
        annotations = _annotations(doc.get("annotations"))
        if media_type in model.INDEX_MEDIA_TYPES:
            children = tuple(_descriptor(d, with_platform=True) for d in _list(doc, "manifests"))
            return Manifest(digest, media_type, raw, children=children, annotations=annotations)
        config = _descriptor(doc.get("config"))
        layers = tuple(_descriptor(d) for d in _list(doc, "layers"))
    except _BadDescriptor as exc:
        raise BadManifest(f"manifest {exc}; skipped") from None
    return Manifest(
        digest, media_type, raw, config=config, layers=layers, annotations=annotations
    )


def with_image_config(
    manifest: Manifest,
    config_raw: bytes | None,
    where: object,
    report: Report,
    chains: dict[str, list[schema1.V1Layer]],
) -> Manifest:
    """The manifest with its decoded image config and v1 id, when its config is an image's.

    `config_raw` is the verified config blob (None when unreadable); `where`
    names it in problems; the image's v1 chain is added to `chains`.
    """
    config = manifest.config
    if config_raw is None or config is None:
        return manifest
    if config.media_type not in model.IMAGE_CONFIG_MEDIA_TYPES:
        return manifest
    image_config = _decoded_config(config_raw, where, report)
    v1_id = _v1_chain(manifest.digest, config_raw, manifest.layers, chains)
    return dataclasses.replace(manifest, image_config=image_config, v1_id=v1_id)


def _media_type(doc: Any) -> str:
    """The manifest's media type as distribution decides it (`manifeststore.go`).

    `mediaType` when present; without it (allowed by OCI) a schemaVersion 2
    document with `manifests` is an OCI index, any other an OCI manifest.
    """
    if not isinstance(doc, dict):
        return "(not a JSON object)"
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if declared is not None and not isinstance(declared, str):
        return "(mediaType is not a string)"
    if doc.get("schemaVersion") != 2:
        return f"(none, schemaVersion {str(doc.get('schemaVersion'))[:20]})"
    return model.OCI_INDEX if "manifests" in doc else model.OCI_MANIFEST


class _BadDescriptor(ValueError):
    pass


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _BadDescriptor(f"{key} is not a list")
    return value


def _descriptor(value: Any, *, with_platform: bool = False) -> Descriptor:
    if not isinstance(value, dict):
        raise _BadDescriptor("has a descriptor that is not an object")
    digest, media_type, size = value.get("digest"), value.get("mediaType"), value.get("size")
    if not isinstance(digest, str) or not layout.DIGEST_RE.match(digest):
        raise _BadDescriptor(f"references {str(digest)[:80]!r}, which is not a sha256 digest")
    if not isinstance(media_type, str):
        media_type = ""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise _BadDescriptor(f"gives {digest} a size that is not a count of bytes")
    platform = _platform(value.get("platform")) if with_platform else None
    return Descriptor(media_type, digest, size, platform, _annotations(value.get("annotations")))


def _platform(value: Any) -> Platform | None:
    if not isinstance(value, dict):
        return None
    os_, arch, variant = value.get("os"), value.get("architecture"), value.get("variant")
    if not isinstance(os_, str) or not isinstance(arch, str):
        return None
    return Platform(os_, arch, variant if isinstance(variant, str) and variant else None)


def _annotations(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


def _with_path(
    descriptor: Descriptor, linked: dict[str, Path], report: Report, where: Path, what: str
) -> Descriptor:
    """The descriptor with its blob file, if this repository serves it (else a problem)."""
    path = linked.get(descriptor.digest)
    if path is None:
        report.problem(
            where,
            f"the manifest's {what} {descriptor.digest} is not linked in this repository or "
            "has no data; pulls of this manifest fail",
        )
        return descriptor
    return dataclasses.replace(descriptor, path=path)


def _decoded_config(raw: bytes, where: object, report: Report) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        report.problem(where, f"image config is not JSON ({exc}); shown without it")
        return {}
    if not isinstance(value, dict):
        report.problem(where, "image config is not a JSON object; shown without it")
        return {}
    return value


def _v1_chain(
    digest: str,
    config_raw: bytes,
    layers: tuple[Descriptor, ...],
    chains: dict[str, list[schema1.V1Layer]],
) -> str | None:
    try:
        chain = schema1.v1_chain(config_raw, [d.digest for d in layers])
    except schema1.Schema1Error as exc:
        log.info("%s: no v1 view: %s", digest, exc)
        return None
    chains[digest] = chain
    return chain[-1].id


# --- the v1 view ---------------------------------------------------------------------------------


def _v1_view(
    repo: V2Repository, wanted: Platform, images: dict[str, Image], blobs: BlobFiles
) -> Repository:
    """The repository as the v1 API sees it, adding its v1 images to `images`."""
    parts = repo.name.split("/")
    namespace, name = (LIBRARY, parts[0]) if len(parts) == 1 else (parts[0], "/".join(parts[1:]))
    tags = []
    ids: set[str] = set()
    for tag in repo.tags:
        image = _v1_image(repo, repo.manifest(tag.digest), wanted)
        if image is None or image.v1_id is None:
            continue
        tags.append(Tag(name=tag.name, value=image.v1_id))
        for layer in blobs.chains[image.digest]:
            ids.add(layer.id)
            if layer.id not in images:
                images[layer.id] = _image(layer, image, blobs)
    return Repository(
        namespace=namespace,
        name=name,
        tags=tuple(tags),
        index_images=v1_json.encode([{"id": i} for i in sorted(ids)]),
        description=_description(repo, wanted),
        v2=repo,
    )


def _v1_image(repo: V2Repository, manifest: Manifest | None, wanted: Platform) -> Manifest | None:
    """The image manifest a tag's v1 view shows: for a list, the child for `wanted`."""
    if manifest is None or not manifest.is_index:
        return manifest
    for child in manifest.children:
        if child.platform is not None and _matches(child.platform, wanted):
            return repo.manifest(child.digest)
    return None


def _matches(platform: Platform, wanted: Platform) -> bool:
    return (
        platform.os == wanted.os
        and platform.architecture == wanted.architecture
        and (wanted.variant is None or platform.variant == wanted.variant)
    )


def _image(layer: schema1.V1Layer, manifest: Manifest, blobs: BlobFiles) -> Image:
    chain = blobs.chains[manifest.digest]
    ids = [item.id for item in chain]
    position = ids.index(layer.id)
    blob = next((d for d in manifest.layers if d.digest == layer.blobsum), None)
    path = blob.path if blob is not None else None
    if layer.throwaway and blobs.exists(layer.blobsum):
        path = blobs.path(layer.blobsum)
    size = blob.size if blob is not None else len(schema1.GZIPPED_EMPTY_TAR)
    return Image(
        id=layer.id,
        json=layer.json,
        parent=layer.parent,
        ancestry=tuple(reversed(ids[: position + 1])),
        layer_size=size,
        blob_file=None if path is None else str(path),
        compression=layer_compression(path),
    )


def _description(repo: V2Repository, wanted: Platform) -> str | None:
    """`org.opencontainers.image.description` (else its title) of the `latest` tag, else the first.

    Index annotations first, then the image's manifest annotations, then its config labels.
    """
    by_name = {tag.name: tag for tag in repo.tags}
    tag = by_name.get("latest") or (repo.tags[0] if repo.tags else None)
    if tag is None:
        return None
    top = repo.manifest(tag.digest)
    image = _v1_image(repo, top, wanted)
    sources = [m.annotations for m in (top, image) if m is not None]
    if image is not None:
        sources.append(image.labels)
    for key in DESCRIPTION_KEYS:
        for values in sources:
            if values.get(key):
                return values[key]
    return None
