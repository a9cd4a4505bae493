"""emit/search_shards.py: determinism, the per-query byte budget, parity with the server."""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from pathlib import Path

import pytest

from generator.emit.search_shards import (
    BLOCK_SIZE,
    BUDGET_BYTES,
    ClientIndex,
    ClientIndexBuilder,
    _front_code,
    client_index_files,
    decode_ids,
    encode_ids,
    read_nodes,
    update_client_index,
)
from generator.index import SearchIndex, build_index, documents
from generator.model import Image, Registry, Repository, Tag

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import synth


def _image_json(config: dict) -> bytes:
    """Stored image JSON: the model decodes `Image.config` from these bytes."""
    return json.dumps(config).encode()


@pytest.fixture(scope="module")
def registry_2000():
    return synth.synth_registry(2000, seed=7)


@pytest.fixture(scope="module")
def files_20000():
    registry = synth.synth_registry(20_000, seed=1)
    return registry, client_index_files(registry.repositories, registry)


# --- encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids",
    [[], [0], [5], [0, 1, 2], [0, 1, 2, 3, 9, 10, 11, 12, 40], list(range(1000)),
     list(range(0, 1000, 3)), [999]],
)
def test_ids_round_trip(ids):
    assert decode_ids(encode_ids(ids, 1000)) == ids


def test_ids_random_round_trip_and_bound():
    rng = random.Random(1)
    for _ in range(200):
        universe = rng.randrange(1, 20_001)
        ids = sorted(rng.sample(range(universe), rng.randrange(0, min(universe, 5000) + 1)))
        text = encode_ids(ids, universe)
        assert decode_ids(text) == ids
        assert len(text) <= 4 * ((universe + 7) // 8 + 2) // 3 + 2  # never worse than a bitmap


def test_node_keys_round_trip():
    nodes = [("g:ab", True), ("g:abc", False), ("g:abd", True), ("l:x=\u00e9+-", True),
             ("w:-", False), ("w:9+", True)]
    assert read_nodes(_front_code(nodes)) == nodes
    assert read_nodes("") == []


# --- files -----------------------------------------------------------------------------------


def test_deterministic(registry_2000):
    first = client_index_files(registry_2000.repositories, registry_2000)
    again = synth.synth_registry(2000, seed=7)  # fresh objects, same data
    second = client_index_files(again.repositories, again)
    assert first == second
    assert all(isinstance(v, bytes) for v in first.values())
    for path, body in first.items():
        assert not path.startswith("/") and ".." not in path
        json.loads(body)
        body.decode("ascii")  # encode() escapes everything


def test_input_order_does_not_matter(registry_2000):
    shuffled = list(registry_2000.repositories)
    random.Random(3).shuffle(shuffled)
    assert client_index_files(shuffled, registry_2000) == client_index_files(
        registry_2000.repositories, registry_2000
    )


def test_manifest_shape(registry_2000):
    files = client_index_files(registry_2000.repositories, registry_2000)
    manifest = json.loads(files["manifest.json"])
    assert manifest["repositories"] == 2000
    assert manifest["max_shard_bytes"] == max(len(v) for k, v in files.items()
                                              if k.startswith("shards/"))
    keys = [k for k, _ in read_nodes(manifest["nodes"])]
    assert keys == sorted(keys)
    assert len(files) == 1 + len(keys) + -(-2000 // manifest["block_size"])


def test_empty_registry():
    files = client_index_files([], Registry())
    answer = ClientIndex(files).search("")
    assert (answer.names, answer.total, answer.exact) == ([], 0, True)


# --- parity with the server ------------------------------------------------------------------


def test_client_answers_the_server_set(tmp_path, registry_2000):
    build_index(registry_2000.repositories, registry_2000, tmp_path / "index")
    files = client_index_files(registry_2000.repositories, registry_2000)
    client = ClientIndex(files)
    with SearchIndex.open(tmp_path / "index") as server:
        walk = {name: i for i, name in enumerate(server.names)}
        for q in synth.sample_queries(registry_2000, 300, seed=11):
            expected = server.ranked(q)
            answer = client.search(q, limit=None, budget=None)
            assert set(answer.names) == set(expected), q
            assert answer.total == len(expected) and answer.exact, q
            # the client pages in walk order (the server ranks)
            assert client.search(q).names == sorted(expected, key=walk.__getitem__)[:20], q


def test_client_labels_tags_and_descriptions(tmp_path):
    image = Image(id="c" * 64, json=_image_json({"config": {"Labels": {"Team": "Blue Whales"}}}))
    repos = (
        Repository("acme", "api", tags=(Tag("PR-77", image.id),), description="REST gateway"),
        Repository("acme", "web"),
    )
    registry = Registry(repositories=repos, images=(image,))
    client = ClientIndex(client_index_files(repos, registry))
    assert client.search("tag:pr-7").names == ["acme/api"]
    assert client.search("label:team=blue").names == ["acme/api"]
    assert client.search("whale acme").names == ["acme/api"]
    assert client.search("gateway").names == ["acme/api"]  # LIKE on the description
    assert client.search("st_gate").names == ["acme/api"]
    assert client.search("acme").names == ["acme/api", "acme/web"]
    assert client.search("i$").names == []  # the `$$` padding is no match
    assert client.search("b").names == ["acme/web"]


def test_undecodable_names():
    image = Image(id="d" * 64, json=_image_json({"config": {"Labels": {"k\udc80": "v\udc80 ok"}}}))
    repos = (Repository("ns", "a\udc80b", tags=(Tag("t\udc80x", image.id),)),)
    files = client_index_files(repos, Registry(repositories=repos, images=(image,)))
    client = ClientIndex(files)
    assert client.search("a").names == ["ns/a\udc80b"]
    assert client.search("ok ns").names == ["ns/a\udc80b"]
    assert client.search("tag:t").names == ["ns/a\udc80b"]


# --- the budget ------------------------------------------------------------------------------


def test_every_query_fits_the_budget_at_20000(files_20000):
    registry, files = files_20000
    client = ClientIndex(files)
    queries = synth.sample_queries(registry, 1000, seed=5)
    stopped = []
    for q in queries:
        answer = client.search(q)
        assert answer.bytes <= BUDGET_BYTES, q
        if answer.complete:
            assert len(answer.names) == min(20, answer.total), q
        else:
            stopped.append(q)
    # Only a `_` inside a word can leave too many candidates to verify within the budget
    # (`er_mirror`: trigrams see `er` and `mirror`); the client then says it stopped.
    assert all("_" in q for q in stopped)
    assert len(stopped) <= len(queries) // 200


@pytest.mark.parametrize(
    "q",
    ["x" * 10_000, "_%" * 5_000, "a " * 5_000, " ".join(f"w{i}" for i in range(500)),
     "%e%e%e%e%e%e%e%e%e%e%e%e%e", "e_a_e_a_e_i", "tag:" + "a" * 3000, "\udc80", "日本語"],
    ids=lambda q: repr(q[:16]),
)
def test_hostile_queries_stay_within_the_budget(files_20000, q):
    _, files = files_20000
    assert ClientIndex(files).search(q).bytes <= BUDGET_BYTES


# --- updating --------------------------------------------------------------------------------


def _fresh(repositories, docs):
    builder = ClientIndexBuilder()
    for i, doc in enumerate(docs):
        builder.add(i, doc)
    return builder.build(repositories)


def _changed(doc, round_, k):
    """A new document for round `round_`: tags and words added, or most of them dropped."""
    if round_ % 2:
        extra = [f"x{round_}{'y' * (k % 7)}{k}", "common-new-tag"]
        return dataclasses.replace(
            doc, tags=(*doc.tags, *extra), words=(*doc.words, *extra), labels=()
        )
    return dataclasses.replace(doc, tags=doc.tags[:1], words=doc.words[:2])


def test_an_update_equals_a_fresh_build(registry_2000):
    repositories = registry_2000.repositories
    docs = documents(repositories, registry_2000)
    previous = _fresh(repositories, docs)
    files, memory = dict(previous.files), previous.memory
    rng = random.Random(5)
    for round_, count in enumerate([1, 1, 60, 60, 300]):
        chosen = sorted(rng.sample(range(len(docs)), count))
        new_docs = list(docs)
        for k, i in enumerate(chosen):
            new_docs[i] = _changed(docs[i], round_, k)
        update = update_client_index(
            memory, repositories,
            {docs[i].name: docs[i] for i in chosen}, {docs[i].name: new_docs[i] for i in chosen},
        )
        expected = _fresh(repositories, new_docs)
        assert update is not None
        assert {**{p: files[p] for p in update.kept}, **update.files} == expected.files, round_
        assert not set(update.kept) & set(update.files)
        assert update.memory == expected.memory
        if count == 1:
            assert len(update.kept) > 0.8 * len(expected.memory.nodes)
            # One repository's block of names made again; the others kept as they were.
            ordered = sorted(repositories, key=lambda r: (r.namespace, r.name))
            position = [r.full_name for r in ordered].index(docs[chosen[0]].name)
            assert [path for path in update.files if path.startswith("blocks/")] == [
                f"blocks/{position // BLOCK_SIZE}.json"
            ]
        docs, files, memory = new_docs, expected.files, update.memory


def test_an_update_of_other_repositories_is_refused(registry_2000):
    repositories = registry_2000.repositories
    docs = documents(repositories, registry_2000)
    memory = _fresh(repositories, docs).memory
    assert update_client_index(memory, repositories[1:], {}, {}) is None
