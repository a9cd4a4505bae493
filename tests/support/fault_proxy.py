"""A reverse proxy on loopback in front of the real registry, for the HTTP crawl's tests.

It forwards GET and HEAD (headers and bodies unchanged), logs every request
with its answer, and can, per request, answer by itself instead: a 429 with
`Retry-After`, a 5xx, or a 502 once the registry behind it is gone (what a
front proxy says about a dead backend). It can also page `tags/list`, as
newer registries do (distribution 2.8 ignores `n` there), so that the
crawler's paging is tested against an answer shaped like theirs.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer"}


@dataclass(frozen=True)
class Fault:
    """An answer the proxy gives instead of forwarding."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"errors":[{"code":"UNAVAILABLE","message":"injected by the test proxy"}]}'


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    status: int
    at: float
    injected: bool


Rule = Callable[[str, str, int], Fault | None]
"""(method, path with query, how many times this method+path came before) → a Fault or None."""


@dataclass
class FaultProxy:
    upstream: str
    rule: Rule | None = None
    tags_page: int | None = None
    """Page `tags/list` by this many tags, with `n`, `last` and a `Link` header."""
    before_forward: Callable[[int], None] | None = None
    """Called with the request's number (from 1) before it is forwarded."""
    base: str = ""
    log: list[Logged] = field(default_factory=list)
    _seen: dict[tuple[str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self, method: str = "GET", *, contains: str = "") -> list[str]:
        return [e.path for e in self.log if e.method == method and contains in e.path]

    def clear(self) -> None:
        with self._lock:
            self.log.clear()
            self._seen.clear()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def _handle(self, method: str) -> None:
        proxy = self.server.proxy
        with proxy._lock:
            key = (method, self.path)
            before = proxy._seen.get(key, 0)
            proxy._seen[key] = before + 1
            number = sum(proxy._seen.values())
        fault = proxy.rule(method, self.path, before) if proxy.rule else None
        if fault is not None:
            self._answer(method, fault.status, fault.headers, fault.body, injected=True)
            return
        if proxy.before_forward is not None:
            proxy.before_forward(number)
        try:
            status, headers, body = self._forward(method)
        except OSError:
            status, headers, body = 502, {"Content-Type": "text/plain"}, b"bad gateway\n"
        self._answer(method, status, headers, body, injected=False)

    def _forward(self, method: str) -> tuple[int, dict[str, str], bytes]:
        proxy = self.server.proxy
        page = _tags_request(self.path) if proxy.tags_page else None
        path = page[0] if page is not None else self.path
        upstream = urllib.parse.urlsplit(proxy.upstream)  # may change while it runs
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        try:
            sent = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
            conn.request(method, path, headers=sent)
            response = conn.getresponse()
            body = response.read()
            out = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            if method == "HEAD":
                out["Content-Length"] = response.getheader("Content-Length") or "0"
            status = response.status
        finally:
            conn.close()
        if page is not None and status == 200 and proxy.tags_page:
            body, link = _paged_tags(body, page[1], page[2], proxy.tags_page, path)
            if link:
                out["Link"] = link
        return status, out, body

    def _answer(
        self, method: str, status: int, headers: dict[str, str], body: bytes, injected: bool
    ) -> None:
        proxy = self.server.proxy
        with proxy._lock:
            proxy.log.append(Logged(method, self.path, status, time.monotonic(), injected))
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        length = headers.get("Content-Length") if method == "HEAD" else None
        self.send_header("Content-Length", length or str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running_proxy(proxy: FaultProxy) -> Iterator[FaultProxy]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.proxy = proxy
    proxy.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        httpd.shutdown()
        httpd.server_close()


def _tags_request(path: str) -> tuple[str, int | None, str | None] | None:
    """(upstream path without paging, n, last) for a `tags/list` request, else None."""
    parts = urllib.parse.urlsplit(path)
    if not parts.path.endswith("/tags/list"):
        return None
    query = urllib.parse.parse_qs(parts.query)
    n = int(query["n"][0]) if "n" in query else None
    last = query["last"][0] if "last" in query else None
    return parts.path, n, last


def _paged_tags(
    body: bytes, n: int | None, last: str | None, page: int, path: str
) -> tuple[bytes, str | None]:
    doc = json.loads(body)
    tags = sorted(doc.get("tags") or [])
    if last is not None:
        tags = [t for t in tags if t > last]
    size = min(n or page, page)
    shown, rest = tags[:size], tags[size:]
    link = None
    if rest:
        query = urllib.parse.urlencode({"n": size, "last": shown[-1]})
        link = f'<{path}?{query}>; rel="next"'
    doc["tags"] = shown
    return json.dumps(doc).encode(), link
