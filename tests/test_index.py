"""generator/index.py against 0.9.1's recorded answers and the rules of issue 3 (real Whoosh)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from generator.index import (
    MAX_QUERY_CHARS,
    SEGMENTS,
    LikePattern,
    Reuse,
    SearchIndex,
    build_index,
    fold,
    rank_tier,
    segment_of,
)
from generator.model import Image, Registry, Repository, Tag

ORACLE = Path(__file__).parent / "data" / "v1-oracle"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


def _search_answers() -> list[dict]:
    requests = (ORACLE / "requests.txt").read_text().splitlines()
    answers = [json.loads(line) for line in (ORACLE / "answers.jsonl").read_text().splitlines()]
    found = [a for a in answers if a["path"].startswith("/v1/search")]
    assert [a["path"] for a in found] == [r for r in requests if r.startswith("/v1/search")]
    return found


SEARCHES = _search_answers()


def flask_q(path: str) -> str:
    """`flask.request.args.get('q', '')`: first value, '+' is a space, %-decoded."""
    query = urllib.parse.urlsplit(path).query
    return urllib.parse.parse_qs(query, keep_blank_values=True).get("q", [""])[0]


def open_index(tmp_path: Path, repos: list[Repository], images: tuple[Image, ...] = ()):
    registry = Registry(repositories=tuple(repos), images=images)
    build_index(registry.repositories, registry, tmp_path / "index")
    return SearchIndex.open(tmp_path / "index")


def repo(name: str, **kw) -> Repository:
    ns, _, rest = name.partition("/")
    return Repository(namespace=ns, name=rest, **kw)


def results(body: bytes) -> list[str]:
    return [r["name"] for r in json.loads(body)["results"]]


@pytest.fixture(scope="module")
def oracle_index(tmp_path_factory):
    everything = json.loads(next(a for a in SEARCHES if a["path"] == "/v1/search")["body_text"])
    names = [r["name"] for r in everything["results"]]
    assert len(names) == 9
    ix = open_index(tmp_path_factory.mktemp("oracle"), [repo(n) for n in reversed(names)])
    yield ix
    ix.close()


# --- the 37 recorded /v1/search answers --------------------------------------------------------


def test_all_37_recorded_searches_are_covered():
    assert len(SEARCHES) == 37


@pytest.mark.parametrize("answer", SEARCHES, ids=[a["path"][:60] for a in SEARCHES])
def test_recorded_search(oracle_index, answer):
    assert answer["status"] == 200
    q = flask_q(answer["path"])
    mine = json.loads(oracle_index.search(q))
    theirs = json.loads(answer["body_text"])
    assert mine["query"] == theirs["query"]
    assert mine["num_results"] == len(mine["results"])
    assert all(r["description"] is None for r in mine["results"])
    expected = {r["name"] for r in theirs["results"]}
    if len(q.split()) <= 1:
        assert mine["num_results"] == theirs["num_results"]
        assert set(results(oracle_index.search(q))) == expected
    else:  # several words: the original's set plus word matches
        assert set(results(oracle_index.search(q))) >= expected
        assert mine["num_results"] >= theirs["num_results"]


@pytest.mark.parametrize("path", ["/v1/search", "/v1/search?q=", "/v1/search?q=&n=25&page=2"])
def test_everything_is_byte_identical_to_the_original(oracle_index, path):
    answer = next(a for a in SEARCHES if a["path"] == path)
    assert oracle_index.search(flask_q(path)).decode("ascii") == answer["body_text"]


# --- LIKE ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "anywhere", "prefix", "full"),
    [
        ("busy", "library/busybox", True, False, False),
        ("library", "library/busybox", True, True, False),
        ("my_app", "user123/my_app", True, False, False),
        ("my_app", "user123/myxapp", True, False, False),
        ("my%app", "myorg99/legacy_app", True, True, True),
        ("%", "", True, True, True),
        ("_", "", False, False, False),
        ("_", "x", True, True, True),
        ("a%b%c", "xaxxbxxcx", True, False, False),
        ("a%b%c", "axbxc", True, True, True),
        ("a%b%c", "cba", False, False, False),
        ("ab%ab", "ab", False, False, False),
        ("ab%ab", "abab", True, True, True),
        ("a_c", "abcabc", True, True, False),
        ("%c", "abcabc", True, True, True),
        (".*+?", "a.*+?b", True, False, False),  # regex syntax is literal
        ("(", "a(b", True, False, False),
    ],
)
def test_like(pattern, text, anywhere, prefix, full):
    like = LikePattern(pattern)
    assert like.matches(text) is anywhere
    assert like.is_prefix(text) is prefix
    assert like.is_full(text) is full


def test_like_folds_ascii_only_like_sqlite():
    assert LikePattern("BUSY").matches(fold("library/BusyBox"))
    assert not LikePattern("É").matches(fold("acme/café"))
    assert LikePattern("é").matches(fold("acme/café"))


def test_like_hostile_patterns_are_linear():
    text = "a" * 300
    started = time.perf_counter()
    for pattern in ("a%" * 500 + "b", "_%" * 500, "%a" * 400 + "%b", "a_" * 500):
        assert LikePattern(pattern).matches(text) is False or pattern == "_%" * 500
    assert time.perf_counter() - started < 0.5


# --- several words, ranking, fields ----------------------------------------------------------


def _image_json(config: dict) -> bytes:
    """Stored image JSON: the model decodes `Image.config` from these bytes."""
    return json.dumps(config).encode()


LABELLED = Image(
    id="a" * 64,
    json=_image_json({"config": {"Labels": {
        "org.opencontainers.image.source": "https://github.com/Acme/Web", "maintainer": "Ops Team",
    }}}),
)


@pytest.fixture
def rich_index(tmp_path):
    repos = [
        repo("test/base-img"),
        repo("test/base"),
        repo("library/redis"),
        repo("acme/redis-proxy", tags=(Tag("PR-1234", LABELLED.id), Tag("latest", LABELLED.id))),
        repo("acme/myredis"),
        repo("acme/cache", description="A Redis cache"),
        repo("redis/tools"),
        repo("zeta/redis-exporter"),
        repo("ops/web", tags=(Tag("develop", "b" * 64),)),
    ]
    ix = open_index(tmp_path, repos, (LABELLED,))
    yield ix
    ix.close()


def test_several_words_find_word_prefixes(rich_index):
    assert rich_index.ranked("base img") == ["test/base-img"]
    assert rich_index.ranked("img base") == ["test/base-img"]
    assert rich_index.ranked("bas im") == ["test/base-img"]
    assert rich_index.ranked("base zzz") == []
    assert "acme/cache" in rich_index.ranked("redis cache")  # description words
    assert rich_index.ranked("redis pr") == ["acme/redis-proxy"]  # `pr` prefixes proxy and PR-1234
    assert rich_index.ranked("redis 1234") == ["acme/redis-proxy"]  # tag words
    assert rich_index.ranked("ops team") == ["acme/redis-proxy"]  # label value
    # words all in the name rank before words found in labels
    assert rich_index.ranked("ops web") == ["ops/web", "acme/redis-proxy"]


def test_one_word_is_only_the_like_set(rich_index):
    # `img` is a word of test/base-img, but one word means 0.9.1's LIKE: substring only.
    assert rich_index.ranked("img") == ["test/base-img"]
    assert rich_index.ranked("develop") == []  # tags are not searched without `tag:`


def test_ranking(rich_index):
    assert rich_index.ranked("redis") == [
        "library/redis",  # exact repository name
        "acme/redis-proxy",  # repository or name prefix, ties in walk order
        "redis/tools",
        "zeta/redis-exporter",
        "acme/myredis",  # substring
        "acme/cache",  # description only
    ]
    assert rich_index.ranked("library/redis")[0] == "library/redis"
    assert rich_index.ranked("base")[:2] == ["test/base", "test/base-img"]


def test_tag_and_label_words(rich_index):
    assert rich_index.ranked("tag:develop") == ["ops/web"]
    assert rich_index.ranked("TAG:pr-12") == ["acme/redis-proxy"]
    assert rich_index.ranked("tag:pr-12 tag:latest") == ["acme/redis-proxy"]
    assert rich_index.ranked("tag:pr-12 tag:develop") == []
    assert rich_index.ranked("tag:") == []
    src = "label:org.opencontainers.image.source=https://github.com/acme"
    assert rich_index.ranked(src) == ["acme/redis-proxy"]
    assert rich_index.ranked("label:maintainer") == ["acme/redis-proxy"]
    assert rich_index.ranked("label:maintainer=ops") == ["acme/redis-proxy"]
    assert rich_index.ranked("proxy tag:latest") == ["acme/redis-proxy"]
    assert rich_index.ranked("web tag:develop") == ["ops/web"]


def test_empty_query_lists_everything_in_walk_order(rich_index):
    names = rich_index.ranked("")
    assert names == sorted(names, key=lambda n: tuple(n.split("/", 1)))
    assert len(names) == 9


def test_description_null_and_given(rich_index):
    body = json.loads(rich_index.search("cache"))
    assert body["results"] == [{"description": "A Redis cache", "name": "acme/cache"}]
    assert json.loads(rich_index.search("base-img"))["results"][0]["description"] is None


def test_body_shape_is_sorted_python2_json(rich_index):
    assert rich_index.search("myredis") == (
        b'{"num_results": 1, "query": "myredis", '
        b'"results": [{"description": null, "name": "acme/myredis"}]}'
    )


# --- pagination ------------------------------------------------------------------------------


@pytest.fixture
def thirty(tmp_path):
    ix = open_index(tmp_path, [repo(f"ns/app{i:02d}") for i in range(30)])
    yield ix
    ix.close()


def test_n_and_page_ignored_unless_paginate(thirty):
    body = json.loads(thirty.search("app", n="10", page="2"))
    assert set(body) == {"num_results", "query", "results"}
    assert body["num_results"] == len(body["results"]) == 30


def test_paginate_docker_hub_style(thirty):
    body = json.loads(thirty.search("app", n="10", page="2", paginate=True))
    assert body["num_results"] == 30
    assert (body["page"], body["page_size"], body["num_pages"]) == (2, 10, 3)
    assert [r["name"] for r in body["results"]] == [f"ns/app{i:02d}" for i in range(10, 20)]


@pytest.mark.parametrize(
    ("n", "page", "size", "number", "count"),
    [
        (None, None, 25, 1, 25),
        ("abc", "x", 25, 1, 25),
        ("1000", "1", 100, 1, 30),
        ("0", "0", 1, 1, 1),
        ("-5", "-2", 1, 1, 1),
        ("25", "9", 25, 9, 0),
        ("9" * 5000, "9" * 5000, 25, 1, 25),
    ],
)
def test_paginate_bounds(thirty, n, page, size, number, count):
    body = json.loads(thirty.search("", n=n, page=page, paginate=True))
    assert (body["page_size"], body["page"], len(body["results"])) == (size, number, count)
    assert body["num_pages"] == -(-30 // size)


def test_paginate_no_results(thirty):
    body = json.loads(thirty.search("zzz", paginate=True))
    assert (body["num_results"], body["num_pages"], body["results"]) == (0, 1, [])


# --- hostile queries -------------------------------------------------------------------------


HOSTILE = [
    "x" * 10_000,
    "%" * 10_000,
    "_" * 10_000,
    "_%" * 5_000,
    "%a" * 5_000,
    "a " * 5_000,
    " ".join(f"w{i}" for i in range(3000)),
    "*", "?", "*dis*", "re*", "(redis)", "[a-z]", "{1,2}", "name:redis", '"redis"', "redis~2",
    "^redis", "\\", "redis\\", "a AND b", "redis OR nginx", "NOT redis", "AND", "OR NOT",
    "é", "café", "日本語", "\U0001f433 whale", "\x00", "\n", "a\nb", "\udc80", "tag:\udc80 x",
    "label:\x00=\x00", "tag:" + "a" * 5000, "label:" + "=" * 3000,
]


@pytest.fixture(scope="module")
def synthetic_5000(tmp_path_factory):
    import synth

    registry = synth.synth_registry(5000, seed=3)
    directory = tmp_path_factory.mktemp("synth") / "index"
    build_index(registry.repositories, registry, directory)
    ix = SearchIndex.open(directory)
    yield ix
    ix.close()


WILDCARDS = ["%", "_", "__", "___", "%_", "_%", "%%", "a%", "%a", "a_", "_a", "r%s", "re_is",
             "%-%-%", "e_e", "API", "Api_", "/", "s/", "/a", "1", "12", "-", ".", "_-_", "%/%"]


def test_one_word_sets_equal_sqlite_like_and_are_ranked(synthetic_5000):
    import synth

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE repository (name TEXT, description TEXT)")
    db.executemany("INSERT INTO repository VALUES (?, NULL)", [(n,) for n in synthetic_5000.names])
    registry = synth.synth_registry(5000, seed=3)
    queries = [q for q in synth.sample_queries(registry, 400, seed=9) + WILDCARDS
               if len(q.split()) <= 1 and q == q.strip() and ":" not in q]
    walk = {name: i for i, name in enumerate(synthetic_5000.names)}
    for q in queries:
        got = synthetic_5000.ranked(q)
        rows = db.execute("SELECT name FROM repository WHERE name LIKE ?", (f"%{q}%",))
        assert set(got) == {name for (name,) in rows} or not q, q
        tier = {n: rank_tier(LikePattern(q), fold(n), fold(n.split("/", 1)[1])) for n in got}
        assert got == sorted(got, key=lambda n: (tier[n], walk[n])), q


@pytest.mark.parametrize("q", HOSTILE, ids=[repr(q[:20]) for q in HOSTILE])
def test_hostile_queries_are_harmless_and_bounded(synthetic_5000, q):
    started = time.perf_counter()
    body = json.loads(synthetic_5000.search(q, n=q[:50], page=q[:50], paginate=True))
    assert time.perf_counter() - started < 1.0
    assert body["query"] == q[:MAX_QUERY_CHARS]
    assert body["num_results"] >= len(body["results"])


def test_long_query_is_cut_and_echoed_cut(rich_index):
    body = json.loads(rich_index.search("redis" + "x" * 10_000))
    assert body["query"] == ("redis" + "x" * 10_000)[:MAX_QUERY_CHARS]
    assert len(body["query"]) == MAX_QUERY_CHARS == 1024


def test_syntax_characters_are_literal(tmp_path):
    ix = open_index(tmp_path, [repo("weird/a*b"), repo("weird/a(b)"), repo("weird/ab"),
                               repo("weird/a:b"), repo("weird/and")])
    assert ix.ranked("*") == ["weird/a*b"]
    assert ix.ranked("a*") == ["weird/a*b"]
    assert ix.ranked("(b)") == ["weird/a(b)"]
    assert ix.ranked("a:b") == ["weird/a:b"]
    assert ix.ranked("AND") == ["weird/and"]
    assert ix.ranked("a%b") == ["weird/a*b", "weird/a:b", "weird/ab", "weird/a(b)"]
    assert ix.ranked("NOT and") == []
    ix.close()


def test_unicode_names(tmp_path):
    ix = open_index(tmp_path, [repo("acme/café"), repo("acme/cafe")])
    assert ix.ranked("café") == ["acme/café"]
    assert ix.ranked("CAFÉ") == []  # SQLite folds ASCII only
    assert ix.ranked("caf_") == ["acme/cafe", "acme/café"]
    assert ix.ranked("café x") == []
    assert json.loads(ix.search("café"))["query"] == "café"
    assert b"caf\\u00e9" in ix.search("café")
    ix.close()


def test_concurrent_searches_agree(synthetic_5000):
    queries = ["redis", "api gateway", "tag:latest", "a", "base img", "%s%"]
    expected = {q: synthetic_5000.search(q) for q in queries}
    failures = []

    def worker() -> None:
        for _ in range(5):
            for q in queries:
                if synthetic_5000.search(q) != expected[q]:
                    failures.append(q)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_entries_that_are_not_repositories_are_listed(tmp_path):
    ix = open_index(tmp_path, [repo("ns/empty", has_entries=False),
                               repo("ns/stray", is_directory=False, has_entries=False)])
    assert ix.ranked("") == ["ns/empty", "ns/stray"]
    ix.close()


def test_empty_registry(tmp_path):
    ix = open_index(tmp_path, [])
    assert ix.search("") == b'{"num_results": 0, "query": "", "results": []}'
    assert ix.search("a b") == b'{"num_results": 0, "query": "a b", "results": []}'
    ix.close()


def test_undecodable_names_tags_and_labels(tmp_path):
    # os.listdir turns undecodable bytes into lone surrogates; JSON labels may hold them too
    image = Image(id="d" * 64, json=_image_json({"config": {"Labels": {"k\udc80": "v\udc80 ok"}}}))
    ix = open_index(tmp_path, [repo("ns/a\udc80b", tags=(Tag("t\udc80x", image.id),))], (image,))
    assert ix.ranked("a") == ["ns/a\udc80b"]
    assert ix.ranked("ok ns") == ["ns/a\udc80b"]
    assert ix.ranked("tag:t") == ["ns/a\udc80b"]
    assert b"a\\udc80b" in ix.search("")
    ix.close()


# --- rebuilding ------------------------------------------------------------------------------


def _tagged(registry: Registry, names: set[str], tag: str) -> Registry:
    """`registry` where the repositories `names` have one more tag (on their first tag's image)."""
    repositories = tuple(
        dataclasses.replace(r, tags=(*r.tags, Tag(tag, r.tags[0].value if r.tags else "x")))
        if r.full_name in names else r
        for r in registry.repositories
    )
    return dataclasses.replace(registry, repositories=repositories)


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_a_rebuild_rewrites_only_changed_buckets_and_equals_a_full_build(tmp_path):
    import synth

    registry = synth.synth_registry(400, seed=5)
    build_index(registry.repositories, registry, tmp_path / "before")
    names = {r.full_name for r in registry.repositories[::97]}
    after = _tagged(registry, names, "brand-new")
    build_index(after.repositories, after, tmp_path / "full")
    changed = frozenset(segment_of(n) for n in names)
    reuse = Reuse(tmp_path / "before", changed)
    build_index(after.repositories, after, tmp_path / "rebuilt", reuse)
    assert _tree(tmp_path / "rebuilt") == _tree(tmp_path / "full")
    assert _tree(tmp_path / "before") != _tree(tmp_path / "full")
    for path in (tmp_path / "rebuilt").iterdir():
        bucket = path.name.removeprefix("MAIN_bucket")[:3]
        if bucket.isdigit():  # a segment's file: linked unless its bucket changed
            linked = path.stat().st_ino == (tmp_path / "before" / path.name).stat().st_ino
            assert linked == (int(bucket) not in changed), path.name
    with SearchIndex.open(tmp_path / "rebuilt") as ix:
        assert set(ix.ranked("tag:brand-new")) == names
        assert len(ix.names) == len(registry.repositories)


def test_segments_keep_answers_in_walk_order(tmp_path):
    import synth

    registry = synth.synth_registry(300, seed=9)
    build_index(registry.repositories, registry, tmp_path / "index")
    with SearchIndex.open(tmp_path / "index") as ix:
        walk = sorted(registry.repositories, key=lambda r: (r.namespace, r.name))
        assert ix.ranked("") == [r.full_name for r in walk]
        assert len({segment_of(n) for n in ix.names}) == SEGMENTS
