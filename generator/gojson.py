"""Go's `encoding/json` output, byte for byte, for what distribution (Go) generated.

The v2 registry's bodies and the schema1 `v1Compatibility` strings it makes
come out of Go's `json.Marshal`: compact, keys in struct order (or sorted
for maps), `<`, `>`, `&`, U+2028 and U+2029 escaped as `\\u003c`…, other
control characters as `\\u00XX` (the Go 1.19 that built Debian's registry did
not yet write `\\b`/`\\f`), non-ASCII left as UTF-8. Python's `json.dumps`
differs on every one of these points, so nothing here uses it for output.

Dicts are written in insertion order: callers build struct-like dicts in the
Go field order, and sort map keys themselves (`sorted_map`). `Raw` holds JSON
text passed through the way Go writes a `json.RawMessage`: compacted, HTML
characters escaped, everything else untouched.
"""

from __future__ import annotations

import re
from typing import Any

_STRING_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029]')
_HTML = re.compile("[<>&\u2028\u2029]")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[ \t\n\r]+', re.DOTALL)


class Raw(str):
    """Already-encoded JSON text (Go's `json.RawMessage`)."""


def marshal(value: Any) -> bytes:
    """`json.Marshal(value)` as Go writes it (no trailing newline)."""
    return "".join(_encode(value)).encode("utf-8")


def encoder_line(value: Any) -> bytes:
    """`json.NewEncoder(w).Encode(value)`: the same bytes plus a newline (the registry's bodies)."""
    return marshal(value) + b"\n"


def sorted_map(mapping: dict[str, Any]) -> dict[str, Any]:
    """A Go map's key order: sorted by the keys' UTF-8 bytes (code points, for `str`)."""
    return {key: mapping[key] for key in sorted(mapping)}


def string(text: str) -> str:
    """One Go JSON string literal."""
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def compact(text: str) -> str:
    """A `json.RawMessage` as Go's encoder writes it: whitespace out, HTML characters escaped.

    `text` must be valid JSON; strings keep their own escapes untouched.
    """
    return _TOKEN.sub(
        lambda m: _HTML.sub(_escape, m.group()) if m.group().startswith('"') else "", text
    )


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _STRING_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _encode(value: Any) -> list[str]:
    if isinstance(value, Raw):
        return [compact(value)]
    if value is None:
        return ["null"]
    if value is True:
        return ["true"]
    if value is False:
        return ["false"]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, str):
        return [string(value)]
    if isinstance(value, dict):
        parts = ["{"]
        for i, (key, item) in enumerate(value.items()):
            parts += [("," if i else "") + string(str(key)) + ":", *_encode(item)]
        return [*parts, "}"]
    if isinstance(value, list | tuple):
        parts = ["["]
        for i, item in enumerate(value):
            parts += ([","] if i else []) + _encode(item)
        return [*parts, "]"]
    raise TypeError(f"cannot encode {type(value).__name__} as Go JSON")
