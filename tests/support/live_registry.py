"""The real registry (Debian's docker-registry) with authentication and TLS, on loopback.

`tests/support/registry.py` runs it open, for pushing the fixture; the HTTP
crawl is tested against it with htpasswd Basic auth, behind the test token
server (`auth: token`), and serving TLS with a certificate of a private CA.
Several may serve the same storage at once: crawling only reads it.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

from tests.support.nginx import free_port
from tests.support.registry import registry_binary
from tests.support.tls_certs import KeyPair
from tests.support.token_server import ISSUER, SERVICE, TokenServer


@dataclass
class LiveRegistry:
    base: str
    proc: subprocess.Popen[bytes]

    def kill(self) -> None:
        """SIGKILL: the registry dies as a crashed or OOM-killed one does."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def htpasswd_auth(folder: Path, users: dict[str, str]) -> dict[str, Any]:
    """The registry's `auth: htpasswd` section, with a bcrypt line per user."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "htpasswd"
    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
        for user, password in users.items()
    ]
    path.write_text("".join(lines))
    return {"htpasswd": {"realm": "sitegen-test", "path": str(path)}}


def token_auth(server: TokenServer, signing: KeyPair) -> dict[str, Any]:
    """The registry's `auth: token` section, trusting the test token server's certificate."""
    return {
        "token": {
            "realm": server.realm,
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": str(signing.cert),
        }
    }


@contextmanager
def live_registry(
    storage: Path,
    workdir: Path,
    *,
    auth: dict[str, Any] | None = None,
    tls: KeyPair | None = None,
) -> Iterator[LiveRegistry]:
    """Run the registry over `storage` with `auth` and `tls`; yield it once it listens."""
    binary = registry_binary()
    if binary is None:
        raise RuntimeError("docker-registry is not unpacked; run scripts/install-test-deps.sh")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    http: dict[str, Any] = {"addr": f"127.0.0.1:{port}", "secret": "test-fixture-not-a-secret"}
    if tls is not None:
        http["tls"] = {"certificate": str(tls.cert), "key": str(tls.key)}
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
    running = LiveRegistry(f"{'https' if tls else 'http'}://127.0.0.1:{port}", proc)
    try:
        _wait_listening(port, proc)
        yield running
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
