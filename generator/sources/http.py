"""Crawl a live registry's v2 API into the same model as a crawl of its storage.

For registries whose storage is out of reach (S3 behind the registry, another
host). What is read, in phases, each spread over `http.parallel` requests:

1. `/v2/` (the ping: is it a registry, and does it want credentials), then
   `/v2/_catalog?n=` page by page, following `Link: <…>; rel="next"`;
2. each repository's `tags/list` (paged the same way where the registry
   offers it);
3. each tag's manifest, with an `Accept` of every manifest type so that it
   comes as stored, checked against `Docker-Content-Digest` and its bytes;
4. the children of lists and indexes, by digest;
5. configs (read: the v1 view and the pages need them), and layers: whole
   with `include_layers`, else only their first bytes (a `Range` request),
   which is all the pages need to say whether a layer is compressed.

Everything fetched is checked against its digest and kept in a cache beside
the output (`http_cache.py`). A rebuild sends `HEAD` for each tag and fetches
only manifests whose digest changed and blobs it does not hold yet.

What the API cannot show, and the storage crawl can: manifests no tag
points at (the children of an overwritten index, pushes by digest). They
are not published. Everything else gives the same site as the storage.

Failures: the ping or the catalog failing stops the build (the old site
stays). A repository whose requests fail (after retries) is left out and
named as a problem; more than `http.max_failed_percent` of them stop the
build as well, at once, without waiting for the rest. A 404, a digest that
does not match, or a manifest that is not one are content problems, named
with the URL and skipped like bad storage.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from generator.config import HttpConfig
from generator.errors import BuildError
from generator.model import Descriptor, Manifest, Registry, V2Repository, V2Tag
from generator.report import Report
from generator.sources import schema1, v2
from generator.sources import v2_layout as layout
from generator.sources.http_auth import find_credentials
from generator.sources.http_cache import BlobCache, DigestMismatch, sha256_digest
from generator.sources.http_client import (
    MANIFEST_ACCEPT,
    Aborted,
    FetchError,
    NotFound,
    RegistryClient,
)

log = logging.getLogger("sitegen")

CATALOG_SCOPE = "registry:catalog:*"
HEAD_RANGE = "bytes=0-63"
CHUNK = 1024 * 1024
KIND = "http"
"""Problem kind of everything this crawler names (the summary counts them apart)."""


def crawl(
    url: str,
    report: Report,
    *,
    options: HttpConfig,
    cache_dir: Path,
    include_layers: bool = False,
    platform: str = v2.DEFAULT_PLATFORM,
) -> Registry:
    """Read every repository the registry at `url` lists; raise BuildError if it is unusable."""
    wanted = v2.parse_platform(platform)
    credentials = find_credentials(options, url)
    cache = BlobCache(cache_dir)
    started = time.monotonic()
    with RegistryClient(url, options, credentials) as client:
        _ping(client)
        names = _catalog(client, options.page_size, report)
        crawler = _Crawl(client, cache, report, options, include_layers, cache.load_tags(url))
        repos = crawler.run(names)
    cache.save_tags(url, {r.name: {t.name: t.digest for t in r.tags} for r in repos})
    if not crawler.failed:
        cache.prune(crawler.used, crawler.used_heads)
    log.info(
        "crawled %s: %d repositories, %d requests, %.1f MB fetched, %d tokens, %.1f s",
        url,
        len(repos),
        client.stats.requests,
        client.stats.bytes / 1e6,
        client.auth.tokens_fetched,
        time.monotonic() - started,
    )
    return v2.assemble(repos, wanted, crawler.files)


def _ping(client: RegistryClient) -> None:
    try:
        client.request(client.url(""), scope="").close()
    except NotFound:
        raise BuildError(
            f"{client.api}: answers 404; not the v2 API of a registry; the site was not changed"
        ) from None
    except FetchError as exc:
        raise BuildError(f"{exc}; the site was not changed") from None


def _catalog(client: RegistryClient, page_size: int, report: Report) -> list[str]:
    """Every valid repository name of `_catalog`, sorted; any failure stops the build."""
    names: set[str] = set()
    try:
        for page in _pages(client, client.url(f"_catalog?n={page_size}"), CATALOG_SCOPE):
            listed = page.get("repositories")
            if listed is None:
                continue
            if not isinstance(listed, list):
                raise FetchError(client.url("_catalog"), "`repositories` is not a list")
            names.update(str(name) for name in listed)
    except FetchError as exc:
        hint = ""
        if exc.status in (401, 403):
            hint = " (listing repositories needs the registry:catalog:* scope)"
        raise BuildError(
            f"{exc}{hint}; cannot list the repositories, the site was not changed"
        ) from None
    valid = []
    for name in sorted(names):
        if layout.valid_name(name):
            valid.append(name)
        else:
            report.problem(
                client.url("_catalog"),
                f"lists {name[:80]!r}, which is not a valid repository name; skipped",
                kind="name",
            )
    return valid


def _pages(client: RegistryClient, url: str, scope: str) -> Iterator[dict[str, Any]]:
    """Each JSON page of a listing, following `Link: <…>; rel="next"` on the same origin."""
    seen: set[str] = set()
    next_url: str | None = url
    while next_url is not None:
        if next_url in seen:
            raise FetchError(next_url, "the Link header leads back to a page already read")
        seen.add(next_url)
        response = client.request(next_url, scope=scope)
        with response:
            try:
                page = response.json()
            except ValueError:
                raise FetchError(next_url, "the answer is not JSON") from None
            link = response.links.get("next", {}).get("url")
        if not isinstance(page, dict):
            raise FetchError(next_url, "the answer is not a JSON object")
        yield page
        next_url = urllib.parse.urljoin(next_url, link) if link else None
        if next_url is not None and not client.same_origin(next_url):
            raise FetchError(url, f"the Link header leads to another server ({next_url[:100]})")


# --- the crawl of the repositories ---------------------------------------------------------------


@dataclass
class _Repo:
    """What the crawl has learned about one repository so far."""

    name: str
    tag_names: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    manifests: dict[str, Manifest] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    """Blobs the registry answered 404 for (or with bad bytes): not served by this repository."""
    gone: bool = False
    """`tags/list` answered 404: deleted since the catalog was read."""
    failure: FetchError | None = None
    problems: list[tuple[tuple[Any, ...], str, str, str]] = field(default_factory=list)
    """(sort key, where, reason, kind): reported in a fixed order once the crawl is done."""

    @property
    def scope(self) -> str:
        return f"repository:{self.name}:pull"

    def problem(self, key: tuple[Any, ...], where: str, reason: str, kind: str = KIND) -> None:
        self.problems.append((key, where, reason, kind))


@dataclass
class _Files:
    """The cache as `v2.assemble` sees blob files (`v2.BlobFiles`)."""

    cache: BlobCache
    include_layers: bool
    chains: dict[str, list[schema1.V1Layer]] = field(default_factory=dict)
    fetched: set[str] = field(default_factory=set)
    """Digests whose bytes (or, for layers without include_layers, first bytes) are cached."""

    def exists(self, digest: str) -> bool:
        return digest in self.fetched

    def path(self, digest: str) -> Path:
        """The whole blob; for a layer without include_layers, its first bytes."""
        head = self.cache.head_path(digest)
        if not self.include_layers and head.is_file():
            return head
        return self.cache.path(digest)


class _Crawl:
    def __init__(
        self,
        client: RegistryClient,
        cache: BlobCache,
        report: Report,
        options: HttpConfig,
        include_layers: bool,
        previous: dict[str, dict[str, str]],
    ) -> None:
        self.client = client
        self.cache = cache
        self.report = report
        self.options = options
        self.include_layers = include_layers
        self.previous = previous
        self.files = _Files(cache, include_layers)
        self.used: set[str] = set()
        """Digests whose whole bytes the next build needs cached (the rest is pruned)."""
        self.used_heads: set[str] = set()
        """Layers whose first bytes it needs (without include_layers)."""
        self.failed = 0
        self.total = 0
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_lock = threading.Lock()
        self.pool: ThreadPoolExecutor | None = None

    def run(self, names: list[str]) -> list[V2Repository]:
        repos = [_Repo(name) for name in names]
        self.total = len(repos)
        with ThreadPoolExecutor(self.options.parallel, thread_name_prefix="sitegen-http") as pool:
            self.pool = pool
            self._phase([(r, lambda r=r: self._list_tags(r)) for r in repos])
            self._phase(
                [
                    (r, lambda r=r, t=t: self._tag(r, t))
                    for r in repos
                    if not r.gone
                    for t in r.tag_names
                ]
            )
            self._children(repos)
            self._phase(
                [
                    (r, lambda r=r, d=d, k=k: self._blob(r, d, k))
                    for r in repos
                    for d, k in sorted(self._blobs_of(r))
                ]
            )
        crawled = []
        for repo in repos:
            if repo.failure is not None:
                self.report.problem(
                    self.client.url(f"{repo.name}/"),
                    f"could not be read, left out of this build: {repo.failure}",
                    kind=KIND,
                )
                continue
            for _, where, reason, kind in sorted(repo.problems):
                self.report.problem(where, reason, kind=kind)
            if not repo.gone:
                crawled.append(self._finish(repo))
        return crawled

    # -- running tasks ------------------------------------------------------------------------

    def _phase(self, tasks: list[tuple[_Repo, Callable[[], None]]]) -> None:
        """Run the tasks of live repositories; a FetchError fails its repository."""
        assert self.pool is not None  # set by run()
        futures: dict[Future[None], _Repo] = {
            self.pool.submit(task): repo for repo, task in tasks if repo.failure is None
        }
        for future in as_completed(futures):
            repo = futures[future]
            try:
                future.result()
            except Aborted:
                continue
            except OSError as exc:  # the cache beside the output: full, or not writable
                self.client.abort.set()
                where = exc.filename or self.cache.root
                raise BuildError(f"{where}: cannot write the HTTP cache: {exc.strerror}") from None
            except FetchError as exc:
                if repo.failure is None:
                    repo.failure = exc
                    self.failed += 1
                    log.debug("%s failed: %s", repo.name, exc)
                    if self._too_many_failures():
                        self.client.abort.set()
        if self.client.abort.is_set():
            raise self._abort_error(futures.values())

    def _too_many_failures(self) -> bool:
        return self.failed * 100 > self.options.max_failed_percent * self.total

    def _abort_error(self, repos: Any) -> BuildError:
        failures = sorted({(r.name, str(r.failure)) for r in repos if r.failure is not None})
        shown = [f"  {failure}" for _, failure in failures[:5]]
        if len(failures) > 5:
            shown.append(f"  … and {len(failures) - 5} more")
        return BuildError(
            f"{self.client.base}: {self.failed} of {self.total} repositories could not be read "
            f"(more than http.max_failed_percent, {self.options.max_failed_percent}%); the crawl "
            "stopped and the site was not changed:\n" + "\n".join(shown)
        )

    def _lock(self, digest: str) -> threading.Lock:
        """One lock per digest: two repositories sharing a blob fetch it once."""
        with self._locks_lock:
            return self._locks[digest]

    # -- tags -----------------------------------------------------------------------------------

    def _list_tags(self, repo: _Repo) -> None:
        url = self.client.url(f"{repo.name}/tags/list?n={self.options.page_size}")
        names: set[str] = set()
        try:
            for page in _pages(self.client, url, repo.scope):
                listed = page.get("tags")
                if listed is None:  # no tags left: the registry answers null
                    continue
                if not isinstance(listed, list):
                    raise FetchError(url, "`tags` is not a list")
                names.update(str(tag) for tag in listed)
        except NotFound:
            repo.gone = True
            repo.problem(
                (0,), url, "answers 404, though _catalog lists the repository; skipped"
            )
            return
        for tag in sorted(names):
            if layout.TAG_RE.match(tag):
                repo.tag_names.append(tag)
            else:
                repo.problem((0, tag), url, f"lists {tag[:80]!r}, not a valid tag; skipped", "name")

    def _tag(self, repo: _Repo, tag: str) -> None:
        url = self.client.url(f"{repo.name}/manifests/{tag}")
        try:
            found = self._cached_tag(repo, tag, url) or self._get_manifest(repo, url, None, tag)
        except NotFound as exc:
            repo.problem((1, tag), url, f"the tag is listed, but {exc.reason}; skipped")
            return
        if found is not None:
            repo.tags[tag] = found

    def _cached_tag(self, repo: _Repo, tag: str, url: str) -> str | None:
        """The tag's digest if `HEAD` says it is a manifest already cached (no GET then)."""
        before = self.previous.get(repo.name, {}).get(tag)
        if before is None or not self.cache.has(before):
            return None
        response = self.client.request(
            url, scope=repo.scope, method="HEAD", headers={"Accept": MANIFEST_ACCEPT}
        )
        response.close()
        digest = response.headers.get("Docker-Content-Digest", "")
        if not layout.DIGEST_RE.match(digest):
            return None
        with self._lock(digest):
            raw = self.cache.read(digest)
        if raw is None:
            return None
        self._add_manifest(repo, digest, raw, url, (1, tag))
        return digest

    def _get_manifest(
        self, repo: _Repo, url: str, expected: str | None, key: str
    ) -> str | None:
        """GET a manifest, check and cache it; its digest, or None (with a problem)."""
        response = self.client.request(
            url, scope=repo.scope, headers={"Accept": MANIFEST_ACCEPT}, stream=True
        )
        with response:
            raw = self._read(response, url, v2.MAX_MANIFEST_BYTES)
            said = response.headers.get("Docker-Content-Digest")
        order = (1, key)
        if raw is None:
            repo.problem(order, url, f"is larger than {v2.MAX_MANIFEST_BYTES} bytes; skipped")
            return None
        digest = expected or said or sha256_digest(raw)
        if not layout.DIGEST_RE.match(digest):
            repo.problem(order, url, f"has the digest {digest[:80]!r}, not sha256; skipped")
            return None
        if sha256_digest(raw) != digest:
            repo.problem(order, url, f"bytes do not match the digest {digest}; skipped")
            return None
        if expected is not None and said is not None and said != expected:
            repo.problem(order, url, f"answers Docker-Content-Digest {said[:80]}; skipped")
            return None
        with self._lock(digest):
            self.cache.write(digest, raw)
        self._add_manifest(repo, digest, raw, url, order)
        return digest

    def _add_manifest(
        self, repo: _Repo, digest: str, raw: bytes, url: str, order: tuple[Any, ...]
    ) -> None:
        try:
            repo.manifests[digest] = v2.parse_manifest(digest, raw)
        except v2.BadManifest as exc:
            repo.problem(order, url, str(exc))

    # -- children of lists and indexes ----------------------------------------------------------

    def _children(self, repos: list[_Repo]) -> None:
        """Fetch the children of every index by digest, and theirs, until none is new."""
        tried: set[tuple[str, str]] = set()
        while True:
            tasks = []
            for repo in repos:
                for parent in sorted(repo.manifests):
                    for child in repo.manifests[parent].children:
                        if child.digest in repo.manifests or (repo.name, child.digest) in tried:
                            continue
                        tried.add((repo.name, child.digest))
                        tasks.append(
                            (repo, lambda r=repo, d=child.digest, p=parent: self._child(r, d, p))
                        )
            if not tasks:
                return
            self._phase(tasks)

    def _child(self, repo: _Repo, digest: str, parent: str) -> None:
        url = self.client.url(f"{repo.name}/manifests/{digest}")
        with self._lock(digest):
            raw = self.cache.read(digest)
        if raw is not None:
            self._add_manifest(repo, digest, raw, url, (2, digest))
            return
        try:
            self._get_manifest(repo, url, digest, digest)
        except NotFound:
            repo.problem(
                (2, digest),
                self.client.url(f"{repo.name}/manifests/{parent}"),
                f"{repo.name}: the index lists {digest}, which the repository does not hold; "
                "pulls of every platform fail",
            )

    # -- blobs ----------------------------------------------------------------------------------

    def _blobs_of(self, repo: _Repo) -> set[tuple[str, str]]:
        found = set()
        for manifest in repo.manifests.values():
            if manifest.config is not None:
                found.add((manifest.config.digest, "config"))
            found.update((layer.digest, "layer") for layer in manifest.layers)
        return found

    def _blob(self, repo: _Repo, digest: str, kind: str) -> None:
        url = self.client.url(f"{repo.name}/blobs/{digest}")
        whole = kind == "config" or self.include_layers
        with self._lock(digest):
            if self.cache.has(digest) if whole else self.cache.has_head(digest):
                self.files.fetched.add(digest)
                return
            try:
                self._fetch_blob(repo, url, digest, whole, kind)
            except NotFound:
                repo.missing.add(digest)
                return
            except DigestMismatch:
                repo.missing.add(digest)
                repo.problem((3, digest), url, f"bytes do not match the digest {digest}; skipped")
                return
        self.files.fetched.add(digest)

    def _fetch_blob(self, repo: _Repo, url: str, digest: str, whole: bool, kind: str) -> None:
        if not layout.DIGEST_RE.match(digest):
            raise NotFound(url, "not a sha256 digest")
        if not whole:
            response = self.client.request(
                url, scope=repo.scope, headers={"Range": HEAD_RANGE}, stream=True, ok=(200, 206)
            )
            with response:
                head = self._read_head(response, url)
            self.cache.write_head(digest, head)
            return
        response = self.client.request(url, scope=repo.scope, stream=True)
        with response:
            if kind == "config":
                data = self._read(response, url, v2.MAX_CONFIG_BYTES)
                if data is None:
                    repo.problem((3, digest), url, "is too large for a config; skipped")
                    raise NotFound(url, "too large")
                self.cache.write(digest, data)
            else:
                self.cache.write_stream(digest, self._chunks(response, url))

    def _read(self, response: requests.Response, url: str, limit: int) -> bytes | None:
        """The whole body, or None when it is larger than `limit`."""
        data = bytearray()
        for chunk in self._chunks(response, url):
            data += chunk
            if len(data) > limit:
                return None
        return bytes(data)

    def _read_head(self, response: requests.Response, url: str) -> bytes:
        """The first bytes of a body (all of it for a 206; a server without ranges sends more)."""
        data = bytearray()
        for chunk in self._chunks(response, url):
            data += chunk
            if len(data) >= 64:
                break
        return bytes(data[:64])

    def _chunks(self, response: requests.Response, url: str) -> Iterator[bytes]:
        try:
            for chunk in response.iter_content(CHUNK):
                self.client.count_bytes(len(chunk))
                yield chunk
        except requests.exceptions.RequestException as exc:
            raise FetchError(url, f"the answer broke off ({type(exc).__name__})") from None

    # -- the repository, as the storage crawl would give it -------------------------------------

    def _finish(self, repo: _Repo) -> V2Repository:
        manifests = {}
        for digest in sorted(repo.manifests):
            manifests[digest] = self._with_blobs(repo, repo.manifests[digest])
            self.used.add(digest)
        tags = tuple(
            V2Tag(name, digest)
            for name, digest in sorted(repo.tags.items())
            if digest in manifests
        )
        return V2Repository(
            name=repo.name,
            tags=tags,
            manifests=tuple(manifests[d] for d in sorted(manifests)),
        )

    def _with_blobs(self, repo: _Repo, manifest: Manifest) -> Manifest:
        """The manifest with its cached blob files and its config read (as v2.py does)."""
        if manifest.config is None:
            return manifest
        where = self.client.url(f"{repo.name}/manifests/{manifest.digest}")
        config = self._with_path(repo, manifest.config, where, "config")
        layers = tuple(self._with_path(repo, d, where, "layer") for d in manifest.layers)
        config_raw = self.cache.read(config.digest) if config.path is not None else None
        if config_raw is None:
            config = dataclasses.replace(config, path=None)
        manifest = dataclasses.replace(manifest, config=config, layers=layers)
        config_url = self.client.url(f"{repo.name}/blobs/{config.digest}")
        return v2.with_image_config(
            manifest, config_raw, config_url, self.report, self.files.chains
        )

    def _with_path(self, repo: _Repo, blob: Descriptor, where: str, what: str) -> Descriptor:
        if blob.digest in repo.missing or blob.digest not in self.files.fetched:
            self.report.problem(
                where,
                f"the manifest's {what} {blob.digest} is not served by this repository; "
                "pulls of this manifest fail",
                kind=KIND,
            )
            return blob
        whole = what == "config" or self.include_layers
        (self.used if whole else self.used_heads).add(blob.digest)
        return dataclasses.replace(blob, path=self.files.path(blob.digest))
