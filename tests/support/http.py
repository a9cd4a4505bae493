"""Plain HTTP over loopback, keeping the path exactly as given and every repeated header."""

from __future__ import annotations

import http.client
import time
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []


def get(
    base: str,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Response:
    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def wait_until_up(base: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            get(base, "/v1/_ping")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
