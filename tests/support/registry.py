"""The real CNCF distribution registry (Debian's `docker-registry`) and skopeo, on loopback.

The registry binary comes from the `.deb` unpacked with `dpkg-deb -x` by
`scripts/install-test-deps.sh` (installing the package would enable a
service). It runs with filesystem storage in a temp dir, listening on
127.0.0.1 only. skopeo runs with `HOME` and `XDG_*` inside a temp dir and
`_CONTAINERS_ROOTLESS_UID` set, so nothing is written to `/var/lib/containers`
or the real home.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.http import Response, get
from tests.support.nginx import free_port

UNPACKED = Path(os.environ.get("SITEGEN_DOCKER_REGISTRY_ROOT", "/opt/docker-registry"))
"""Where the install script unpacks the docker-registry `.deb`."""


def registry_binary() -> str | None:
    for candidate in (UNPACKED / "usr/bin/docker-registry", shutil.which("docker-registry")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def skopeo_binary() -> str | None:
    return shutil.which("skopeo")


@contextmanager
def running_registry(storage: Path, workdir: Path) -> Iterator[str]:
    """Run the registry over `storage` (deletes enabled); yield `http://127.0.0.1:PORT`."""
    with launched_registry(storage, workdir) as (base, _):
        yield base


@contextmanager
def launched_registry(
    storage: Path,
    workdir: Path,
    *,
    auth: dict[str, Any] | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run the registry with an optional `auth` section and TLS (cert, key); yield (base, proc)."""
    binary = registry_binary()
    if binary is None:
        raise RuntimeError("docker-registry is not unpacked; run scripts/install-test-deps.sh")
    workdir.mkdir(parents=True, exist_ok=True)
    storage.mkdir(parents=True, exist_ok=True)
    port = free_port()
    http: dict[str, Any] = {"addr": f"127.0.0.1:{port}", "secret": "test-fixture-not-a-secret"}
    if tls is not None:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "formatter": "text"},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if auth is not None:
        config["auth"] = auth
    path = workdir / "registry.yml"
    path.write_text(json.dumps(config))  # YAML is a superset of JSON
    log = (workdir / "registry.log").open("wb")
    proc = subprocess.Popen([binary, "serve", str(path)], stdout=log, stderr=log)
    try:
        _wait_listening(port, proc)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        log.close()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Skopeo:
    """skopeo with a private HOME; every call fails loudly with skopeo's own message."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_RUNTIME_DIR": str(home / "run"),
            "TMPDIR": str(home / "tmp"),
            "_CONTAINERS_ROOTLESS_UID": "65534",
        }
        for key in ("XDG_RUNTIME_DIR", "TMPDIR"):
            Path(self.env[key]).mkdir(parents=True, exist_ok=True)

    def run(self, *args: str) -> str:
        binary = skopeo_binary()
        if binary is None:
            raise RuntimeError("skopeo is not installed; run scripts/install-test-deps.sh")
        done = subprocess.run(
            [binary, "--insecure-policy", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise SkopeoError(f"skopeo {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def push(self, layout: Path, base: str, ref: str) -> None:
        """Copy a `dir:` layout to `<registry>/<ref>`, every manifest unchanged."""
        self.run(
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            f"dir:{layout}",
            f"docker://{_host(base)}/{ref}",
        )

    def pull(self, base: str, ref: str, target: Path) -> None:
        """Copy `<server>/<ref>` with every platform into a `dir:` layout."""
        target.parent.mkdir(parents=True, exist_ok=True)
        self.run(
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            f"docker://{_host(base)}/{ref}",
            f"dir:{target}",
        )

    def inspect_raw(self, base: str, ref: str) -> bytes:
        return self.run(
            "inspect", "--raw", "--tls-verify=false", f"docker://{_host(base)}/{ref}"
        ).encode()

    def list_tags(self, base: str, name: str) -> list[str]:
        out = self.run("list-tags", "--tls-verify=false", f"docker://{_host(base)}/{name}")
        return list(json.loads(out)["Tags"])


class SkopeoError(RuntimeError):
    pass


def _host(base: str) -> str:
    return base.removeprefix("http://").rstrip("/")


def delete_manifest(base: str, name: str, digest: str) -> Response:
    """DELETE a manifest through the API (the registry runs with deletes enabled)."""
    return get(base, f"/v2/{name}/manifests/{digest}", method="DELETE")
