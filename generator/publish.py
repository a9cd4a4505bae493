"""Publish a built site to an S3 bucket: one object per URL, uploading only what changed.

A bucket answers `GET /<key>` with the object stored under exactly that key,
so keys are URLs (`paths.url_for_file`), never the files that hold them:
`v1/repositories/a/b/tags/.index.json` → `<prefix>/v1/repositories/a/b/tags`.
Keys are flat strings, so `…/tags` and `…/tags/latest` can both exist, which
no file system allows. Internal files (`.sitegen/`) are never uploaded.

A URL ending in a slash (`/`, `/v2/`) cannot be a key of its own: `<prefix>/`
is a "folder" to S3 tools, and some S3-compatible servers drop its body. Its
document goes to `<url>index.html` (`INDEX_DOCUMENT`), which a website bucket
answers for `<url>`, unless the site has a file there: the HTML home page
wins over the root document, which Docker clients never read (they start at
`/v1/_ping` and `/v2/`).

A run, and why in this order:
1. Share the build's lock, so a build cannot swap the output while it is
   read; a build started meanwhile exits 3, and so does this run if a build
   holds the lock.
2. List the bucket under the prefix (size and ETag of every key, one request
   per 1,000 keys instead of a HEAD per object), while the site is read and
   hashed.
3. Upload the files whose size or ETag differ. The ETag S3 gives a single-part
   upload is the MD5 of the body; a multipart one (files of
   `MULTIPART_THRESHOLD` and more) gets the MD5 of its parts' MD5s and `-N`,
   which is computed here with the part size s3transfer uses. Buckets that
   encrypt with KMS keys give other ETags: there every file is uploaded.
   Uploads go in waves (`_waves`): images first, tag documents and search
   last, so a reader never sees a tag whose image is not there yet.
4. Only when every upload succeeded, delete the keys under the prefix that
   the site no longer has. A failed upload stops the run and deletes nothing.

Content-Type and Cache-Control follow from the URL and the file
(`object_headers`), so they are not compared; after an upgrade that changes them, `force=True`
uploads everything once.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from generator import paths, routes
from generator.emit import v2_json
from generator.emit.writer import lock_path
from generator.errors import BuildLocked, ConfigError, PublishError
from generator.model import INDEX_MEDIA_TYPES

log = logging.getLogger("sitegen")

INDEX_DOCUMENT = "index.html"
"""Key of a folder URL's document (`/`, `/v2/`), inside it: a website bucket's index document."""
MULTIPART_THRESHOLD = 16 * 1024 * 1024
"""Files this large go up in parts of this size (s3transfer enlarges parts past 10,000)."""
JOBS = 16
"""Uploads in flight at once; S3 latency, not bandwidth, bounds a site of small files."""
DELETE_BATCH = 1000
"""The most keys one DeleteObjects request takes."""

_HASH_BLOCK = 1024 * 1024
_BUCKET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_T = TypeVar("_T")


# --- where: the target and the keys ------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """`s3://bucket/prefix`: the bucket, and the folder-like prefix the site owns in it."""

    bucket: str
    prefix: str
    """Without leading or trailing slash; empty means the whole bucket is the site's."""

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        shape = "expected s3://BUCKET or s3://BUCKET/PREFIX"
        if parts.scheme != "s3" or not _BUCKET_NAME.match(parts.netloc):
            raise ConfigError(f"publish target {url!r}: {shape}")
        if parts.query or parts.fragment:
            raise ConfigError(f"publish target {url!r}: {shape} (no '?' or '#')")
        prefix = parts.path.strip("/")
        if prefix and any(s in ("", ".", "..") for s in prefix.split("/")):
            raise ConfigError(f"publish target {url!r}: the prefix has an empty, '.' or '..' part")
        return cls(parts.netloc, prefix)

    def key(self, url: str) -> str:
        """The key for a URL path (leading slash, not `/`)."""
        return f"{self.prefix}{url}" if self.prefix else url[1:]

    @property
    def owned(self) -> str:
        """The key prefix this site owns: nothing outside it is listed, changed or deleted."""
        return f"{self.prefix}/" if self.prefix else ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class SiteFile:
    """One published file of the site and the object it becomes."""

    url: str
    key: str
    relpath: str
    """The file under the output (a v2 manifest's suffix names its media type)."""
    path: str
    """The file (a string: pathlib costs more than the hashing on a site of small files)."""
    size: int
    etag: str = ""
    """Filled in by `expected_etag` before the comparison."""


def site_files(site: Path, target: Target) -> list[SiteFile]:
    """Every published file of `site` with its key, internal files and symlinks left out.

    A symlink could lead anywhere on this machine, and the bucket may be
    public: the builder never writes one, so one found here is skipped.
    """
    found: dict[str, SiteFile] = {}
    folders = [(str(site), "")]
    while folders:
        folder, rel = folders.pop()
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                relpath = f"{rel}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    if relpath != paths.INTERNAL_DIR:
                        folders.append((entry.path, f"{relpath}/"))
                    continue
                url = paths.url_for_file(relpath)
                if url is None:
                    continue
                if not entry.is_file(follow_symlinks=False):
                    log.warning("%s: not published, not a regular file", entry.path)
                    continue
                size = entry.stat(follow_symlinks=False).st_size
                found[url] = SiteFile(url, "", relpath, entry.path, size)
    for url in [u for u in found if u.endswith("/")]:
        if f"{url}{INDEX_DOCUMENT}" in found:  # the site's own page wins (the HTML home page)
            del found[url]
    return [
        replace(f, key=target.key(f"{f.url}{INDEX_DOCUMENT}" if f.url.endswith("/") else f.url))
        for f in found.values()
    ]


# --- how: the headers of each object ----------------------------------------------------------

_V1_DOCUMENT = re.compile(r"^/(?:$|_ping$|v1/)")
_BY_EXTENSION = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/vnd.microsoft.icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".atom": "application/atom+xml",
    ".webmanifest": "application/manifest+json",
}
_MANIFEST_BY_SUFFIX = {f".{suffix}": kind for kind, suffix in paths.V2_MANIFEST_SUFFIXES.items()}
_V1_IMMUTABLE = frozenset({routes.Headers.IMAGE, routes.Headers.LAYER})
_V1_IMAGE_CACHE = "public, max-age=31536000"
_V2_BLOB_CACHE = "max-age=31536000"


def content_type(url: str, relpath: str, recorded: Mapping[str, str]) -> str:
    """The Content-Type of the object for `url` (held in `relpath`): the one place that decides.

    `recorded` comes first: the URL → type table the build wrote to
    `paths.MEDIA_TYPES` (`recorded_media_types`), for documents whose type
    only the emitter knows. Without an entry, the same rules: a v2
    manifest's type is the suffix of its file (`paths.V2_MANIFEST_SUFFIXES`:
    clients choose the parser from it), blobs are bytes, and the rest of
    `/v2/` is the registry's JSON. Every v1 document is JSON whatever its last
    segment looks like (a tag `1.0.html` too), except layers. Anything else
    (pages, assets, the search index) goes by extension, from a fixed table:
    the system's mime.types differs between machines, and the bucket must not.
    """
    if url in recorded:
        return recorded[url]
    if url.startswith(paths.V2_BASE_URL):
        suffix = relpath[len(url) - 1 :] if relpath.startswith(f"{url[1:]}.") else ""
        if suffix in _MANIFEST_BY_SUFFIX:
            return _MANIFEST_BY_SUFFIX[suffix]
        route = routes.match_v2(url)
        return "application/octet-stream" if route and route[0] == "v2_blob" else v2_json.JSON_TYPE
    if _V1_DOCUMENT.match(url):
        return "application/octet-stream" if url.endswith("/layer") else "application/json"
    name = url.rsplit("/", 1)[-1]
    extension = name[name.rfind(".") :].lower() if "." in name else ""
    return _BY_EXTENSION.get(extension, "application/octet-stream")


def cache_control(url: str) -> str:
    """The caching nginx sends: a year for what an id or digest names, else revalidate.

    `no-cache` matters behind a CDN: without it a CDN keeps a moved tag for
    its default lifetime.
    """
    if url.startswith(paths.V2_BASE_URL):
        route = routes.match_v2(url)
        return _V2_BLOB_CACHE if route and route[0] == "v2_blob" else "no-cache"
    for route in routes.ROUTES:
        if route.regex.match(url):
            return _V1_IMAGE_CACHE if route.headers in _V1_IMMUTABLE else "no-cache"
    return "no-cache"


def object_headers(file: SiteFile, recorded: Mapping[str, str]) -> dict[str, str]:
    """The S3 `ExtraArgs` every upload of `file` carries."""
    return {
        "ContentType": content_type(file.url, file.relpath, recorded),
        "CacheControl": cache_control(file.url),
    }


def recorded_media_types(site: Path) -> dict[str, str]:
    """The URL → type table the build wrote (`paths.MEDIA_TYPES`; v2 sites), or none."""
    path = site / paths.MEDIA_TYPES
    if not path.is_file():
        return {}
    try:
        types = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise PublishError(f"{path}: not readable JSON ({exc}); rebuild the site") from None
    if not isinstance(types, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in types.items()
    ):
        raise PublishError(f"{path}: expected an object of URL → media type; rebuild the site")
    return types


def _waves(files: list[SiteFile]) -> list[list[SiteFile]]:
    """Uploads grouped into waves that run one after the other.

    By phase first (`_phase`). Then, within a phase, a key that is also the
    prefix of others goes up after them (`…/tags/latest/json`, then
    `…/tags/latest`, then `…/tags`): S3 does not care, but filer-backed
    servers (SeaweedFS) keep the object `K` and the folder `K/` in one entry,
    and lose `K` when both are created at once.
    """
    heights = dict.fromkeys((f.key for f in files), 0)
    for key in list(heights):
        parts = key.split("/")
        for i in range(1, len(parts)):
            ancestor = "/".join(parts[:i])
            if ancestor in heights:
                heights[ancestor] = max(heights[ancestor], len(parts) - i)
    groups: dict[tuple[int, int], list[SiteFile]] = {}
    for f in files:
        groups.setdefault((_phase(f), heights[f.key]), []).append(f)
    return [groups[wave] for wave in sorted(groups)]


def _phase(file: SiteFile) -> int:
    """Upload order: what others name first, so a reader never finds a dangling name.

    0 v1 images, v2 blobs; 1 v1 repository documents, v2 manifests by digest;
    2 v2 indexes by digest (they name manifests); 3 v1 tags, v2 tags and
    tag lists; 4 everything else (catalog, search, pages).
    """
    if file.url.startswith(paths.V2_BASE_URL):
        route = routes.match_v2(file.url)
        name = route[0] if route else ""
        if name == "v2_blob":
            return 0
        if name == "v2_manifest_digest":
            return 2 if content_type(file.url, file.relpath, {}) in INDEX_MEDIA_TYPES else 1
        return 3 if name in ("v2_manifest_tag", "v2_tags") else 4
    for route in routes.ROUTES:
        if route.regex.match(file.url):
            if route.image:
                return 0
            if route.name in ("tags", "tag", "tag_json"):
                return 3
            return 4 if route.name in ("root", "search") else 1
    return 4


# --- what changed: ETags --------------------------------------------------------------------


def part_size(size: int, threshold: int) -> int:
    """The part size s3transfer uses for a file of `size` (it enlarges parts past 10,000)."""
    from s3transfer.utils import ChunksizeAdjuster

    return int(ChunksizeAdjuster().adjust_chunksize(threshold, size))


def expected_etag(path: str | Path, size: int, threshold: int = MULTIPART_THRESHOLD) -> str:
    """The ETag S3 gives `path` when it is uploaded as `publish` uploads it."""
    if size < threshold:
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as f:  # noqa: PTH123 - str paths, see SiteFile.path
            while block := f.read(_HASH_BLOCK):
                digest.update(block)
        return digest.hexdigest()
    part = part_size(size, threshold)
    parts = []
    with open(path, "rb") as f:  # noqa: PTH123
        for _ in range(0, size, part):
            digest = hashlib.md5(usedforsecurity=False)
            left = part
            while left and (block := f.read(min(_HASH_BLOCK, left))):
                digest.update(block)
                left -= len(block)
            parts.append(digest.digest())
    combined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(parts)}"


def _hashed(files: list[SiteFile], jobs: int, threshold: int) -> list[SiteFile]:
    """`files` with their expected ETags: large files on threads (hashlib frees the GIL)."""

    def etag(file: SiteFile) -> str:
        return expected_etag(file.path, file.size, threshold)

    large = [f for f in files if f.size >= _HASH_BLOCK]
    known = dict(zip(large, _parallel(jobs, etag, large), strict=True))
    return [replace(f, etag=known[f] if f in known else etag(f)) for f in files]


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishResult:
    target: str
    uploaded: tuple[str, ...]
    """Keys uploaded, in upload order."""
    unchanged: int
    deleted: tuple[str, ...]
    """Stale keys deleted."""
    bytes_uploaded: int
    seconds: float

    def summary(self) -> str:
        """One line for cron mail, like the build's."""
        return (
            f"Done: published to {self.target}: {len(self.uploaded)} uploaded "
            f"({_human(self.bytes_uploaded)}), {self.unchanged} unchanged, "
            f"{len(self.deleted)} deleted in {self.seconds:.2f} seconds"
        )


def publish(
    site: Path,
    target_url: str,
    *,
    endpoint_url: str | None = None,
    force: bool = False,
    jobs: int = JOBS,
    multipart_threshold: int = MULTIPART_THRESHOLD,
) -> PublishResult:
    """Make the bucket under `target_url` hold exactly the site's objects; see the module doc."""
    started = time.monotonic()
    target = Target.parse(target_url)
    if not (site / paths.INTERNAL_DIR).is_dir():
        raise ConfigError(f"'output': {site} is not a built site; run `sitegen build` first")
    with shared_output_lock(site):
        client = _client(endpoint_url, jobs)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as background:
            # The listing waits on the network while the site is read and hashed here.
            listing = background.submit(_listing, client, target)
            files = _hashed(site_files(site, target), jobs, multipart_threshold)
            recorded = recorded_media_types(site)
            with _explained(target, endpoint_url):
                remote = listing.result()
        changed = [f for f in files if force or remote.get(f.key) != (f.size, f.etag)]
        stale = sorted(set(remote) - {f.key for f in files})
        log.info(
            "%s: the site has %d objects, the bucket %d; %d to upload, %d stale",
            target,
            len(files),
            len(remote),
            len(changed),
            len(stale),
        )
        uploader = _Uploader(client, target.bucket, recorded, multipart_threshold)
        for wave in _waves(changed):
            _parallel(jobs, uploader.upload, wave)
        _delete(client, target, stale)
    return PublishResult(
        target=str(target),
        uploaded=tuple(f.key for wave in _waves(changed) for f in wave),
        unchanged=len(files) - len(changed),
        deleted=tuple(stale),
        bytes_uploaded=sum(f.size for f in changed),
        seconds=time.monotonic() - started,
    )


@contextlib.contextmanager
def shared_output_lock(site: Path) -> Iterator[None]:
    """Share the build's lock on `site` while reading it (no lock file: nobody builds here)."""
    lock = lock_path(site)
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildLocked(
                f"a sitegen build is writing {site} (lock {lock} is held); "
                "publish after it finishes. Nothing was published"
            ) from None
        yield
    finally:
        os.close(fd)


def _client(endpoint_url: str | None, jobs: int) -> Any:
    """An S3 client from boto3's default credential chain (environment, profile, role…).

    Another S3-compatible server (`endpoint_url`) rarely resolves
    `bucket.host` names, so it gets path-style requests.
    """
    import boto3
    from botocore.config import Config as BotoConfig

    config = BotoConfig(
        max_pool_connections=jobs + 4,
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    try:
        return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
    except ValueError as exc:  # botocore's answer to a malformed endpoint URL
        raise ConfigError(f"--endpoint-url {endpoint_url!r}: {exc}") from None


@contextlib.contextmanager
def _explained(target: Target, endpoint_url: str | None) -> Iterator[None]:
    """Turn botocore's failures before any upload into one message that says what to fix."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    where = endpoint_url or "AWS"
    try:
        yield
    except NoCredentialsError:
        raise PublishError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE, or use ~/.aws/credentials or an instance role"
        ) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            raise PublishError(f"bucket {target.bucket!r} does not exist at {where}") from None
        raise PublishError(f"listing {target} at {where} failed: {exc}") from None
    except BotoCoreError as exc:
        raise PublishError(f"listing {target} at {where} failed: {exc}") from None


def _listing(client: Any, target: Target) -> dict[str, tuple[int, str]]:
    """Size and ETag (no quotes, lower case) of every key the site owns in the bucket."""
    found = {}
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=target.bucket, Prefix=target.owned
    )
    for page in pages:
        for item in page.get("Contents", ()):
            found[item["Key"]] = (int(item["Size"]), item["ETag"].strip('"').lower())
    return found


class _Uploader:
    def __init__(
        self, client: Any, bucket: str, recorded: Mapping[str, str], threshold: int
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.recorded = recorded
        self.threshold = threshold

    def upload(self, file: SiteFile) -> None:
        """One object; any failure becomes a PublishError naming its key."""
        from boto3.s3.transfer import TransferConfig

        headers = object_headers(file, self.recorded)
        try:
            if file.size < self.threshold:
                # The server checks the body against the MD5 compared above.
                md5 = base64.b64encode(bytes.fromhex(file.etag)).decode()
                with open(file.path, "rb") as body:  # noqa: PTH123
                    self.client.put_object(
                        Bucket=self.bucket, Key=file.key, Body=body, ContentMD5=md5, **headers
                    )
            else:
                config = TransferConfig(
                    multipart_threshold=self.threshold,
                    multipart_chunksize=part_size(file.size, self.threshold),
                )
                self.client.upload_file(
                    file.path, self.bucket, file.key, ExtraArgs=headers, Config=config
                )
        except Exception as exc:
            raise PublishError(
                f"uploading {file.key} failed, so nothing was deleted: {exc}"
            ) from exc
        log.debug("uploaded %s (%s)", file.key, headers["ContentType"])


def _delete(client: Any, target: Target, keys: list[str]) -> None:
    """Delete stale keys, each of them under the site's prefix, 1,000 per request."""
    assert all(k.startswith(target.owned) for k in keys)
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        try:
            answer = client.delete_objects(
                Bucket=target.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
        except Exception as exc:
            raise PublishError(f"deleting stale keys from {batch[0]} on failed: {exc}") from exc
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise PublishError(
                f"deleting {first.get('Key')} failed: {first.get('Code')} {first.get('Message')}"
                f" ({len(errors)} keys not deleted)"
            )
        for key in batch:
            log.debug("deleted %s", key)


def _parallel(jobs: int, work: Callable[[Any], _T], items: Iterable[Any]) -> list[_T]:
    """`work` over `items` on `jobs` threads, results in order; the first error stops the rest."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
        finally:
            for future in futures:
                future.cancel()
        return [future.result() for future in futures]


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
