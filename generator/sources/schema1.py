"""The v1 view of a v2 image: what distribution answers when it converts schema2 to schema1.

Registry 2.x converts a schema2 manifest for clients that do not accept it
(`configManifestBuilder.Build` in `manifest/schema1/config_builder.go`). Each
`history` entry of the config becomes one v1 image, newest first in
`history[].v1Compatibility`; sitegen publishes those strings as the images'
v1 JSON, so the v1 API serves v2 images with the registry's own ids:

* every entry but the last: `id = sha256(blobsum_hex + " " + parent_id)`, and
  the JSON `{"id", "parent"?, "comment"?, "created", "container_config":
  {"Cmd": [created_by]}, "author"?, "throwaway"?}` (Go struct order);
* the last entry: `id = sha256(blobsum_hex + " " + parent_id + " " + config)`,
  and the JSON is the config itself as a Go map (keys sorted, values
  compacted), without `rootfs` and `history`, plus `id`, `parent`,
  `throwaway`;
* an `empty_layer` entry's blobsum is the gzipped empty tar `a3ed95…`.

The same rules are applied to OCI image manifests (whose config has the same
shape), which the registry itself never converts, so that every image has a v1
view. Anything the registry would refuse to convert raises `Schema1Error`.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from generator import gojson

EMPTY_TAR_DIGEST = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
"""The gzipped empty tar distribution uses as the blobsum of `empty_layer` entries."""
GZIPPED_EMPTY_TAR = bytes.fromhex(
    "1f8b080000096e8800ff621805a360148c5800080000ffff2eafb5ef00040000"
)
"""Its 32 bytes (`gzippedEmptyTar` in distribution)."""
ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero `time.Time`, written for a history entry without `created`."""

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$"
)


class Schema1Error(ValueError):
    """The registry would not convert this config (it answers an error instead)."""


@dataclass(frozen=True)
class V1Layer:
    """One v1 image of the chain."""

    id: str
    json: bytes
    """The `v1Compatibility` string, as UTF-8 bytes."""
    parent: str | None
    blobsum: str
    """The layer digest this v1 image carries (`EMPTY_TAR_DIGEST` for throwaway ones)."""
    throwaway: bool


def v1_chain(config_raw: bytes, layer_digests: list[str]) -> list[V1Layer]:
    """The v1 images of one image, oldest first; the last one is the image itself."""
    try:
        text = config_raw.decode("utf-8")
        config = json.loads(text)
    except ValueError as exc:
        raise Schema1Error(f"config is not JSON ({exc})") from None
    if not isinstance(config, dict):
        raise Schema1Error("config is not a JSON object")
    history = _history(config)
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict):
        raise Schema1Error("config has no rootfs")
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_digests):
        raise Schema1Error(
            "number of layers in the manifest and in the config's rootfs.diff_ids differ"
        )
    if rootfs.get("base_layer"):
        raise Schema1Error("Windows base layers are not supported")

    chain: list[V1Layer] = []
    parent = ""
    layers = iter(layer_digests)
    for i, entry in enumerate(history):
        if entry["empty_layer"]:
            blobsum = EMPTY_TAR_DIGEST
        else:
            blobsum = next(layers, "")
            if not blobsum:
                raise Schema1Error("too many non-empty layers in the config's history")
        hex_ = blobsum.split(":", 1)[1]
        if i < len(history) - 1:
            v1_id = _sha256(f"{hex_} {parent}".encode())
            body = gojson.marshal(_v1_compatibility(v1_id, parent, entry))
        else:
            v1_id = _sha256(f"{hex_} {parent} ".encode() + config_raw)
            body = _top_v1_json(text, v1_id, parent, entry["empty_layer"])
        chain.append(V1Layer(v1_id, body, parent or None, blobsum, entry["empty_layer"]))
        parent = v1_id
    return chain


def _history(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The config's history, checked as Go's `json.Unmarshal` into distribution's struct."""
    history = config.get("history")
    if history is None:
        history = []
    if not isinstance(history, list):
        raise Schema1Error("config history is not a list")
    if not history:
        raise Schema1Error("empty history when trying to create schema1 manifest")
    checked = []
    for entry in history:
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise Schema1Error("a config history entry is not an object")
        item: dict[str, Any] = {"created": go_time(entry.get("created"))}
        for key in ("author", "created_by", "comment"):
            value = entry.get(key)
            if value is not None and not isinstance(value, str):
                raise Schema1Error(f"config history {key} is not a string")
            item[key] = value or ""
        empty = entry.get("empty_layer")
        if empty is not None and not isinstance(empty, bool):
            raise Schema1Error("config history empty_layer is not a boolean")
        item["empty_layer"] = bool(empty)
        checked.append(item)
    return checked


def _v1_compatibility(v1_id: str, parent: str, entry: dict[str, Any]) -> dict[str, Any]:
    """distribution's `v1Compatibility` struct, in field order, `omitempty` applied."""
    doc: dict[str, Any] = {"id": v1_id}
    if parent:
        doc["parent"] = parent
    if entry["comment"]:
        doc["comment"] = entry["comment"]
    doc["created"] = entry["created"]
    doc["container_config"] = {"Cmd": [entry["created_by"]]}
    if entry["author"]:
        doc["author"] = entry["author"]
    if entry["empty_layer"]:
        doc["throwaway"] = True
    return doc


def _top_v1_json(text: str, v1_id: str, parent: str, throwaway: bool) -> bytes:
    """`MakeV1ConfigFromConfig`: the config as a Go map of raw values, rewritten."""
    members = raw_members(text)
    members.pop("rootfs", None)
    members.pop("history", None)
    members["id"] = gojson.Raw(gojson.string(v1_id))
    if parent:
        members["parent"] = gojson.Raw(gojson.string(parent))
    if throwaway:
        members["throwaway"] = gojson.Raw("true")
    return gojson.marshal(gojson.sorted_map(members))


def raw_members(text: str) -> dict[str, gojson.Raw]:
    """The members of a JSON object as raw text, the last of duplicate keys winning (Go)."""
    decoder = json.JSONDecoder()
    members: dict[str, gojson.Raw] = {}
    pos = _skip(text, 0)
    if text[pos : pos + 1] != "{":
        raise Schema1Error("config is not a JSON object")
    pos = _skip(text, pos + 1)
    if text[pos : pos + 1] == "}":
        return members
    while True:
        key, pos = decoder.raw_decode(text, pos)
        pos = _skip(text, pos)
        pos = _skip(text, pos + 1)  # the ':'
        _, end = decoder.raw_decode(text, pos)
        members[key] = gojson.Raw(text[pos:end])
        pos = _skip(text, end)
        if text[pos] == "}":
            return members
        pos = _skip(text, pos + 1)  # the ','


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def go_time(value: Any) -> str:
    """A config timestamp as Go parses RFC 3339 and writes it back (`RFC3339Nano`).

    Fractions lose their trailing zeros (and digits past nanoseconds), any
    zero offset becomes `Z`. A value Go cannot parse raises Schema1Error.
    """
    if value is None:
        return ZERO_TIME
    if not isinstance(value, str):
        raise Schema1Error("config history created is not a string")
    match = _RFC3339.match(value)
    if match is None:
        raise Schema1Error(f"config history created {value[:40]!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    month_ok = 1 <= int(month) <= 12
    days = calendar.monthrange(int(year), int(month))[1] if month_ok and int(year) else 31
    if not (
        month_ok
        and 1 <= int(day) <= days
        and int(hour) < 24
        and int(minute) < 60
        and int(second) < 60
    ):
        raise Schema1Error(f"config history created {value[:40]!r} is out of range")
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    digits = (fraction or "")[:9].rstrip("0")
    if digits:
        text += "." + digits
    if zone != "Z" and zone[1:] == "00:00":
        zone = "Z"
    return text + zone


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
