"""Synthetic docker-registry v1 storage, deterministic from a seed.

    python benchmarks/synth.py OUT --repos 20000 [--seed 1]

writes OUT/repositories/<ns>/<repo>/{tag_<t>, tag<t>_json, json, _index_images, _private}
and OUT/images/<id>/{json, ancestry, _checksum, layer} in the layout of
../shared/reference/v1-api.md section 1.2, with the formats 0.9.1 wrote
(bare ids in `tag_*`, Python `json.dumps` for ancestry/checksums/tag json,
Go-compact image json). Names look like real registries: a few hundred
namespaces (orgs, teams, users, `library`), compound repository names with
`-`, `_` and `.`, several tags each (`latest`, semver, `develop`, `PR-1234`,
`sha-…`), images in parent chains on shared base images, and
`config.Labels` on about half of the images.

Other benchmarks can use `plan(n, seed)` (the repositories and images as
plain data), `write_storage(root, n, seed)` (the files) or
`synth_registry(n, seed)` (the same data as a `generator.model.Registry`,
without a crawl).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import random
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.model import Image, Registry, Repository, Tag

_WORDS = (
    "redis nginx postgres mysql mongo kafka zookeeper elastic kibana grafana prometheus "
    "api gateway proxy worker scheduler cron etl ingest export import billing payments "
    "auth login session user account profile search index indexer crawler frontend "
    "backend web ui admin portal dashboard metrics logs logging tracing alert alerts "
    "notify mailer sms push queue broker cache store storage blob s3 backup restore "
    "sync migrate migrations db schema report reports pdf image images thumb resize "
    "video audio stream ml model train serve inference feature pipeline spark flink "
    "airflow jupyter notebook python node java golang rust ruby php dotnet base builder "
    "runner ci cd deploy release tools utils cli agent sidecar operator controller "
    "webhook bot chat graphql rest grpc edge cdn dns vpn ldap sso vault secrets config "
    "registry mirror nexus artifactory sonar lint test e2e load perf bench fixtures "
    "demo sample sandbox legacy core common shared internal public private mobile ios "
    "android desktop inventory catalog orders cart checkout shipping pricing tax invoice"
)
WORDS = tuple(_WORDS.split())
_ORGS = (
    "acme platform data-eng ml infra payments mobile security qa devops frontend "
    "backend analytics search growth core sre research tools ops web shop media"
)
ORGS = tuple(_ORGS.split())
BASES = ("debian", "alpine", "ubuntu", "centos", "busybox", "scratch-base", "python", "node")
SEPARATORS = ("-", "-", "-", "_", ".")


@dataclass
class SynthImage:
    id: str
    parent: str | None
    ancestry: list[str]
    labels: dict[str, str]
    created: str


@dataclass
class SynthRepo:
    namespace: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    """tag name -> image id"""
    images: list[str] = field(default_factory=list)
    private: bool = False
    empty: bool = False


@dataclass
class Plan:
    repos: list[SynthRepo]
    images: dict[str, SynthImage]


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _namespaces(rng: random.Random, n_repos: int) -> list[str]:
    count = max(8, n_repos // 40)
    names = ["library", *ORGS]
    i = 0
    while len(names) < count:
        i += 1
        kind = rng.random()
        if kind < 0.4:
            names.append(f"team-{rng.choice(ORGS)}{i}")
        elif kind < 0.8:
            names.append(f"user{rng.randrange(10, 99999)}")
        else:
            names.append(f"{rng.choice(WORDS)}{rng.choice(('', '-', '_'))}{rng.choice(ORGS)}")
    return sorted(set(names))


def _repo_name(rng: random.Random) -> str:
    parts = [rng.choice(WORDS) for _ in range(rng.choice((1, 2, 2, 2, 3)))]
    sep = rng.choice(SEPARATORS)
    name = sep.join(parts)
    roll = rng.random()
    if roll < 0.1:
        name += f"-v{rng.randrange(2, 5)}"
    elif roll < 0.15:
        name = name.capitalize()
    return name


def _tags(rng: random.Random) -> list[str]:
    tags = ["latest"] if rng.random() < 0.85 else []
    major, minor = rng.randrange(0, 5), rng.randrange(0, 20)
    for patch in range(rng.randrange(1, 5)):
        tags.append(f"{'v' if rng.random() < 0.5 else ''}{major}.{minor}.{patch}")
    if rng.random() < 0.3:
        tags.append(rng.choice(("develop", "main", "stable", "edge", "nightly")))
    if rng.random() < 0.2:
        tags.append(f"PR-{rng.randrange(1, 9999)}")
    if rng.random() < 0.2:
        tags.append(f"sha-{rng.getrandbits(28):07x}")
    return list(dict.fromkeys(tags))


def plan(n_repos: int, seed: int = 1) -> Plan:
    """The repositories and images of one synthetic registry, as plain data."""
    rng = random.Random(seed)
    images: dict[str, SynthImage] = {}
    clock = 1_500_000_000

    def new_image(parent: str | None, labels: dict[str, str]) -> str:
        nonlocal clock
        clock += rng.randrange(60, 3600)
        image_id = _hex_id(rng)
        ancestry = [image_id, *(images[parent].ancestry if parent else [])]
        images[image_id] = SynthImage(image_id, parent, ancestry, labels, _iso(clock))
        return image_id

    bases: list[str] = []
    for _base in BASES:
        top = None
        for _ in range(rng.randrange(1, 4)):
            top = new_image(top, {})
        bases.append(top)

    namespaces = _namespaces(rng, n_repos)
    seen: set[tuple[str, str]] = set()
    repos: list[SynthRepo] = []
    while len(repos) < n_repos:
        ns = "library" if rng.random() < 0.03 else rng.choice(namespaces)
        name = _repo_name(rng)
        if (ns, name) in seen:
            name = f"{name}{rng.randrange(2, 999)}"
            if (ns, name) in seen:
                continue
        seen.add((ns, name))
        repo = SynthRepo(ns, name, private=rng.random() < 0.02)
        repos.append(repo)
        if rng.random() < 0.01:
            repo.empty = True
            continue
        parent = rng.choice(bases)
        labelled = rng.random() < 0.5
        for tag in _tags(rng):
            if not repo.images or rng.random() < 0.6:
                labels = {}
                if labelled:
                    labels = {
                        "org.opencontainers.image.source": f"https://github.com/{ns}/{name}",
                        "org.opencontainers.image.version": tag,
                        "maintainer": f"{ns}@example.com",
                    }
                parent = new_image(parent, labels)
                repo.images.append(parent)
            repo.tags[tag] = parent
    repos.sort(key=lambda r: (r.namespace, r.name))
    return Plan(repos, images)


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")


def _image_json(img: SynthImage) -> bytes:
    """Go-compact, Go field order, as docker 1.x pushed it."""
    config = {
        "Hostname": img.id[:12],
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["/bin/sh"],
        "Labels": img.labels or None,
    }
    doc: dict[str, object] = {"id": img.id}
    if img.parent:
        doc["parent"] = img.parent
    doc.update(
        created=img.created,
        container=img.id[::-1],
        container_config=config,
        docker_version="1.6.2",
        config=config,
        architecture="amd64",
        os="linux",
        Size=len(img.id) * 10,
    )
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _layer(img: SynthImage) -> bytes:
    buf = io.BytesIO()
    data = f"layer {img.id}\n".encode()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(f"etc/{img.id[:12]}")
        info.size = len(data)
        info.mtime = 1_500_000_000
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tag_json(ts: int) -> bytes:
    meta = {"kernel": "3.16.0-4-amd64", "arch": "amd64", "docker_go_version": "go1.3.3",
            "last_update": ts, "docker_version": "1.3.2", "os": "linux"}
    return json.dumps(meta).encode()


def _index_images(repo: SynthRepo) -> bytes:
    return json.dumps([{"id": i} for i in repo.images]).encode()


def write_storage(root: Path, n_repos: int, seed: int = 1) -> Plan:
    """Write the v1 storage tree of `plan(n_repos, seed)` under `root`."""
    p = plan(n_repos, seed)
    for img in p.images.values():
        d = root / "images" / img.id
        d.mkdir(parents=True, exist_ok=True)
        body, layer = _image_json(img), _layer(img)
        (d / "json").write_bytes(body)
        (d / "layer").write_bytes(layer)
        (d / "ancestry").write_text(json.dumps(img.ancestry))
        digest = hashlib.sha256(body + b"\n" + layer).hexdigest()
        (d / "_checksum").write_text(json.dumps([f"sha256:{digest}"]))
    for i, repo in enumerate(p.repos):
        d = root / "repositories" / repo.namespace / repo.name
        d.mkdir(parents=True, exist_ok=True)
        if repo.empty:
            continue
        ts = 1_500_000_000 + i
        for tag, image_id in repo.tags.items():
            (d / f"tag_{tag}").write_text(image_id)
            (d / f"tag{tag}_json").write_bytes(_tag_json(ts))
        if "latest" in repo.tags:
            (d / "json").write_bytes(_tag_json(ts))
        (d / "_index_images").write_bytes(_index_images(repo))
        if repo.private:
            (d / "_private").write_bytes(b"")
    return p


def synth_registry(n_repos: int, seed: int = 1) -> Registry:
    """The same data as a model, as a crawl of `write_storage` would give it."""
    p = plan(n_repos, seed)
    images = []
    for img in sorted(p.images.values(), key=lambda i: i.id):
        body = _image_json(img)
        images.append(Image(id=img.id, json=body, parent=img.parent,
                            ancestry=tuple(img.ancestry)))
    repos = []
    for i, r in enumerate(p.repos):
        meta = _tag_json(1_500_000_000 + i)
        tags = tuple(Tag(name=t, value=iid, metadata=meta) for t, iid in sorted(r.tags.items()))
        repos.append(Repository(namespace=r.namespace, name=r.name, has_entries=not r.empty,
                                private=r.private, tags=tags,
                                index_images=None if r.empty else _index_images(r)))
    return Registry(repositories=tuple(repos), images=tuple(images))


def sample_queries(registry: Registry, count: int, seed: int) -> list[str]:
    """A realistic query mix, deterministic: substrings of names, full names, namespaces,
    tag prefixes, word pairs, a few LIKE wildcards, and fixed common and empty ones."""
    rng = random.Random(seed)
    repos = list(registry.repositories)
    queries = ["", "%", "_", "/", "a", "s", "library", "library/", "redis", "api gateway",
               "base img", "tag:latest", "tag:develop", "tag:pr-", "label:maintainer",
               "label:org.opencontainers.image.source=https://github.com/acme", "zzz-nothing",
               "my_app", "my%app", "r%s", "web server", "REDIS", "v1.2", "_%_"]
    for _ in range(count):
        r = rng.choice(repos)
        name = r.full_name
        start = rng.randrange(len(name))
        kind = rng.randrange(7)
        if kind == 0:
            queries.append(name[start:start + rng.randrange(1, 15)])
        elif kind == 1:
            queries.append(name)
        elif kind == 2:
            queries.append(f"{r.namespace}/")
        elif kind == 3 and r.tags:
            queries.append("tag:" + rng.choice(r.tags).name[: rng.randrange(1, 8)])
        elif kind == 4:
            words = [w for w in name.replace("/", "-").replace("_", "-").split("-") if w]
            queries.append(" ".join(rng.sample(words, min(2, len(words)))))
        elif kind == 5:
            other = rng.choice(repos).name
            queries.append(f"{r.name[:4]} {other[:3]}")
        else:
            queries.append(name[start:start + 4].replace(name[start], "_", 1) + "%")
    return list(dict.fromkeys(queries))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="storage root to create")
    parser.add_argument("--repos", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    p = write_storage(args.out, args.repos, args.seed)
    print(f"{args.out}: {len(p.repos)} repositories, {len(p.images)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
