"""The search index: built once per build, answering `GET /v1/search?q=` like 0.9.1, and better.

**Which Whoosh.** Three packages install the same `import whoosh`. We require
`whoosh3` (3.54+): a drop-in fork with the 2.7 API and index format, no
runtime dependencies, no SyntaxWarnings on 3.11-3.14 (our tests run with
warnings as errors), and the fastest of the format-compatible builds
measured in `../shared/reference/anchors.md` section 5. `whoosh` 2.7.4 is
dead and warns on 3.12; `whoosh-reloaded` 2.7.5 is unmaintained since 2025
but works. If whoosh3 goes away, the fallback is one requirement line:
`whoosh-reloaded==2.7.5` instead of `whoosh3` (same API, same index files).
This is the only module that imports whoosh; only the 2.7 public API is used.

**Semantics** (issue 3; 0.9.1's backend is `v1-api.md` section 3):

- *The original's set.* 0.9.1 ran `name LIKE '%q%' OR description LIKE '%q%'`
  on SQLite: ASCII-case-insensitive, `%` = any run, `_` = any one character,
  nothing escaped. `LikePattern` reproduces it. For a q of one word this is
  the whole answer. It is a scan of names kept in memory (`str.find` over
  all names joined: 0.1-0.5 ms at 20,000 names), not a Whoosh query: a
  leading-wildcard Whoosh query costs 0.6-0.9 s at 100k documents where a
  scan costs 5 ms (anchors.md).
- *Several words* add every repository where each word matches, as a whole
  word or a word prefix, a word of the name, description, tag names or
  label keys/values (`base img` finds `test/base-img`). Words are runs of
  letters and digits, lower-cased; a query word like `web-server` needs both
  `web` and `server`. This part is Whoosh (`_schema` says how): terms
  pre-tokenised in Python, short prefixes indexed as terms, longer ones
  expanded, postings read unscored.
- *`tag:x` / `label:x` words* (any number of words) add repositories with a
  tag name, or a label `key=value`, starting with `x` (case-insensitive).
- *Order.* Exact name (full `ns/repo` or the repository part), then name
  prefix, then name substring (or all words in the name), then other fields;
  ties in walk order: (namespace, repository) by code point, which is the
  order of the recorded 0.9.1 answers. An empty or missing q lists
  everything in that order, so `/v1/search` is byte-identical to the oracle.
- *Descriptions* are `null` for v1 (0.9.1's fresh-database answer).
- *Pagination.* `n`/`page` are ignored, as in 0.9.1, unless `paginate`:
  then Docker Hub style, `n` = page size 1..100 (default 25), `page` >= 1
  (default 1), and `num_pages`, `page`, `page_size` join the body.

**Hostile queries.** Query syntax is never parsed: queries are built as
objects, so `*?()[]{}:"~^\\` and `AND`/`OR`/`NOT` are plain text. q is cut
to `MAX_QUERY_CHARS` (1024) characters before anything else and the answer's
`query` echoes the cut text, so a client sees what was searched (0.9.1 had
no limit; the oracle's longest q has 300). At most `MAX_TERMS` (32) distinct
word terms are used for word matching (a longer q matches on its first 32,
which can only add results); terms implied by another (`re` by `redis`)
are dropped first. LIKE patterns compile to one regex of atomic groups
(`(?>.*?seg)`), which cannot backtrack, so a match costs at most
segments x name length whatever the `%`/`_` mix. The slowest queries
measured at 20,000 repositories (`%`, one-letter words like `s t`: thousands
of results to rank and encode) take 30-60 ms, rarely over 100 ms; typical
ones under 1 ms. tests/test_index.py asserts < 1 s for each hostile query.

**Files.** `build_index` writes a fresh Whoosh index into a directory of the
staging tree, so it is swapped in with the site; `SearchIndex.open` reads
it once per server process (names and descriptions are then in memory).
Two builds of the same registry write byte-identical index files: a
segment is named after its bucket (`SEGMENTS`), never at random, and there
is no compound file. A rebuild rewrites the segments of the buckets whose
documents changed and links the others from the previous index.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import os
import pickle
import re
import shutil
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whoosh import fields, index, writing
from whoosh.codec import whoosh3
from whoosh.filedb import filestore, structfile

from generator.emit.v1_json import encode
from generator.model import BY_NAME, Registry, Repository

MAX_QUERY_CHARS = 1024
"""q is cut to this many characters; the answer echoes the cut q."""
MAX_TERMS = 32
"""At most this many distinct word/tag/label terms are matched (a superset beyond)."""
LABEL_TOKEN_CHARS = 200
"""A label is indexed as `key=value`, lower-cased and cut to this length."""
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_WORD = re.compile(r"[^\W_]+")
_FIELDS = {"word": "words", "tag": "tag", "label": "label"}
_SHORT = 4
"""Prefixes up to this length are indexed as terms (`wordp`, `tagp`, `labelp`)."""
_SHORT_FIELDS = {"word": "wordp", "tag": "tagp", "label": "labelp"}


def fold(text: str) -> str:
    """SQLite's LIKE case folding: ASCII letters only (`É` stays `É`)."""
    return text.translate(_ASCII_LOWER)


def words(text: str) -> list[str]:
    """Runs of letters and digits, lower-cased: `Base-Img_2` -> `base`, `img`, `2`."""
    return _WORD.findall(text.lower())


def tag_token(name: str) -> str:
    """A tag name as a searchable token: lower-cased, encodable."""
    return _encodable(name.lower())


def label_token(key: str, value: str) -> str:
    """One label as one searchable token: `key=value`, lower-cased, one line, cut."""
    return _label_text(f"{key}={value}")


def _label_text(text: str) -> str:
    return _encodable(" ".join(text.lower().split())[:LABEL_TOKEN_CHARS])


def _encodable(text: str) -> str:
    """Lone surrogates (undecodable file names, JSON escapes) as `?`: terms are UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


# --- the documents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """What search knows of one repository (shared with the client-side index)."""

    name: str
    namespace: str
    repository: str
    description: str | None
    tags: tuple[str, ...]
    """`tag_token`s of the tag names."""
    labels: tuple[str, ...]
    """`label_token`s of the labels of every tagged image."""
    words: tuple[str, ...]
    """Every word of the name, description, tags and label keys and values."""


def documents(repositories: Iterable[Repository], registry: Registry) -> list[Document]:
    """One `Document` per repository, in walk order: (namespace, repository) by code point."""
    return list(iter_documents(repositories, registry))


def iter_documents(repositories: Iterable[Repository], registry: Registry) -> Iterator[Document]:
    """`documents` one at a time: the indexes are built without holding them all."""
    for repo in sorted(repositories, key=BY_NAME):
        tag_names, labels = _tags_and_labels(repo, registry)
        tags = tuple(sorted({tag_token(name) for name in tag_names}))
        label_words = [w for k, v in sorted(labels) for w in words(k) + words(v)]
        found = [*words(repo.namespace), *words(repo.name), *words(repo.description or "")]
        found += [w for t in tags for w in words(t)] + label_words
        yield Document(
            name=repo.full_name,
            namespace=repo.namespace,
            repository=repo.name,
            description=repo.description,
            tags=tags,
            labels=tuple(sorted({label_token(k, v) for k, v in labels})),
            words=tuple(dict.fromkeys(found)),
        )


def _tags_and_labels(
    repo: Repository, registry: Registry
) -> tuple[list[str], set[tuple[str, str]]]:
    """Tag names and the labels of their images.

    A v2 repository is read from its manifests, not its v1 view: that view
    drops artifacts and tags without an image for `platform`, and shows one
    platform of a list where every platform's config has labels.
    """
    labels: set[tuple[str, str]] = set()
    if repo.v2 is not None:
        by_digest = {m.digest: m for m in repo.v2.manifests}
        for tag in repo.v2.tags:
            top = by_digest.get(tag.digest)
            children = [by_digest.get(c.digest) for c in top.children] if top else []
            for manifest in (top, *children):
                if manifest is not None:
                    labels.update(manifest.labels.items())
        return [tag.name for tag in repo.v2.tags], labels
    for tag in repo.tags:
        image = registry.image(tag.image_id)
        if image is not None:
            labels.update(image.labels.items())
    return [tag.name for tag in repo.tags], labels


# --- queries ---------------------------------------------------------------------------------


class LikePattern:
    """SQL `LIKE` with SQLite's rules, on ASCII-folded text; nothing is escaped.

    `matches` is 0.9.1's `LIKE '%q%'`; `is_prefix` is `LIKE 'q%'` and
    `is_full` is `LIKE 'q'` (for ranking). Each compiles to one regex of
    atomic groups: a segment between `%`s is matched at its leftmost place and
    never revisited, which is exact for LIKE and linear in the text length.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = fold(pattern)
        self.literal = not any(c in self.pattern for c in "%_")
        self.min_length = len(self.pattern) - self.pattern.count("%")
        pieces = re.split("[%_]", self.pattern)
        self.longest_piece = max(pieces, key=len)
        """A substring every match contains: a cheap filter before the regex."""
        self.sized = not self.literal and not self.longest_piece
        """Only `%` and `_`: a text matches by its length alone."""

    @functools.cached_property
    def _regexes(self) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
        """(anywhere, prefix, full); compiled on first use (literal patterns never need them)."""
        first, *rest = [_segment_regex(s) for s in self.pattern.split("%")]
        anywhere = "".join(f"(?>.*?{s})" for s in (first, *rest) if s)
        prefix = first + "".join(f"(?>.*?{s})" for s in rest if s)
        middle = "".join(f"(?>.*?{s})" for s in rest[:-1] if s)
        full = first + (f"{middle}.*{rest[-1]}" if rest else "") + r"\Z"
        return re.compile(anywhere, re.S), re.compile(prefix, re.S), re.compile(full, re.S)

    def matches(self, text: str) -> bool:
        """`text LIKE '%pattern%'` (`text` already folded)."""
        if self.literal:
            return self.pattern in text
        if self.sized:
            return len(text) >= self.min_length
        return (
            len(text) >= self.min_length
            and self.longest_piece in text
            and self._regexes[0].match(text) is not None
        )

    def is_prefix(self, text: str) -> bool:
        """`text LIKE 'pattern%'`."""
        if self.literal:
            return text.startswith(self.pattern)
        if self.sized:
            return len(text) >= self.min_length
        return self._regexes[1].match(text) is not None

    def is_full(self, text: str) -> bool:
        """`text LIKE 'pattern'`."""
        if self.literal:
            return text == self.pattern
        if self.sized:
            grows = "%" in self.pattern
            return len(text) >= self.min_length if grows else len(text) == self.min_length
        return self._regexes[2].match(text) is not None


def _segment_regex(segment: str) -> str:
    return "".join("." if c == "_" else re.escape(c) for c in segment)


@dataclass(frozen=True)
class Query:
    """One q, cut and parsed. `terms` is empty when only the LIKE part applies."""

    text: str
    like: LikePattern
    terms: tuple[tuple[str, str], ...]
    """(kind, prefix) with kind `word`, `tag` or `label`; all must match."""
    word_part: bool
    """True when q has several words or a `tag:`/`label:` word."""

    @classmethod
    def parse(cls, q: str) -> Query:
        text = q[:MAX_QUERY_CHARS]
        parts = text.split()
        terms: list[tuple[str, str]] = []
        fielded = False
        for part in parts:
            head, sep, value = part.partition(":")
            kind = head.lower() if sep else ""
            if kind in ("tag", "label"):
                fielded = True
                value = tag_token(value) if kind == "tag" else _label_text(value)
                if value:
                    terms.append((kind, value))
            else:
                terms += [("word", w) for w in words(part)]
        word_part = fielded or len(parts) > 1
        kept = _prune(terms)[:MAX_TERMS] if word_part else ()
        return cls(text, LikePattern(text), kept, word_part)


def _prune(terms: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Drop duplicates and terms implied by a longer one of the same kind (`re` by `redis`)."""
    unique = list(dict.fromkeys(terms))
    return tuple(
        (kind, value)
        for kind, value in unique
        if not any(k == kind and v != value and v.startswith(value) for k, v in unique)
    )


def name_satisfies(name: str, terms: Sequence[tuple[str, str]]) -> bool:
    """Whether the name's own words satisfy every term (ranks such hits as name matches)."""
    own = words(name)
    return all(kind == "word" and any(w.startswith(value) for w in own) for kind, value in terms)


def rank_tier(like: LikePattern, folded_name: str, folded_repository: str) -> int:
    """For a name that matches: 0 exact name (or repository part), 1 prefix, 2 substring."""
    maybe_full = "%" in like.pattern or like.min_length in (len(folded_name),
                                                            len(folded_repository))
    if maybe_full and (like.is_full(folded_name) or like.is_full(folded_repository)):
        return 0
    if like.is_prefix(folded_name) or like.is_prefix(folded_repository):
        return 1
    return 2


def search_body(
    q: str, names: Sequence[str], descriptions: Sequence[str | None], order: Sequence[int],
    *, n: str | None, page: str | None, paginate: bool,
) -> bytes:
    """The 0.9.1 body for the ranked positions `order` (Docker Hub fields if `paginate`)."""
    results = [{"description": descriptions[i], "name": names[i]} for i in order]
    if not paginate:
        return encode({"num_results": len(results), "query": q, "results": results})
    size = min(max(_int(n, DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
    number = max(_int(page, 1), 1)
    start = (number - 1) * size
    return encode({
        "num_pages": max(1, math.ceil(len(results) / size)),
        "num_results": len(results),
        "page": number,
        "page_size": size,
        "query": q,
        "results": results[start:start + size],
    })


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None and len(text) < 10 else default
    except ValueError:
        return default


# --- building --------------------------------------------------------------------------------


def _schema() -> fields.Schema:
    """The fields; values are pre-tokenised in Python (the client-side index's tokens).

    One term per line (IDLIST), Existence format: no frequencies, no positions,
    nothing NUMERIC (5.6x slower builds, anchors.md). The words of the
    namespace, repository, description, tags and labels share one `words`
    field: a word query searches them all, and one prefix expansion costs a
    fifth of five. Every prefix of up to `_SHORT` characters is a term of its
    own (`*p`): expanding `v` over every tag costs ~12 us per distinct tag
    (10 ms for `tag:v` at 2,000 repositories), one posting list far less.
    """

    def terms() -> fields.IDLIST:
        return fields.IDLIST(expression=re.compile(r"[^\n]+"))

    return fields.Schema(
        name=fields.STORED(),  # `ns/repo`; may hold lone surrogates (undecodable dir names)
        desc=fields.STORED(),  # None for v1
        words=terms(),
        wordp=terms(),
        tag=terms(),  # whole tag names, lower-cased
        tagp=terms(),
        label=terms(),  # `key=value`, lower-cased
        labelp=terms(),
    )


def _short_prefixes(tokens: Iterable[str]) -> list[str]:
    """Every prefix of up to `_SHORT` characters: a short query prefix is then one term."""
    return sorted({t[:n] for t in tokens for n in range(1, min(len(t), _SHORT) + 1)})


SEGMENTS = 16
"""The index is this many Whoosh segments, each holding a fixed bucket of repositories.

A bucket is a stable hash of the name (`segment_of`), so one repository that
changes changes one segment: a rebuild writes that segment and links the
others from the previous index (`Reuse`). A query looks up each term in
every segment. Measured on synthetic registries (benchmarks/synth.py):

| segments | 20k: rewrite one bucket | 20k: 2-word query | 2k: 2-word query | 20k: files |
|---|---|---|---|---|
| 1 | the whole index | 4.4 ms | 0.25 ms | 8.9 MB |
| 8 | 2.7 s | 4.4 ms | 0.7 ms | 13 MB |
| 16 | 1.1 s | 4.7 ms | 1.2 ms | 16 MB |
| 32 | 0.6 s | 11 ms | 4.5 ms | 20 MB |

A full build is no slower for the segments (each is merged in memory).
"""
_INDEX_NAME = "MAIN"
_TOC_GENERATION = 1


def segment_of(name: str) -> int:
    """The bucket of a repository's document: the same every build, whatever else changed."""
    return zlib.crc32(name.encode("utf-8", "surrogatepass")) % SEGMENTS


def _segment_id(bucket: int) -> str:
    """A segment's name: its bucket number (Whoosh wants `[0-9a-z]+`), never random."""
    return f"bucket{bucket:03d}"


@dataclass(frozen=True)
class Reuse:
    """The previous build's index, and the buckets whose documents may have changed since."""

    previous: Path
    changed: frozenset[int]


def build_index(
    repositories: Sequence[Repository], registry: Registry, directory: Path,
    reuse: Reuse | None = None,
    on_document: Callable[[int, Document], None] | None = None,
) -> None:
    """Write the index into `directory` (created; inside the build's staging tree).

    `repositories` is already filtered (private ones removed unless
    include_private); it includes entries that are not real repositories
    (empty dirs, stray files) because 0.9.1's search lists every entry under
    `repositories/<ns>/`. Each bucket's segment is written in walk order, or
    linked from `reuse.previous` when its bucket did not change: the files
    are the same either way. `on_document(position, document)` sees every
    document made (position in walk order), so a full build makes each once
    for both indexes.
    """
    plan = plan_index(repositories, directory, reuse)
    plan.write_segments(registry, on_document)
    plan.finish()


def plan_index(
    repositories: Sequence[Repository], directory: Path, reuse: Reuse | None = None
) -> IndexPlan:
    """`build_index` up to its segments: the buckets it keeps are linked, the others listed.

    The segments to write (`IndexPlan.write_segments`) need nothing else of this
    process: a rebuild writes them in a forked child while it makes its pages.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ordered = sorted(repositories, key=BY_NAME)
    buckets: list[list[tuple[int, Repository]]] = [[] for _ in range(SEGMENTS)]
    for position, repo in enumerate(ordered):
        buckets[segment_of(repo.full_name)].append((position, repo))
    ix = index.create_in(str(directory), _schema(), indexname=_INDEX_NAME)
    previous = _files(reuse.previous) if reuse is not None else []
    # Each segment's writer takes this lock; taken once here too, its (empty) file is
    # there even when no segment is written (all linked, or no repositories).
    lock = ix.lock("WRITELOCK")
    lock.acquire()
    lock.release()
    plan = IndexPlan(directory, ix, [], [])
    for bucket, members in enumerate(buckets):
        if not members:
            continue
        segid = _segment_id(bucket)
        if reuse is None or bucket in reuse.changed or not _link_segment(
            reuse.previous, previous, directory, segid
        ):
            plan.to_write.append((segid, members))
        plan.segments.append(
            whoosh3.W3Segment(whoosh3.W3Codec(), _INDEX_NAME, len(members), segid)
        )
    return plan


@dataclass
class IndexPlan:
    """An index being written (`plan_index`): its segments, and those still to write."""

    directory: Path
    ix: Any
    segments: list[Any]
    """Every segment of the index, in bucket order (the TOC's list)."""
    to_write: list[tuple[str, list[tuple[int, Repository]]]]
    """(segment id, (walk position, repository) of its bucket) for each segment to write."""

    def write_segments(
        self, registry: Registry, on_document: Callable[[int, Document], None] | None = None
    ) -> None:
        """Write the segments not linked from the previous index (their files only)."""
        for segid, members in self.to_write:
            positions = [position for position, _ in members]
            docs = _bucket_documents(members, registry)
            if on_document is not None:
                docs = _seen(positions, docs, on_document)
            _write_segment(self.ix, segid, docs)

    def buckets(self, registry: Registry) -> list[tuple[str, Registry]]:
        """(segment id, its bucket's registry) of each segment to write: what
        `write_buckets` needs, and no more of `registry`.

        A bucket's registry holds its repositories and the v1 images they
        tag, whose labels are in their documents. Its documents are made where
        it is written: a v1 image's labels are read from its JSON in the storage
        (`Image.config`), 0.2 s for a bucket at 20,000 repositories.
        """
        found = []
        for segid, members in self.to_write:
            repositories = tuple(repo for _, repo in members)
            images = {
                image.id: image
                for repo in repositories if repo.v2 is None
                for tag in repo.tags if (image := registry.image(tag.image_id)) is not None
            }
            found.append((segid, Registry(repositories, tuple(images.values()), registry.layout)))
        return found

    def finish(self) -> None:
        """Write the TOC, once every segment is there: the index is then whole."""
        toc = index.TOC(self.ix.schema, self.segments, _TOC_GENERATION)
        toc.write(self.ix.storage, _INDEX_NAME)
        index.clean_files(self.ix.storage, _INDEX_NAME, _TOC_GENERATION, self.segments)


def _files(folder: Path) -> list[str]:
    """The names of the files in `folder`, sorted (none if it is gone)."""
    try:
        return sorted(path.name for path in folder.iterdir())
    except OSError:
        return []


def _link_segment(previous: Path, files: Sequence[str], directory: Path, segid: str) -> bool:
    """Link the files of segment `segid` from `previous` (holding `files`); False if none."""
    prefix = f"{_INDEX_NAME}_{segid}."
    names = [name for name in files if name.startswith(prefix)]
    if not names:
        return False
    for name in names:
        try:
            os.link(previous / name, directory / name)
        except OSError:
            shutil.copyfile(previous / name, directory / name)
    return True


class _BucketCodec(whoosh3.W3Codec):  # type: ignore[misc]
    """Whoosh's codec, naming its new segment after a bucket instead of at random.

    The segment itself holds a plain `W3Codec`: the TOC pickles it, and must
    not name a class of ours.
    """

    def __init__(self, segid: str) -> None:
        super().__init__()
        self._segid = segid

    def new_segment(self, storage: Any, indexname: str) -> Any:
        return whoosh3.W3Segment(whoosh3.W3Codec(), indexname, segid=self._segid)


def _bucket_documents(
    members: Sequence[tuple[int, Repository]], registry: Registry
) -> Iterator[Document]:
    """The documents of a bucket's (walk position, repository) members, in walk order."""
    return iter_documents([repo for _, repo in members], registry)


def write_buckets(directory: Path, buckets: Sequence[tuple[str, Registry]]) -> None:
    """Write the segment of each (segment id, bucket's registry: `IndexPlan.buckets`) into
    the index `plan_index` began in `directory`."""
    ix = index.open_dir(str(directory), indexname=_INDEX_NAME)
    for segid, bucket in buckets:
        _write_segment(ix, segid, iter_documents(bucket.repositories, bucket), _BUCKET_POOL_MB)


def _seen(
    positions: Sequence[int], docs: Iterable[Document],
    on_document: Callable[[int, Document], None],
) -> Iterator[Document]:
    """`docs`, each shown to `on_document` with its walk position first."""
    for position, doc in zip(positions, docs, strict=True):
        on_document(position, doc)
        yield doc


def _write_segment(
    ix: Any, segid: str, docs: Iterable[Document], pool_mb: int | None = None
) -> None:
    """One bucket's documents as one segment (its files only: the TOC is written last), its
    postings spilled to disk beyond `pool_mb` (`_POOL_MB`)."""
    limit = pool_mb or _POOL_MB
    writer = writing.SegmentWriter(
        ix, codec=_BucketCodec(segid), limitmb=limit, compound=False  # compound pickles mtimes
    )
    _spill_in_chunks(writer, limit)
    try:
        for doc in docs:
            values = {
                "words": doc.words,
                "wordp": _short_prefixes(doc.words),
                "tag": doc.tags,
                "tagp": _short_prefixes(doc.tags),
                "label": doc.labels,
                "labelp": _short_prefixes(doc.labels),
            }
            writer.add_document(
                name=doc.name,
                desc=doc.description,
                **{k: "\n".join(v) for k, v in values.items() if v},
            )
        writer._finalize_segment()
    except BaseException:
        writer.cancel()
        raise
    writer._finish()


_POOL_MB = 8
"""Whoosh's estimate of the postings it keeps in memory before sorting a run to disk.

The postings of 20,000 repositories take about 180 MB (1.3 million tuples);
held whole they would be most of a build's memory. The index files are the
same either way: the runs are merged in the same sorted order.
"""
_BUCKET_POOL_MB = 32
"""The same, in the process that writes a rebuild's segments (`segment_writer.py`), which holds
nothing else: a bucket's postings at 20,000 repositories (97,000, about 16 MB by Whoosh's
estimate of 160 bytes each) are then sorted in memory, not spilled and merged back (0.6 s ->
0.5 s a bucket)."""
_RUN_CHUNK = 1024
"""Postings pickled together in a spilled run; the merge holds one chunk of each run."""


class _ChunkedPool(writing.PostingPool):  # type: ignore[misc]
    """Whoosh's posting pool, its spilled runs pickled in chunks.

    Whoosh pickles a run one posting at a time, which makes a build that
    spills twice as slow as one that does not; in chunks, spilling costs
    a few percent.
    """

    def _write_run(self, f: Any, items: Iterable[Any]) -> None:
        postings = iter(items)
        while chunk := list(itertools.islice(postings, _RUN_CHUNK)):
            pickle.dump(chunk, f, pickle.HIGHEST_PROTOCOL)
        f.close()

    def _read_run(self, path: str) -> Iterator[Any]:
        f = self._open_run(path)
        try:
            while True:
                try:
                    chunk = pickle.load(f)  # a run this pool wrote a moment ago
                except EOFError:
                    return
                yield from chunk
        finally:
            f.close()
            self._remove_run(path)


def _spill_in_chunks(writer: Any, limit_mb: int) -> None:
    """Give a new Whoosh writer the chunked pool (kept as is if Whoosh's internals moved)."""
    pool = getattr(writer, "pool", None)
    if type(pool) is writing.PostingPool and not pool.current and not pool.runs:
        writer.pool = _ChunkedPool(writer._tempstorage, writer.newsegment, limitmb=limit_mb)


# --- searching -------------------------------------------------------------------------------


class _InMemoryStorage(filestore.FileStorage):  # type: ignore[misc]
    """The index's files, each read whole when opened (read-only).

    A term lookup is a binary search of the term file: a dozen small reads,
    each a `seek` and a `read` system call on a file, but a slice of bytes in
    memory; a word query looks up each of its terms in every segment
    (`SEGMENTS`). The whole index is a few MB at 20,000 repositories.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path, readonly=True)

    def open_file(self, name: str, **kwargs: Any) -> Any:
        with open(self._fpath(name), "rb") as f:  # noqa: PTH123 (Whoosh's own path helper)
            return structfile.BufferFile(f.read(), name=name, **kwargs)



class SearchIndex:
    """An opened index: names in memory for the LIKE scan, Whoosh for word terms."""

    def __init__(self, ix: index.Index) -> None:
        self._ix = ix
        self._searcher = ix.searcher()
        self._lock = threading.Lock()  # one Whoosh searcher, shared by server threads
        stored = [
            (fields_["name"], fields_.get("desc"), docnum)
            for docnum, fields_ in self._searcher.reader().iter_docs()
        ]
        stored.sort(key=lambda s: tuple(s[0].split("/", 1)))
        self.names = [name for name, _, _ in stored]
        self.descriptions: list[str | None] = [desc for _, desc, _ in stored]
        self._position = {docnum: i for i, (_, _, docnum) in enumerate(stored)}
        self._folded = [fold(name) for name in self.names]
        self._folded_repos = [f.split("/", 1)[-1] for f in self._folded]
        self._folded_descs = [(i, fold(d)) for i, d in enumerate(self.descriptions) if d]
        # Folded names and repository parts: by value, and sorted (for prefixes).
        self._exact: dict[str, list[int]] = {}
        for i, (name, repo) in enumerate(zip(self._folded, self._folded_repos, strict=True)):
            self._exact.setdefault(name, []).append(i)
            if repo != name:
                self._exact.setdefault(repo, []).append(i)
        self._sorted = []
        for texts in (self._folded, self._folded_repos):
            pairs = sorted((t, i) for i, t in enumerate(texts))
            self._sorted.append(([t for t, _ in pairs], [i for _, i in pairs]))
        # All folded names in one string, one per line, for `_name_candidates`;
        # `_starts[i]` is where name i begins (plus a sentinel past the end).
        self._haystack = None if any("\n" in f for f in self._folded) else "\n".join(self._folded)
        self._starts = list(itertools.accumulate((len(f) + 1 for f in self._folded), initial=0))

    @classmethod
    def open(cls, directory: Path) -> SearchIndex:
        """Open once per server process; each query is then cheap."""
        return cls(index.FileIndex(_InMemoryStorage(str(directory)), indexname=_INDEX_NAME))

    def close(self) -> None:
        self._searcher.close()
        self._ix.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(
        self, q: str, *, n: str | None = None, page: str | None = None, paginate: bool = False
    ) -> bytes:
        """The exact 0.9.1 body for GET /v1/search?q=...: `{"num_results", "query", "results"}`.

        q arrives already URL-decoded (the server decodes; '+' is a space).
        """
        parsed = Query.parse(q)
        return search_body(parsed.text, self.names, self.descriptions, self._ranked(parsed),
                           n=n, page=page, paginate=paginate)

    def ranked(self, q: str) -> list[str]:
        """The names the answer to q lists, in order."""
        return [self.names[i] for i in self._ranked(Query.parse(q))]

    def _ranked(self, parsed: Query) -> list[int]:
        if not parsed.text:
            return list(range(len(self.names)))
        like = parsed.like
        tiers: list[list[int]] = [[], [], [], []]
        hits = [i for i in self._name_candidates(like) if like.matches(self._folded[i])]
        seen = set(hits)
        if like.literal:
            # Exact and prefix matches by lookup instead of testing every hit.
            top = {*self._exact.get(like.pattern, ())}
            prefixed = self._prefixed(like.pattern) - top
            tiers[0] += top
            tiers[1] += prefixed
            tiers[2] += (i for i in hits if i not in top and i not in prefixed)
        elif like.sized and "%" in like.pattern:
            tiers[0] += hits  # `%`, `_%`: every long enough name matches in full
        elif like.sized:
            size = like.min_length  # `___`: full if exactly that long, else a prefix
            for i in hits:
                full = size in (len(self._folded[i]), len(self._folded_repos[i]))
                tiers[0 if full else 1].append(i)
        else:
            for i in hits:
                tiers[rank_tier(like, self._folded[i], self._folded_repos[i])].append(i)
        for i, desc in self._folded_descs:
            if i not in seen and like.matches(desc):
                seen.add(i)
                tiers[3].append(i)
        if parsed.word_part:
            for i in self._term_hits(parsed.terms) - seen:
                tiers[2 if name_satisfies(self.names[i], parsed.terms) else 3].append(i)
        return [i for tier in tiers for i in sorted(tier)]

    def _prefixed(self, prefix: str) -> set[int]:
        """Positions whose folded name or repository part starts with `prefix`."""
        found = set()
        for keys, positions in self._sorted:
            at = bisect.bisect_left(keys, prefix)
            while at < len(keys) and keys[at].startswith(prefix):
                found.add(positions[at])
                at += 1
        return found

    def _name_candidates(self, like: LikePattern) -> Iterable[int]:
        """Positions of names containing the pattern's longest literal piece.

        `str.find` over all names joined by newlines runs at memory speed, so
        a query touches only the names it can match (about 0.1 ms for 20,000
        names with few hits, against 1.2 ms for a Python loop over them).
        """
        piece = like.longest_piece
        if len(piece) < 2 or "\n" in piece or self._haystack is None:
            return range(len(self._folded))
        hay, starts = self._haystack, self._starts
        found = []
        at = hay.find(piece)
        while at != -1:
            i = bisect.bisect_right(starts, at) - 1
            found.append(i)
            at = hay.find(piece, starts[i + 1])
        return found

    def _term_hits(self, terms: Sequence[tuple[str, str]]) -> set[int]:
        """Positions where every term matches; most selective (longest) terms first."""
        hits: set[int] | None = None
        for kind, value in sorted(terms, key=lambda t: -len(t[1])):
            found = {self._position[d] for d in self._prefix_docs(kind, value)}
            hits = found if hits is None else hits & found
            if not hits:
                return set()
        return hits or set()

    def _prefix_docs(self, kind: str, prefix: str) -> set[int]:
        """Documents with a term starting with `prefix` in the kind's field.

        A short prefix is one term of the `*p` field. A longer one is expanded
        and each posting list read directly: 15-25x faster than
        `docs_for_query(Or([Prefix(...)]))` (7 ms vs 114 ms for `a` over five
        fields at 20,000 repositories): no matcher tree, no scoring.
        """
        docs: set[int] = set()
        with self._lock:
            # Segment by segment (`SEGMENTS`): each expands the prefix over its own terms
            # only, where the multi-reader would look up every term in every segment.
            # A segment without the prefix's first `_SHORT` characters as a `*p` term (a
            # hash lookup) is skipped before expanding it (a binary search of its terms).
            short = (_SHORT_FIELDS[kind], prefix[:_SHORT])
            for reader, offset in self._searcher.reader().leaf_readers():
                if short not in reader:
                    continue
                if len(prefix) <= _SHORT:
                    field, terms = short[0], [prefix]
                else:
                    field, terms = _FIELDS[kind], reader.expand_prefix(_FIELDS[kind], prefix)
                for term in terms:
                    docs.update(offset + d for d in reader.postings(field, term).all_ids())
        return docs
