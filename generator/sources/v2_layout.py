"""Storage paths of the CNCF distribution registry (`registry:2`, filesystem driver).

Distribution keeps every path in one function (`registry/storage/paths.go`);
this module is that list for the crawler, which never joins a path by hand.
`blob_data()` is the only place that knows `sha256/<2 hex>/<hex>/data`.

    <root>/docker/registry/v2/
    ├── blobs/sha256/<first 2 hex>/<64 hex>/data
    │       every blob's bytes: layers, configs, AND manifests, lists, indexes
    └── repositories/<name: one or more segments>/
        │   a repository is any folder holding `_manifests`; folders inside
        │   it may be repositories too (`org/team` holds `org/team/app`)
        ├── _layers/sha256/<hex>/link             the blob is served by this repository
        │                                         (layers and configs, never manifests)
        ├── _manifests/
        │   ├── revisions/sha256/<hex>/link       a manifest this repository holds
        │   │                                     (a deleted one leaves its folder, empty)
        │   └── tags/<tag>/
        │       ├── current/link                  what the tag points at NOW: the only truth
        │       └── index/sha256/<hex>/link       every digest it ever pointed at (never pruned)
        └── _uploads/                             unfinished uploads (ignored)

Every `link` holds `sha256:<64 hex>` without a newline. Folders whose name
starts with `_` are always registry metadata: a repository name component
must start with `[a-z0-9]`.
"""

from __future__ import annotations

import re
from pathlib import Path

V2_ROOT = ("docker", "registry", "v2")
BLOBS = "blobs"
REPOSITORIES = "repositories"
LAYERS = "_layers"
MANIFESTS = "_manifests"
REVISIONS = "revisions"
TAGS = "tags"
LINK = "link"
ALGORITHM = "sha256"

DIGEST_RE = re.compile(r"^sha256:([a-f0-9]{64})$")
"""The only digest algorithm distribution's filesystem layout stores (and sitegen reads)."""
NAME_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
"""One `/`-separated component of a repository name (distribution's `reference` grammar,
written without its `-*` that can match nothing, which backtracks exponentially)."""
TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
"""A tag, as distribution's `reference` grammar allows it."""
MAX_NAME_LENGTH = 255


def v2_dir(root: Path) -> Path:
    return root.joinpath(*V2_ROOT)


def blobs_dir(root: Path) -> Path:
    return v2_dir(root) / BLOBS


def repositories_dir(root: Path) -> Path:
    return v2_dir(root) / REPOSITORIES


def blob_data(root: Path, digest: str) -> Path:
    """`blobs/sha256/<2 hex>/<hex>/data` of a `sha256:<hex>` digest (checked by the caller)."""
    hex_ = digest_hex(digest)
    return blobs_dir(root) / ALGORITHM / hex_[:2] / hex_ / "data"


def digest_hex(digest: str) -> str:
    match = DIGEST_RE.match(digest)
    if match is None:
        raise ValueError(f"not a sha256 digest: {digest[:80]!r}")
    return match.group(1)


def is_repository(folder: Path) -> bool:
    return (folder / MANIFESTS).is_dir()


def layers_dir(repo_dir: Path) -> Path:
    """`_layers/sha256/`: one folder per linked blob, named by its hex digest."""
    return repo_dir / LAYERS / ALGORITHM


def revisions_dir(repo_dir: Path) -> Path:
    """`_manifests/revisions/sha256/`: one folder per manifest, named by its hex digest."""
    return repo_dir / MANIFESTS / REVISIONS / ALGORITHM


def tags_dir(repo_dir: Path) -> Path:
    return repo_dir / MANIFESTS / TAGS


def current_link(repo_dir: Path, tag: str) -> Path:
    return tags_dir(repo_dir) / tag / "current" / LINK


def link_in(folder: Path) -> Path:
    """The `link` file of one `_layers/sha256/<hex>/` or `revisions/sha256/<hex>/` folder."""
    return folder / LINK


def looks_like_v2(root: Path) -> bool:
    """A v2 storage root holds `docker/registry/v2/` (the filesystem driver's `rootdirectory`)."""
    return v2_dir(root).is_dir()


def valid_name(name: str) -> bool:
    """A repository name distribution would accept (and route: others get its plain 404)."""
    return len(name) <= MAX_NAME_LENGTH and all(
        NAME_COMPONENT_RE.match(part) for part in name.split("/")
    )
