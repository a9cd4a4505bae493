"""The row fragments (dates, sizes, image ids, repository rows) made in Python give the markup
the macros and the shipped templates gave.

`generator/emit/html.py` renders them in Python for speed; the Jinja macros
below are the ones `templates/_macros.html` held before, and the pages must
not change by a byte. User templates that import `_macros.html` (with or
without context) get the same markup as the shipped ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.config import Config
from generator.emit import html
from generator.emit.html_data import ListedRepository, Moment, RepositoryRow, RepositoryView, Size
from generator.model import Repository
from tests.conftest import build_site

REFERENCE_MACROS = (
    "{% macro moment(value, short=false) -%}\n"
    "{% if value -%}\n"
    '<time datetime="{{ value.iso }}" title="{{ value.text }}">'
    "{{ value.date if short else value.text }}</time> "
    '<span class="rel" data-rel="{{ value.timestamp }}">{{ value.ago(now) }}</span>\n'
    "{%- else -%}\n"
    '<span class="muted">unknown</span>\n'
    "{%- endif %}\n"
    "{%- endmacro %}\n"
    "{% macro size(value) -%}\n"
    "{% if value is none -%}\n"
    '<span class="muted">unknown</span>\n'
    "{%- else -%}\n"
    "<span title=\"{{ '{:,}'.format(value.bytes) }} bytes as stored"
    "{{ '' if value.complete else ', some layers unknown' }}\">"
    "{{ '' if value.complete else '≥ ' }}{{ value.human }}</span>"
    '{% if value.compressed %} <span class="muted">compressed</span>{% endif %}\n'
    "{%- endif %}\n"
    "{%- endmacro %}\n"
    "{% macro image_link(image_id, short_id, has_page) -%}\n"
    "{% if has_page -%}\n"
    '<a class="id" href="{{ url_for(\'image\', image_id) }}" title="{{ image_id }}">'
    "<code>{{ short_id }}</code></a>\n"
    "{%- else -%}\n"
    '<code class="id" title="{{ image_id }}">{{ short_id }}</code>\n'
    "{%- endif %}\n"
    "{%- endmacro %}\n"
)

MOMENTS = [None, Moment(0), Moment(1_420_739_133), Moment(1_800_000_000), Moment(99_999_999_999)]
SIZES = [
    None, Size(0), Size(999), Size(12_400_000, complete=False),
    Size(1_070_000_000, compressed=True), Size(5, complete=False, compressed=True),
]
IDS = [("a" * 64, "a" * 12, True), ("a" * 64, "a" * 12, False),
       ("x\"'><img src=y>&", "x\"'><img", True), ("x\"'><img src=y>&", "x\"'><img", False)]


def _pages(tmp_path: Path, now: int | None, base_url: str = "/") -> html.Pages:
    config = Config(source=tmp_path, output=tmp_path / "site", base_url=base_url)
    site = html.SiteInfo("t", "", base_url, Moment(now) if now is not None else None)
    return html.Pages(config, site)


@pytest.mark.parametrize("now", [None, 1_800_000_000])
def test_filters_and_macros_make_the_markup_the_old_macros_made(
    tmp_path: Path, now: int | None
) -> None:
    pages = _pages(tmp_path, now, base_url="/registry/")
    reference = pages.env.from_string(REFERENCE_MACROS).make_module({"now": now})
    shipped = pages.env.get_template("_macros.html").module
    for value in MOMENTS:
        for short in (False, True):
            want = str(reference.moment(value, short=short))
            got = pages.env.from_string("{{ v|moment(short=s) }}").render(v=value, s=short)
            assert got == want == str(shipped.moment(value, short=short)), (value, short)
    for value in SIZES:
        want = str(reference.size(value))
        assert pages.env.from_string("{{ v|size }}").render(v=value) == want, value
        assert str(shipped.size(value)) == want, value
    for image_id, short_id, has_page in IDS:
        want = str(reference.image_link(image_id, short_id, has_page))
        link = pages.env.from_string("{{ i|image_link(s, p) }}")
        got = link.render(i=image_id, s=short_id, p=has_page)
        assert got == want == str(shipped.image_link(image_id, short_id, has_page))


def test_moment_forms_match_its_fields() -> None:
    for stamp in (0, 59, 1_420_739_133, 99_999_999_999, 253_402_300_799, -1):
        moment = Moment(stamp)
        assert moment.forms() == (moment.iso, moment.text, moment.date), stamp


def test_user_templates_may_import_the_macros_with_or_without_context(
    oracle_storage: Path, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "repository.html").write_text(
        '{% extends "default:repository.html" %}'
        '{% import "_macros.html" as ctx with context %}{% import "_macros.html" as plain %}'
        "{% block title %}{{ ctx.size(repo.size) }}|{{ plain.moment(repo.updated, short=true) }}|"
        "{{ repo.size|size }}|{{ repo.updated|moment(short=true) }}{% endblock %}"
    )
    site = tmp_path / "site"
    build_site(oracle_storage, site, templates_dir=templates)
    page = (site / "repositories/library/busybox/index.html").read_text()
    title = page[page.index("<title>") + 7:page.index("</title>")]
    size, moment, size_again, moment_again = title.split("|")
    assert size == size_again and moment == moment_again
    assert "bytes as stored" in size and "<time datetime=" in moment


REFERENCE_ROW = (
    "{% set updated, size = repo.updated, repo.size %}\n"
    "    <tr>\n"
    "      <td><a href=\"{{ url_for('repository', repo.namespace, repo.name) }}\">"
    "{{ repo.name }}</a>"
    "{% if repo.private %} <span class=\"badge\">private</span>{% endif %}"
    "{% if repo.description %}<div class=\"desc\">{{ repo.description }}</div>{% endif %}</td>\n"
    "      <td class=\"num\">{{ repo.tag_count }}</td>\n"
    "      <td data-value=\"{{ updated.timestamp if updated else 0 }}\">"
    "{{ updated|moment(short=true) }}</td>\n"
    "      <td class=\"num\" data-value=\"{{ size.bytes if size else -1 }}\">"
    "{{ size|size }}</td>\n"
    "    </tr>"
)
"""The row `_repository_table.html` rendered in Jinja before `repository_row` made it."""

REPOSITORIES = [
    Repository("library", "busybox"),
    Repository("acme", "web", private=True, description="A <b>\"web\"</b> & 'app'"),
    Repository("x&y", "a'b<c>", description=""),
    Repository("é", "name with space"),
    Repository("v2", "deep/er/name", is_directory=False),
]
ROWS = [
    RepositoryRow(3, 1_420_739_133, 12_400_000),
    RepositoryRow(0, None, None),
    RepositoryRow(1, 0, 0, size_complete=False, size_compressed=True),
    RepositoryRow(12, 99_999_999_999, 5, size_compressed=True),
    RepositoryRow(2, 1_800_000_000, 1_070_000_000, size_complete=False),
]


@pytest.mark.parametrize("now", [None, 1_800_000_000])
@pytest.mark.parametrize("base_url", ["/", "/a b&'/"])
def test_repository_rows_are_the_rows_the_template_made(
    tmp_path: Path, now: int | None, base_url: str
) -> None:
    pages = _pages(tmp_path, now, base_url=base_url)
    reference = pages.env.from_string(REFERENCE_ROW)
    row = pages.env.from_string("{{ repo|repository_row }}")
    for repository in REPOSITORIES:
        for remembered in ROWS:
            listed = ListedRepository(repository, remembered, _no_view)
            want = reference.render(repo=listed)
            assert row.render(repo=listed) == want, (repository, remembered)
            assert listed.size == _size(remembered) and listed.updated == _moment(remembered)


def test_a_full_view_makes_the_row_its_listed_form_makes(tmp_path: Path) -> None:
    pages = _pages(tmp_path, None)
    reference = pages.env.from_string(REFERENCE_ROW)
    row = pages.env.from_string("{{ repo|repository_row }}")
    for repository in REPOSITORIES:
        view = RepositoryView(repository, (), (), Size(7, complete=False))
        assert row.render(repo=view) == reference.render(repo=view)


LOOP = "{% for repo in repos %}\n{{ repo|repository_row }}\n{% endfor %}\n"
"""The loop over the rows that `_repository_table.html` held before `repository_rows`."""


def test_the_rows_of_a_table_are_the_rows_its_loop_made(tmp_path: Path) -> None:
    pages = _pages(tmp_path, 1_800_000_000)
    loop = pages.env.from_string(LOOP)
    rows = pages.env.from_string("{% if repos %}\n{{ repos|repository_rows }}\n{% endif %}\n")
    listed = [ListedRepository(r, row, _no_view) for r, row in zip(REPOSITORIES, ROWS, strict=True)]
    for repos in ([], listed[:1], listed):
        assert rows.render(repos=repos) == loop.render(repos=repos)


def test_the_markup_of_rows_kept_by_name_is_remembered_and_reused(tmp_path: Path) -> None:
    """`remember_rows`: a row the build keeps by name (the very `RepositoryRow`) has its
    markup remembered, and remembered markup is used as it is; other rows are made."""
    pages = _pages(tmp_path, None)
    kept = {r.full_name: row for r, row in zip(REPOSITORIES, ROWS, strict=True)}
    markup: dict[str, str] = {"acme/web": "<tr>remembered</tr>"}
    pages.fragments.remember_rows(markup, kept)
    row = pages.env.from_string("{{ repo|repository_row }}")
    listed = [ListedRepository(r, kept[r.full_name], _no_view) for r in REPOSITORIES]
    assert row.render(repo=listed[1]) == "<tr>remembered</tr>"
    made = row.render(repo=listed[0])
    assert markup["library/busybox"] == made and "busybox" in made
    # A row equal to the kept one but not it (a name two repositories show) is not remembered.
    other = ListedRepository(REPOSITORIES[2], ROWS[2]._replace(), _no_view)
    assert "a&#39;b&lt;c&gt;" in row.render(repo=other)
    assert "x&y/a'b<c>" not in markup
    assert set(markup) == {"acme/web", "library/busybox"}


def _no_view(repository: Repository) -> RepositoryView:
    raise AssertionError(f"the row of {repository.full_name} needs no view")


def _size(row: RepositoryRow) -> Size | None:
    return None if row.size is None else Size(row.size, row.size_complete, row.size_compressed)


def _moment(row: RepositoryRow) -> Moment | None:
    return None if row.updated is None else Moment(row.updated)
