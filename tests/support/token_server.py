"""A small token server for the registry's `auth: token` mode, on loopback.

It answers `GET /token?service=&scope=&account=` as Docker's token servers do:
Basic credentials (or none, if anonymous pulls are allowed) in, a JWT out,
signed RS256 by a self-signed certificate that the registry trusts through
its `rootcertbundle` (the certificate travels in the token's `x5c` header,
which distribution 2.8 checks against that bundle). It records every request
and every token it issued, so that tests can count them and look for them
where they must not be.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "sitegen-test-issuer"
SERVICE = "sitegen-test-registry"
ISSUED_AT = "2026-01-01T00:00:00Z"


@dataclass
class TokenServer:
    key: rsa.RSAPrivateKey
    cert_der: bytes
    users: dict[str, str]
    anonymous_pull: bool = False
    expires_in: int = 300
    base: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def realm(self) -> str:
        return f"{self.base}/token"

    def rotate(self, key: rsa.RSAPrivateKey, cert_der: bytes) -> None:
        """Sign with another key from now on (tokens signed before stay as they are)."""
        with self._lock:
            self.key, self.cert_der = key, cert_der

    def tokens_for(self, scope: str) -> int:
        return sum(1 for r in self.requests if r["scopes"] == [scope] and r["granted"])

    def issue(self, account: str, scopes: list[str]) -> str | None:
        """A signed token for `scopes`, or None when the caller may not have it."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            if not account:  # anonymous: pulls only, and only if allowed
                wanted = [a for a in wanted if a == "pull"] if self.anonymous_pull else []
                if kind != "repository":
                    wanted = []
            if wanted:
                access.append({"type": kind, "name": name, "actions": wanted})
        if scopes and not access:
            return None
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": account,
            "aud": SERVICE,
            "exp": now + self.expires_in,
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        with self._lock:
            key, der = self.key, self.cert_der
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(claims))}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = f"{signing_input}.{_b64(signature)}"
        with self._lock:
            self.issued.append(token)
        return token


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@contextmanager
def running_token_server(server: TokenServer) -> Iterator[TokenServer]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parsed.query)
            account = self._account()
            scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
            token = None
            if parsed.path == "/token" and account is not None:
                token = server.issue(account, scopes)
            with server._lock:
                server.requests.append(
                    {"scopes": scopes, "account": account, "granted": token is not None}
                )
            if token is None:
                self._send(401, {"errors": [{"code": "UNAUTHORIZED"}]})
                return
            self._send(
                200,
                {"token": token, "expires_in": server.expires_in, "issued_at": ISSUED_AT},
            )

        def _account(self) -> str | None:
            """The user, `` for anonymous, None for wrong credentials."""
            header = self.headers.get("Authorization", "")
            if not header:
                return ""
            try:
                pair = base64.b64decode(header.removeprefix("Basic ")).decode()
            except ValueError:
                return None
            user, _, password = pair.partition(":")
            return user if server.users.get(user) == password else None

        def _send(self, status: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
