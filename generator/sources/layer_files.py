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
import os
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

__all__ = ["COMPRESSION_HEAD", "LayerFormatError", "compression", "files_json", "layer_compression"]


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


# `tarfile.open(mode="r:*")` tries gzip, bz2 and xz before a plain tar, each
# attempt a decompressor and a failed header parse: three times the work of
# reading the tar on the plain layers docker pushed. The first bytes tell
# which attempt would succeed, so the layer is opened in that mode at once;
# where the bytes leave any doubt, `r:*` decides as before.
_MAGIC_MODES = ((b"\x1f\x8b", "r:gz"), (b"BZh", "r:bz2"), (b"\xfd7zXZ\x00", "r:xz"))
_ONLY_THESE = set(tarfile.TarFile.OPEN_METH) == {"tar", "gz", "bz2", "xz"}
"""False on a Python whose `r:*` knows more formats (3.14 adds zstd): then it always decides."""
_HEAD = 13
"""Bytes to read first: the header of an `.lzma` stream, the longest that is checked."""


def _mode(head: bytes) -> str:
    """The `tarfile` mode `r:*` would settle on for a stream starting with `head`.

    `r:*` (never a wrong answer) where gzip, bz2 or xz might read the stream
    other than as its magic bytes say: liblzma's automatic decoder also takes
    lzip and headerless `.lzma` streams.
    """
    for magic, mode in _MAGIC_MODES:
        if head.startswith(magic):
            return mode
    if head.startswith(b"LZIP") or _may_be_lzma_alone(head) or not _ONLY_THESE:
        return "r:*"
    return "r:"


def _may_be_lzma_alone(head: bytes) -> bool:
    """Whether liblzma's `.lzma` decoder might accept `head` (it refuses what this refuses).

    The checks of `alone_decoder.c` with `picky` set, as `lzma_auto_decoder`
    sets it: a valid properties byte, a dictionary size of 2^n or 2^n + 2^(n-1)
    (or unknown), and an uncompressed size under 256 GiB (or unknown).
    """
    if len(head) < _HEAD:
        return True
    if head[0] > (4 * 5 + 4) * 9 + 8:
        return False
    dict_size = int.from_bytes(head[1:5], "little")
    if dict_size != 0xFFFFFFFF:
        d = (dict_size - 1) & 0xFFFFFFFF
        for shift in (2, 3, 4, 8, 16):
            d |= d >> shift
        if (d + 1) & 0xFFFFFFFF != dict_size:
            return False
    size = int.from_bytes(head[5:13], "little")
    return size == 0xFFFFFFFFFFFFFFFF or size < 1 << 38


def _members(fobj: BinaryIO, mode: str) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=fobj, mode=mode, encoding="utf-8", errors="surrogateescape") as tar:
        return tar.getmembers()


def _entries(fobj: BinaryIO, layer: Path, head: bytes) -> list[list[object]]:
    mode = _mode(head)
    members = None
    if mode != "r:*":
        try:
            members = _members(fobj, mode)
        except _BROKEN_STREAM:  # `r:*` decides, and words the error, as it always did
            fobj.seek(0)
    try:
        if members is None:
            members = _members(fobj, "r:*")
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
        head = fobj.read(_HEAD)
        if not head:
            return b"[]"
        fobj.seek(0)
        entries = _entries(fobj, layer, head)
    # Python 2 json.dumps defaults: ", " / ": " separators, ASCII only.
    return json.dumps(entries, ensure_ascii=True).encode("ascii")


_COMPRESSION_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
COMPRESSION_HEAD = 6
"""Bytes of a layer that tell its compression (the longest magic number)."""


def compression(head: bytes) -> str | None:
    """`gzip`, `bzip2`, `xz` or `zstd` when a layer starting with `head` is compressed, else None.

    v1 clients pushed plain tars or compressed ones; pages say `compressed`
    only when the stored bytes do.
    """
    return next((name for magic, name in _COMPRESSION_MAGIC if head.startswith(magic)), None)


def layer_compression(layer: str | os.PathLike[str] | None) -> str | None:
    """`compression` of the file `layer`; None for a tar, or a file that cannot be read.

    Sources call it once per layer while crawling (`Image.compression`), so
    that pages never open layers.
    """
    if layer is None:
        return None
    try:  # os-level: one open, one read, one close
        fd = os.open(layer, os.O_RDONLY | os.O_CLOEXEC)
        try:
            head = os.read(fd, COMPRESSION_HEAD)
        finally:
            os.close(fd)
    except OSError:
        return None
    return compression(head)
