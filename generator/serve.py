"""`sitegen serve`: a read-only WSGI server for a built site.

It answers from the files of the output only, through the same route table
nginx is configured from (`routes.py`), and adds what a plain static host
cannot: the headers 0.9.1 derived from storage, and `/v1/search?q=` from the
Whoosh index. GET and HEAD only; no path outside the output is ever opened.
"""

from __future__ import annotations

import email.utils
import json
import logging
import mimetypes
import random
import string
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from generator import paths, routes, serve_v2
from generator.emit import v1_json
from generator.routes import Headers, Missing, Route

log = logging.getLogger("sitegen.serve")

StartResponse = Callable[..., Any]
HeaderList = list[tuple[str, str]]

EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"
ONE_YEAR = 365 * 24 * 3600
JSON = "application/json"
HTML = "text/html; charset=utf-8"


class Answer:
    """A status, headers and body on their way out."""

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: HeaderList | None = None,
        content_type: str = JSON,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = [("Content-Type", content_type), *(headers or [])]


def no_cache() -> HeaderList:
    return [("Cache-Control", "no-cache"), ("Expires", "-1"), ("Pragma", "no-cache")]


def image_cache() -> HeaderList:
    expires = email.utils.formatdate(time.time() + ONE_YEAR, usegmt=True)
    return [
        ("Cache-Control", "public, max-age=31536000"),
        ("Expires", expires),
        ("Last-Modified", EPOCH),
    ]


class SiteApp:
    """The WSGI application for one output folder."""

    def __init__(self, site: Path, *, paginate: bool = False) -> None:
        self.site = site.resolve()
        self.paginate = paginate
        self._index: Any = None
        self._index_identity = 0
        self._index_lock = threading.Lock()

    def close(self) -> None:
        """Release the search index's open files."""
        with self._index_lock:
            if self._index is not None:
                self._index.close()
                self._index = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            answer = Answer(
                405,
                v1_json.METHOD_NOT_ALLOWED_HTML,
                [("Allow", "GET, HEAD")],
                content_type="text/html",
            )
        else:
            try:
                answer = self.answer(environ)
            except Exception:  # one request must never take the server down
                log.exception("error answering %s", environ.get("PATH_INFO"))
                answer = Answer(500, b'{"error": "internal error"}', no_cache())
        reason = _REASONS.get(answer.status, "")
        headers = [*answer.headers, ("Content-Length", str(len(answer.body)))]
        start_response(f"{answer.status} {reason}", headers)
        return [b"" if method == "HEAD" else answer.body]

    # -- routing ---------------------------------------------------------------

    def answer(self, environ: dict[str, Any]) -> Answer:
        url = _decoded_path(environ)
        if url is None:
            return _not_found()
        v2 = self._v2(url, environ)
        if v2 is not None:
            return v2
        if url == routes.USERS_URL:
            return Answer(200, v1_json.USERS, no_cache())
        if url == routes.USERS_URL.rstrip("/"):
            host = environ.get("HTTP_HOST", "localhost")
            return Answer(
                301,
                b"",
                [("Location", f"http://{host}{routes.USERS_URL}")],
                content_type="text/html; charset=utf-8",
            )
        found = routes.match(url)
        if found is None:
            return self._static(url)
        route, groups = found
        if route.name == "root":
            return self._root(route, environ)
        if route.image:
            early = self._image_guard(route, groups["image_id"], environ)
            if early is not None:
                return early
        if route.name == "search" and "q" in parse_qs(environ.get("QUERY_STRING", "")):
            searched = self._search(environ)
            if searched is not None:
                return searched
        path = self._file(paths.file_for_url(url))
        if path is None:
            return self._missing(route, route.missing, groups, environ)
        return self._found(route, path, url, groups, environ)

    def _v2(self, url: str, environ: dict[str, Any]) -> Answer | None:
        """The `/v2/` mirror's answer; None outside it, or on a site without one."""
        if url != "/v2" and not url.startswith("/v2/"):
            return None
        v2 = serve_v2.answer(url, self._file, environ.get("HTTP_RANGE"))
        return None if v2 is None else Answer(v2.status, v2.body, v2.headers, v2.content_type)

    def _image_guard(self, route: Route, image_id: str, environ: dict[str, Any]) -> Answer | None:
        """0.9.1's decorators, in order: valid id, upload finished, If-Modified-Since."""
        if not paths.IMAGE_ID_RE.match(image_id):
            return self._missing(route, routes.INVALID_IMAGE_ID, {}, environ)
        if self._file(paths.image_meta(image_id, "inprogress")) is not None:
            return self._missing(route, routes.IN_PROGRESS, {}, environ)
        if route.name == "image_diff":
            return None
        if environ.get("HTTP_IF_MODIFIED_SINCE"):
            cache = image_cache()
            return Answer(
                304,
                b"",
                [h for h in cache if h[0] != "Last-Modified"],
                content_type="text/html; charset=utf-8",
            )
        resource = environ["PATH_INFO"].rsplit("/", 1)[-1]
        for marker, missing in routes.MARKERS.items():
            if marker.startswith(resource + ".") and self._file(paths.image_meta(image_id, marker)):
                return self._missing(route, missing, {}, environ)
        return None

    # -- answers ---------------------------------------------------------------

    def _found(
        self, route: Route, path: Path, url: str, groups: dict[str, str], environ: dict[str, Any]
    ) -> Answer:
        body = path.read_bytes()
        headers = self._headers(route, 200, groups, environ)
        if route.name == "image" and url.endswith("/json"):
            headers += self._stored_headers(groups["image_id"])
        if route.headers is Headers.LAYER:
            return _ranged(body, headers, environ.get("HTTP_RANGE"))
        return Answer(200, body, headers, _content_type(route))

    def _missing(
        self, route: Route, missing: Missing, groups: dict[str, str], environ: dict[str, Any]
    ) -> Answer:
        if missing is routes.NOT_FOUND_HTML:
            return _not_found()
        headers = self._headers(route, missing.status, groups, environ)
        return Answer(missing.status, missing.body, headers, _content_type(route, missing.status))

    def _headers(
        self, route: Route, status: int, groups: dict[str, str], environ: dict[str, Any]
    ) -> HeaderList:
        family = route.headers
        if family in (Headers.IMAGE, Headers.LAYER) and (status < 400 or status == 416):
            headers = image_cache()
            if family is Headers.LAYER:
                headers.append(("Accept-Ranges", "bytes"))
            return headers
        headers = no_cache()
        if family is Headers.PING:
            headers.append(("X-Docker-Registry-Standalone", "True"))
        elif family is Headers.INDEX and status == 200:
            token = (
                f"Token signature={_signature()},"
                f'repository="{routes.token_repository(groups["repository"])}",access=read'
            )
            headers += [
                ("X-Docker-Endpoints", environ.get("HTTP_HOST", "localhost")),
                ("X-Docker-Token", token),
                ("WWW-Authenticate", token),
            ]
        return headers

    def _stored_headers(self, image_id: str) -> HeaderList:
        path = self._file(paths.image_meta(image_id, "headers.json"))
        if path is None:
            return []
        stored = json.loads(path.read_bytes())
        headers: HeaderList = []
        if "X-Docker-Size" in stored:
            headers.append(("X-Docker-Size", stored["X-Docker-Size"]))
        for checksum in stored.get("X-Docker-Checksum-Payload", []):
            headers.append(("X-Docker-Checksum-Payload", checksum))
        return headers

    def _root(self, route: Route, environ: dict[str, Any]) -> Answer:
        """`/` is both the v1 root document and the HTML index.

        Browsers (`Accept: text/html`) get the page; every other client gets
        0.9.1's JSON (docker and the oracle send no such Accept).
        """
        page = None
        if "text/html" in environ.get("HTTP_ACCEPT", ""):
            page = self._file(paths.page_file(paths.page_url("index")))
        if page is not None:
            answer = Answer(200, page.read_bytes(), no_cache(), HTML)
        else:
            path = self._file(paths.file_for_url("/"))
            if path is None:
                answer = self._missing(route, route.missing, {}, environ)
            else:
                answer = self._found(route, path, "/", {}, environ)
        answer.headers.append(("Vary", "Accept"))
        return answer

    def _static(self, url: str) -> Answer:
        """Files outside the v1 API (HTML pages and their assets); else the HTML 404 page."""
        if url.startswith("/v1/"):
            return _not_found()
        rel = url.strip("/")
        for candidate in ((f"{rel}/{paths.PAGE_FILE}" if rel else paths.PAGE_FILE), rel):
            path = self._file(candidate) if candidate else None
            if path is not None:
                ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                if ctype.startswith("text/") or ctype == "application/javascript":
                    ctype += "; charset=utf-8"
                return Answer(200, path.read_bytes(), [("Cache-Control", "no-cache")], ctype)
        page = self._file(paths.page_file(paths.page_url("not_found")))
        if page is None:  # a site built before the pages existed
            return _not_found()
        return Answer(404, page.read_bytes(), [("Cache-Control", "no-cache")], HTML)

    def _search(self, environ: dict[str, Any]) -> Answer | None:
        index = self._search_index()
        if index is None:
            return None
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        body = index.search(
            query.get("q", [""])[0],
            n=query.get("n", [None])[0],
            page=query.get("page", [None])[0],
            paginate=self.paginate,
        )
        return Answer(200, body, no_cache())

    def _search_index(self) -> Any:
        """The index of the site published now; reopened after a rebuild swapped it."""
        directory = self.site / paths.INDEX_DIR
        try:
            identity = directory.stat().st_ino
        except OSError:
            return None
        with self._index_lock:
            if self._index is None or self._index_identity != identity:
                from generator.index import SearchIndex  # only when a site has an index

                if self._index is not None:
                    self._index.close()
                self._index = SearchIndex.open(directory)
                self._index_identity = identity
            return self._index

    def _file(self, relpath: str) -> Path | None:
        """The file at `relpath` inside the site, refusing anything that leads out of it."""
        candidate = self.site / relpath
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.site) or not resolved.is_file():
            return None
        return resolved


def _decoded_path(environ: dict[str, Any]) -> str | None:
    """PATH_INFO as text, or None for anything hostile (`..`, NUL, internal files)."""
    raw = environ.get("PATH_INFO", "/") or "/"
    try:
        url = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    segments = url.split("/")
    if any(s in (".", "..") or "\x00" in s or s == paths.DOC_NAME for s in segments):
        return None
    if len(segments) > 1 and segments[1] == paths.INTERNAL_DIR:
        return None
    return url


def _content_type(route: Route, status: int = 200) -> str:
    if route.headers is Headers.LAYER and (status < 400 or status == 416):
        return "application/octet-stream"
    return JSON


def _not_found() -> Answer:
    return Answer(404, v1_json.NOT_FOUND_HTML, content_type="text/html")


def _ranged(body: bytes, headers: HeaderList, range_header: str | None) -> Answer:
    """0.9.1's byte ranges: 206 with `Content-Range: a-b/size` (no `bytes ` prefix, as it sent)."""
    ctype = "application/octet-stream"
    size = len(body)
    if not range_header:
        return Answer(200, body, headers, ctype)
    start_end = range_header.removeprefix("bytes=").split("-", 1)
    try:
        start = int(start_end[0])
        end = int(start_end[1]) if len(start_end) > 1 and start_end[1] else size - 1
    except ValueError:
        return Answer(416, b"", headers, ctype)
    if start > end or start >= size:
        return Answer(416, b"", headers, ctype)
    end = min(end, size - 1)
    return Answer(
        206, body[start : end + 1], [*headers, ("Content-Range", f"{start}-{end}/{size}")], ctype
    )


def _signature() -> str:
    """0.9.1's token signature: 16 random upper-case letters and digits."""
    return "".join(random.choices(string.ascii_uppercase + string.digits, k=16))


_REASONS = {
    200: "OK",
    206: "Partial Content",
    301: "Moved Permanently",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    416: "Requested Range Not Satisfiable",
    500: "Internal Server Error",
}


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s - %s", self.address_string(), format % args)


def make_site_server(
    site: Path, host: str = "127.0.0.1", port: int = 8000, *, paginate: bool = False
) -> WSGIServer:
    """A threaded server bound to host:port (port 0 picks a free one)."""
    return make_server(
        host,
        port,
        SiteApp(site, paginate=paginate),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
