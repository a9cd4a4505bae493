"""The v2 fixture: what the tests push into the real registry, and what that should leave.

Modelled on the observed fixture of `../shared/reference/v2-storage.md`:
Docker schema2, OCI, a manifest list and an OCI index (platform children),
an artifact, a repository nested inside another, an overwritten tag, a
manifest deleted through the API, and a repository left with no tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import v2_images as v2
from tests.support.registry import Skopeo, delete_manifest

DESCRIPTION = 'Base image — "quoted" <b>bold</b> & ünïcode'
NOTE = "<script>alert('annotation')</script> & \"quoted\""
"""An index annotation the pages must show as text."""
PLATFORM_CREATED = {"amd64": "2024-01-02T03:04:05Z", "arm64": "2024-01-05T06:07:08Z"}
"""Each platform of a list or index was built at its own time."""


@dataclass
class Pushed:
    """What the fixture pushed: live tags, live digests per repository, deleted digests."""

    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    """repository → tag → manifest digest (current)."""
    digests: dict[str, set[str]] = field(default_factory=dict)
    """repository → every live manifest digest (list children included)."""
    deleted: dict[str, set[str]] = field(default_factory=dict)
    built: dict[str, v2.Built] = field(default_factory=dict)
    """manifest digest → what was built."""

    def live_urls(self) -> list[str]:
        """Every live `/v2/` document the fixture pushed: catalog, tag lists, manifests, blobs."""
        urls = ["/v2/", "/v2/_catalog"]
        for name, tags in self.tags.items():
            urls.append(f"/v2/{name}/tags/list")
            urls += [f"/v2/{name}/manifests/{tag}" for tag in tags]
            for digest in sorted(self.digests[name]):
                urls.append(f"/v2/{name}/manifests/{digest}")
                urls += [f"/v2/{name}/blobs/{b.digest}" for b in self.built[digest].blobs]
        return urls

    def note(self, repository: str, tag: str | None, built: v2.Built) -> None:
        if tag is not None:
            self.tags.setdefault(repository, {})[tag] = built.digest
        live = self.digests.setdefault(repository, set())
        for one in (built, *built.children):
            live.add(one.digest)
            self.built[one.digest] = one


def _base_layer() -> tuple[v2.Blob, str]:
    return v2.layer({"bin/sh": b"#!/bin/true\n", "etc/motd": b"hello\n"})


def _history(*steps: tuple[str, bool]) -> list[dict[str, object]]:
    return [
        {"created": f"2024-01-0{i + 1}T10:00:0{i}.5Z", "created_by": cmd, "empty_layer": True}
        if empty
        else {"created": f"2024-01-0{i + 1}T10:00:0{i}Z", "created_by": cmd}
        for i, (cmd, empty) in enumerate(steps)
    ]


def busybox(version: str) -> v2.Built:
    base = _base_layer()
    layers = [base]
    history = [("/bin/sh -c #(nop) ADD file:base in /", False)]
    if version != "1.0":
        layers.append(v2.layer({"etc/.wh.motd": b"", "etc/version": version.encode()}))
        history.append(("/bin/sh -c rm /etc/motd && echo > /etc/version", False))
    history.append(('/bin/sh -c #(nop)  CMD ["sh"]', True))
    config = v2.image_config(
        [d for _, d in layers], _history(*history), author="Fixture <f@example.org>"
    )
    return v2.image(layers, config)


def platform_image(arch: str, variant: str | None, *, oci: bool, tag: str) -> v2.Built:
    kind = v2.OCI_LAYER if oci else v2.DOCKER_LAYER
    base = v2.layer({"bin/sh": b"#!/bin/true\n", "etc/motd": b"hello\n"}, kind)
    extra = v2.layer({"etc/arch": f"{arch}{variant or ''} {tag}".encode()}, kind)
    config = v2.image_config(
        [base[1], extra[1]],
        _history(("ADD base", False), ("RUN uname -m > /etc/arch", False), ("CMD sh", True)),
        architecture=arch,
        variant=variant,
        created=PLATFORM_CREATED[arch],
        config={
            "Env": ["PATH=/usr/bin:/bin"],
            "Cmd": ["sh"],
            "Labels": {"com.example.arch": f"{arch}{variant or ''}"},
        },
    )
    return v2.image([base, extra], config, oci=oci)


def multi(*, oci: bool, tag: str, annotations: dict[str, str] | None = None) -> v2.Built:
    amd = platform_image("amd64", None, oci=oci, tag=tag)
    arm = platform_image("arm64", "v8", oci=oci, tag=tag)
    return v2.index(
        [
            (amd, {"architecture": "amd64", "os": "linux"}),
            (arm, {"architecture": "arm64", "os": "linux", "variant": "v8"}),
        ],
        oci=oci,
        annotations=annotations,
    )


def base_img(version: str) -> v2.Built:
    base = v2.layer({"bin/sh": b"#!/bin/true\n", "etc/motd": b"hello\n"}, v2.OCI_LAYER)
    labels = {
        "org.opencontainers.image.title": "base-img",
        "org.opencontainers.image.description": DESCRIPTION if version != "1.0" else "Base",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.licenses": "MIT",
    }
    config = v2.image_config(
        [base[1]],
        _history(("ADD base", False), ("LABEL many", True)),
        config={"Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": labels},
        created="2024-02-03T04:05:06.123456789+02:00",
    )
    return v2.image(
        [base], config, oci=True, annotations={"org.opencontainers.image.title": "base-img"}
    )


def app(version: str) -> v2.Built:
    base = _base_layer()
    code = v2.layer({"srv/app.py": f"print('app {version}')\n".encode()})
    config = v2.image_config(
        [base[1], code[1]],
        _history(
            ("ADD base", False),
            ("WORKDIR /srv", True),
            ("COPY app.py /srv/", False),
            ("USER nobody", True),
        ),
        config={
            "User": "nobody",
            "WorkingDir": "/srv",
            "Cmd": ["python3", "app.py"],
            "Labels": {
                "maintainer": "team <team@example.org> & co",
                "version": version,
                "note": 'caf\u00e9 \u2028 line\tsep "quoted" \\ \u0001',
            },
        },
        created="2024-03-04T05:06:07.000000100+01:00",
    )
    config["history"][1]["author"] = "Dev <dev@example.org>"
    config["history"][1]["comment"] = "buildkit <&>"
    config["history"][2]["created"] = "2024-03-04T05:06:07.120-00:00"
    # Pretty-printed, non-ASCII kept and a duplicate key: the v1 JSON is Go's re-encoding.
    raw = json.dumps(config, indent=2, ensure_ascii=False)
    raw = raw.replace('"os": "linux"', '"os": "windows",\n  "os": "linux"', 1)
    return v2.image([base, code], config, config_bytes=raw.encode())


def chart() -> v2.Built:
    return v2.artifact(
        "application/vnd.cncf.helm.config.v1+json",
        json.dumps({"name": "demo", "version": "0.1.0", "apiVersion": "v2"}).encode(),
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        v2.gzipped(v2.tar_bytes({"demo/Chart.yaml": b"name: demo\nversion: 0.1.0\n"})),
    )


def push_fixture(base: str, skopeo: Skopeo, workdir: Path) -> Pushed:
    """Push every fixture image into the registry at `base`; return what is live."""
    pushed = Pushed()
    counter = iter(range(1000))

    def push(repository: str, tag: str, built: v2.Built) -> None:
        layout = v2.write_dir_layout(built, workdir / f"layout-{next(counter)}")
        skopeo.push(layout, base, f"{repository}:{tag}")
        pushed.note(repository, tag, built)

    def delete(repository: str, built: v2.Built) -> None:
        answer = delete_manifest(base, repository, built.digest)
        assert answer.status == 202, (answer.status, answer.body)
        pushed.deleted.setdefault(repository, set()).add(built.digest)
        pushed.digests[repository].discard(built.digest)
        for tag, dgst in list(pushed.tags.get(repository, {}).items()):
            if dgst == built.digest:
                del pushed.tags[repository][tag]

    push("busybox", "1.0", busybox("1.0"))
    push("busybox", "1.0.1", busybox("1.0.1"))
    push("busybox", "latest", busybox("1.0.1"))
    push("library/alpine", "3.19", multi(oci=False, tag="3.19"))
    push("library/alpine", "latest", multi(oci=False, tag="3.19"))
    push("team/base-img", "1.0", base_img("1.0"))
    push("team/base-img", "1.0.1", base_img("1.0.1"))
    push("team/base-img", "latest", base_img("1.0.1"))
    annotations = {
        "org.opencontainers.image.description": "An OCI index",
        "org.opencontainers.image.title": "base-test",
        "org.example.note": NOTE,
    }
    push("test/base-test", "latest", multi(oci=True, tag="latest", annotations=annotations))
    first_dev = multi(oci=True, tag="dev1")
    push("test/base-test", "dev", first_dev)
    push("test/base-test", "dev", multi(oci=True, tag="dev2"))
    delete("test/base-test", first_dev)  # the overwritten tag's old manifest
    for child in first_dev.children:  # its children stay as untagged revisions
        pushed.digests["test/base-test"].add(child.digest)
    push("org/team/app", "1.0", app("1.0"))
    push("org/team/app", "1.0.1", app("1.0.1"))
    push("org/team/app", "latest", app("1.0.1"))
    temporary = app("tmp")
    push("org/team/app", "tmp", temporary)
    delete("org/team/app", temporary)
    push("org/team", "1.0", busybox("1.0"))
    gone = busybox("gone")
    push("test/deleted", "only", gone)
    delete("test/deleted", gone)
    pushed.tags.setdefault("test/deleted", {})
    push("charts/demo", "0.1.0", chart())
    return pushed
