"""Incremental rebuilds: the same bytes as a full build, nothing rewritten that did not change.

Each test changes real storage between builds, the way a registry does (files
written in place, folders added and removed), and compares the output of
incremental builds with `--full` builds of the same storage.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from generator import incremental, paths, state
from generator.build import build
from generator.config import Config
from generator.emit import units
from generator.emit.writer import JOURNAL, SiteWriter, remove_stale_staging, unpack
from generator.report import Report
from tests.support.storage import image_id, write_image, write_repository


def files(root: Path) -> dict[str, str]:
    """Every file under `root` with the hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def identities(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime in ns) of every file and folder under `root`."""
    found = {}
    for p in root.rglob("*"):
        st = p.lstat()
        found[str(p.relative_to(root))] = (st.st_ino, st.st_mtime_ns)
    return found


def run(source: Path, output: Path, *, full: bool = False, jobs: int | None = None,
        **options: object):
    report = Report()
    config = Config(source=source, output=output, **options)  # type: ignore[arg-type]
    if jobs is None:
        return build(config, report, full=full), report
    return build(config, report, full=full, jobs=jobs), report


def rewrite(path: Path, text: str) -> None:
    """Write in place, as the v1 registry does, making sure the stat changes."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def replace(path: Path, data: bytes) -> None:
    """Write anew and rename over, as editors, `sed -i` and rsync do: the folder's ctime changes.

    The registry never writes a completed image's files again (`incremental` module doc):
    an edit of one in place is not seen before a `--full` build.
    """
    new = path.with_name(f".{path.name}.new")
    new.write_bytes(data)
    new.replace(path)


def base_storage(root: Path) -> dict[str, str]:
    ids = {name: image_id(name) for name in ("base", "web1", "web2", "api1", "orphan")}
    write_image(root, ids["base"])
    write_image(root, ids["web1"], ids["base"], labels={"team": "web"})
    write_image(root, ids["web2"], ids["web1"], labels={"team": "web"})
    write_image(root, ids["api1"], ids["base"])
    write_repository(root, "acme/web", {"latest": ids["web2"], "1.0": ids["web1"]})
    write_repository(root, "acme/api", {"latest": ids["api1"]})
    write_repository(root, "library/busybox", {"latest": ids["base"]})
    write_repository(root, "other/secret", {"latest": ids["api1"]}, private=True)
    return ids


def _add_repository(root: Path, ids: dict[str, str]) -> None:
    write_repository(root, "acme/new", {"latest": ids["web1"], "edge": ids["base"]})


def _corrupt_metadata(root: Path, ids: dict[str, str]) -> None:
    """A problem found while writing (not crawling): reported again while the unit is kept."""
    rewrite(root / "repositories/library/busybox/taglatest_json", "{not json")


def _retag(root: Path, ids: dict[str, str]) -> None:
    rewrite(root / "repositories/acme/web/tag_latest", ids["web1"])


def _push_image(root: Path, ids: dict[str, str]) -> None:
    ids["web3"] = image_id("web3")
    write_image(root, ids["web3"], ids["web2"], labels={"team": "web", "tier": "edge"})
    rewrite(root / "repositories/acme/web/tag_latest", ids["web3"])
    rewrite(root / "repositories/acme/web/taglatest_json", '{"last_update": 1500000000}')


def _compress_layer(root: Path, ids: dict[str, str]) -> None:
    """The same layer stored gzipped: pages say so (sizes `compressed`, the layer `(gzip)`)."""
    layer = root / "images" / ids["web1"] / "layer"
    replace(layer, gzip.compress(layer.read_bytes(), mtime=0))


def _push_without_ancestry(root: Path, ids: dict[str, str]) -> None:
    """An image whose `ancestry` file is gone: its history is the chain of `parent`s."""
    ids["mid"], ids["leaf"] = image_id("mid"), image_id("leaf")
    write_image(root, ids["mid"], ids["base"])
    write_image(root, ids["leaf"], ids["mid"])
    (root / "images" / ids["leaf"] / "ancestry").unlink()
    write_repository(root, "acme/leafy", {"latest": ids["leaf"]})


def _delete_parent(root: Path, ids: dict[str, str]) -> None:
    """The parent of that image deleted: its size and history shrink (dirty, though the
    image and its repository did not change)."""
    shutil.rmtree(root / "images" / ids["mid"])


def _add_tag(root: Path, ids: dict[str, str]) -> None:
    rewrite(root / "repositories/acme/api/tag_2.0", ids["web2"])


def _delete_tag(root: Path, ids: dict[str, str]) -> None:
    (root / "repositories/acme/web/tag_1.0").unlink()
    (root / "repositories/acme/web/tag1.0_json").unlink()


def _add_orphan_image(root: Path, ids: dict[str, str]) -> None:
    write_image(root, ids["orphan"], ids["base"])


def _delete_image(root: Path, ids: dict[str, str]) -> None:
    shutil.rmtree(root / "images" / ids["orphan"])


def _delete_repository(root: Path, ids: dict[str, str]) -> None:
    shutil.rmtree(root / "repositories/acme/api")


def _make_private(root: Path, ids: dict[str, str]) -> None:
    (root / "repositories/acme/new/_private").write_bytes(b"")


def _corrupt(root: Path, ids: dict[str, str]) -> None:
    replace(root / "images" / ids["web1"] / "ancestry", b"not json")


def _edit_image_json(root: Path, ids: dict[str, str]) -> None:
    """Same parent, other labels: only the bytes tell (the crawl keeps their digest, not them)."""
    path = root / "images" / ids["web1"] / "json"
    meta = json.loads(path.read_bytes())
    meta["config"] = {"Labels": {"team": "ops"}}
    replace(path, json.dumps(meta, separators=(",", ":")).encode())


def _delete_namespace(root: Path, ids: dict[str, str]) -> None:
    shutil.rmtree(root / "repositories/library")


CHANGES: list[Callable[[Path, dict[str, str]], None]] = [
    _add_repository, _corrupt_metadata, _retag, _push_image, _compress_layer,
    _push_without_ancestry, _delete_parent, _add_tag, _delete_tag,
    _add_orphan_image, _delete_image, _delete_repository, _make_private, _corrupt,
    _edit_image_json, _delete_namespace,
]


LISTING_TAGS = (
    "{% block content %}{{ super() }}<ul>{% for ns in namespaces %}"
    "{% for repo in ns.repositories %}<li>{{ repo.full_name }} {{ repo.pull_name }}"
    " {{ repo.pull_tag.name if repo.pull_tag else '-' }} {{ repo.json_links|length }}:"
    "{% for tag in repo.tags %} {{ tag.name }} {{ tag.size|size }} {{ tag.updated|moment }}"
    "{% endfor %}</li>{% endfor %}{% endfor %}</ul>{% endblock %}"
)
"""A replaced index page that lists every tag: more than the rows a rebuild remembers."""


def listing_templates(folder: Path) -> Path:
    folder.mkdir()
    (folder / "index.html").write_text('{% extends "default:index.html" %}' + LISTING_TAGS)
    (folder / "namespace.html").write_text(
        '{% extends "default:namespace.html" %}'
        + LISTING_TAGS.replace("{% for ns in namespaces %}", "{% for ns in [namespace] %}")
    )
    return folder


@pytest.mark.parametrize("variant", ["plain", "layers", "templates"])
def test_incremental_builds_equal_full_builds_after_every_change(
    tmp_path: Path, variant: str
) -> None:
    root = tmp_path / "storage"
    ids = base_storage(root)
    layers = variant == "layers"
    options: dict[str, object] = {"include_layers": layers}
    if variant == "templates":
        options["templates_dir"] = listing_templates(tmp_path / "templates")
    incremental, full = tmp_path / "inc" / "site", tmp_path / "full" / "site"
    run(root, incremental, **options)
    run(root, full, full=True, **options)
    for change in CHANGES:
        change(root, ids)
        result, report = run(root, incremental, **options)
        full_result, full_report = run(root, full, full=True, **options)
        assert files(incremental) == files(full), change.__name__
        if change is _compress_layer:
            assert "(gzip)" in (incremental / "images" / ids["web1"] / "index.html").read_text()
        assert [str(p) for p in report.problems] == [str(p) for p in full_report.problems]
        if change is _retag:  # busybox is kept, its problem is reported all the same
            assert any("taglatest_json" in p.path for p in report.problems)
        assert result.summary().split(" in ")[0].split(" files")[0] == (
            full_result.summary().split(" in ")[0].split(" files")[0]
        )
        # The build state describes the same storage too.
        mine, theirs = state.load_sources(incremental), state.load_sources(full)
        assert mine is not None and theirs is not None
        # (fingerprints are blanked for entries written just before a walk: compare keys)
        assert (list(mine.fingerprints), mine.summary, mine.problems) == (
            list(theirs.fingerprints), theirs.summary, theirs.problems), change.__name__
        # Its chunk store holds the chunks its memory and its walk name, and no other.
        memory = state.load_memory(incremental)
        assert memory is not None and memory.origin is not None and mine.origin is not None
        named = {chunk.name for chunk in memory.origin.chunks.values()}
        named |= {chunk.name for chunk in mine.origin.chunks.values()}
        assert None not in named
        assert {p.name for p in state.chunk_store(incremental).folder.iterdir()} == named
    # And a first build of the final storage gives the same site, feeds aside.
    fresh = tmp_path / "fresh" / "site"
    run(root, fresh, **options)
    feeds = {paths.CHANGES_JSON, paths.CHANGES_FEED}
    fresh_files = {k: v for k, v in files(fresh).items() if k not in feeds}
    assert {k: v for k, v in files(incremental).items() if k not in feeds} == fresh_files
    # Deleted repositories, namespaces and images leave no empty folder behind.
    assert not (incremental / "v1/repositories/acme/api").exists()
    assert not (incremental / "repositories/library").exists()
    assert not (incremental / "v1/images" / ids["orphan"]).exists()
    assert not (incremental / "repositories/acme/new").exists()  # private now


def _add_file_to_image(root: Path, ids: dict[str, str]) -> None:
    (root / "images" / ids["web2"] / "_files").write_text('["/f"]')


def _replace_file(root: Path, ids: dict[str, str]) -> None:
    """Written anew and renamed over the old one: same size, same mtime, another inode."""
    path = root / "repositories/acme/web/tag_latest"
    st = path.stat()
    new = path.with_name(".tag_latest.new")
    new.write_text(path.read_text())
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    new.replace(path)


def _rename_file(root: Path, ids: dict[str, str]) -> None:
    (root / "images" / ids["base"] / "_checksum").rename(root / "images" / ids["base"] / "checksum")


def test_remembered_listings_give_the_fingerprints_of_a_fresh_walk(tmp_path: Path) -> None:
    """A folder not listed again (its ctime unchanged) is fingerprinted as a fresh walk does."""
    root = tmp_path / "storage"
    ids = base_storage(root)
    time.sleep(incremental.RACY_NS / 1e9 + 0.1)  # older than the racy window: listings are kept
    first = incremental.scan(root, "v1")
    assert first is not None
    known = first.kept_listings()
    assert set(known) == {*first.fingerprints, "D:images", "D:repositories"}
    again = incremental.scan(root, "v1", known=known)
    assert again is not None and again.fingerprints == first.fingerprints
    assert all(again.listings[k] is known[k] for k in known)  # not listed again
    changes = [*CHANGES, _add_file_to_image, _replace_file, _rename_file]
    for change in changes:
        before = incremental.scan(root, "v1")
        change(root, ids)
        fresh = incremental.scan(root, "v1")
        remembered = incremental.scan(root, "v1", 2, known=known)
        trusting = incremental.scan(root, "v1", 2, known, first.kept())  # (completed images)
        assert before is not None and fresh is not None and remembered is not None
        assert trusting is not None
        assert remembered.fingerprints == fresh.fingerprints, change.__name__
        assert trusting.fingerprints == fresh.fingerprints, change.__name__
        assert remembered.fingerprints != before.fingerprints, change.__name__
        assert remembered.newest_mtime_ns == fresh.newest_mtime_ns, change.__name__
        assert trusting.newest_mtime_ns == fresh.newest_mtime_ns, change.__name__


def test_work_beside_the_walk_runs_here_only_when_a_name_came_or_went(tmp_path: Path) -> None:
    """`scan`'s `beside` (where a build reads its memory) runs once, in the calling process,
    when `images/`, `repositories/` or a namespace gained or lost a name, as a push does;
    not when files were written in place, nor when nothing changed. The fingerprints are
    those of a walk without it."""
    root = tmp_path / "storage"
    ids = base_storage(root)
    for n in range(20):  # enough entries for a worker (`forked.MIN_WORKER_ITEMS`)
        write_image(root, image_id(f"more{n}"), ids["base"])
    time.sleep(incremental.RACY_NS / 1e9 + 0.1)  # older than the racy window: listings kept
    first = incremental.scan(root, "v1", 2)
    assert first is not None
    calls: list[int] = []

    def walk() -> incremental.Scan:
        found = incremental.scan(
            root, "v1", 2, first.kept_listings(), first.kept(), lambda: calls.append(os.getpid())
        )
        assert found is not None
        assert found.fingerprints == incremental.scan(root, "v1", 2).fingerprints  # type: ignore[union-attr]
        return found

    assert walk().fingerprints == first.fingerprints and calls == []
    _retag(root, ids)  # `tag_latest` written anew: a name in a repository folder
    assert walk().fingerprints != first.fingerprints and calls == []
    for change in (_push_image, _add_repository, _delete_repository):
        change(root, ids)
        walk()
        assert calls == [os.getpid()], change.__name__
        calls.clear()


def test_a_walk_right_after_a_change_tells_whether_names_came_or_went(tmp_path: Path) -> None:
    """Folders changed just before a walk are listed again by the next (a name added in the
    same clock tick would leave their ctime as is), and their names compared with the ones
    the last walk found: `beside` runs when they differ, not when they are the same."""
    root = tmp_path / "storage"
    ids = base_storage(root)
    for n in range(20):  # enough entries for a worker (`forked.MIN_WORKER_ITEMS`)
        write_image(root, image_id(f"more{n}"), ids["base"])
    first = incremental.scan(root, "v1", 2)  # within the racy window of every folder
    assert first is not None
    known = first.kept_listings()
    assert known["D:images"][0] == incremental.RACY_CTIME
    calls: list[int] = []

    def walk() -> incremental.Scan:
        found = incremental.scan(
            root, "v1", 2, known, first.kept(), lambda: calls.append(os.getpid())
        )
        assert found is not None
        assert found.listings["D:images"] is not known["D:images"]  # listed again
        return found

    assert walk().fingerprints == first.fingerprints and calls == []
    _push_image(root, ids)
    walk()
    assert calls == [os.getpid()]


def test_a_rebuild_with_nothing_changed_rewrites_no_file(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    base_storage(root)
    output = tmp_path / "site"
    run(root, output, include_layers=True)
    run(root, output, include_layers=True)  # reads again what was written just before
    before = identities(output)
    result, _ = run(root, output, include_layers=True)
    assert not result.changed
    assert "nothing changed" in result.summary()
    assert identities(output) == before
    assert not list(tmp_path.glob(".site.staging-*"))


NOT_FOR_NO_CHANGE = ("jinja2", "whoosh", "requests", "tqdm", "generator.emit.html")
"""What a build that finds nothing changed must not import: it is most of a cron run's start."""


def test_a_rebuild_with_nothing_changed_imports_no_renderer(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    base_storage(root)
    an_hour_ago = time.time_ns() - 3600 * 10**9
    for path in [root, *root.rglob("*")]:  # older than the racy window: a plain no-change
        os.utime(path, ns=(an_hour_ago, an_hour_ago))
    output = tmp_path / "site"
    run(root, output)
    probe = (
        "import sys\n"
        "from generator.cli import main\n"
        f"code = main(['build', '--source', {str(root)!r}, '--output', {str(output)!r}])\n"
        f"print(sorted(m for m in {NOT_FOR_NO_CHANGE!r} if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "nothing changed" in proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_one_change_rewrites_only_the_files_it_changes(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    ids = base_storage(root)
    output = tmp_path / "site"
    run(root, output)
    run(root, output)
    before = identities(output)
    _add_tag(root, ids)
    result, _ = run(root, output)
    after = identities(output)
    changed = sorted(k for k in after if before.get(k) != after[k])
    tag = "v1/repositories/acme/api/tags/2.0/.index.json"
    assert tag in changed
    assert paths.CHANGES_JSON in changed
    # Another repository's documents and pages, and images nobody retagged, are untouched.
    untouched = [
        "v1/repositories/acme/web/tags/.index.json",
        "repositories/acme/web/index.html",
        f"v1/images/{ids['api1']}/json",
        f"images/{ids['base']}/index.html",
        "static/site.css",
    ]
    for path in untouched:
        assert before[path] == after[path], path
    # Every file counted as written changed; the Whoosh index is replaced as one folder.
    rewritten = [k for k in changed if (output / k).is_file() and not k.startswith(paths.INDEX_DIR)]
    assert result.written == len(rewritten) + 1
    assert result.written < 20


def test_a_memory_unreadable_after_its_crawl_is_met_late_and_builds_everything(
    tmp_path: Path, sitegen_log: pytest.LogCaptureFixture
) -> None:
    """A rebuild reads its memory in two steps (`load_rest`): damage found in the second,
    once the crawl trusted the first, makes the build start again from nothing."""
    root = tmp_path / "storage"
    ids = base_storage(root)
    output = tmp_path / "site"
    run(root, output)
    memory = state.load_memory(output, rest=False)
    assert memory is not None and memory.origin is not None and memory.origin.rest_at
    assert memory.cache and not memory.manifest  # its crawl was read, what follows was not
    path = state.state_dir(output) / state.MEMORY_FILE
    with path.open("r+b") as f:
        f.truncate(memory.origin.rest_at + 8)
    _add_tag(root, ids)
    result, _ = run(root, output)
    assert "unreadable" in sitegen_log.text and "building everything" in sitegen_log.text
    assert result.written == result.files  # a whole new tree
    run(root, tmp_path / "full", full=True)
    assert files(output) == files(tmp_path / "full")


def built_with_memory(tmp_path: Path) -> tuple[Path, dict[str, str], Path, state.Memory]:
    """(storage, its ids, site, the state it left) of a first build of `base_storage`."""
    root = tmp_path / "storage"
    ids = base_storage(root)
    output = tmp_path / "site"
    run(root, output)
    memory = state.load_memory(output)
    assert memory is not None
    return root, ids, output, memory


def test_a_rebuild_lists_unchanged_repositories_from_the_rows_it_remembers(
    tmp_path: Path,
) -> None:
    """The index page's row of a repository whose unit is clean is not computed again.

    Shown by falsifying a remembered row: a rebuild that changes another
    repository lists it as remembered, one that changes it computes it again.
    """
    root, ids, output, memory = built_with_memory(tmp_path)
    assert set(memory.rows) == {"acme/api", "acme/web", "library/busybox"}
    assert memory.rows["acme/web"].tag_count == 2
    memory.rows["acme/web"] = memory.rows["acme/web"]._replace(tag_count=99)
    del memory.row_markup["acme/web"]  # its markup is made again, from the remembered row
    with (state.state_dir(output) / state.MEMORY_FILE).open("wb") as f:
        state.dump_to(memory, f)

    def listed_tags(name: str) -> str:
        page = BeautifulSoup((output / "index.html").read_text(), "html.parser")
        row = next(a.find_parent("tr") for a in page.select("table.repos a") if a.string == name)
        return row.find_all("td")[1].get_text()

    _add_tag(root, ids)  # acme/api changes, acme/web does not
    run(root, output)
    assert (listed_tags("api"), listed_tags("web")) == ("2", "99")
    _delete_tag(root, ids)  # acme/web changes: its row is computed again
    run(root, output)
    assert (listed_tags("api"), listed_tags("web")) == ("2", "1")
    remembered = state.load_memory(output)
    assert remembered is not None and remembered.rows["acme/web"].tag_count == 1


def index_rows(output: Path) -> dict[str, str]:
    """Repository name → its row in the index page's tables, as the page has it."""
    page = BeautifulSoup((output / "index.html").read_text(), "html.parser")
    return {row.a.string: str(row) for row in page.select("table.repos tbody tr")}


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_rebuild_redoes_the_index_rows_of_changed_repositories_only(
    tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index page of a rebuild shows the new tag count and date of the repository that
    changed, the other rows as they were, and is a full build's, byte for byte.

    On two cores (the rebuild split too), the markup of the rows the worker made comes back
    to the parent, which remembers every row's for the next build.
    """
    monkeypatch.setattr(units, "SPLIT_UNITS", 1)
    root = tmp_path / "storage"
    ids = base_storage(root)
    output, full = tmp_path / "inc" / "site", tmp_path / "full" / "site"
    run(root, output, jobs=jobs)
    before = index_rows(output)
    assert ">1</td>" in before["api"] and "2015-01-01" in before["api"]
    # A new tag in acme/api, pushed later than the others.
    rewrite(root / "repositories/acme/api/tag_2.0", ids["web2"])
    rewrite(root / "repositories/acme/api/tag2.0_json", '{"last_update": 1700000000}')
    run(root, output, jobs=jobs)
    run(root, full, full=True, jobs=jobs)
    after = index_rows(output)
    assert ">2</td>" in after["api"] and "2023-11-14" in after["api"]
    assert {k: v for k, v in after.items() if k != "api"} == {
        k: v for k, v in before.items() if k != "api"}
    assert (output / "index.html").read_bytes() == (full / "index.html").read_bytes()
    mine, theirs = state.load_memory(output), state.load_memory(full)
    assert mine is not None and theirs is not None
    assert list(mine.row_markup) == ["acme/api", "acme/web", "library/busybox"]
    assert mine.row_markup == theirs.row_markup


def test_a_rebuild_lists_unchanged_repositories_from_the_markup_it_remembers(
    tmp_path: Path,
) -> None:
    """The markup of a clean repository's row is reused, not made again: shown by
    falsifying it, as above."""
    root, ids, output, memory = built_with_memory(tmp_path)
    web = memory.row_markup["acme/web"]
    assert '<td class="num">2</td>' in web
    memory.row_markup["acme/web"] = web.replace('<td class="num">2</td>', '<td class="num">98</td>')
    with (state.state_dir(output) / state.MEMORY_FILE).open("wb") as f:
        state.dump_to(memory, f)
    _add_tag(root, ids)  # acme/api changes, acme/web does not
    run(root, output)
    rows = index_rows(output)
    assert '<td class="num">2</td>' in rows["api"]
    assert '<td class="num">98</td>' in rows["web"]
    _delete_tag(root, ids)  # acme/web changes: its row is made again
    run(root, output)
    assert '<td class="num">1</td>' in index_rows(output)["web"]


def test_templates_that_do_not_use_the_row_filter_remember_no_markup(tmp_path: Path) -> None:
    """A replaced repository table that writes its own rows: rebuilds equal full builds,
    and the state holds no markup of rows."""
    root = tmp_path / "storage"
    ids = base_storage(root)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "_repository_table.html").write_text(
        "<table class=\"repos\"><tbody>\n{% for repo in repos %}"
        "<tr><td><a href=\"{{ url_for('repository', repo.namespace, repo.name) }}\">"
        "{{ repo.name }}</a></td><td>{{ repo.tag_count }}</td>"
        "<td>{{ repo.updated|moment(short=true) }}</td><td>{{ repo.size|size }}</td></tr>\n"
        "{% endfor %}</tbody></table>\n"
    )
    incremental, full = tmp_path / "inc" / "site", tmp_path / "full" / "site"
    run(root, incremental, templates_dir=templates)
    run(root, full, full=True, templates_dir=templates)
    for change in (_add_tag, _push_image, _add_repository, _delete_repository):
        change(root, ids)
        run(root, incremental, templates_dir=templates)
        run(root, full, full=True, templates_dir=templates)
        assert files(incremental) == files(full), change.__name__
        memory = state.load_memory(incremental)
        assert memory is not None and memory.row_markup == {} and memory.rows
        if change is _add_tag:
            assert "<td>2</td>" in index_rows(incremental)["api"]


def test_the_change_feeds_list_what_changed(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    ids = base_storage(root)
    output = tmp_path / "site"
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    os.environ.update(env)
    try:
        run(root, output)
        first = json.loads((output / paths.CHANGES_JSON).read_bytes())
        assert first["built"] == "2023-11-14T22:13:20Z"
        assert first["repositories"]["added"] == ["acme/api", "acme/web", "library/busybox"]
        assert {(t["repository"], t["tag"]) for t in first["tags"]["added"]} == {
            ("acme/api", "latest"), ("acme/web", "latest"), ("acme/web", "1.0"),
            ("library/busybox", "latest")}
        _push_image(root, ids)
        _add_repository(root, ids)
        _delete_repository(root, ids)
        run(root, output)
    finally:
        for key in env:
            os.environ.pop(key)
    changes = json.loads((output / paths.CHANGES_JSON).read_bytes())
    assert changes["repositories"] == {
        "added": ["acme/new"], "updated": ["acme/web"], "removed": ["acme/api"]}
    assert changes["tags"]["updated"] == [{
        "repository": "acme/web", "tag": "latest", "image": ids["web3"],
        "previous_image": ids["web2"]}]
    assert {(t["repository"], t["tag"]) for t in changes["tags"]["added"]} == {
        ("acme/new", "edge"), ("acme/new", "latest")}
    assert changes["tags"]["removed"] == [
        {"repository": "acme/api", "tag": "latest", "image": ids["api1"]}]
    # Private repositories are in no feed.
    assert b"secret" not in (output / paths.CHANGES_JSON).read_bytes()
    assert b"secret" not in (output / paths.CHANGES_FEED).read_bytes()
    feed = (output / paths.CHANGES_FEED).read_text()
    assert feed.count("<entry>") == 2
    assert "1 repository added, 1 repository updated, 1 repository removed" in feed
    assert 'href="/changes.atom"' in feed
    # The HTML index links the feed.
    index = (output / "index.html").read_text()
    assert 'type="application/atom+xml" href="/changes.atom"' in index


def test_feeds_are_dated_by_the_storage_not_the_clock(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    base_storage(root)
    for path in root.rglob("*"):
        os.utime(path, (1_600_000_000, 1_600_000_000))
    (root / "repositories/acme/web/tag_1.0").touch()
    os.utime(root / "repositories/acme/web/tag_1.0", (1_650_000_000, 1_650_000_000))
    run(root, tmp_path / "a" / "site")
    run(root, tmp_path / "b" / "site")
    first = tmp_path / "a" / "site" / paths.CHANGES_JSON
    assert json.loads(first.read_bytes())["built"] == "2022-04-15T05:20:00Z"
    assert files(tmp_path / "a" / "site") == files(tmp_path / "b" / "site")


def test_a_build_killed_while_applying_its_patch_is_completed_by_the_next(
    tmp_path: Path,
) -> None:
    root = tmp_path / "storage"
    ids = base_storage(root)
    output = tmp_path / "site"
    run(root, output)
    expected = tmp_path / "expected" / "site"
    _add_tag(root, ids)
    run(root, expected, full=True)
    run(root, output)
    # Stage a patch by hand as the build does, commit its journal, and apply only half of
    # it: what a SIGKILL in the middle of `publish()` leaves.
    memory = state.load_memory(output)
    assert memory is not None
    writer = SiteWriter(output, Report(), previous=memory.manifest)
    for unit in memory.manifest:
        if unit != "repository:acme/web":
            writer.keep(unit)
    for relpath in unpack("repository:acme/web", memory.manifest["repository:acme/web"]):
        data = (output / relpath).read_bytes()
        writer.write(relpath, data.replace(b"1.0", b"9.9"), "test", "repository:acme/web",
                     compare=False)
    steps = writer.commit()
    puts = [s for s in steps if s[0] == "put"]
    assert len(puts) > 2
    half = puts[: len(puts) // 2]
    for _, relpath in half:
        (writer.staging / str(relpath)).replace(output / str(relpath))
    assert (writer.staging / JOURNAL).is_file()
    leftovers = remove_stale_staging(output)
    assert leftovers == [(writer.staging, True)]
    for step in puts:
        assert b"9.9" in (output / str(step[1])).read_bytes() or b"1.0" not in (
            output / str(step[1])).read_bytes()
    assert not writer.staging.exists()


def test_progress_bars_on_a_terminal_and_none_in_cron(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    base_storage(root)
    command = [sys.executable, "-m", "generator", "build", "--source", str(root),
               "--output", str(tmp_path / "site")]
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    # cron: no terminal, so no bars, only the summary line.
    cron = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert cron.returncode == 0, cron.stderr
    assert cron.stderr == ""
    assert cron.stdout.count("\n") == 1 and cron.stdout.startswith("Done: 3 repositories")
    # A terminal: one bar per phase, on stderr.
    shutil.rmtree(tmp_path / "site")
    script = shutil.which("script")
    if script is None:
        pytest.fail("`script` (util-linux) is needed to run a build on a pseudo-terminal")
    shown = subprocess.run(
        [script, "-qec", " ".join(command), "/dev/null"], capture_output=True, text=True,
        env={**env, "TERM": "xterm", "COLUMNS": "100"}, timeout=120)
    assert shown.returncode == 0, shown.stdout
    for phase in ("crawl", "render", "index", "write"):
        assert phase in shown.stdout, shown.stdout
    assert "100%|" in shown.stdout
    assert "Done: 3 repositories" in shown.stdout
    # -q on a terminal: no bars.
    quiet = subprocess.run(
        [script, "-qec", " ".join([*command, "-q", "--full"]), "/dev/null"],
        capture_output=True, text=True, env={**env, "TERM": "xterm"}, timeout=120)
    assert quiet.returncode == 0
    assert "%|" not in quiet.stdout and "Done:" not in quiet.stdout


def test_problems_are_grouped_by_kind_in_cron_mail(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    base_storage(root)
    for n in range(5):
        write_repository(root, f"acme/dangling{n}", {"latest": image_id(f"missing{n}")})
    proc = subprocess.run(
        [sys.executable, "-m", "generator", "build", "--source", str(root),
         "--output", str(tmp_path / "site")], capture_output=True, text=True, timeout=120,
        env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0
    lines = proc.stderr.splitlines()
    assert lines[0] == "WARNING 5 dangling problems:"
    assert sum("acme/dangling" in line for line in lines) == 3
    assert lines[4] == "  and 2 more (-v lists every problem)"
    assert lines[5].startswith("WARNING Done: 8 repositories")
    assert "\033[" not in proc.stderr


def test_a_build_with_other_settings_starts_from_nothing(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    base_storage(root)
    output = tmp_path / "site"
    run(root, output)
    run(root, output, title="Acme images")
    assert "Acme images" in (output / "repositories/acme/web/index.html").read_text()
    full = tmp_path / "full" / "site"
    run(root, full, title="Acme images")
    feeds = {paths.CHANGES_JSON, paths.CHANGES_FEED}
    assert {k: v for k, v in files(output).items() if k not in feeds} == {
        k: v for k, v in files(full).items() if k not in feeds}


@pytest.mark.parametrize("jobs", [1, 2])
def test_after_a_settings_change_the_files_that_did_not_change_keep_inode_and_mtime(
    tmp_path: Path, jobs: int
) -> None:
    """Its state unusable, the build makes a whole tree, but links the files whose bytes
    did not change to the published ones: a sync after an upgrade moves what changed."""
    root = tmp_path / "storage"
    base_storage(root)
    output = tmp_path / "site"
    run(root, output, jobs=jobs, include_layers=True)
    before, old_files = identities(output), files(output)

    result, _ = run(root, output, jobs=jobs, include_layers=False, title="Acme images")
    after, new_files = identities(output), files(output)
    full = tmp_path / "full" / "site"
    run(root, full, jobs=jobs, include_layers=False, title="Acme images")
    feeds = {paths.CHANGES_JSON, paths.CHANGES_FEED}
    assert {k: v for k, v in new_files.items() if k not in feeds} == {
        k: v for k, v in files(full).items() if k not in feeds}

    same = {k for k in new_files if old_files.get(k) == new_files[k]}
    changed = new_files.keys() - same
    gone = old_files.keys() - new_files.keys()
    assert any(k.startswith("v1/repositories/") for k in same)  # JSON documents: no title
    assert any(k.endswith("index.html") for k in changed)  # pages show the title
    assert any(k.endswith("/layer") for k in gone)
    for k in same:
        if not k.startswith(f"{paths.INDEX_DIR}/"):  # Whoosh writes its folder anew, as in a patch
            assert after[k] == before[k], k  # the published file itself: inode and mtime
    for k in changed:
        assert after[k][0] != before[k][0], k
    assert not any(k.startswith(f"{paths.INDEX_DIR}/") for k in changed)
    # Written: the files that changed, and the Whoosh folder (one claim, as in a patch).
    assert (result.written, result.deleted) == (len(changed) + 1, len(gone))

    # `--full` trusts nothing of the published site either: every file is new.
    run(root, output, jobs=jobs, full=True, include_layers=False, title="Acme images")
    rebuilt = identities(output)
    assert all(rebuilt[k][0] != after[k][0] for k in new_files)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_rebuild_whose_new_file_is_a_kept_units_builds_everything(
    tmp_path: Path, sitegen_log: pytest.LogCaptureFixture, jobs: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The patch remembers no path of a kept unit: the clash is found on the published site.
    monkeypatch.setattr(units, "SPLIT_UNITS", 1)  # on two cores, the rebuild is split too
    def run_on(output: Path, full: bool = False) -> Report:
        report = Report()
        build(Config(source=root, output=output), report, full=full, jobs=jobs)
        return report

    root = tmp_path / "storage"
    good = image_id("good")
    write_image(root, good)
    # library/ns's tag "json" and ns/tags' document both map to v1/repositories/ns/tags/json.
    write_repository(root, "library/ns", {"json": good})
    output, expected = tmp_path / "site", tmp_path / "expected" / "site"
    run_on(output)
    run_on(expected, full=True)
    write_repository(root, "ns/tags", {"latest": good})
    report = run_on(output)
    assert "two documents clash; building everything again" in sitegen_log.text
    full_report = run_on(expected, full=True)
    assert files(output) == files(expected)
    assert [p.reason for p in report.problems] == [p.reason for p in full_report.problems]
    assert len(report.problems) == 1
