"""One polite `requests.Session` to a registry: keep-alive, timeouts, retries, auth, TLS.

Retries are urllib3's `Retry` mounted through an `HTTPAdapter`: connection
errors, 429 and 5xx are retried with exponential backoff (0 s, 1 s, 2 s, 4 s…,
at most 30 s), and a `Retry-After` is honoured, up to `RETRY_AFTER_MAX`
seconds (a registry asking for an hour would stall a nightly build). Only
GET and HEAD are sent, so every request may be repeated. The connection pool
holds as many connections as requests may be in flight (`http.parallel`).

`verify` is passed with every request rather than set on the session:
requests lets `REQUESTS_CA_BUNDLE` override a session's setting, and a
`ca_bundle` given in sitegen.yaml must win. No header is ever logged.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
import warnings
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from generator import __version__
from generator.config import HttpConfig
from generator.sources.http_auth import (
    HOW_TO_LOG_IN,
    Authenticator,
    AuthError,
    Credentials,
    parse_challenge,
)

log = logging.getLogger("sitegen")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_MAX = 60.0
"""Longest `Retry-After` obeyed, in seconds."""
BACKOFF_FACTOR = 0.5
BACKOFF_MAX = 30.0
MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    )
)
"""Every manifest type: the registry then sends each manifest as stored, never converted."""


class FetchError(Exception):
    """A request that did not get a usable answer (after retries); `url` and `reason` name it."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class NotFound(FetchError):
    """404: the registry does not hold it (a content problem, not a failure of the registry)."""


class Aborted(Exception):
    """The crawl was stopped (too many failures); workers give up their next request."""


class _Retry(Retry):
    """urllib3's Retry, with a cap on how long a `Retry-After` may make it wait."""

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, RETRY_AFTER_MAX)


@dataclass
class Stats:
    """What the crawl cost, for the log line at its end."""

    requests: int = 0
    bytes: int = 0


class RegistryClient:
    """GET and HEAD under the registry's base URL, answering its auth challenges."""

    def __init__(self, base: str, options: HttpConfig, credentials: Credentials | None) -> None:
        self.base = base
        self.api = f"{base}/v2/"
        self._origin = urllib.parse.urlsplit(base)[:2]
        self.timeout = (float(options.timeout), float(options.timeout))
        self.retries = options.retries
        self._timed_out = f"no answer within {options.timeout} s (http.timeout)"
        self.verify: bool | str = str(options.ca_bundle) if options.ca_bundle else True
        if not options.tls_verify:
            self.verify = False
            log.warning("http.tls_verify is false: the registry's certificate is not checked")
            # Said once here rather than by urllib3 on every request (a process-wide filter:
            # `catch_warnings` per request would race between the crawl's threads).
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"sitegen/{__version__}"
        retry = _Retry(
            total=options.retries,
            connect=options.retries,
            read=options.retries,
            status=options.retries,
            other=0,
            backoff_factor=BACKOFF_FACTOR,
            backoff_max=BACKOFF_MAX,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "HEAD"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(
            max_retries=retry, pool_connections=4, pool_maxsize=max(options.parallel, 1)
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.auth = Authenticator(base, credentials, self._token_request)
        self.stats = Stats()
        self._stats_lock = threading.Lock()
        self.abort = threading.Event()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        """The URL of an API path such as `_catalog` or `busybox/tags/list` (already quoted)."""
        return self.api + path

    def same_origin(self, url: str) -> bool:
        return urllib.parse.urlsplit(url)[:2] == self._origin

    def request(
        self,
        url: str,
        *,
        scope: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        stream: bool = False,
        ok: tuple[int, ...] = (200,),
    ) -> requests.Response:
        """The response, with a status in `ok`; otherwise FetchError (NotFound for 404)."""
        sent = dict(headers or {})
        authorization = self._authorization(url, scope, None)
        response = self._send(method, url, sent, authorization, stream)
        if response.status_code == 401:
            challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
            response.close()
            authorization = self._authorization(url, scope, (challenge, authorization))
            response = self._send(method, url, sent, authorization, stream)
            if response.status_code == 401:
                response.close()
                raise FetchError(url, f"401 Unauthorized: {self._refused()}", 401)
        if response.status_code in ok:
            return response
        error = _status_error(url, response)
        response.close()
        raise error

    def _refused(self) -> str:
        credentials = self.auth.credentials
        if credentials is None:
            return f"anonymous access was refused; {HOW_TO_LOG_IN}"
        return f"the credentials from {credentials.origin} were refused"

    def _authorization(
        self, url: str, scope: str, challenged: tuple[Any, str | None] | None
    ) -> str | None:
        try:
            if challenged is None:
                return self.auth.header(scope)
            return self.auth.answer(challenged[0], scope, refused=challenged[1])
        except AuthError as exc:
            raise FetchError(url, f"authentication: {exc}", 401) from None

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        authorization: str | None,
        stream: bool,
    ) -> requests.Response:
        if self.abort.is_set():
            raise Aborted
        if authorization is not None:
            headers = {**headers, "Authorization": authorization}
        try:
            response = self._call(method, url, headers=headers, stream=stream)
        except requests.exceptions.SSLError as exc:
            raise FetchError(url, f"TLS: {_tls_reason(exc)}") from None
        except requests.exceptions.RetryError as exc:
            raise FetchError(url, f"gave up after retries ({_reason(exc)})") from None
        except requests.exceptions.Timeout:
            raise FetchError(url, self._timed_out) from None
        except requests.exceptions.RequestException as exc:
            reason = _reason(exc)
            if reason == "timeout":
                reason = self._timed_out
            raise FetchError(url, f"{reason} (after {self.retries} retries)") from None
        with self._stats_lock:
            self.stats.requests += 1 + _retries(response)
        return response

    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, url, timeout=self.timeout, verify=self.verify, **kwargs)

    def _token_request(
        self, realm: str, params: list[tuple[str, str]], authorization: str | None
    ) -> requests.Response:
        headers = {"Authorization": authorization} if authorization else {}
        try:
            return self._call("GET", realm, params=params, headers=headers)
        except requests.exceptions.RequestException as exc:
            raise AuthError(f"the token server {realm}: {_reason(exc)}") from None

    def count_bytes(self, size: int) -> None:
        with self._stats_lock:
            self.stats.bytes += size


def _status_error(url: str, response: requests.Response) -> FetchError:
    status = response.status_code
    text = f"{status} {response.reason or ''}".strip()
    retried = _retries(response)
    if retried:
        text += f" after {retried} retries"
    code = _error_code(response)
    if code:
        text += f" ({code})"
    if status == 404:
        return NotFound(url, text, status)
    if status == 403:
        text += ": access denied for these credentials"
    return FetchError(url, text, status)


def _error_code(response: requests.Response) -> str | None:
    """The first `errors[].code` of a registry error body (`MANIFEST_UNKNOWN`…), if any."""
    try:
        doc = response.json()
    except ValueError:
        return None
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        return str(code)[:60] if code else None
    return None


def _retries(response: requests.Response) -> int:
    retries = getattr(response.raw, "retries", None)
    return len(retries.history) if retries is not None else 0


def _reason(exc: BaseException) -> str:
    """A short cause without URLs or headers: `connection refused`, `connection reset`…"""
    text = str(exc)
    for needle, said in (
        ("Connection refused", "connection refused"),
        ("Connection reset", "connection reset"),
        ("Name or service not known", "unknown host"),
        ("Temporary failure in name resolution", "unknown host"),
        ("RemoteDisconnected", "the server closed the connection"),
        ("timed out", "timeout"),
        ("Max retries exceeded", "too many errors"),
        ("too many 5", "too many error answers"),
        ("too many 429", "too many 429 answers"),
    ):
        if needle in text:
            return said
    return type(exc).__name__


def _tls_reason(exc: BaseException) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        detail = text.split("certificate verify failed:", 1)[-1].split(")")[0].strip(" '\"")
        return (
            f"certificate verify failed ({detail or 'untrusted'}); give its CA with "
            "http.ca_bundle"
        )
    if "WRONG_VERSION_NUMBER" in text:
        return "the server does not speak TLS here (try http://)"
    return "handshake failed"
