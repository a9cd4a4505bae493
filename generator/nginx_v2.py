"""The `/v2/` part of `sitegen nginx-config`: the mirror with the registry's answers.

Locations are rendered from `routes.V2_ROUTES` (the patterns `sitegen
serve` matches; their named groups become `$v2name`, `$v2tag`,
`$v2digest`). Files are `paths`' v2 mapping:

* a manifest is `<ref>.<suffix>`: `try_files` finds it, and its suffix sets
  `Content-Type` through a `types { }` table built from
  `paths.V2_MANIFEST_SUFFIXES`, so new tags need no new configuration;
* `Docker-Content-Digest` and `Etag` come from the URL for digests, and for
  tags from the table the build writes (`paths.V2_TAG_DIGESTS`, keyed by
  `name:tag`, since `try_files` rewrites `$uri`), which nginx reads when it
  (re)loads: run `nginx -s reload` after a build so moved tags
  send their new digest (the body and type are always current);
* errors are the registry's JSON bodies, the name, tag or digest filled in
  from the URL (the route grammar admits no character that needs escaping).
"""

from __future__ import annotations

from pathlib import Path

from generator import paths, routes
from generator.emit import v2_json

_API_VERSION = f"add_header {v2_json.API_VERSION[0]} {v2_json.API_VERSION[1]} always;"
_JSON = f'default_type "{v2_json.JSON_TYPE}";'


HTTP_SETTINGS = (
    "# Long v2 URIs are map keys; nginx needs this before any map is defined. If your",
    "# http { } already sets map_hash_bucket_size, keep the larger value (at least 512).",
    "map_hash_bucket_size 512;",
)


def maps(site: Path) -> list[str]:
    """The tag → digest table (absent on a v1 site: the glob then matches nothing)."""
    table = str(site.resolve() / paths.V2_TAG_DIGESTS)
    pattern = table[:-1] + f"[{table[-1]}]"  # a glob, so nginx accepts a missing file
    return [
        "# v2 tags → digest, written by each build; nginx reads it on (re)load.",
        "map $v2name:$v2tag $sitegen_v2_tag_digest {",
        '    default "";',
        f"    include {_quote(pattern)};",
        "}",
        "map $sitegen_v2_tag_digest $sitegen_v2_tag_etag {",
        '    "" "";',
        '    default "\\"$sitegen_v2_tag_digest\\"";',
        "}",
    ]


def locations() -> list[str]:
    """`/v2` and the `^~ /v2/` block, to go inside `server { }`."""
    v2 = routes.V2_ROUTES
    base = paths.file_for_url(paths.V2_BASE_URL)
    lines = [
        f"location = {paths.V2_BASE_URL.rstrip('/')} {{ return 301 {paths.V2_BASE_URL}; }}",
        f"location ^~ {paths.V2_BASE_URL} {{",
        "    types { }",
        f'    default_type "{v2_json.PAGE_NOT_FOUND_TYPE}";',
        "    charset off;",
        f"    location = {paths.V2_BASE_URL} {{",
        f"        {_JSON}",
        "        etag off;",
        f"        {_API_VERSION}",
        f"        try_files /{base} =404;",
        "    }",
        "    location = /v2/_catalog {",
        f"        {_JSON}",
        "        etag off;",
        f"        {_API_VERSION}",
        "        try_files $uri =404;",
        "    }",
        f"    location ~ {_quote(v2['v2_tags'])} {{",
        f"        {_JSON}",
        "        etag off;",
        f"        {_API_VERSION}",
        f"        try_files $uri/{paths.DOC_NAME} @v2_name_unknown;",
        "    }",
        f"    location ~ {_quote(v2['v2_manifest_digest'])} {{",
        *_manifest_body("$v2digest", '"\\"$v2digest\\""', "@v2_manifest_unknown_digest"),
        "    }",
        f"    location ~ {_quote(v2['v2_manifest_tag'])} {{",
        *_manifest_body(
            "$sitegen_v2_tag_digest", "$sitegen_v2_tag_etag", "@v2_manifest_unknown_tag"
        ),
        "    }",
        f"    location ~ {_quote(v2['v2_blob'])} {{",
        "        default_type application/octet-stream;",
        "        etag off;",
        "        add_header Docker-Content-Digest $v2digest;",
        '        add_header Etag "\\"$v2digest\\"";',
        '        add_header Cache-Control "max-age=31536000";',
        f"        {_API_VERSION}",
        "        try_files $uri @v2_blob_unknown;",
        "    }",
        f"    location ~ {_quote(v2['v2_blob_invalid'])} {{",
        f"        {_JSON}",
        f"        {_API_VERSION}",
        f"        return 400 {_body(v2_json.DIGEST_INVALID)};",
        "    }",
        f"    {_API_VERSION}",
        "    add_header X-Content-Type-Options nosniff always;",
        f"    return 404 {_body(v2_json.PAGE_NOT_FOUND)};",
        "}",
    ]
    return lines + _named_locations()


def _manifest_body(digest: str, etag: str, missing: str) -> list[str]:
    types = [f"            {kind} {suffix};" for kind, suffix in paths.V2_MANIFEST_SUFFIXES.items()]
    tries = " ".join(f"$uri.{suffix}" for suffix in paths.V2_MANIFEST_SUFFIXES.values())
    return [
        "        types {",
        *types,
        "        }",
        "        etag off;",
        f"        add_header Docker-Content-Digest {digest};",
        f"        add_header Etag {etag};",
        f"        {_API_VERSION}",
        f"        try_files {tries} {missing};",
    ]


def _named_locations() -> list[str]:
    """The registry's 404 bodies (named locations must sit at the server level)."""
    errors = {
        "@v2_name_unknown": v2_json.name_unknown("$v2name"),
        "@v2_manifest_unknown_tag": v2_json.manifest_unknown_tag("$v2tag"),
        "@v2_manifest_unknown_digest": v2_json.manifest_unknown_digest("$v2name", "$v2digest"),
        "@v2_blob_unknown": v2_json.blob_unknown("$v2digest"),
    }
    lines = []
    for name, body in errors.items():
        lines += [
            f"location {name} {{",
            f"    {_JSON}",
            f"    {_API_VERSION}",
            f"    return 404 {_body(body)};",
            "}",
        ]
    return lines


def _body(body: bytes) -> str:
    """A body as a single-quoted nginx string (`\\n` is nginx's newline escape)."""
    text = body.decode("utf-8").replace("\\", "\\\\").replace("'", "\\'")
    return "'" + text.replace("\n", "\\n") + "'"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
