"""`generator.sources.layer_files` against docker-registry 0.9.1's recorded `/files` answers."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import json
import lzma
import subprocess
import tarfile
from pathlib import Path

import pytest

from generator.sources.layer_files import (
    LayerFormatError,
    compression,
    files_json,
    layer_compression,
)

ORACLE = Path(__file__).parent / "data" / "v1-oracle"


def _files_answers() -> list[dict]:
    answers = []
    with (ORACLE / "answers.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            answer = json.loads(line)
            parts = answer["path"].split("/")
            if len(parts) == 5 and parts[1:3] == ["v1", "images"] and parts[4] == "files":
                answer["image_id"] = parts[3]
                answers.append(answer)
    return answers


def _cached_images() -> set[str]:
    """Images whose `_files` cache is in storage (from storage-tree.txt, known at collection)."""
    cached = set()
    for line in (ORACLE / "storage-tree.txt").read_text(encoding="utf-8").splitlines():
        path = line.split()[-1]
        if path.startswith("images/") and path.endswith("/_files"):
            cached.add(path.split("/")[1])
    return cached


ANSWERS = _files_answers()
CACHED = _cached_images()


def _ids(answers: list[dict]) -> list[str]:
    return [a["image_id"][:12] for a in answers]


COMPUTED_200 = [a for a in ANSWERS if a["status"] == 200 and a["image_id"] not in CACHED]
CACHED_200 = [a for a in ANSWERS if a["status"] == 200 and a["image_id"] in CACHED]
CRASHED_500 = [a for a in ANSWERS if a["status"] == 500]
NOT_FOUND_404 = [a for a in ANSWERS if a["status"] == 404 and "Image not found" in a["body_text"]]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("oracle")
    subprocess.run(["tar", "-xzf", str(ORACLE / "storage.tar.gz"), "-C", str(root)], check=True)
    return root / "storage" / "images"


def _body(answer: dict) -> bytes:
    return base64.b64decode(answer["body_b64"])


def test_corpus_has_the_expected_cases():
    assert len(COMPUTED_200) == 7
    assert len(CACHED_200) == 1
    assert len(CRASHED_500) == 5
    assert len(NOT_FOUND_404) == 2


@pytest.mark.parametrize("answer", COMPUTED_200, ids=_ids(COMPUTED_200))
def test_computed_answer_matches_recording(images, answer):
    assert files_json(images / answer["image_id"] / "layer") == _body(answer)


@pytest.mark.parametrize("answer", CACHED_200, ids=_ids(CACHED_200))
def test_computed_answer_matches_registry_written_cache(images, answer):
    cache = (images / answer["image_id"] / "_files").read_bytes()
    assert _body(answer) == cache  # the registry served its cache raw
    assert files_json(images / answer["image_id"] / "layer") == cache


@pytest.mark.parametrize("answer", CRASHED_500, ids=_ids(CRASHED_500))
def test_layers_that_crashed_the_registry_list_nothing(images, answer):
    layer = images / answer["image_id"] / "layer"
    assert layer.stat().st_size in (0, 1024)
    assert files_json(layer) == b"[]"


@pytest.mark.parametrize("answer", NOT_FOUND_404, ids=_ids(NOT_FOUND_404))
def test_missing_layer_raises_file_not_found(images, answer):
    with pytest.raises(FileNotFoundError):
        files_json(images / answer["image_id"] / "layer")


# --- small hand-made layers ------------------------------------------------------------

MTIME = 1400000000


def _info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, **extra) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mtime = MTIME
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in extra.items():
        setattr(info, key, value)
    return info


def _tar(members: list[tarfile.TarInfo], mode: str = "w", fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode=mode, format=fmt, encoding="utf-8", errors="surrogateescape"
    ) as tar:
        for member in members:
            data = io.BytesIO(b"x" * member.size) if member.isreg() else None
            tar.addfile(member, data)
    return buf.getvalue()


def _write(tmp_path: Path, data: bytes, name: str = "layer") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


BASIC = [_info("etc", tarfile.DIRTYPE), _info("etc/hostname", size=2)]
BASIC_JSON = (
    b'[["etc", "d", false, 0, 1400000000, 493, 0, 0], '
    b'["etc/hostname", "f", false, 2, 1400000000, 420, 0, 0]]'
)


def test_python2_json_formatting(tmp_path):
    assert files_json(_write(tmp_path, _tar(BASIC))) == BASIC_JSON


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_compressed_layers_are_detected(tmp_path, mode):
    assert files_json(_write(tmp_path, _tar(BASIC, mode))) == BASIC_JSON


def test_headerless_lzma_layers_are_read_as_r_star_reads_them(tmp_path):
    """`r:*`'s xz attempt also takes `.lzma` streams, which have no magic bytes to sniff."""
    data = lzma.compress(_tar(BASIC), format=lzma.FORMAT_ALONE)
    assert files_json(_write(tmp_path, data)) == BASIC_JSON


@pytest.mark.parametrize(
    "name", ["BZh91AY", "\x1f\udc8b\x08", "\udcfd7zXZ", "LZIP"], ids=["bz2", "gzip", "xz", "lzip"]
)
def test_plain_tars_that_start_like_a_compressed_stream_are_tars(tmp_path, name):
    layer = _write(tmp_path, _tar([_info(name, size=1), *BASIC]))
    assert [entry[0] for entry in json.loads(files_json(layer))] == [name, "etc", "etc/hostname"]


def test_empty_tar_and_zero_byte_layer_list_nothing(tmp_path):
    assert files_json(_write(tmp_path, b"\0" * 1024, "empty-tar")) == b"[]"
    assert files_json(_write(tmp_path, _tar([]), "empty-tar-10k")) == b"[]"
    assert files_json(_write(tmp_path, b"", "zero")) == b"[]"


@pytest.mark.parametrize(
    "data",
    [b'{"not": "a tar"}\n' * 40, b"\x1f\x8b\x08garbage", bytes(range(256)) * 3],
    ids=["text", "bad-gzip", "binary"],
)
def test_non_tar_layer_raises_layer_format_error(tmp_path, data):
    layer = _write(tmp_path, data, "not-a-tar")
    with pytest.raises(LayerFormatError, match="not-a-tar"):
        files_json(layer)


@pytest.mark.parametrize("mode", ["w:gz", "w:xz"])
def test_truncated_compressed_layer_raises_layer_format_error(tmp_path, mode):
    members = [_info(f"file{i}", size=5000) for i in range(40)]
    data = _tar(members, mode)
    layer = _write(tmp_path, data[: len(data) // 2])
    with pytest.raises(LayerFormatError):
        files_json(layer)


def test_layer_format_error_is_a_value_error():
    assert issubclass(LayerFormatError, ValueError)


def test_gnu_tar_names_and_top_level_whiteout(tmp_path):
    layer = _write(
        tmp_path,
        _tar([_info(".", tarfile.DIRTYPE), _info("./README", size=3), _info("./.wh.tmpfile")]),
    )
    assert json.loads(files_json(layer)) == [
        ["/", "d", False, 0, MTIME, 0o755, 0, 0],
        ["/README", "f", False, 3, MTIME, 0o644, 0, 0],
        ["/tmpfile", "f", True, 0, MTIME, 0o644, 0, 0],
    ]


def test_whiteouts_below_top_level_and_without_dot_slash_stay_files(tmp_path):
    layer = _write(tmp_path, _tar([_info("etc/.wh.motd"), _info(".wh.gone"), _info("/.wh.abs")]))
    assert json.loads(files_json(layer)) == [
        ["etc/.wh.motd", "f", False, 0, MTIME, 0o644, 0, 0],
        [".wh.gone", "f", False, 0, MTIME, 0o644, 0, 0],
        ["/abs", "f", True, 0, MTIME, 0o644, 0, 0],
    ]


def test_aufs_metadata_entries_are_dropped(tmp_path):
    layer = _write(
        tmp_path,
        _tar(
            [
                _info("./.wh..wh.aufs"),
                _info("./.wh..wh.orph", tarfile.DIRTYPE),
                _info("./.wh..wh.plnk/123.456"),
                _info("./kept"),
                _info(".wh..wh.aufs"),  # Go-style: no "./", kept by 0.9.1
            ]
        ),
    )
    assert [entry[0] for entry in json.loads(files_json(layer))] == ["/kept", ".wh..wh.aufs"]


def test_type_letters(tmp_path):
    members = [
        _info("bin", tarfile.DIRTYPE),
        _info("bin/busybox", size=4),
        _info("bin/sh", tarfile.SYMTYPE, linkname="busybox"),
        _info("bin/ash", tarfile.LNKTYPE, linkname="bin/busybox"),
        _info("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
        _info("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0),
        _info("run/fifo", tarfile.FIFOTYPE),
        _info("contiguous", tarfile.CONTTYPE),
        _info("vendor", b"Z"),
    ]
    entries = json.loads(files_json(_write(tmp_path, _tar(members))))
    assert [(e[0], e[1]) for e in entries] == [
        ("bin", "d"),
        ("bin/busybox", "f"),
        ("bin/sh", "s"),
        ("bin/ash", "l"),
        ("dev/null", "c"),
        ("dev/sda", "b"),
        ("run/fifo", "i"),
        ("contiguous", "t"),
        ("vendor", "u"),
    ]


def test_owner_and_long_names(tmp_path):
    long_name = "usr/share/" + "d" * 120 + "/file"
    members = [_info(long_name, size=1, uid=1000, gid=50)]
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        layer = _write(tmp_path, _tar(members, fmt=fmt), f"layer-{fmt}")
        assert json.loads(files_json(layer)) == [[long_name, "f", False, 1, MTIME, 0o644, 1000, 50]]


def test_non_ascii_names_are_escaped_like_python2(tmp_path):
    layer = _write(tmp_path, _tar([_info("caf\u00e9/\U0001f600")]))
    assert files_json(layer).startswith(b'[["caf\\u00e9/\\ud83d\\ude00", "f", ')


def test_non_utf8_names_keep_their_bytes_as_surrogate_escapes(tmp_path):
    layer = _write(tmp_path, _tar([_info("bad\udcff")]))
    assert files_json(layer).startswith(b'[["bad\\udcff", "f", ')


# --- compression, as pages show it ------------------------------------------------------------


@pytest.mark.parametrize(
    ("pack", "expected"),
    [
        (gzip.compress, "gzip"),
        (bz2.compress, "bzip2"),
        (lzma.compress, "xz"),
        (lambda data: b"\x28\xb5\x2f\xfd" + data, "zstd"),
        (lambda data: data, None),
        (lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE), None),
        (lambda data: b"", None),
    ],
    ids=["gzip", "bzip2", "xz", "zstd", "tar", "lzma-alone", "empty"],
)
def test_a_layers_compression_is_what_its_first_bytes_say(tmp_path, pack, expected):
    layer = _write(tmp_path, pack(_tar(BASIC)))
    assert layer_compression(layer) == expected
    assert layer_compression(str(layer)) == expected
    assert compression(layer.read_bytes()[:6]) == expected


def test_a_missing_or_unreadable_layer_has_no_compression(tmp_path):
    assert layer_compression(None) is None
    assert layer_compression(tmp_path / "absent") is None
    assert layer_compression(tmp_path) is None  # a folder: os.read fails with EISDIR
