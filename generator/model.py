"""The domain nouns every source produces and every emitter reads.

A source crawls storage into these frozen objects, all of them gathered
before anything is written (mkdocs' two phases). The v1 ones have slots:
there are 150,000 of them at 20,000 repositories, and a `__dict__` each
doubled their size (and the pages a forked render worker copies when it
touches them). Tuples are kept sorted by
name so that everything downstream is deterministic by construction. Stored
bytes stay bytes: the v1 registry served several files raw, and re-encoding
them would break byte-for-byte answers.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.tuple_state import tuple_state


@tuple_state(interned=("value",))
@dataclass(frozen=True, slots=True)
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

    @property
    def last_update(self) -> int | None:
        """`last_update` (Unix seconds, when the tag was pushed) from the metadata, if any."""
        try:
            value = json.loads(self.metadata or b"null")
        except ValueError:
            return None
        stamp = value.get("last_update") if isinstance(value, dict) else None
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            return None
        return int(stamp)


@tuple_state(interned_each=("_image_ids",))
@dataclass(frozen=True, slots=True)
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
    """Raw `_index_images`, served as stored by `/images`, when the repository holds it (v2,
    a plain crawl); a v1 build's crawl reads it again to publish it (`stored_index_images`)."""
    metadata: bytes | None = None
    """Raw repository `json` (the `latest` tag's metadata), if any."""
    description: str | None = None
    """Search description: v1 storage has none (0.9.1 answers null)."""
    v2: V2Repository | None = None
    """The repository as v2 storage holds it (None for v1); the fields above are its v1 view."""
    repositories_dir: str | None = None
    """v1: the storage's `repositories` folder (one string shared by every repository), when
    the repository does not hold its `_index_images` (`index_images_file`)."""
    index_images_digest: bytes | None = None
    """v1: the digest of `index_images_file`'s bytes as the crawl read them."""
    _image_ids: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False)
    """`image_ids()` once asked (kept in the build state with the object)."""

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def index_images_file(self) -> str | None:
        """v1: the `_index_images` file the repository does not hold, read when published."""
        if self.repositories_dir is None:
            return None
        return f"{self.repositories_dir}/{self.namespace}/{self.name}/_index_images"

    @property
    def has_index_images(self) -> bool:
        """Whether `/images` is published (held, or in the storage)."""
        return self.index_images is not None or self.repositories_dir is not None

    def stored_index_images(self) -> bytes | None:
        """The raw `_index_images`: held, or read from the storage now (OSError if it cannot be).

        The registry rewrites the file at every push: bytes that changed since the crawl
        are what 0.9.1 would serve now, and published as they are; the next build's walk
        sees the change and crawls the repository again.
        """
        path = self.index_images_file
        if self.index_images is not None or path is None:
            return self.index_images
        return _read_file(path)

    def index_images_stored(self, repositories_dir: str) -> Repository:
        """This repository, its `_index_images` (in `repositories_dir`) no longer held: its ids
        are remembered first (`image_ids`), then only its digest is kept."""
        self.image_ids()
        raw = self.index_images
        if raw is not None:
            object.__setattr__(self, "index_images", None)
            object.__setattr__(self, "repositories_dir", repositories_dir)
            object.__setattr__(self, "index_images_digest", json_digest(raw))
        return self

    def image_ids(self) -> tuple[str, ...]:
        """Ids named by tags and by `_index_images`, sorted, without duplicates.

        Remembered by the object (and so in the build state with it): every
        build asks every repository, and decoding `_index_images` is most of it.
        """
        found = self._image_ids
        if found is None:
            ids = {tag.image_id for tag in self.tags}
            ids.update(_index_image_ids(self.index_images))
            found = tuple(map(sys.intern, sorted(ids)))  # the strings of `Image.id`
            object.__setattr__(self, "_image_ids", found)
        return found


BY_NAME = operator.attrgetter("namespace", "name")
"""The order of repositories in pages, lists and indexes: by namespace, then name (a sort key
at C speed: a rebuild sorts 20,000 repositories several times)."""


@tuple_state(interned=("id", "parent"), interned_each=("ancestry",))
@dataclass(frozen=True, slots=True)
class Image:
    """One `images/<id>/` directory."""

    id: str
    json: bytes | None = None
    """Raw image JSON, served untouched, when a source holds it (v2, HTTP); v1 uses `json_file`."""
    parent: str | None = None
    ancestry: tuple[str, ...] | None = None
    packed_checksums: bytes | tuple[str, ...] = ()
    """`checksums` as held: `pack_checksums`'s form (a third of the size in the usual case)."""
    layer_size: int | None = None
    """Size of the layer file; None when it is missing."""
    blob_file: str | None = None
    """The layer file when the source keeps it apart from the image (a v2 blob), as a string:
    a `Path` for each image costs 2.5 times more. v1 images derive theirs (`layer_file`)."""
    compression: str | None = None
    """`gzip`, `bzip2`, `xz` or `zstd` when the layer file is stored compressed (its first
    bytes say so), read by the crawl: pages show it for every layer and never reopen them."""
    in_progress: bool = False
    """`_inprogress` present: every GET on the image answers 400."""
    files: bytes | None = None
    """The `/files` answer: the stored `_files` cache, or computed from the layer, when the
    image holds it (a crawl without a listing store; v1 builds keep it in `files_digest`)."""
    files_digest: bytes | None = None
    """v1: the `/files` answer's digest; the answer is in the build state's listing store
    (`listings.py`), not in memory: a layer's listing can be hundreds of kB."""
    files_unsupported: bool = False
    """The layer is not a tar: 0.9.1 answers `/files` with 400."""
    images_dir: str | None = None
    """v1, a complete image: the storage's `images` folder, one string shared by every image.

    The image's `json` and `layer` files are in `<images_dir>/<id>/` (`sources/v1_layout.py`):
    `json_file` and `layer_file` derive their paths rather than hold them, as two strings of
    ~130 characters for each image (15% of the crawl in memory and in the build state)."""
    json_digest: bytes | None = None
    """v1: a digest of `json_file`'s bytes as the crawl read them: equal images hold equal JSON."""

    @property
    def checksums(self) -> tuple[str, ...]:
        """One `X-Docker-Checksum-Payload` header per element, as the `_checksum` file has them."""
        packed = self.packed_checksums
        if isinstance(packed, tuple):
            return packed
        return tuple(f"sha256:{packed[i:i + 32].hex()}" for i in range(0, len(packed), 32))

    @property
    def json_file(self) -> str | None:
        """v1: the storage file holding the image JSON, read again when needed (`stored_json`)."""
        return None if self.images_dir is None else f"{self.images_dir}/{self.id}/json"

    @property
    def layer_file(self) -> str | None:
        """The layer file (`layer_path`) as a string; None when it is missing."""
        if self.blob_file is not None or self.images_dir is None or self.layer_size is None:
            return self.blob_file
        return f"{self.images_dir}/{self.id}/layer"

    @property
    def has_files(self) -> bool:
        """Whether the image has a `/files` answer to publish (held, or in a listing store)."""
        return self.files is not None or self.files_digest is not None

    @property
    def has_json(self) -> bool:
        """Whether the image has JSON to publish (held, or in its storage file)."""
        return self.json is not None or self.images_dir is not None

    def stored_json(self) -> bytes | None:
        """The raw image JSON: the bytes held, or `json_file`'s, read now.

        v1 images do not hold their JSON: it was the largest part of a crawl,
        kept from the crawl to the end of the build, in the build state and in
        the pages a forked render worker copies. A completed v1 image's files
        never change (0.9.1 refuses to overwrite a pushed image), and a
        rebuild's fingerprints see a file that did change and crawl the image
        again. Should the file still vanish or change between the crawl and
        its use, this raises `StoredJsonChanged` (an OSError, as for a file
        that cannot be read): the caller reports a Problem naming the file and
        leaves the JSON out; the rest of the build goes on.
        """
        path = self.json_file
        if self.json is not None or path is None:
            return self.json
        raw = _read_file(path)
        if json_digest(raw) != self.json_digest:
            raise StoredJsonChanged(path)
        return raw

    @property
    def config(self) -> dict[str, Any]:
        """The image JSON decoded, for indexing and pages; empty when it is not an object
        (or, for v1, when its file can no longer be read as the crawl read it).

        Decoded when read, not kept: the decoded JSON of every image is five
        times its bytes, the largest part of a crawl held in memory (and in
        the build state). Do not modify it: a few recent decodings are shared.
        """
        if self.json is not None:
            return _decoded_object(self.json) if self.json else {}
        path = self.json_file
        if path is None or self.json_digest is None:
            return {}
        return _decoded_file(path, self.json_digest)

    @property
    def layer_path(self) -> Path | None:
        """The layer file to publish; None when it is missing."""
        layer_file = self.layer_file
        return None if layer_file is None else Path(layer_file)

    @property
    def run_config(self) -> dict[str, Any]:
        """What a container of the image runs with: `config`, or `container_config` if absent."""
        cfg = self.config.get("config") or self.config.get("container_config") or {}
        return cfg if isinstance(cfg, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        """`config.Labels` of the image, as strings."""
        labels = self.run_config.get("Labels")
        if not isinstance(labels, dict):
            return {}
        return {str(k): str(v) for k, v in labels.items()}


# --- v2 (distribution) storage ---------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """Where an image runs: from a list entry's `platform`, or from the image config."""

    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        """`linux/arm64/v8`, the form `platform` in sitegen.yaml takes."""
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    """A reference from one manifest to a blob or another manifest (OCI descriptor)."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    """For an entry of a list or index."""
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    path: Path | None = None
    """The blob's `data` file when this repository links it and it exists (publishable)."""


@dataclass(frozen=True)
class Manifest:
    """One live manifest revision of a v2 repository, checked against its digest."""

    digest: str
    media_type: str
    """The stored `mediaType` (or what distribution infers when it is absent)."""
    raw: bytes
    """The stored bytes: the mirror serves exactly these."""
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()
    """For a manifest list or OCI index: its entries, in stored order."""
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    image_config: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The decoded config blob of an image (empty for artifacts and lists)."""
    v1_id: str | None = None
    """The image's v1 id (see `sources/schema1.py`); None when it has no v1 view."""

    @property
    def is_index(self) -> bool:
        return bool(self.children) or self.media_type in INDEX_MEDIA_TYPES

    @property
    def artifact_type(self) -> str | None:
        """The config media type of an OCI artifact (a manifest whose config is no image)."""
        if self.config is None or self.config.media_type in IMAGE_CONFIG_MEDIA_TYPES:
            return None
        return self.config.media_type

    @property
    def platform(self) -> Platform | None:
        """os/architecture/variant from the image config."""
        cfg = self.image_config
        os_, arch = cfg.get("os"), cfg.get("architecture")
        if not (isinstance(os_, str) and isinstance(arch, str)):
            return None
        variant = cfg.get("variant")
        return Platform(os_, arch, variant if isinstance(variant, str) and variant else None)

    @property
    def size(self) -> int:
        """Bytes a pull downloads: config and layers (compressed), as registries show it."""
        return sum(d.size for d in (self.config, *self.layers) if d is not None)

    @property
    def labels(self) -> dict[str, str]:
        cfg = self.image_config.get("config")
        labels = cfg.get("Labels") if isinstance(cfg, dict) else None
        if not isinstance(labels, dict):
            return {}
        return {str(k): str(v) for k, v in labels.items()}


@dataclass(frozen=True)
class V2Tag:
    name: str
    digest: str
    """What `_manifests/tags/<tag>/current/link` holds: the only truth for a tag."""


@dataclass(frozen=True)
class V2Repository:
    """A repository of v2 storage: its real name, tags and live manifests."""

    name: str
    """The full name with every segment (`org/team/app`), as `_catalog` lists it."""
    tags: tuple[V2Tag, ...] = ()
    """Sorted by name (the registry lists them in directory order)."""
    manifests: tuple[Manifest, ...] = ()
    """Every live revision (list children included), sorted by digest."""

    def manifest(self, digest: str) -> Manifest | None:
        return next((m for m in self.manifests if m.digest == digest), None)


DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_MEDIA_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
IMAGE_CONFIG_MEDIA_TYPES = frozenset(
    {"application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json"}
)


@dataclass(frozen=True)
class Registry:
    """Everything a build publishes, gathered before anything is written."""

    repositories: tuple[Repository, ...] = ()
    images: tuple[Image, ...] = ()
    layout: str = "v1"
    """`v1` or `v2`: the storage layout crawled; only v2 storage publishes the `/v2/` mirror."""

    def image(self, image_id: str) -> Image | None:
        return self.images_by_id().get(image_id)

    def images_by_id(self) -> dict[str, Image]:
        """Every image by id, made once (a build makes it before it forks: both processes
        then share the one table, which their lookups do not write)."""
        cache = self.__dict__.get("_by_id")
        if cache is None:
            cache = {image.id: image for image in self.images}
            object.__setattr__(self, "_by_id", cache)
        return cache


class StoredJsonChanged(OSError):
    """A v1 image's JSON file no longer holds the bytes the crawl read."""

    def __init__(self, path: str) -> None:
        super().__init__(f"changed since the crawl read it: {path}")
        self.strerror = "changed since the crawl read it"


def json_digest(raw: bytes) -> bytes:
    """What `Image.json_digest` holds for `raw`: 16 bytes, not the ~800 of the JSON itself."""
    return hashlib.blake2b(raw, digest_size=16).digest()


def _read_file(path: str) -> bytes:
    """The bytes of `path` in four system calls, half the time of `open().read()`: it runs
    for every v1 image a build publishes."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


@functools.lru_cache(maxsize=256)
def _decoded_file(path: str, digest: bytes) -> dict[str, Any]:
    """`path`'s JSON decoded (`_decoded_object`) if it still holds the bytes of `digest`.

    Cached by path and digest: a file that changed between two builds of
    one process is read again.
    """
    try:
        raw = _read_file(path)
    except OSError:
        return {}
    return _decoded_object(raw) if json_digest(raw) == digest else {}


@functools.lru_cache(maxsize=256)
def _decoded_object(raw: bytes) -> dict[str, Any]:
    """`raw` decoded when it is a JSON object, else empty; recent ones are cached.

    A page reads several fields of one image in a row (its date, its
    platform, its labels): the cache spares decoding it again for each.
    """
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


def pack_checksums(checksums: Iterable[str]) -> bytes | tuple[str, ...]:
    """`Image.packed_checksums` for `checksums`: their digests' bytes when every one is a
    plain `sha256:<hex>` (as docker has written them since 1.0), else them as they are.

    A checksum held as a string in a tuple is 170 bytes an image, 10 MB of the crawl at
    20,000 repositories that each render process copies when it reads them; its 32 bytes
    are 65. Only the lowercase form is packed: unpacking gives back the very strings.
    """
    values = tuple(checksums)
    if values and all(map(_SHA256.fullmatch, values)):
        return b"".join(bytes.fromhex(value[7:]) for value in values)
    return values


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
