"""The change feeds: `/changes.json` and `/changes.atom`, what the builds changed.

Each build compares what it publishes with what the previous build
published (`snapshot`, kept in the build state): repositories added,
updated (anything of theirs changed: tags, metadata, images list) and
removed, and tags added, moved to another image, and removed, with image ids
(and manifest digests on v2 sites). The first build lists everything as
added. Private repositories appear only with `include_private`.

- `changes.json` holds the changes of the last build that changed the site
  (a rebuild that finds nothing changed leaves it, and every other file,
  as it is).
- `changes.atom` is an Atom feed with one entry per build that changed a
  repository or a tag, the last `FEED_ENTRIES` of them, each summing up
  its changes (at most `ENTRY_LINES` lines; `changes.json` has them all).

**Time.** A feed needs dates, and the same storage must give the same
bytes, so the build's date is `SOURCE_DATE_EPOCH` when set, else the newest
mtime in the storage (the moment its last change was written), never the
wall clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from generator import paths
from generator.emit.v1_json import encode
from generator.model import Repository

FEED_ENTRIES = 50
ENTRY_LINES = 100

TagState = tuple[str, str | None]
"""(image id, manifest digest on v2 sites or None)."""


@dataclass(frozen=True)
class Published:
    """What the feeds compare of one published repository."""

    digest: str
    """Of everything the model holds of it: any difference is an update."""
    tags: dict[str, TagState]


def snapshot(repository: Repository) -> Published:
    text = repr(repository).encode("utf-8", "surrogatepass")
    digests = {t.name: t.digest for t in repository.v2.tags} if repository.v2 else {}
    tags = {t.name: (t.image_id, digests.get(t.name)) for t in repository.tags}
    for name, digest in digests.items():  # v2 tags without a v1 view
        tags.setdefault(name, ("", digest))
    return Published(hashlib.blake2b(text, digest_size=16).hexdigest(), dict(sorted(tags.items())))


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    tags_added: list[dict[str, Any]] = field(default_factory=list)
    tags_updated: list[dict[str, Any]] = field(default_factory=list)
    tags_removed: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.added, self.updated, self.removed, self.tags_added,
                    self.tags_updated, self.tags_removed))

    def title(self) -> str:
        parts = []
        for count, what in ((len(self.added), "added"), (len(self.updated), "updated"),
                            (len(self.removed), "removed")):
            if count:
                parts.append(f"{count} {'repository' if count == 1 else 'repositories'} {what}")
        for count, what in ((len(self.tags_added), "added"), (len(self.tags_updated), "moved"),
                            (len(self.tags_removed), "removed")):
            if count:
                parts.append(f"{count} {'tag' if count == 1 else 'tags'} {what}")
        return ", ".join(parts) or "no repository or tag changed"


def compare(old: Mapping[str, Published], new: Mapping[str, Published]) -> Changes:
    """What changed from `old` to `new`, every list sorted by repository and tag."""
    changes = Changes()
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before is not None and after is not None and before.digest == after.digest:
            continue
        if before is None:
            changes.added.append(name)
        elif after is None:
            changes.removed.append(name)
        else:
            changes.updated.append(name)
        old_tags = before.tags if before else {}
        new_tags = after.tags if after else {}
        for tag in sorted(set(old_tags) | set(new_tags)):
            was, now = old_tags.get(tag), new_tags.get(tag)
            if was == now:
                continue
            if was is None and now is not None:
                changes.tags_added.append(_tag(name, tag, now))
            elif now is None and was is not None:
                changes.tags_removed.append(_tag(name, tag, was))
            elif was is not None and now is not None:
                entry = _tag(name, tag, now)
                entry.update({f"previous_{k}": v for k, v in _tag(name, tag, was).items()
                              if k in ("image", "digest")})
                changes.tags_updated.append(entry)
    return changes


def _tag(repository: str, tag: str, state: TagState) -> dict[str, Any]:
    entry: dict[str, Any] = {"repository": repository, "tag": tag, "image": state[0] or None}
    if state[1] is not None:
        entry["digest"] = state[1]
    return entry


def iso(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def changes_json(changes: Changes, timestamp: int) -> bytes:
    """`/changes.json`: every change of the build, dated by the storage (see the module doc)."""
    return encode({
        "format": 1,
        "built": iso(timestamp),
        "repositories": {
            "added": changes.added, "updated": changes.updated, "removed": changes.removed,
        },
        "tags": {
            "added": changes.tags_added,
            "updated": changes.tags_updated,
            "removed": changes.tags_removed,
        },
    })


def entry(changes: Changes, timestamp: int, base_url: str) -> dict[str, str]:
    """One feed entry (kept in the build state), its content as HTML lines with links."""
    def repo_link(name: str) -> str:
        namespace, _, repository = name.partition("/")
        href = paths.url_for("repository", namespace, repository, base_url=base_url)
        return f'<a href="{escape(href)}">{escape(name)}</a>'

    lines = [f"Repository {repo_link(n)} added" for n in changes.added]
    lines += [f"Repository {repo_link(n)} updated" for n in changes.updated]
    lines += [f"Repository {escape(n)} removed" for n in changes.removed]
    for what, items in (("added", changes.tags_added), ("moved", changes.tags_updated),
                        ("removed", changes.tags_removed)):
        for item in items:
            target = item.get("digest") or item.get("image") or ""
            lines.append(f"Tag {escape(item['repository'])}:{escape(item['tag'])} {what}"
                         f"{' → ' + escape(target[:19]) if target and what != 'removed' else ''}")
    if len(lines) > ENTRY_LINES:
        rest = len(lines) - ENTRY_LINES
        lines = [*lines[:ENTRY_LINES], f"and {rest} more (see changes.json)"]
    text = "\n".join(lines)
    uid = hashlib.blake2b(f"{timestamp}\n{text}".encode(), digest_size=12).hexdigest()
    return {
        "id": f"urn:sitegen:changes:{timestamp}:{uid}",
        "updated": iso(timestamp),
        "title": changes.title(),
        "html": "<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>",
    }


def atom(entries: Iterable[dict[str, str]], title: str, base_url: str, timestamp: int) -> bytes:
    """`/changes.atom`: the feed of `entries` (newest first)."""
    items = list(entries)
    updated = items[0]["updated"] if items else iso(timestamp)
    feed_id = hashlib.blake2b(f"{title}\n{base_url}".encode(), digest_size=12).hexdigest()
    self_href = paths.url_for("changes_feed", base_url=base_url)
    home = paths.url_for("index", base_url=base_url)
    json_href = paths.url_for("changes", base_url=base_url)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"  <title>{escape(title)}: changes</title>",
        f"  <id>urn:sitegen:feed:{feed_id}</id>",
        f"  <updated>{updated}</updated>",
        f'  <link rel="self" type="application/atom+xml" href="{escape(self_href)}"/>',
        f'  <link rel="alternate" type="text/html" href="{escape(home)}"/>',
        f"  <author><name>{escape(title)}</name></author>",
        "  <generator>sitegen</generator>",
    ]
    for item in items:
        out += [
            "  <entry>",
            f"    <id>{item['id']}</id>",
            f"    <title>{escape(item['title'])}</title>",
            f"    <updated>{item['updated']}</updated>",
            f'    <link rel="related" type="application/json" href="{escape(json_href)}"/>',
            f'    <content type="html">{escape(item["html"])}</content>',
            "  </entry>",
        ]
    out.append("</feed>\n")
    return "\n".join(out).encode("utf-8")
