"""Credentials and the registry token flow, kept out of every log line and file.

A registry answers 401 with a `WWW-Authenticate` challenge. `Basic` wants
the user and password on every request. `Bearer` (the distribution token
flow, Docker Hub, Harbor, GitLab...) names a token server (`realm`), a
`service` and a `scope`; the token server trades the credentials, or
nothing for anonymous pulls, for a short-lived token, cached here per scope
until shortly before its `expires_in` runs out, and fetched again when the
registry refuses it.

Credentials come from, first found wins:
1. `SITEGEN_REGISTRY_USERNAME` / `SITEGEN_REGISTRY_PASSWORD` (each one
   replaces its config key, so a cron job can keep the password out of
   the file);
2. `http.username` / `http.password` in sitegen.yaml;
3. the `auths` entry for the registry's host in a Docker `config.json`
   (`http.docker_config`, else `$DOCKER_CONFIG/config.json`, else
   `~/.docker/config.json`), as written by `docker login`/`skopeo login`.
   Credential helpers (`credsStore`, `credHelpers`) and `identitytoken`
   entries are not run or used.

Nothing here logs a header, a password or a token; `Credentials` and
`Challenge` keep secrets out of their repr.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.config import HttpConfig
from generator.errors import ConfigError

log = logging.getLogger("sitegen")

USERNAME_VARIABLE = "SITEGEN_REGISTRY_USERNAME"
PASSWORD_VARIABLE = "SITEGEN_REGISTRY_PASSWORD"
DEFAULT_TOKEN_LIFETIME = 60
"""Seconds a token lives when the token server does not say (the distribution spec's default)."""


class AuthError(Exception):
    """The registry wants credentials that are missing, refused, or cannot be sent safely."""


@dataclass(frozen=True)
class Credentials:
    """A user and password, and where they came from (said in messages instead of them)."""

    username: str
    password: str = field(repr=False)
    origin: str
    """`the environment`, `sitegen.yaml (http.username)` or the Docker config file."""

    def basic(self) -> str:
        """The `Authorization` value for Basic auth."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def find_credentials(
    options: HttpConfig, registry: str, env: Mapping[str, str] = os.environ
) -> Credentials | None:
    """The credentials for `registry` (a base URL), or None to crawl anonymously."""
    username = env.get(USERNAME_VARIABLE) or options.username
    password = env.get(PASSWORD_VARIABLE) or options.password
    if username:
        if not password:
            raise ConfigError(
                f"'http.username': {username!r} has no password; set {PASSWORD_VARIABLE} "
                "(or http.password)"
            )
        origin = "the environment" if env.get(USERNAME_VARIABLE) else "sitegen.yaml (http.username)"
        return Credentials(username, password, origin)
    docker_config = options.docker_config or _default_docker_config(env)
    if docker_config is None:
        return None
    host = urllib.parse.urlsplit(registry).netloc
    return _from_docker_config(docker_config, host, explicit=options.docker_config is not None)


def _default_docker_config(env: Mapping[str, str]) -> Path | None:
    folder = env.get("DOCKER_CONFIG")
    path = Path(folder) / "config.json" if folder else Path.home() / ".docker" / "config.json"
    return path if path.is_file() else None


def _from_docker_config(path: Path, host: str, *, explicit: bool) -> Credentials | None:
    """The `auths` entry for `host` in a Docker config file (keys may carry a scheme or path)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not JSON"
        if explicit:
            raise ConfigError(f"'http.docker_config': {path}: cannot read it ({reason})") from None
        log.warning("%s: ignored, cannot read it (%s)", path, reason)
        return None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if _docker_config_host(str(key)) != host.lower() or not isinstance(entry, dict):
            continue
        found = _entry_credentials(entry)
        if found is None:
            log.info("%s: the entry for %s holds no user and password; ignored", path, host)
            return None
        return Credentials(found[0], found[1], str(path))
    return None


def _docker_config_host(key: str) -> str:
    """`host[:port]` of an `auths` key (`https://host/v1/` is how old Docker wrote them)."""
    without_scheme = key.split("://", 1)[-1]
    return without_scheme.split("/", 1)[0].lower()


def _entry_credentials(entry: dict[str, Any]) -> tuple[str, str] | None:
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, password = base64.b64decode(auth, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep and user else None
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and user and isinstance(password, str):
        return user, password
    return None


# --- challenges ---------------------------------------------------------------------------------

_PARAM = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge: `Basic` or `Bearer`, and its parameters."""

    scheme: str
    """Lower-cased: `basic` or `bearer` (anything else cannot be answered)."""
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str | None) -> Challenge | None:
    """The first challenge of a `WWW-Authenticate` value (RFC 7235 auth-params)."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            break
        value = match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[match.group(1).lower()] = value
        position = match.end()
    return Challenge(scheme.lower(), params)


# --- answering them -----------------------------------------------------------------------------


@dataclass
class _Token:
    value: str = field(repr=False)
    refresh_at: float


TokenFetcher = Callable[[str, list[tuple[str, str]], str | None], Any]
"""GET `realm` with query params and an optional `Authorization`; returns a requests Response."""


class Authenticator:
    """What to send in `Authorization` for a scope, learned from the registry's challenges.

    Thread-safe: the crawl asks from several workers at once. Tokens are
    fetched under one lock, so a scope's token is fetched once, not once
    per worker.
    """

    def __init__(
        self,
        registry: str,
        credentials: Credentials | None,
        fetch: TokenFetcher,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = urllib.parse.urlsplit(registry)
        self.credentials = credentials
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._basic = False
        self._bearer: Challenge | None = None
        self._tokens: dict[str, _Token] = {}
        self.tokens_fetched = 0

    def header(self, scope: str) -> str | None:
        """The `Authorization` to send before any challenge: what worked before, if anything."""
        with self._lock:
            if self._basic and self.credentials is not None:
                return self.credentials.basic()
            token = self._tokens.get(scope)
            if token is not None and self._clock() < token.refresh_at:
                return f"Bearer {token.value}"
        if self._bearer is not None:  # known token flow: fetch this scope's token up front
            return self.answer(self._bearer, scope, refused=None)
        return None

    def answer(self, challenge: Challenge | None, scope: str, refused: str | None) -> str:
        """The `Authorization` answering `challenge`; `refused`: what the registry just refused."""
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            shown = challenge.scheme if challenge else "no challenge"
            raise AuthError(f"the registry refused the request ({shown}); sitegen cannot answer")
        if challenge.scheme == "basic":
            if self.credentials is None:
                raise AuthError(f"the registry wants a user and password; {HOW_TO_LOG_IN}")
            if refused is not None and refused.startswith("Basic "):
                raise AuthError(f"the credentials from {self.credentials.origin} were refused")
            with self._lock:
                self._basic = True
            return self.credentials.basic()
        with self._lock:
            # Where tokens come from; the scope is each request's own.
            self._bearer = Challenge("bearer", {
                k: v for k, v in challenge.params.items() if k in ("realm", "service")
            })
            token = self._tokens.get(scope)
            if token is not None and refused == f"Bearer {token.value}":
                token = None  # refused: revoked, or expired early
            if token is None or self._clock() >= token.refresh_at:
                token = self._new_token(challenge, scope)
                self._tokens[scope] = token
            return f"Bearer {token.value}"

    def _new_token(self, challenge: Challenge, scope: str) -> _Token:
        realm = challenge.params.get("realm", "")
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AuthError(f"the registry names a token server that is not a URL: {realm[:100]!r}")
        params = [("service", challenge.params["service"])] if "service" in challenge.params else []
        wanted = challenge.params.get("scope") or scope
        params += [("scope", one) for one in wanted.split(" ") if one]
        authorization = None
        if self.credentials is not None:
            if not self._may_send_credentials(parts):
                raise AuthError(
                    f"the token server {realm} is plain http on another host; sitegen does not "
                    "send the password there"
                )
            params.append(("account", self.credentials.username))
            authorization = self.credentials.basic()
        response = self._fetch(realm, params, authorization)
        with response:
            if response.status_code in (401, 403):
                who = f"the credentials from {self.credentials.origin}" if self.credentials else (
                    "anonymous access"
                )
                hint = "" if self.credentials else f"; {HOW_TO_LOG_IN}"
                raise AuthError(
                    f"the token server {realm} refused {who} ({response.status_code}){hint}"
                )
            if response.status_code != 200:
                raise AuthError(f"the token server {realm} answered {response.status_code}")
            try:
                doc = response.json()
            except ValueError:
                doc = None
        value = (doc.get("token") or doc.get("access_token")) if isinstance(doc, dict) else None
        if not isinstance(value, str) or not value:
            raise AuthError(f"the token server {realm} answered without a token")
        lifetime = doc.get("expires_in") if isinstance(doc, dict) else None
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        self.tokens_fetched += 1
        # Refresh a little early, so a token does not run out between a check and its use.
        return _Token(value, self._clock() + lifetime - min(10.0, lifetime / 4))

    def _may_send_credentials(self, realm: urllib.parse.SplitResult) -> bool:
        """https anywhere; plain http only to the registry's own host (already trusted so)."""
        return realm.scheme == "https" or realm.hostname == self.registry.hostname


HOW_TO_LOG_IN = (
    f"set http.username and {PASSWORD_VARIABLE}, or `docker login` so that "
    "~/.docker/config.json has an entry for the host"
)
