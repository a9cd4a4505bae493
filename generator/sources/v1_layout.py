"""Storage paths of the legacy v1 registry (docker-registry 0.x, `file`/`local` driver).

Every key 0.9.1 reads is `os.path.join(storage_path, key)`; this module owns
those keys so the crawler never joins a path by hand (the registry's own
`core/driver.py` kept them on the driver with a FIXME to move them out).

    <root>/
    ├── images/<id>/
    │   ├── json          raw image JSON, as the client sent it
    │   ├── ancestry      JSON list [id, parent, …, root]
    │   ├── _checksum     JSON list (0.7+) or a bare string (≤0.6)
    │   ├── layer         layer tar (plain, gzip, bz2 or xz)
    │   ├── _inprogress   present while a push is unfinished
    │   └── _files        cached /files answer
    └── repositories/<namespace>/<repository>/
        ├── tag_<tag>     bare image id (no quotes; hand-made ones may end in a newline)
        ├── tag<tag>_json tag metadata (client facts from the User-Agent)
        ├── json          metadata of `latest`
        ├── _index_images JSON list of {"id": …}
        └── _private      empty; presence means private

Single-segment names live under `repositories/library/`. An image's `json` and
`layer` paths are derived again by `model.Image` (`json_file`, `layer_file`)
from `images_dir(root)` and its id, rather than held for every image.
"""

from __future__ import annotations

from pathlib import Path

IMAGES = "images"
REPOSITORIES = "repositories"
TAG_PREFIX = "tag_"
LIBRARY = "library"


def images_dir(root: Path) -> Path:
    return root / IMAGES


def repositories_dir(root: Path) -> Path:
    return root / REPOSITORIES


def image_file(image_dir: Path, name: str) -> Path:
    """`json`, `ancestry`, `_checksum`, `layer`, `_inprogress` or `_files` of one image."""
    return image_dir / name


def tag_name(entry: str) -> str | None:
    """The tag a repository entry names (`tag_latest` → `latest`), or None.

    0.9.1 lists every entry starting with `tag_`, so `tag_x_json` (the metadata
    of a tag `_x`) is listed too, as a bogus tag `x_json`; so is it here.
    """
    return entry[len(TAG_PREFIX) :] if entry.startswith(TAG_PREFIX) else None


def tag_metadata_file(repo_dir: Path, tag: str) -> Path:
    return repo_dir / f"tag{tag}_json"


def repository_json_file(repo_dir: Path) -> Path:
    return repo_dir / "json"


def index_images_file(repo_dir: Path) -> Path:
    return repo_dir / "_index_images"


def private_flag_file(repo_dir: Path) -> Path:
    return repo_dir / "_private"


def looks_like_v1(root: Path) -> bool:
    """A v1 storage root has `images/` or `repositories/` at its top."""
    return images_dir(root).is_dir() or repositories_dir(root).is_dir()
