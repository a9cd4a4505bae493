"""The static client-side search index: search without a server, a few files per query.

A browser (the HTML search page) loads `manifest.json`, then only the shards
and name blocks one query needs: at most `BUDGET_BYTES` (100 KB) for 20,000
repositories, measured by `ClientIndex` below (the reference client the
page's script mirrors) and asserted by tests/test_search_shards.py.

**Terms.** The documents are `generator.index.documents()`, so the client
answers like the server (generator/index.py): one token space, each token
prefixed by its kind:

- `w:<word>` words of the name, description, tags, label keys and values;
- `t:<tag>` tag names, `l:<key=value>` labels (lower-cased, cut as the server);
- `g:<3 chars>` trigrams of the ASCII-folded name and description (newlines
  as spaces), each padded with `$$` so that every 1- and 2-character
  substring starts a trigram. They answer 0.9.1's `LIKE '%q%'` without the
  names: trigrams of q's literal pieces give candidates (rare ones first:
  a trigram sharing its file with others is rare), name blocks verify them.

**Files** (all through `encode()`, the one JSON encoder; deterministic):

- `manifest.json`: `{"format": 1, "repositories": N, "block_size": 32,
  "description_chars": 100, "max_block_bytes": B, "max_shard_bytes": S,
  "nodes": "..."}`. `nodes` lists the keys of a radix tree over the tokens,
  sorted, one per line, front-coded: `<length shared with the previous key,
  base 36><+ for a leaf, - for a split node><rest of the key>` (`read_nodes`).
- `shards/<hex of key>.json`: a leaf is `{"postings": {token: ids}}` with
  every token starting with its key; a split node is `{"ids": ids}`, the
  repositories with any token starting with its key. A tree node is split
  only while its leaf would exceed `SHARD_BYTES`, and chains of one child
  are merged, so one query term is one file: the shortest key starting with
  the term (its split union or leaf), else the longest key the term starts
  with if that is a leaf (filter its tokens), else nothing matches.
- `blocks/<k>.json`: repositories 32k..32k+31 in walk order as
  `[name, description]`, the description cut to 100 characters (0.9.1's
  column was `VARCHAR(100)`; client LIKE sees those 100).

**Rebuilds.** A node's file depends only on its key and the tokens that
start with it. The build remembers every token and its ids (`ClientMemory`,
in the build state); after some documents changed, `update_client_index`
updates the ids of the tokens they gained or lost and makes again only the
nodes one of those tokens starts with (and the manifest and name blocks);
the other shard files are kept. Same files as a full build, byte for byte.

`ids` is a set of repository positions (walk order), as a string: either
comma-separated base-36 gaps from the previous id (from -1), where `g+r`
adds `r` more consecutive ids; or `=` then the base64 bitmap (bit i of byte
i // 8, least significant first), whichever is shorter. Any set of 20,000
ids is at most 3.4 KB.

**What the client answers.** The server's set (generator/index.py), in walk
order rather than ranked. Its counts are exact when no verification is
pending (q empty, a literal q of 1-3 characters, word/tag/label terms);
otherwise `ClientAnswer.exact` is False and `total` is an upper bound until
more blocks are read. A query that would exceed the budget stops early and
says so (`complete` False): hostile queries, and a `_` inside a word next
to common pieces (`er_mirror`: 2 in 1,000 sampled queries at 20,000).
Sizes are raw bytes; HTTP compression only lowers them.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import json
import pickle
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from generator.emit.v1_json import encode
from generator.index import Document, LikePattern, Query, fold, iter_documents
from generator.model import BY_NAME, Registry, Repository

BLOCK_SIZE = 32
DESCRIPTION_CHARS = 100
SHARD_BYTES = 8_000
"""A leaf is split while bigger than this, unless it holds one token (one id set: <= N/6 B)."""
BUDGET_BYTES = 100_000
PAGE_SIZE = 20
MAX_GRAMS = 4
"""Trigram shard files fetched per query; trigrams in files already fetched are free."""
VERIFY_RESERVE = 30_000
"""Bytes kept for name blocks when deciding to fetch trigram files past MAX_GRAMS."""
_PAD = "$$"
_KIND = {"word": "w:", "tag": "t:", "label": "l:"}


# --- id sets ---------------------------------------------------------------------------------


def encode_ids(ids: Sequence[int], universe: int) -> str:
    """Sorted ids as the shorter of base-36 gaps with runs, or `=` + base64 bitmap."""
    parts, prev, i = [], -1, 0
    while i < len(ids):
        run = 0
        while i + run + 1 < len(ids) and ids[i + run + 1] == ids[i + run] + 1:
            run += 1
        if run < 2:
            run = 0
        parts.append(_b36(ids[i] - prev) + (f"+{_b36(run)}" if run else ""))
        prev = ids[i + run]
        i += run + 1
    gaps = ",".join(parts)
    if len(gaps) * 3 <= universe // 2:  # cheap test first: bitmap is ~universe/6 chars
        return gaps
    bits = bytearray((universe + 7) // 8)
    for n in ids:
        bits[n >> 3] |= 1 << (n & 7)
    bitmap = "=" + base64.b64encode(bytes(bits)).decode("ascii")
    return bitmap if len(bitmap) < len(gaps) else gaps


def decode_ids(text: str) -> list[int]:
    if text.startswith("="):
        bits = base64.b64decode(text[1:])
        return [i * 8 + b for i, byte in enumerate(bits) for b in range(8) if byte >> b & 1]
    ids: list[int] = []
    prev = -1
    for part in filter(None, text.split(",")):
        gap, _, run = part.partition("+")
        prev += int(gap, 36)
        ids.append(prev)
        for _ in range(int(run, 36) if run else 0):
            prev += 1
            ids.append(prev)
    return ids


def _b36(n: int) -> str:
    digits = ""
    while True:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
        if not n:
            return digits


# --- building --------------------------------------------------------------------------------


def client_index_files(repositories: Sequence[Repository], registry: Registry) -> dict[str, bytes]:
    """Relative paths (under the site's `search-index/` folder) -> bytes. Deterministic."""
    builder = ClientIndexBuilder()
    for i, doc in enumerate(iter_documents(repositories, registry)):
        builder.add(i, doc)
    return builder.build(repositories).files


@dataclass
class ClientMemory:
    """What a rebuild needs to redo only the shards a change reaches (kept in `state.Memory`).

    At 20,000 repositories the tokens and their encoded ids are a few MB;
    the documents they come from would be 30 MB, and making them again is
    most of the cost of a full index.
    """

    universe: int
    tokens: list[str]
    """Every token, sorted."""
    ids: list[str]
    """The encoded ids of each token (`encode_ids`), in the order of `tokens`."""
    nodes: dict[str, tuple[bool, int, str | None]]
    """Node key -> (is a leaf, its file's size, its encoded ids if a split node)."""
    blocks: list[int] = field(default_factory=list)
    """The size of each name block's file, in order (an update keeps the blocks whose
    repositories did not change, and the manifest names the largest)."""

    def pack(self) -> bytes:
        """As the build holds and remembers it: pickled, 2.9 MB against 6.8 MB of objects at
        20,000 repositories, held by a full build's parent while its render worker ends."""
        return pickle.dumps(self, pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def unpack(packed: bytes) -> ClientMemory:
        """`pack`'s bytes, from the build's own state, as a `ClientMemory` again."""
        memory = pickle.loads(packed)  # the build state's, as `state.py` reads it all
        if not isinstance(memory, ClientMemory):
            raise TypeError(f"not a ClientMemory: {type(memory).__name__}")
        return memory


@dataclass
class ClientIndexFiles:
    files: dict[str, bytes]
    """Relative path -> bytes of the files made."""
    kept: list[str]
    """Relative paths of files the previous build made with the same bytes (not made again)."""
    memory: ClientMemory


class ClientIndexBuilder:
    """The client index of a whole registry, from its documents in any order.

    One pass over the documents, which are not kept: each leaves its tokens
    in the postings. At 20,000 repositories the documents would be 30 MB,
    the postings are a fifth of that.
    """

    def __init__(self) -> None:
        self._postings: dict[str, list[int]] = {}

    def add(self, position: int, doc: Document) -> None:
        """Document `doc`, at `position` in walk order."""
        for token in _tokens(doc):
            self._postings.setdefault(token, []).append(position)

    def build(self, repositories: Sequence[Repository]) -> ClientIndexFiles:
        universe = len(repositories)
        tokens = sorted(self._postings)
        raw = [sorted(self._postings.pop(t)) for t in tokens]
        ids = [encode_ids(r, universe) for r in raw]
        tree = _Tree(tokens, ids, universe, raw=raw)
        return tree.files(repositories)


def update_client_index(
    memory: ClientMemory, repositories: Sequence[Repository],
    old: Mapping[str, Document], new: Mapping[str, Document],
) -> ClientIndexFiles | None:
    """The client index after the documents of some repositories changed from `old` to `new`.

    Only for the same repositories at the same walk positions (None
    otherwise: build it whole). Shards whose tokens did not change are kept
    from the previous build (`ClientIndexFiles.kept`); their bytes would be
    the same.
    """
    if memory.universe != len(repositories) or old.keys() != new.keys():
        return None
    ordered = sorted(repositories, key=BY_NAME)
    positions = {r.full_name: i for i, r in enumerate(ordered) if r.full_name in new}
    if positions.keys() != new.keys():
        return None
    tokens, ids = memory.tokens, memory.ids
    changed: dict[str, tuple[set[int], set[int]]] = {}  # token -> (ids added, ids removed)
    now: dict[int, set[str]] = {}
    for name, position in positions.items():
        before, after = _tokens(old[name]), _tokens(new[name])
        now[position] = after
        for token in after - before:
            changed.setdefault(token, (set(), set()))[0].add(position)
        for token in before - after:
            changed.setdefault(token, (set(), set()))[1].add(position)
    for token, (added, removed) in sorted(changed.items()):
        at = bisect.bisect_left(tokens, token)
        present = at < len(tokens) and tokens[at] == token
        found = set(decode_ids(ids[at])) if present else set()
        found = (found - removed) | added
        if not found:
            if present:
                del tokens[at], ids[at]
        elif present:
            ids[at] = encode_ids(sorted(found), memory.universe)
        else:
            tokens.insert(at, token)
            ids.insert(at, encode_ids(sorted(found), memory.universe))
    tree = _Tree(tokens, ids, memory.universe, previous=memory, changed=sorted(changed), now=now)
    return tree.files(repositories)


class _Tree:
    """The radix tree of shards over sorted tokens (see the module doc: `shards/`).

    A node's file depends only on its key and the tokens starting with it,
    so with a `previous` build's memory, every node whose tokens did not
    change (none of `changed` starts with its key) is kept with its subtree.
    """

    def __init__(
        self, tokens: list[str], ids: list[str], universe: int, *,
        raw: list[list[int]] | None = None, previous: ClientMemory | None = None,
        changed: Sequence[str] = (), now: Mapping[int, set[str]] | None = None,
    ) -> None:
        self.tokens, self.ids, self.universe = tokens, ids, universe
        self.raw = raw
        self.previous = previous
        self.previous_keys = sorted(previous.nodes) if previous is not None else []
        self.changed = changed
        self.now = now or {}
        self.made: dict[str, bytes] = {}
        self.kept: list[str] = []
        self.nodes: dict[str, tuple[bool, int, str | None]] = {}

    def files(self, repositories: Sequence[Repository]) -> ClientIndexFiles:
        """Build the tree, the name blocks and the manifest."""
        if self.tokens:
            self._children("", 0, len(self.tokens))
        ordered = sorted(repositories, key=BY_NAME)
        # An update (the same repositories at the same positions) keeps each block of names
        # and descriptions that holds no repository whose document changed.
        previous = self.previous.blocks if self.previous is not None else []
        redo = {position // BLOCK_SIZE for position in self.now}
        files = self.made
        sizes: list[int] = []
        for number, start in enumerate(range(0, len(ordered), BLOCK_SIZE)):
            path = f"blocks/{number}.json"
            if number < len(previous) and number not in redo:
                self.kept.append(path)
                sizes.append(previous[number])
                continue
            block = [
                [r.full_name, None if r.description is None else r.description[:DESCRIPTION_CHARS]]
                for r in ordered[start:start + BLOCK_SIZE]
            ]
            files[path] = encode(block)
            sizes.append(len(files[path]))
        files["manifest.json"] = encode({
            "format": 1,
            "repositories": self.universe,
            "block_size": BLOCK_SIZE,
            "description_chars": DESCRIPTION_CHARS,
            "max_block_bytes": max(sizes, default=0),
            "max_shard_bytes": max((size for _, size, _ in self.nodes.values()), default=0),
            "nodes": _front_code(sorted((k, leaf) for k, (leaf, _, _) in self.nodes.items())),
        })
        memory = ClientMemory(self.universe, self.tokens, self.ids, self.nodes, sizes)
        return ClientIndexFiles(files, sorted(self.kept), memory)

    def _node(self, key: str, lo: int, hi: int) -> None:
        """Emit `key` (tokens[lo:hi] start with it) as a leaf if small enough, else split."""
        if self.previous is not None and key in self.previous.nodes and not self._touched(key):
            self._keep(key)
            return
        tokens, ids = self.tokens, self.ids
        if hi - lo == 1 or self._fits(lo, hi):
            data = encode({"postings": dict(zip(tokens[lo:hi], ids[lo:hi], strict=True))})
            self.made[_shard_path(key)] = data
            self.nodes[key] = (True, len(data), None)
            return
        union = encode_ids(self._union(key, lo, hi), self.universe)
        data = encode({"ids": union})
        self.made[_shard_path(key)] = data
        self.nodes[key] = (False, len(data), union)
        self._children(key, lo, hi)

    def _children(self, key: str, lo: int, hi: int) -> None:
        """Group tokens[lo:hi] by their character after `key`; each group is a node."""
        tokens = self.tokens
        start = lo
        if start < hi and tokens[start] == key:  # a token equal to key is in the union only
            start += 1
        depth = len(key)
        while start < hi:
            end = _prefix_end(tokens, tokens[start][:depth + 1], start, hi)
            self._node(_common_prefix([tokens[start], tokens[end - 1]]), start, end)
            start = end

    def _fits(self, lo: int, hi: int) -> bool:
        total = 0
        for token, ids in zip(self.tokens[lo:hi], self.ids[lo:hi], strict=True):
            total += _entry_size((token, ids))
            if total > SHARD_BYTES:
                return False
        return True

    def _union(self, key: str, lo: int, hi: int) -> list[int]:
        """Ids with a token starting with `key`: from the previous union and the changes
        when there is one, else from the postings."""
        if self.raw is not None:
            return sorted(set().union(*self.raw[lo:hi]))
        before = self.previous.nodes.get(key) if self.previous is not None else None
        if before is not None and before[2] is not None:
            found = set(decode_ids(before[2])) - self.now.keys()
            found.update(i for i, tokens in self.now.items()
                         if any(t.startswith(key) for t in tokens))
            return sorted(found)
        return sorted({i for ids in self.ids[lo:hi] for i in decode_ids(ids)})

    def _touched(self, key: str) -> bool:
        """Whether a changed token starts with `key`."""
        at = bisect.bisect_left(self.changed, key)
        return at < len(self.changed) and self.changed[at].startswith(key)

    def _keep(self, key: str) -> None:
        """Keep the previous build's node `key` and every node under it."""
        assert self.previous is not None
        keys = self.previous_keys
        at = bisect.bisect_left(keys, key)
        while at < len(keys) and keys[at].startswith(key):
            self.nodes[keys[at]] = self.previous.nodes[keys[at]]
            self.kept.append(_shard_path(keys[at]))
            at += 1


def _prefix_end(tokens: Sequence[str], prefix: str, lo: int, hi: int) -> int:
    """The end of the run of tokens[lo:hi] (sorted; tokens[lo] starts with `prefix`) that do."""
    last = ord(prefix[-1])
    if last < 0x10FFFF:
        return bisect.bisect_left(tokens, prefix[:-1] + chr(last + 1), lo, hi)
    while lo < hi and tokens[lo].startswith(prefix):
        lo += 1
    return lo


def _description(doc: Document) -> str | None:
    return None if doc.description is None else doc.description[:DESCRIPTION_CHARS]


def _tokens(doc: Document) -> set[str]:
    tokens = {f"w:{w}" for w in doc.words}
    tokens.update(f"t:{t}" for t in doc.tags)
    tokens.update(f"l:{label}" for label in doc.labels)
    for text in (doc.name, _description(doc) or ""):
        padded = _gram_text(text) + _PAD
        tokens.update(f"g:{padded[j:j + 3]}" for j in range(len(padded) - 2))
    return tokens


def _gram_text(text: str) -> str:
    """What trigrams are cut from: folded, newlines as spaces (keys stay one line)."""
    return fold(text).replace("\n", " ")


def _entry_size(entry: tuple[str, str]) -> int:
    return len(encode(entry[0])) + len(entry[1]) + 6  # quotes, ": ", ", "


def _common_prefix(tokens: Sequence[str]) -> str:
    first, last = min(tokens), max(tokens)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def _front_code(nodes: Sequence[tuple[str, bool]]) -> str:
    """Sorted node keys, each as <shared prefix length, base 36><+ leaf | - split><rest>."""
    lines, prev = [], ""
    for key, leaf in nodes:
        shared = len(_common_prefix([prev, key]))
        lines.append(f"{_b36(shared)}{'+' if leaf else '-'}{key[shared:]}")
        prev = key
    return "\n".join(lines)


def read_nodes(coded: str) -> list[tuple[str, bool]]:
    """`_front_code` undone: [(key, is_leaf)] in key order."""
    nodes, prev = [], ""
    for line in coded.split("\n") if coded else []:
        at = min(i for i in (line.find("+"), line.find("-")) if i >= 0)
        key = prev[: int(line[:at], 36)] + line[at + 1:]
        nodes.append((key, line[at] == "+"))
        prev = key
    return nodes


def _shard_path(key: str) -> str:
    return f"shards/{key.encode('utf-8', 'surrogatepass').hex()}.json"


# --- the reference client --------------------------------------------------------------------


@dataclass
class ClientAnswer:
    names: list[str]
    total: int
    exact: bool
    """`total` is exact (else an upper bound: candidates not yet verified)."""
    complete: bool
    """False when the query stopped at the byte budget (the page may be short)."""
    files: list[str] = field(default_factory=list)
    bytes: int = 0


class _OverBudget(Exception):
    pass


class ClientIndex:
    """What the browser does, in Python: fetch files lazily, count the bytes."""

    def __init__(self, fetch: Callable[[str], bytes] | Mapping[str, bytes]) -> None:
        self._fetch = fetch.__getitem__ if isinstance(fetch, Mapping) else fetch
        raw = self._fetch("manifest.json")
        self.manifest = json.loads(raw)
        self._manifest_bytes = len(raw)
        nodes = read_nodes(self.manifest["nodes"])
        self._keys = [key for key, _ in nodes]
        self._leaf = dict(nodes)

    def search(self, q: str, *, limit: int | None = PAGE_SIZE,
               budget: int | None = BUDGET_BYTES) -> ClientAnswer:
        """The first `limit` results (all if None) within `budget` bytes (no limit if None)."""
        run = _Run(self, budget)
        try:
            return run.search(Query.parse(q), limit)
        except _OverBudget:
            return ClientAnswer(run.names, run.total, False, False, run.files, run.bytes)

    def shard_for(self, token: str) -> str | None:
        """The one node whose file holds every token starting with `token`; None: no token."""
        at = bisect.bisect_left(self._keys, token)
        if at < len(self._keys) and self._keys[at].startswith(token):
            return self._keys[at]  # the subtree under `token`: its root sorts first
        key = next((token[:n] for n in range(len(token), 0, -1) if token[:n] in self._leaf), "")
        return key if self._leaf.get(key) else None  # a split node: no child fits

    def term_ids(self, token: str, run: _Run) -> set[int]:
        """Ids with a token starting with `token`: one shard file at most."""
        key = self.shard_for(token)
        if key is None:
            return set()
        data = run.get(_shard_path(key))
        if not self._leaf[key]:
            return set(decode_ids(data["ids"]))
        return {i for t, ids in data["postings"].items() if t.startswith(token)
                for i in decode_ids(ids)}


class _Run:
    """One query's fetches, with their byte count."""

    def __init__(self, index: ClientIndex, budget: int | None) -> None:
        self.index, self.budget = index, budget
        self.files: list[str] = ["manifest.json"]
        self.bytes = index._manifest_bytes
        self._cache: dict[str, object] = {}
        self.names: list[str] = []
        self.total = 0

    def get(self, path: str) -> object:
        if path not in self._cache:
            kind = "max_shard_bytes" if path.startswith("shards/") else "max_block_bytes"
            bound = self.index.manifest[kind]
            if self.budget is not None and self.bytes + bound > self.budget:
                raise _OverBudget
            raw = self.index._fetch(path)
            self.bytes += len(raw)
            self.files.append(path)
            self._cache[path] = json.loads(raw)
        return self._cache[path]

    def entry(self, i: int) -> list[str | None]:
        size = self.index.manifest["block_size"]
        return self.get(f"blocks/{i // size}.json")[i % size]

    def search(self, query: Query, limit: int | None) -> ClientAnswer:
        n = self.index.manifest["repositories"]
        like = query.like
        if not query.text:
            ids, exact_like = range(n), True
        else:
            ids, exact_like = self._like_candidates(like, n)
        words: set[int] = set()
        if query.word_part and query.terms:
            words = self._term_hits(query.terms)
        candidates = sorted(set(ids) | words)
        verified = 0
        for at, i in enumerate(candidates):
            if limit is not None and len(self.names) >= limit:
                rest = candidates[at:]
                break
            name, desc = self.entry(i)
            if exact_like or i in words or like.matches(fold(name)) or (
                desc is not None and like.matches(fold(desc))
            ):
                self.names.append(name)
                verified += 1
        else:
            rest = []
        self.total = verified + len(rest)
        exact = exact_like or all(i in words for i in rest)
        return ClientAnswer(self.names, self.total, exact, True, self.files, self.bytes)

    def _like_candidates(self, like: LikePattern, n: int) -> tuple[Iterable[int], bool]:
        pieces = re.split("[%_]", _gram_text(like.pattern))
        pieces = sorted({p for p in pieces if p}, key=len, reverse=True)
        # Every trigram of every piece (a piece of 1-2 characters is a prefix of trigrams).
        # Rare ones first: a trigram whose file has a short key shares it with many others,
        # so it is rare; one with a file of its own is common. Only MAX_GRAMS files are
        # fetched, but every trigram in a file already fetched narrows the set for free.
        spread: list[list[str]] = []
        for p in pieces:
            tri = [p[j:j + 3] for j in range(max(1, len(p) - 2))]
            spread.append([tri[0], tri[-1], tri[len(tri) // 2], *tri])
        grams = dict.fromkeys(g for column in itertools.zip_longest(*spread) for g in column if g)
        keys = {gram: self.index.shard_for("g:" + gram) for gram in grams}
        if None in keys.values():
            return set(), True  # every occurrence would have left that trigram
        ids: set[int] | None = None
        fetched: set[str] = set()
        for gram in sorted(grams, key=lambda g: len(keys[g])):  # stable: spread order in ties
            key = keys[gram]
            if key not in fetched and len(fetched) >= MAX_GRAMS and not self._worth_more(ids):
                continue
            fetched.add(key)
            found = self.index.term_ids("g:" + gram, self)
            ids = found if ids is None else ids & found
            if not ids:
                return set(), True
        # 1-3 literal characters: the trigram set is the answer, unless padding or a
        # newline could have made a false candidate.
        exact = like.literal and len(like.pattern) <= 3 and not {"$", "\n"} & set(like.pattern)
        return (range(n) if ids is None else ids), exact

    def _worth_more(self, ids: set[int] | None) -> bool:
        """Past MAX_GRAMS, fetch another trigram file only if the candidates are still
        many and the budget keeps `VERIFY_RESERVE` bytes for the name blocks."""
        if ids is not None and len(ids) <= 4 * PAGE_SIZE:
            return False
        bound = self.index.manifest["max_shard_bytes"]
        return self.budget is None or self.bytes + bound <= self.budget - VERIFY_RESERVE

    def _term_hits(self, terms: Sequence[tuple[str, str]]) -> set[int]:
        hits: set[int] | None = None
        for kind, value in sorted(terms, key=lambda t: -len(t[1])):
            found = self.index.term_ids(_KIND[kind] + value, self)
            hits = found if hits is None else hits & found
            if not hits:
                return set()
        return hits or set()
