"""The body of `GET /v1/images/<id>/files` for an image without a `_files` cache.

docker-registry 0.9.1 computed that answer on the fly from the layer tar
(`lib/layers.py`: `serialize_tar_info`, `get_image_files_json`) and served it
raw, so a static clone has to rebuild the same bytes: the same 8-tuples, the
same name normalisation and whiteout rules, Python 2 `json.dumps` formatting.

Where 0.9.1 crashed with a 500 (its xz wrapper raised `EOFError` on the empty
1024-byte tars of `#(nop)` layers and on zero-byte layers) we answer the empty
list it meant to send. Names that are not UTF-8 (0.9.1: 500 in `json.dumps`)
keep their raw bytes as `\\udcXX` escapes (surrogateescape).
"""

from __future__ import annotations

import json
import lzma
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

__all__ = ["LayerFormatError", "files_json"]


class LayerFormatError(ValueError):
    """The layer is not a (possibly compressed) tar.

    0.9.1 answered 400 `{"error": "Layer format not supported"}`.
    """


# lib/layers.py FILE_TYPES; anything else is "u".
_FILE_TYPES: dict[bytes, str] = {
    tarfile.REGTYPE: "f",
    tarfile.AREGTYPE: "f",
    tarfile.LNKTYPE: "l",
    tarfile.SYMTYPE: "s",
    tarfile.CHRTYPE: "c",
    tarfile.BLKTYPE: "b",
    tarfile.DIRTYPE: "d",
    tarfile.FIFOTYPE: "i",
    tarfile.CONTTYPE: "t",
    tarfile.GNUTYPE_LONGNAME: "L",
    tarfile.GNUTYPE_LONGLINK: "K",
    tarfile.GNUTYPE_SPARSE: "S",
}

_WHITEOUT = "/.wh."

# Errors a corrupt or truncated compressed stream raises while the members are
# read (opening already turns them into tarfile.ReadError). gzip and bz2 raise
# OSError without an errno; a real I/O error (errno set) is not a format error.
_BROKEN_STREAM = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


def _entry(member: tarfile.TarInfo) -> list[object] | None:
    """One `serialize_tar_info` tuple, or None for a dropped aufs metadata entry."""
    name = member.name
    deleted = False
    if name == ".":
        name = "/"
    if name.startswith("./"):
        name = "/" + name[2:]
    # Only a leading "/" (i.e. "./" from GNU tar) marks a whiteout: Go's
    # "etc/.wh.motd" or ".wh..wh.aufs" stay ordinary entries, as in 0.9.1.
    if name.startswith(_WHITEOUT):
        name = "/" + name[len(_WHITEOUT) :]
        deleted = True
    if name.startswith(_WHITEOUT):
        return None
    return [
        name,
        _FILE_TYPES.get(member.type, "u"),
        deleted,
        member.size,
        member.mtime,
        member.mode,
        member.uid,
        member.gid,
    ]


def _entries(fobj: BinaryIO, layer: Path) -> list[list[object]]:
    try:
        with tarfile.open(
            fileobj=fobj, mode="r:*", encoding="utf-8", errors="surrogateescape"
        ) as tar:
            members = tar.getmembers()
    except _BROKEN_STREAM as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise LayerFormatError(
            f"{layer}: not a tar archive (plain, gzip, bz2 or xz): {exc}"
        ) from exc
    return [entry for entry in map(_entry, members) if entry is not None]


def files_json(layer: Path) -> bytes:
    """The exact body 0.9.1 sends for `/v1/images/<id>/files`, computed from `layer`.

    Raises LayerFormatError when `layer` is not a tar; FileNotFoundError when
    it does not exist.
    """
    with layer.open("rb") as fobj:
        if not fobj.read(1):
            return b"[]"
        fobj.seek(0)
        entries = _entries(fobj, layer)
    # Python 2 json.dumps defaults: ", " / ": " separators, ASCII only.
    return json.dumps(entries, ensure_ascii=True).encode("ascii")
