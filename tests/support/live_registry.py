"""The real registry (Debian's docker-registry) with authentication and TLS, on loopback.

`tests/support/registry.py` runs it open, for pushing the fixture; the HTTP
crawl is tested against it with htpasswd Basic auth, behind the test token
server (`auth: token`), and serving TLS with a certificate of a private CA.
Several may serve the same storage at once: crawling only reads it.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

from tests.support.registry import launched_registry
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
    keys = (tls.cert, tls.key) if tls is not None else None
    with launched_registry(storage, workdir, auth=auth, tls=keys) as (base, proc):
        yield LiveRegistry(base, proc)
