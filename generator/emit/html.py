"""The HTML pages: one Jinja environment, one `render_<page>()` per page type, one emitter.

**Templates** are looked up in the user's `templates_dir` first, then in the
project's `templates/`; `default:<name>` always names the shipped one, so a
user template can `{% extends "default:repository.html" %}` (datasette's
chain). Autoescaping is on for everything and undefined names fail the build
(`StrictUndefined`), so a renamed field cannot render blank. Each page
carries an HTML comment listing the templates considered, the one used
marked `*`, so people see which file to override.

**Where the shipped templates live.** `templates/` sits beside the package
in a checkout (and an editable install); pyproject maps it into the wheel as
`generator/templates/`. `PROJECT_TEMPLATES` takes the packaged copy when it
exists, else the checkout's, so both installs find the same files without a
configuration key.

**Determinism.** Pages depend on the storage only: no build time unless
`SOURCE_DATE_EPOCH` is set (then a footer line, and relative date hints
computed from it for readers without JavaScript). The pages' script
recomputes relative hints from the reader's clock.

**No requests leave the site.** Pages link only `url_for` URLs, load only
`/static/` files, and send a Content-Security-Policy of `'self'`.

**Speed.** A large registry has a hundred thousand pages, so what every page
or row repeats is done once: the date, size and image-id markup of table
rows comes from Python (`Fragments`, the `moment`, `size` and `image_link`
filters), and so does the whole row of a repository in lists
(`repository_row`, and `repository_rows` for a whole table: the index page
has one per repository, redone by every rebuild, which reuses the markup of
the rows that did not change: `Fragments.repository_row`); `_macros.html`
is imported without context (Jinja builds it once), `site`/`url_for`/`now`
are globals, plain URLs are formatted without checks
(`paths.url_builder`), and the views compute what rows show
(tests/test_html_fragments.py holds the markup to what the macros and the
templates made).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import operator
import re
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from generator import paths
from generator.config import Config
from generator.emit import units
from generator.emit.html_data import (
    ImageView,
    ListedRepository,
    Moment,
    NamespaceView,
    RepositoryRow,
    RepositoryView,
    SiteData,
    Size,
    human_size,
    relative,
)
from generator.emit.html_inputs import PROJECT_TEMPLATES, source_date_epoch
from generator.emit.v1_tree import Output, Selection, dirty_names
from generator.errors import BuildError
from generator.model import Registry, Repository
from generator.report import Report

STATIC_FILES = ("site.css", "site.js", "search.js", "favicon.svg")
"""Files under `templates/static/`, copied (not rendered) to `/static/`."""


@dataclass(frozen=True)
class SiteInfo:
    """`site` in every template: what the configuration says about the whole site."""

    title: str
    registry_host: str
    """Empty when unset: the pages' script shows the host serving them."""
    base_url: str
    built: Moment | None
    """`SOURCE_DATE_EPOCH`, when set; else None (no build time in the pages)."""


class _Environment(jinja2.Environment):
    """Jinja's environment, with each template's globals in one plain dict.

    Jinja chains a template's globals to the environment's (a ChainMap, so
    that later changes show through) and copies the chain into a new
    context for every page, include and import, key by key in Python. The
    globals here are all set before the first template loads and never
    change, so one merged dict gives the same names, copied at C speed.
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


def environment(templates_dir: Path | None) -> jinja2.Environment:
    """The Jinja environment: user templates first, then the shipped ones, `default:` prefix."""
    folders = [str(d) for d in (templates_dir, PROJECT_TEMPLATES) if d is not None]
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(folders),
        jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(str(PROJECT_TEMPLATES))}, ":"),
    ])
    env = _Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.bytecode_cache = _CompiledTemplates.open(env)
    env.filters["human_size"] = human_size
    return env


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Templates compiled by earlier builds, in Jinja's folder for them (per user, in /tmp).

    Compiling the shipped templates costs each process of a build 60 ms, as
    much as rendering the index page of 2,000 repositories; a rebuild after
    one push renders a few pages. Jinja finds a template's code by its name,
    file and source, so an edited template is compiled again; the key here
    adds what else shapes the code (Jinja's version, the options of the
    environment). The cache is a convenience: where it cannot be read or
    written, templates are compiled as before.
    """

    def __init__(self, salt: str) -> None:
        super().__init__(None, "sitegen-%s.cache")  # Jinja's folder, made safe for this user
        self.salt = salt

    @classmethod
    def open(cls, env: jinja2.Environment) -> _CompiledTemplates | None:
        shape = (
            jinja2.__version__, type(env).__qualname__, env.autoescape, env.optimized,
            env.block_start_string, env.block_end_string, env.variable_start_string,
            env.variable_end_string, env.comment_start_string, env.comment_end_string,
            env.line_statement_prefix, env.line_comment_prefix, env.trim_blocks,
            env.lstrip_blocks, env.newline_sequence, env.keep_trailing_newline,
            env.finalize is None, env.is_async, sorted(env.extensions),
        )
        try:
            return cls(repr(shape))
        except (OSError, RuntimeError):  # no safe folder for it: compile every time
            return None

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return hashlib.sha1(
            f"{super().get_cache_key(name, filename)}|{self.salt}".encode()
        ).hexdigest()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):  # a folder cleaned away meanwhile: not kept
            super().dump_bytecode(bucket)


_UNKNOWN = Markup('<span class="muted">unknown</span>')
_COMPRESSED = Markup(' <span class="muted">compressed</span>')
_PRIVATE = ' <span class="badge">private</span>'
_DESCRIPTION = '<div class="desc">{}</div>'
_SPECIAL = re.compile("[&<>'\"]")
"""What `escape` replaces: most names and URLs have none of it, and are used as they are."""


def _text(value: str) -> str:
    """`escape(value)`, with no new string when nothing needs escaping."""
    return value if _SPECIAL.search(value) is None else escape(value)


class Fragments:
    """The markup of what every table row repeats: a date, a size, an image id.

    Written here in Python rather than as Jinja macros: an image page calls
    them a dozen times, a repository page three times per tag, and a macro
    call costs more than the markup it makes. They are the filters `moment`,
    `size` and `image_link` of every template, and the macros of
    `_macros.html` (`m.moment`, `m.size`, `m.image_link`) call them, so any
    template gets the same markup either way.

    The same layers show on the pages of all their descendants, the same
    sizes and dates on many rows: each filter remembers its recent answers,
    by the plain values the markup shows (a `Moment` or `Size` hashes in
    Python, its numbers in C). Bounded, for memory's sake: forgotten at once
    when full, which costs less than keeping the order of use.
    """

    REMEMBERED = 1024

    def __init__(self, url_for: Callable[..., str], now: int | None) -> None:
        self.url_for = url_for
        self.now = now
        self._moments: dict[tuple[int, Any], Markup] = {}
        self._sizes: dict[tuple[int, bool, bool], Markup] = {}
        self.image_link = _remembered(self._image_link, self.REMEMBERED)
        self._row_markup: dict[str, str] | None = None
        self._rows: dict[str, RepositoryRow] = {}

    def moment(self, value: Moment | None, short: bool = False) -> Markup:
        """`<time>` (the date alone when `short`) and its relative hint; `unknown` for none."""
        return self._moment(value.timestamp, short) if value else _UNKNOWN

    def _moment(self, timestamp: int | None, short: Any) -> Markup:
        if timestamp is None:
            return _UNKNOWN
        html = self._moments.get((timestamp, short))
        if html is None:
            if len(self._moments) >= self.REMEMBERED:
                self._moments.clear()
            # Nothing to escape: digits, dashes, colons, `T`, `Z`, `UTC` and `3 years ago`.
            iso, text, date = Moment(timestamp).forms()
            ago = "" if self.now is None else relative(self.now - timestamp)
            html = self._moments[timestamp, short] = Markup(
                f'<time datetime="{iso}" title="{text}">{date if short else text}</time>'
                f' <span class="rel" data-rel="{timestamp}">{ago}</span>'
            )
        return html

    def size(self, value: Size | None) -> Markup:
        """`12.4 MB` with the exact bytes as its title, `≥` when a layer is unknown."""
        if value is None:
            return _UNKNOWN
        return self._size(value.bytes, value.complete, value.compressed)

    def _size(self, stored: int | None, complete: bool, compressed: bool) -> Markup:
        if stored is None:
            return _UNKNOWN
        html = self._sizes.get((stored, complete, compressed))
        if html is None:
            if len(self._sizes) >= self.REMEMBERED:
                self._sizes.clear()
            # Nothing to escape: digits, commas, a point and a unit.
            partial = ("", "") if complete else (", some layers unknown", "≥ ")
            html = Markup(
                f'<span title="{stored:,} bytes as stored{partial[0]}">'
                f"{partial[1]}{human_size(stored)}</span>"
            )
            if compressed:
                html += _COMPRESSED
            self._sizes[stored, complete, compressed] = html
        return html

    def remember_rows(self, markup: dict[str, str], rows: dict[str, RepositoryRow]) -> None:
        """Have `repository_row` reuse and add to `markup`: the rows' markup by full name,
        which goes with the `RepositoryRow`s the build keeps by full name (`rows`)."""
        self._row_markup = markup
        self._rows = rows

    def repository_row(self, repo: ListedRepository | RepositoryView) -> Markup:
        """A repository's `<tr>` in a list (`_repository_table.html`): name, tags, update, size.

        Its own fragment: the index page has a row for every repository of
        the registry, and a row made by Jinja costs three times this one. The
        numbers come from the repository's `RepositoryRow` (what `updated`
        and `size` are made of), and none needs escaping.

        The index page is redone by every rebuild, and a row's markup is the
        same as long as its `RepositoryRow` and its repository are (all else
        it shows is in the build's key: base URL, `SOURCE_DATE_EPOCH`, this
        code). So the markup of a row the build keeps by name is remembered
        with it (`remember_rows`, `state.Memory.row_markup`): a rebuild makes
        the rows of the repositories that changed, and reuses the others.
        """
        return Markup(self._row_markup_of(repo))

    def repository_rows(self, repos: Sequence[ListedRepository | RepositoryView]) -> Markup:
        """The `repository_row` of each of `repos`, a line apart: a Jinja loop over them
        without its cost per row (the index page's table has thousands)."""
        return Markup("\n".join(map(self._row_markup_of, repos)))

    def _row_markup_of(self, repo: ListedRepository | RepositoryView) -> str:
        row = repo.row
        markup = self._row_markup
        if markup is not None:
            name = repo.full_name
            if self._rows.get(name) is row:
                html = markup.get(name)
                if html is None:
                    html = markup[name] = self._repository_row(repo, row)
                return html
        return self._repository_row(repo, row)

    def _repository_row(self, repo: ListedRepository | RepositoryView, row: RepositoryRow) -> str:
        name, description, updated, stored = repo.name, repo.description, row.updated, row.size
        href = self.url_for("repository", repo.namespace, name)
        return (
            f'    <tr>\n      <td><a href="{_text(href)}">{_text(name)}</a>'
            f"{_PRIVATE if repo.private else ''}"
            f"{_DESCRIPTION.format(escape(description)) if description else ''}</td>\n"
            f'      <td class="num">{row.tag_count}</td>\n'
            f'      <td data-value="{0 if updated is None else updated}">'
            f"{self._moment(updated, True)}</td>\n"
            f'      <td class="num" data-value="{-1 if stored is None else stored}">'
            f"{self._size(stored, row.size_complete, row.size_compressed)}</td>\n    </tr>"
        )

    def _image_link(self, image_id: str, short_id: str, has_page: bool) -> Markup:
        """The short id, linked to the image's page when the site has one."""
        if has_page:
            return Markup(
                f'<a class="id" href="{escape(self.url_for("image", image_id))}"'
                f' title="{escape(image_id)}"><code>{escape(short_id)}</code></a>'
            )
        return Markup(f'<code class="id" title="{escape(image_id)}">{escape(short_id)}</code>')


def _remembered(make: Callable[..., Markup], size: int) -> Callable[..., Markup]:
    """`make` with a memory of its recent answers (bounded, for memory's sake; unhashable
    arguments are not remembered)."""
    cached = functools.lru_cache(maxsize=size)(make)

    def remembered(*args: Any, **kwargs: Any) -> Markup:
        try:
            return cached(*args, **kwargs)
        except TypeError:
            return make(*args, **kwargs)

    return remembered


class Pages:
    """Renders every page of one site; `render_<page>()` returns the HTML text."""

    def __init__(self, config: Config, site: SiteInfo | None = None) -> None:
        self.env = environment(config.templates_dir)
        self.folders = [d for d in (config.templates_dir, PROJECT_TEMPLATES) if d is not None]
        """Where templates are looked up, first match wins (for error messages)."""
        self.site = site or SiteInfo(
            title=config.title,
            registry_host=config.registry_host,
            base_url=config.base_url,
            built=Moment.parse(source_date_epoch()),
        )
        self.url_for = paths.url_builder(config.base_url)
        self.url_pattern = functools.partial(paths.url_pattern, base_url=config.base_url)
        self._listed: frozenset[str] | None = None
        now = self.site.built.timestamp if self.site.built else None
        fragments = self.fragments = Fragments(self.url_for, now)
        self.env.filters["moment"] = fragments.moment
        self.env.filters["size"] = fragments.size
        self.env.filters["image_link"] = fragments.image_link
        self.env.filters["repository_row"] = fragments.repository_row
        self.env.filters["repository_rows"] = fragments.repository_rows
        # Globals, not render variables: the same for every page, and so visible to an
        # `{% import %}` without context, whose module Jinja then makes once, not per page.
        self.env.globals.update(
            site=self.site, url_for=self.url_for, url_pattern=self.url_pattern, now=now
        )

    def render_index(self, data: SiteData, limit: int) -> str:
        """The index page: every listed repository, or (`by_namespace`) when there are more than
        `limit`, a row per namespace (`Config.index_limit`: `NamespaceSummary`s)."""
        summaries = data.namespace_summaries
        listed = sum(ns.listed_count for ns in summaries)
        by_namespace = listed > limit
        return self._render(
            ["index.html"], page="index", listed=listed, by_namespace=by_namespace,
            namespaces=summaries if by_namespace else data.namespaces,
        )

    def render_namespace(self, namespace: NamespaceView) -> str:
        names = [f"namespace-{namespace.name}.html", "namespace.html"]
        return self._render(names, page="namespace", namespace=namespace)

    def render_repository(self, repo: RepositoryView) -> str:
        names = [f"repository-{repo.namespace}-{repo.name}.html", "repository.html"]
        return self._render(names, page="repository", repo=repo)

    def render_image(self, image: ImageView) -> str:
        return self._render(["image.html"], page="image", image=image)

    def render_search(self) -> str:
        return self._render(["search.html"], page="search")

    def render_not_found(self) -> str:
        return self._render(["404.html"], page="not_found")

    def _template(self, names: list[str]) -> jinja2.Template:
        """The first of `names` that exists (`select_template`), asking the loader less.

        Every repository page considers `repository-<ns>-<repo>.html`, which
        seldom exists, and a miss costs the loader a file lookup in every
        folder. So names it does not list are not asked for (names with a
        `/` always are: the listing does not follow symlinked folders).
        """
        if self._listed is None:
            self._listed = frozenset(self.env.list_templates())
        found = [n for n in names if n in self._listed or "/" in n]
        return self.env.select_template(found or names)

    def static_file(self, name: str) -> bytes:
        """A static asset through the same search path (a user may replace `static/site.css`)."""
        source, _, _ = self.env.loader.get_source(self.env, f"static/{name}")  # type: ignore[union-attr]
        return source.encode("utf-8")

    def _render(self, names: list[str], **context: Any) -> str:
        template = self._template(names)
        considered = ", ".join(f"*{n}" if n == template.name else n for n in names)
        return template.render(templates_considered=considered, **context)


# --- the emitter -----------------------------------------------------------------------------


def site_outputs(
    selection: Selection, registry: Registry, config: Config, report: Report
) -> Iterator[Output]:
    """Every HTML page and asset of the site, in a fixed order.

    A template that does not load or render fails the build (BuildError
    naming the template, the line and the page): a broken template breaks
    every page alike, and a blank field must not be published silently.
    """
    del report  # storage problems are reported by the crawl; templates are fatal
    pages = Pages(config)
    data = SiteData(selection.repositories, selection.images, registry, selection.rows)
    if selection.row_markup is not None:
        pages.fragments.remember_rows(selection.row_markup, data.rows)

    def page(
        names: tuple[str, ...], render: Callable[[], str | bytes], unit: str = units.SITE
    ) -> Output:
        url = paths.page_url(*names)
        try:
            text = render()
        except jinja2.TemplateError as exc:
            raise BuildError(f"{url}: {_template_error(exc, pages.folders)}") from None
        body = text.encode("utf-8") if isinstance(text, str) else text
        return Output(paths.page_file(url), body, origin=f"HTML page {url}", unit=unit)

    # An incremental build renders only the units it redoes (`Selection.wants`).
    if selection.wants(units.SITE):
        for name in STATIC_FILES:
            yield page(("static", name), functools.partial(pages.static_file, name))
        yield page(("index",), lambda: pages.render_index(data, config.index_limit))
        yield page(("search",), pages.render_search)
        yield page(("not_found",), pages.render_not_found)
    # Views are made for the pages made: a rebuild redoes few, and lists use rows.
    for name in data.namespace_names:
        if selection.wants(unit := units.namespace(name)):
            view = functools.partial(data.namespace, name)
            yield page(("namespace", name), lambda v=view: pages.render_namespace(v()), unit)
    for repository in _dirty_only(data.sorted_repositories, selection):
        if selection.wants(unit := units.repository(repository.full_name)):
            names = ("repository", repository.namespace, repository.name)
            repo = functools.partial(data.repository_view, repository)
            yield page(names, lambda r=repo: pages.render_repository(r()), unit)
    images = data.image_pages if selection.dirty is None else data.image_pages_among(
        dirty_names(selection.dirty, units.image(""))
    )
    for image in images:
        if selection.wants(unit := units.image(image.id)):
            view = functools.partial(data.image_view, image)
            yield page(("image", image.id), lambda view=view: pages.render_image(view()), unit)


def _dirty_only(repositories: Sequence[Repository], selection: Selection) -> Iterable[Repository]:
    """`repositories` whose unit a rebuild redoes (at C speed: it redoes a few of 20,000)."""
    if selection.dirty is None:
        return repositories
    names = dirty_names(selection.dirty, units.repository(""))
    return compress(repositories, map(names.__contains__, map(_FULL_NAME, repositories)))


_FULL_NAME = operator.attrgetter("full_name")


def _template_error(exc: jinja2.TemplateError, folders: Sequence[Path]) -> str:
    """`template.html: line 12: message`, as precise as Jinja knows."""
    if isinstance(exc, jinja2.TemplateNotFound):
        names = getattr(exc, "templates", None) or [exc.name]
        searched = ", ".join(map(str, folders))
        return f"template not found: {', '.join(map(str, names))} (searched {searched})"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where: tuple[str | None, int | None] = (exc.filename or exc.name, exc.lineno)
    else:
        where = _template_frame(exc)
    prefix = f"{where[0]}: line {where[1]}: " if where[0] else ""
    return f"{prefix}{type(exc).__name__}: {exc.message}"


def _template_frame(exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost template file and line of a render error (Jinja rewrites the traceback)."""
    tb, found = exc.__traceback__, (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".html"):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found

