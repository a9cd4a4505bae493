"""Read `sitegen.yaml` into a frozen, checked `Config` whose paths are absolute.

The dataclasses below are both the schema and its documentation: one attribute
per key, with a one-line docstring under it (the mkdocs `defaults.py` shape).
`config_keys()` lists the keys so that a docs test can hold the README to them.

`load_config()` checks everything and collects *every* error before it raises
one `ConfigError`, because a cron job that stops at the first of three mistakes
costs three nights. Each message names the file and the key. Unknown keys are
errors, not warnings: a misspelt option that is silently dropped is an option
that cron users lose without noticing. Relative paths in the file are read from
the file's folder, not from the current directory, because cron runs from `/`.
"""

from __future__ import annotations

import datetime
import difflib
import os
import stat
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import Field, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from generator.errors import ConfigError

CONFIG_FILE_NAME = "sitegen.yaml"
"""Read from the current directory when no config file is given."""

SOURCE_TYPES: tuple[str, ...] = ("auto", "v1", "v2", "http")
"""Every accepted `source_type`; the one list that messages and sources use."""

URL_SCHEMES = ("http://", "https://")
"""A `source` starting with one of these is a registry's API, not a storage folder."""


def _base_url_problem(value: str) -> str | None:
    """A URL path such as `/registry/`: links are made by prefixing it."""
    if not value.startswith("/") or "//" in value or any(c in value for c in "?#\\ "):
        return f"expected a URL path such as '/' or '/registry/', got {value!r}"
    return None


def _platform_problem(value: str) -> str | None:
    """`os/architecture[/variant]` as image indexes name platforms (`linux/arm64/v8`)."""
    parts = value.split("/")
    if len(parts) in (2, 3) and all(p and p == p.strip() and p.isascii() for p in parts):
        return None
    return f"expected os/architecture[/variant] such as 'linux/amd64', got {value!r}"


def _host_problem(value: str) -> str | None:
    """A host[:port] as docker names it: no scheme, no path, no spaces."""
    if "://" in value or "/" in value or any(c.isspace() for c in value):
        return f"expected a host such as 'registry.example.com:5000' (no https://), got {value!r}"
    return None


@dataclass(frozen=True)
class SearchConfig:
    """The `search:` section: how the published `/v1/search` answers."""

    paginate: bool = False
    """Honour `n` and `page` in search; off answers like registry 0.9.1, which ignores them."""


@dataclass(frozen=True)
class HttpConfig:
    """The `http:` section: how a registry given by URL is crawled (see sources/http.py)."""

    username: str = ""
    """User for Basic auth and token requests; SITEGEN_REGISTRY_USERNAME overrides it."""
    password: str = field(default="", repr=False, metadata={"secret": True})
    """Its password, never logged; prefer SITEGEN_REGISTRY_PASSWORD, which overrides it."""
    docker_config: Path | None = field(default=None, metadata={"file": True})
    """A Docker `config.json` whose `auths` entry gives credentials (default: Docker's own)."""
    ca_bundle: Path | None = field(default=None, metadata={"file": True})
    """PEM file of the CA certificates trusted for the registry, instead of the system's."""
    tls_verify: bool = True
    """Check the registry's TLS certificate; false accepts any certificate (tests only)."""
    parallel: int = field(default=4, metadata={"min": 1, "max": 64})
    """How many requests are in flight at once."""
    timeout: int = field(default=30, metadata={"min": 1, "max": 3600})
    """Seconds to wait for a connection or for the next bytes of an answer."""
    retries: int = field(default=5, metadata={"min": 0, "max": 20})
    """Retries of a request after a connection error, 429 or 5xx, with backoff and Retry-After."""
    page_size: int = field(default=100, metadata={"min": 1, "max": 10000})
    """`n` asked of `_catalog` and `tags/list`; the registry's `Link` header gives the next page."""
    max_failed_percent: int = field(default=10, metadata={"min": 0, "max": 100})
    """Percent of repositories that may fail to be read; above it the old site is kept."""


@dataclass(frozen=True)
class Config:
    """A checked configuration. Relative paths given here are made absolute.

    Relative `source`/`output` are read from the folder of `config_file`, or
    from the current directory without one, so `Config(source=...)` built in
    code follows the same rule as the YAML file.
    """

    source: Path | str
    """The registry's storage root folder or API URL (required); sitegen only reads it."""
    output: Path = Path("site")
    """Where the site is published; each build replaces it whole, so it must not overlap source."""
    include_private: bool = False
    """Also publish repositories marked private; off because a static site cannot check who asks."""
    include_layers: bool = False
    """Also publish layer blobs; off because layers are large and the site would copy them all."""
    source_type: str = field(default="auto", metadata={"choices": SOURCE_TYPES})
    """What to read: `auto` detects it; `v1`, `v2` (folders) or `http` (a URL) force one."""
    platform: str = field(default="linux/amd64", metadata={"check": _platform_problem})
    """The child of a v2 multi-platform tag that its v1 view (v1 API, search) shows."""
    search: SearchConfig = SearchConfig()
    """Options of the published search."""
    title: str = "Docker registry"
    """The site's name, shown in every HTML page's title and header."""
    registry_host: str = field(default="", metadata={"check": _host_problem})
    """Host[:port] in the pages' `docker pull` commands; empty: the host serving the pages."""
    base_url: str = field(default="/", metadata={"check": _base_url_problem})
    """URL path the site is published under (`/registry/`); every page link starts with it."""
    index_limit: int = field(default=1000, metadata={"min": 0, "max": 1_000_000})
    """Most repositories the index page lists; with more, it lists namespaces (a row each)."""
    templates_dir: Path | None = None
    """Templates that replace the shipped ones by name (`default:page.html` names an original)."""
    http: HttpConfig = HttpConfig()
    """How a registry given by URL is crawled: credentials, TLS, politeness."""
    config_file: Path | None = field(default=None, metadata={"key": False})
    """The YAML file this came from (not a key): relative paths are read from its folder."""

    def __post_init__(self) -> None:
        config_file = _absolute(Path(self.config_file), Path.cwd()) if self.config_file else None
        base = config_file.parent if config_file else Path.cwd()
        object.__setattr__(self, "config_file", config_file)
        if is_url(self.source):
            object.__setattr__(self, "source", registry_url(str(self.source)))
        else:
            object.__setattr__(self, "source", _absolute(Path(self.source), base))
        object.__setattr__(self, "output", _absolute(Path(self.output), base))
        if self.templates_dir is not None:
            templates = _absolute(Path(self.templates_dir).expanduser(), base)
            object.__setattr__(self, "templates_dir", templates)
        if not self.base_url.endswith("/"):  # `/registry` means the folder `/registry/`
            object.__setattr__(self, "base_url", self.base_url + "/")

    @property
    def source_url(self) -> str | None:
        """The registry's base URL when `source` is one (`https://host[/prefix]`), else None."""
        return self.source if isinstance(self.source, str) else None


def is_url(source: object) -> bool:
    """Whether a `source` names a registry's API rather than a storage folder."""
    return isinstance(source, str) and source.lower().startswith(URL_SCHEMES)


def registry_url(url: str) -> str:
    """`https://host[:port][/prefix]`: scheme and host lower-cased, no `/` or `/v2` at the end."""
    parts = urllib.parse.urlsplit(url.strip())
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v2").rstrip("/")
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "", ""))


def config_keys() -> list[str]:
    """Every key a config file may hold, in schema order, nested ones dotted.

    Sections such as `search` are not listed on their own, only their keys
    (`search.paginate`).
    """
    return list(_keys(Config, ""))


def load_config(
    path: Path | None = None,
    *,
    source: str | Path | None = None,
    output: str | Path | None = None,
    need_source: bool = True,
) -> Config:
    """Read, check and resolve the configuration; raise one ConfigError listing every problem.

    `path=None` reads `./sitegen.yaml` when it exists, else only defaults and
    overrides apply. `source` and `output` come from the command line: they
    replace the file's values, and relative ones are read from the current
    directory, as a shell user expects. `need_source=False` is for commands
    that only read the output (serve, nginx-config): the site may be served
    on a host that cannot see the registry's storage.
    """
    cwd = Path.cwd()
    file, label = _locate(path, cwd)
    raw, errors = _read_yaml(file, label) if file else ({}, [])
    overridden = {"source": source, "output": output}
    ctx = _Context(label=label or "", base=file.parent if file else cwd, errors=errors)
    values = _check_section(
        Config, raw, ctx, prefix="", skip={k for k, v in overridden.items() if v is not None}
    )

    url = _source_url(source, raw, ctx)
    src = None if url is not None else _place("source", source, raw, ctx, cwd)
    out = _place("output", output, raw, ctx, cwd)
    if src is None and url is None and source is None and "source" not in raw and need_source:
        errors.append(_missing_source(label, cwd))
    if url is not None and need_source:
        _check_url(url, errors)
    if src is not None and need_source:
        _check_source(src, errors)
    if need_source:
        _check_source_type(values.get("source_type", "auto"), url, src, ctx)
    if out is not None:
        _check_output(out, errors)
    if src is not None and out is not None and need_source:
        _check_overlap(src, out, errors)

    if errors:
        raise ConfigError(errors)
    assert out is not None  # no errors means it was set
    source_value = url.text if url else (src.path if src else Path())
    values.update(source=source_value, output=out.path, config_file=file)
    return Config(**values)


# --- reading the file ---------------------------------------------------------------------------


def _locate(path: Path | None, cwd: Path) -> tuple[Path | None, str | None]:
    """The config file to read (absolute) and its name as the user gave it."""
    if path is None:
        default = cwd / CONFIG_FILE_NAME
        if not (default.exists() or default.is_symlink()):
            return None, None
        return default, CONFIG_FILE_NAME
    return _absolute(Path(path).expanduser(), cwd), str(path)


def _read_yaml(file: Path, label: str) -> tuple[Mapping[Any, Any], list[str]]:
    """The file's top-level mapping and any duplicate-key errors; fatal problems raise at once."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        shown = "" if label == str(file) else f" ({file})"
        raise ConfigError(f"{label}: config file does not exist{shown}") from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{label}: config file is not readable (permission denied)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read the config file: {exc.strerror}") from None

    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: {_yaml_error(exc)}") from None
    finally:
        loader.dispose()

    if data is None:  # an empty file sets nothing
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{label}: expected a mapping of options (lines like 'source: /var/lib/registry'), "
            f"got {_describe(data)}"
        )
    errors = [
        f"{label}: line {line}: duplicate key '{key}' (first on line {first}); "
        "YAML would silently keep only the last one"
        for key, line, first in loader.duplicates
    ]
    return data, errors


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """The safe loader, noting duplicate keys: plain YAML keeps the last one without a word."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, int, int]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                self.duplicates.append((key_node.value, line, seen[key_node.value]))
            else:
                seen[key_node.value] = line
        return super().construct_mapping(node, deep=deep)


def _yaml_error(exc: yaml.YAMLError) -> str:
    """`line L, column C: invalid YAML: <problem>`, as precise as PyYAML knows."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        text = f"line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {exc.problem}"
        if exc.context and exc.context_mark is not None:
            text += f" ({exc.context} on line {exc.context_mark.line + 1})"
        return text
    return f"invalid YAML: {exc}"


# --- checking keys and values -------------------------------------------------------------------


@dataclass
class _Context:
    """Where messages point and where relative paths of the file are read from."""

    label: str
    """The config file as the user named it; empty without a file."""
    base: Path
    """The config file's folder (or the current directory without a file)."""
    errors: list[str]

    def error(self, key: str, text: str) -> None:
        self.errors.append(f"{self.label}: '{key}': {text}")


class _Invalid:
    """Marks a value that failed its check (its error is already recorded)."""


_INVALID = _Invalid()


def _key_fields(schema: type) -> list[Field[Any]]:
    """The fields of a schema class that are config keys."""
    return [f for f in fields(schema) if f.metadata.get("key", True)]


def _keys(schema: type, prefix: str) -> Iterator[str]:
    hints = get_type_hints(schema)
    for f in _key_fields(schema):
        kind = hints[f.name]
        if is_dataclass(kind):
            yield from _keys(kind, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}"


def _check_section(
    schema: type, raw: Mapping[Any, Any], ctx: _Context, prefix: str, skip: set[str]
) -> dict[str, Any]:
    """Check one mapping against one schema class; return its valid values by field name.

    Path keys are only checked for shape here: `_place` resolves them, because
    where they are read from depends on who gave them.
    """
    known = {f.name: f for f in _key_fields(schema)}
    for key in raw:
        if key not in known:
            ctx.errors.append(f"{ctx.label}: {_unknown(key, prefix, list(known))}")
    hints = get_type_hints(schema)
    values: dict[str, Any] = {}
    for name, fld in known.items():
        if name in skip or name not in raw:
            continue
        kind = hints[name]
        value = raw[name]
        dotted = f"{prefix}{name}"
        if is_dataclass(kind):
            if isinstance(value, dict):
                values[name] = kind(**_check_section(kind, value, ctx, f"{dotted}.", set()))
            else:
                sub = ", ".join(f.name for f in _key_fields(kind))
                ctx.error(dotted, f"expected a section with the keys {sub}, got {_describe(value)}")
            continue
        checked = _check_value(kind, fld, value, dotted, ctx)
        if checked is not _INVALID and kind not in (Path, Path | str):
            values[name] = checked
    return values


def _check_value(kind: Any, fld: Field[Any], value: Any, key: str, ctx: _Context) -> Any:
    """The value if it has the right shape for `kind`, else record why and return `_INVALID`."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        ctx.error(key, f"expected true or false, got {_describe(value)}.{_bool_hint(value)}")
    elif kind is Path or kind == Path | str or kind is int:
        problem = (
            _int_problem(value, fld.metadata.get("min"), fld.metadata.get("max"))
            if kind is int
            else _path_problem(value)
        )
        if problem is None:
            return value
        ctx.error(key, problem)
    elif kind is str and "choices" in fld.metadata:
        choices = fld.metadata["choices"]
        if value in choices:
            return value
        listed = ", ".join(choices)
        if isinstance(value, str):
            ctx.error(key, f"{value!r} is not one of {listed}{_did_you_mean(value, choices)}")
        else:
            ctx.error(key, f"expected one of {listed}, got {_describe(value)}")
    elif kind is str:
        problem = _string_problem(value, fld.metadata.get("check"))
        if problem is None:
            return value
        secret = fld.metadata.get("secret")  # a password is never repeated in a message
        ctx.error(key, "expected a string. Hint: put it in quotes." if secret else problem)
    elif kind == Path | None:  # an optional folder or file, read from the config file's folder
        folder = _absolute(Path(value).expanduser(), ctx.base) if isinstance(value, str) else None
        existing = _file_problem if fld.metadata.get("file") else _folder_problem
        problem = _path_problem(value) or existing(folder, value)
        if problem is None:
            return folder
        ctx.error(key, problem)
    else:  # a schema field without a checker is a bug here, not a user mistake
        raise TypeError(f"no check for config key {key!r} of type {kind!r}")
    return _INVALID


def _string_problem(value: Any, check: Callable[[str], str | None] | None) -> str | None:
    if not isinstance(value, str):
        return f"expected a string, got {_describe(value)}. Hint: put it in quotes."
    return check(value) if check else None


def _int_problem(value: Any, low: int | None, high: int | None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        hint = " Hint: remove the quotes." if isinstance(value, str) and value.isdigit() else ""
        return f"expected a whole number, got {_describe(value)}.{hint}"
    if (low is not None and value < low) or (high is not None and value > high):
        return f"expected a number from {low} to {high}, got {value}"
    return None


def _file_problem(file: Path | None, value: Any) -> str | None:
    if file is None or file.is_file():
        return None
    read_from = "" if Path(value).is_absolute() else " (read from the config file's folder)"
    return f"{file} is not a file{read_from}"


def _folder_problem(folder: Path | None, value: Any) -> str | None:
    if folder is None or folder.is_dir():
        return None
    read_from = "" if Path(value).is_absolute() else " (read from the config file's folder)"
    return f"{folder} is not a directory{read_from}"


def _path_problem(value: Any) -> str | None:
    """Why `value` cannot be a path, or None."""
    if isinstance(value, str) and value.strip():
        return None
    if isinstance(value, str):
        return "expected a path, got an empty string"
    quotable = isinstance(value, int | float | datetime.date)  # YAML read `2024` as a number
    hint = " Hint: put it in quotes." if quotable else ""
    return f"expected a path (a string), got {_describe(value)}.{hint}"


_BOOL_WORDS = frozenset({"true", "false", "yes", "no", "on", "off"})
"""Words that YAML reads as booleans when they are not quoted."""


def _bool_hint(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return " Hint: remove the quotes."
    if value in (0, 1) and not isinstance(value, bool):
        return " Hint: write true or false."
    return ""


def _unknown(key: Any, prefix: str, here: list[str]) -> str:
    """`unknown key 'x'; did you mean 'y'?`, or the keys of this section when nothing is close."""
    if not isinstance(key, str):
        return f"unknown key {key!r} (keys are names such as 'source')"
    guess = _did_you_mean(f"{prefix}{key}", config_keys())
    if not guess:  # a nested key written at the top, or the other way round
        by_leaf = {k.rsplit(".", 1)[-1]: k for k in config_keys()}
        guess = _did_you_mean(key, list(by_leaf), shown=by_leaf)
    if guess:
        return f"unknown key '{prefix}{key}'{guess}"
    listed = ", ".join(f"{prefix}{k}" for k in here)
    return f"unknown key '{prefix}{key}' (known keys: {listed})"


def _did_you_mean(
    word: str, candidates: list[str] | tuple[str, ...], shown: Mapping[str, str] | None = None
) -> str:
    """`; did you mean 'x'?` for a close match (pypa/build's `_find_typo`), else ``."""
    match = difflib.get_close_matches(word.lower(), candidates, n=1, cutoff=0.75)
    if not match:
        return ""
    return f"; did you mean '{(shown or {}).get(match[0], match[0])}'?"


def _describe(value: Any) -> str:
    """A value as the user wrote it, plus its YAML type: `'yes' (a string)`."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    kinds = {
        str: "a string",
        int: "an integer",
        float: "a number",
        datetime.date: "a date",
        datetime.datetime: "a date and time",
    }
    text = repr(value) if isinstance(value, str) else str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kinds.get(type(value), type(value).__name__)})"


# --- paths --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    """A resolved path, and how to talk about it in a message."""

    path: Path
    where: str
    """Message prefix naming who set it: `sitegen.yaml: `, `command line: ` or empty."""
    read_from: str = ""
    """For a relative path: what it was read from, said when it does not exist."""
    default: str = ""
    """For a default: where it lies, said in messages, or the path would come as a surprise."""

    @property
    def shown(self) -> str:
        return f"{self.path} (the default, {self.default})" if self.default else str(self.path)


def _place(
    key: str, override: str | Path | None, raw: Mapping[Any, Any], ctx: _Context, cwd: Path
) -> _Place | None:
    """Where `key` points, from the command line, the file, or the default; None if unusable."""
    if override is not None:
        problem = _path_problem(str(override) if isinstance(override, Path) else override)
        if problem is not None:
            ctx.errors.append(f"command line: '{key}': {problem}")
            return None
        return _resolved(Path(override), cwd, "command line: ", "the current directory")
    where = f"{ctx.label}: " if ctx.label else ""
    if key in raw:
        if _path_problem(raw[key]) is not None:
            return None  # already reported by _check_section
        return _resolved(Path(raw[key]), ctx.base, where, "the config file's folder")
    default = next(f.default for f in fields(Config) if f.name == key)
    if not isinstance(default, Path):
        return None  # required: reported by the caller
    lies = "next to the config file" if ctx.label else "in the current directory"
    return _Place(_absolute(default, ctx.base), where, default=lies)


def _resolved(given: Path, base: Path, where: str, base_name: str) -> _Place:
    given = given.expanduser()
    read_from = "" if given.is_absolute() else base_name
    return _Place(_absolute(given, base), where, read_from=read_from)


@dataclass(frozen=True)
class _Url:
    """A `source` that is a registry URL, as given, and who gave it (for messages)."""

    text: str
    where: str


def _source_url(override: str | Path | None, raw: Mapping[Any, Any], ctx: _Context) -> _Url | None:
    """The registry URL `source` names, or None for a folder."""
    if override is not None:
        return _Url(str(override), "command line: ") if is_url(override) else None
    value = raw.get("source")
    if not is_url(value):
        return None
    return _Url(value, f"{ctx.label}: " if ctx.label else "")


def _check_url(url: _Url, errors: list[str]) -> None:
    """A registry URL: http(s), a host, no credentials, query or fragment."""
    parts = urllib.parse.urlsplit(url.text.strip())
    if "@" in parts.netloc:  # never repeat what may be a password
        errors.append(
            f"{url.where}'source': the URL holds credentials, which would show in logs; give "
            "them with http.username and the SITEGEN_REGISTRY_PASSWORD variable"
        )
        return
    problem = None
    if not parts.hostname:
        problem = "has no host"
    elif not _port_ok(parts):
        problem = "has a port that is not a number"
    elif parts.query or parts.fragment:
        problem = "has a query or fragment; give the registry's base URL"
    if problem:
        errors.append(f"{url.where}'source': {url.text} {problem}")


def _port_ok(parts: urllib.parse.SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 -- reading it raises for a port that is not a number
    except ValueError:
        return False
    return True


def _check_source_type(kind: str, url: _Url | None, src: _Place | None, ctx: _Context) -> None:
    """`http` needs a URL; `v1` and `v2` need a folder (`auto` decides by the source)."""
    if kind == "http" and src is not None:
        ctx.error("source_type", f"'http' needs a registry URL as source, not {src.path}")
    elif kind in ("v1", "v2") and url is not None:
        ctx.error(
            "source_type",
            f"{kind!r} reads a storage folder, but source is a URL; use 'http' or 'auto'",
        )


def _missing_source(label: str | None, cwd: Path) -> str:
    required = "'source' is required (a registry storage directory)"
    if label:
        return f"{label}: {required}"
    return f"no {CONFIG_FILE_NAME} in {cwd} and no source given: {required}"


def _check_source(src: _Place, errors: list[str]) -> None:
    """The source must be a folder that this process can list and read."""
    kind = _kind(src.path)
    if kind == "dir" and not os.access(src.path, os.R_OK | os.X_OK):
        kind = "unreadable"
    read_from = f" (a relative path is read from {src.read_from})" if src.read_from else ""
    problem = {
        "missing": f"does not exist{read_from}",
        "other": "is not a directory",
        "unreadable": "is not readable (permission denied)",
    }.get(kind)
    if problem:
        errors.append(f"{src.where}'source': {src.shown} {problem}")


def _check_output(out: _Place, errors: list[str]) -> None:
    """An existing output must be a folder; whether it is writable is the build's business."""
    if _kind(out.path) == "other":
        errors.append(f"{out.where}'output': {out.shown} is not a directory")


def _check_overlap(src: _Place, out: _Place, errors: list[str]) -> None:
    """Refuse outputs that would write into, or replace, the registry's storage.

    Compared after following symlinks, so a link cannot hide the overlap.
    """
    s, o = _real(src.path), _real(out.path)
    if o == s:
        problem = "is the source itself; the build would replace the registry's storage"
    elif o.is_relative_to(s):
        problem = (
            f"is inside the source {src.path}; the build would publish into the registry's storage"
        )
    elif s.is_relative_to(o):
        problem = (
            f"contains the source {src.path}; "
            "the build replaces the whole output, which would delete the registry's storage"
        )
    else:
        return
    errors.append(f"{out.where}'output': {out.shown} {problem}")


def _kind(path: Path) -> str:
    """`dir`, `other`, `missing` or `unreadable`, without letting stat errors escape."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError:  # permission denied on a parent folder, a symlink loop...
        return "unreadable"
    return "dir" if stat.S_ISDIR(st.st_mode) else "other"


def _absolute(path: Path, base: Path) -> Path:
    """`path` read from `base` when relative, with `.` and `..` folded away."""
    return Path(os.path.normpath(base / path))


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare as written
        return path
