"""The pipeline, top to bottom: lock → scan → crawl → select → emit → index → publish.

Everything is gathered before anything is written (mkdocs' two phases), and
everything is written into staging before it is published, so a failed
nightly run leaves yesterday's site serving. Each emitter turns the
gathered registry into `Output`s; the writer is the only thing that writes.

**Incremental.** A build compares the storage with the state the previous
build left (`state.py`): when no fingerprint changed it stops there, having
read nothing but the fingerprints; otherwise it re-reads the storage entries
that changed (`incremental.py`), redoes the units whose outputs may differ
and keeps the others, and the writer publishes only the files whose bytes
changed (`emit/writer.py`). `full=True` (`--full`) trusts nothing the
previous build left and swaps in a whole new tree; its files are the same,
byte for byte (tests/test_incremental.py).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import operator
import os
import pickle
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import compress, filterfalse, islice
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from generator import collector, forked, listings, paths, state
from generator.config import Config
from generator.emit import feeds, html_data, html_inputs, parallel, units, v1_tree, v2_tree
from generator.emit.html_data import RepositoryRow
from generator.emit.v1_tree import Output, Selection
from generator.emit.writer import (
    PatchConflict,
    SiteWriter,
    SplitConflict,
    output_lock,
    remove_stale_staging,
)
from generator.errors import BuildError
from generator.incremental import (
    Scan,
    SearchChanges,
    crawl_v1,
    dirty_units,
    scan,
)
from generator.listings import ListingStore
from generator.model import Registry
from generator.progress import NONE, Advance, Progress
from generator.report import Problem, Report
from generator.sources import crawler_for, detect

if TYPE_CHECKING:
    from generator import index, segment_writer

log = logging.getLogger("sitegen")

Emitter = Callable[[Selection, Registry, Config, Report], Iterator[Output]]

DEFAULT_JOBS = min(2, os.cpu_count() or 1)
"""Processes that render: two when there are two cores (more would contend for the disk)."""

SEARCH_INDEX_URL = paths.SEARCH_INDEX_DIR
"""Where the static client-side search index is published (`/search-index/…`)."""


@dataclass(frozen=True)
class BuildResult:
    repositories: int
    tags: int
    images: int
    files: int
    problems: int
    seconds: float
    written: int = 0
    """Files staged and published by this build (all of them when swapping a whole tree)."""
    deleted: int = 0
    changed: bool = True
    """False when the storage had not changed and nothing was written."""

    def summary(self) -> str:
        """One line for cron mail, after pelican's "Done: Processed …"."""
        files = f"{self.files} files ({self.written} written, {self.deleted} deleted)"
        if not self.changed:
            files = f"{self.files} files (nothing changed)"
        return (
            f"Done: {self.repositories} repositories, {self.tags} tags, {self.images} images, "
            f"{files}, {self.problems} problems in {self.seconds:.2f} seconds"
        )


LEAVE_TO_EXIT: list[object] | None = None
"""A list when the process ends right after the build without freeing what it holds
(`cli.run`): a build that succeeds leaves its largest objects there (its memory of the last
build, the crawl, the writer's claims; the walks, if nothing changed) rather than free them
object by object as it returns, 0.06 s at 20,000 repositories. None in a process that goes on
(tests, a library caller)."""


def build(
    config: Config, report: Report, *, full: bool = False, progress: Progress = NONE,
    jobs: int = DEFAULT_JOBS,
) -> BuildResult:
    """Build the site for `config` and publish it; raise SitegenError on fatal errors.

    `jobs` > 1 renders on two processes (`emit/parallel.py`); the files are the same.
    """
    started = time.monotonic()
    with output_lock(config.output):
        for leftover, completed in remove_stale_staging(config.output):
            what = "completed the files" if completed else "removed"
            log.info("%s %s left by an interrupted build", what, leftover)
        # Each fallback happens at most once: a full build patches nothing, one core splits nothing.
        try:
            while True:
                try:
                    one = _Build(config, report, full, progress, jobs)
                    try:
                        return one.run(started)
                    finally:
                        one.end_spare()
                except PatchConflict as exc:
                    if full:
                        raise
                    log.info("%s: two documents clash; building everything again", exc)
                    full = True
                except SplitConflict as exc:
                    if jobs == 1:
                        raise
                    log.info("%s: two documents clash; building again on one core", exc)
                    jobs = 1
                except state.MemoryUnreadable as exc:  # (it was read in two steps: `run`)
                    if full:
                        raise
                    log.info("%s; building everything", exc)
                    full = True
                report.problems.clear()
        except OSError as exc:  # the output's disk (full, read-only, failing): one line for cron
            log.debug("the build stopped", exc_info=True)
            raise BuildError(
                f"the build of {config.output} stopped: {exc}. What it wrote is removed; the "
                "published site is the last build's (a publish it had begun is completed by "
                "the next build)"
            ) from exc
        finally:
            gc.unfreeze()  # what `run` set aside may be collected once the build is over


class _Build:
    """One run of the pipeline (see the module docstring)."""

    def __init__(
        self, config: Config, report: Report, full: bool, progress: Progress, jobs: int
    ) -> None:
        self.config = config
        self.report = report
        self.full = full
        self.progress = progress
        self.jobs = jobs
        self._whoosh: _Segments | None = None
        """The Whoosh index `_search` (or `_emit_all`, for the segments written beside the
        pages) began, finished by `_publish` just before it publishes: the segments written
        beside the pages (`_beside`) are waited for once the change feeds and the state are
        made too."""
        self._spare: segment_writer.SegmentWriter | None = None
        """A segment writer started early (`_start_spare`), for `_Segments.start_beside`."""
        self.output = config.output
        self.key = state.output_key(config)
        url = config.source_url
        self.root = None if url is not None else Path(config.source)
        if self.root is None:
            self.layout = "http"
        elif config.source_type == "auto":
            self.layout = detect(self.root)
        else:
            self.layout = config.source_type

    def run(self, started: float) -> BuildResult:
        # No cyclic collection while the state is read and the storage walked: a collection
        # then would look at every object of the state and the walk, and find nothing to free.
        with collector.paused():
            old_sources = None if self.full else state.load_sources(self.output)
            may_trust = (
                not self.full
                and self.output.is_dir()
                and old_sources is not None
                and old_sources.key == self.key
                and old_sources.layout == self.layout
            )
            # Read only if it may be used. A build that cannot use it (`--full`, other
            # settings, templates or code) reads what its change feeds compare with once
            # the pages are made (`_emit_all`), not held beside the render worker (45 MB).
            # One that may reads it while the scan's worker walks the storage: a third of
            # a one-change rebuild's time at 20,000 repositories was the two, one after the
            # other. If nothing changed, it was read for nothing, in the time of the walk.
            # Only up to its crawl: what follows is read once the crawl is done (`run`).
            loaded: list[state.Memory | None] = []

            def load_memory() -> None:
                loaded.append(state.load_memory(self.output, rest=False))
                _import_for_render()

            found = None
            if self.root is not None:
                beside = load_memory if may_trust else None
                found = scan(self.root, self.layout, self.jobs, *_previous(old_sources), beside)
            if may_trust and old_sources is not None and found is not None and (
                old_sources.fingerprints == found.fingerprints
            ):
                if LEAVE_TO_EXIT is not None:
                    LEAVE_TO_EXIT.extend((old_sources, found))
                return self._unchanged(old_sources, started)
            if may_trust and not loaded:  # (not read beside the scan: v2, or no walk)
                load_memory()
            memory = loaded[0] if loaded else None
            # Set aside before the collector runs again: its first collection would look at
            # every object the state and the walk made (0.2 s at 20,000 repositories), and
            # they live as long as the build.
            gc.freeze()
        trusted = memory is not None and may_trust and memory.key == self.key
        if trusted and self.jobs > 1 and forked.available():
            self._start_spare()
        crawl = _Crawled(*self._crawl(found, memory if trusted else None, old_sources))
        if old_sources is not None:  # its walk served the crawl: not held while rendering
            state.forget_walk(old_sources)  # (where its chunks are is kept: `_publish`)
        # The crawls (this one and the remembered one) live as long as the build: set
        # aside, full collections need not scan them again (at 20,000 repositories each
        # scan takes a fifth of a second), nor the forked worker copy their pages to do so.
        gc.freeze()
        # A patch of what changed; or a whole tree, whose files that did not change are links
        # to the published ones (`SiteWriter.keep_same`), unless `--full` trusts nothing. (A
        # trusted memory's manifest is read into this dict by `_load_rest`, before any use.)
        previous = memory.manifest if trusted and memory is not None else None
        writer = SiteWriter(
            self.output, self.report, previous=previous, state_dir=state.state_dir(self.output),
            keep_same=not self.full,
        )
        try:
            result = self._publish(writer, started, found, memory, trusted, crawl, old_sources)
        except BaseException:
            if self._whoosh is not None:
                self._whoosh.abandon()
            writer.discard()
            raise
        if LEAVE_TO_EXIT is not None:
            LEAVE_TO_EXIT.extend((memory, crawl, writer, found))
        return result

    def end_spare(self) -> None:
        """End the segment writer started early if the build did not give it a segment."""
        if self._spare is not None:
            self._spare.kill()
            self._spare = None

    def _start_spare(self) -> None:
        """Start the process that may write the search segments beside the pages
        (`segment_writer.py`: why this early), while the second core is idle."""
        from generator import segment_writer  # see `_search`

        try:
            self._spare = segment_writer.SegmentWriter()
        except OSError as exc:  # `start_beside` tries again, and says so if it fails
            log.debug("cannot start the segment writer early: %s", exc)

    def _publish(
        self, writer: SiteWriter, started: float, found: Scan | None,
        memory: state.Memory | None, trusted: bool, crawl: _Crawled,
        old_sources: state.Sources | None = None,
    ) -> BuildResult:
        """Everything after the crawl, into `writer`: select, emit, index, remember, publish.

        `old_sources`: the walk the last build wrote (its fields let go), whose chunks the
        state's new walk names again where they did not change."""
        store = state.chunk_store(self.output)
        with writer.state_file(state.MEMORY_FILE) as memory_file:
            crawled = bool(crawl.cache)

            def write_walk_and_crawl() -> None:
                # What the walk saw is written and let go before the render: a sixth of the
                # crawl's memory at 20,000 repositories, held by neither render process. The
                # crawl's entries too: their keys and pairs.
                if found is not None:
                    with writer.state_file(state.SOURCES_FILE) as f:
                        state.dump_to(state.Sources(
                            state.FORMAT, self.key, self.layout, found.kept(),
                            found.newest_mtime_ns, listings=found.kept_listings(),
                        ), f, previous=old_sources, store=store)
                    found.release()
                    if old_sources is not None:  # its chunks' values: what the walk held
                        old_sources.origin = None
                state.dump_crawl(crawl.cache, memory_file, previous=memory, store=store)
                crawl.cache.clear()
                if trusted and memory is not None:
                    state.forget_crawl(memory)  # its crawl is written and compared

            if not trusted:
                write_walk_and_crawl()
                if crawled and self.jobs > 1 and forked.available():
                    crawl.compact()  # before the render forks (see `_Crawled.compact`)
            registry = crawl.registry
            result, remembered = self._emit_all(
                writer, started, found, memory, trusted, registry, crawled,
                None if not trusted else write_walk_and_crawl,
            )
            state.dump_rest(remembered, memory_file, previous=memory, store=store)
        if self._whoosh is not None:  # (see `__init__`)
            self._whoosh.finish(registry)
            self._whoosh = None
        with self.progress.phase("write", unit="file") as advance:
            changed = writer.publish(advance)
        store.prune()  # the chunks the memory just published names are all it must keep
        if crawl.orphans:  # the answers of the site now published are all the store must keep
            listings_of(self.output).prune(
                i.files_digest for i in registry.images if i.files_digest is not None
            )
        return dataclasses.replace(
            result,
            seconds=time.monotonic() - started,
            written=writer.written_count,
            deleted=writer.deleted_count,
            changed=changed,
        )

    def _emit_all(
        self, writer: SiteWriter, started: float, found: Scan | None,
        memory: state.Memory | None, trusted: bool, registry: Registry, crawled: bool,
        before_render: Callable[[], None] | None = None,
    ) -> tuple[BuildResult, state.Memory]:
        """Select, emit and index what changed; write the report; return what to remember
        (the registry too if no crawl cache holds it: `crawled`).

        `before_render`: what a rebuild does once it knows what changed, before it renders
        (it writes the walk and the crawl into the state): the Whoosh segments to rewrite are
        handed to the process beside first (`_begin_segments`), which then works meanwhile.
        """
        hidden = v1_tree.hidden_images(registry, self.config.include_private)
        selection = v1_tree.select(registry, self.config.include_private, hidden)
        dirty: frozenset[str] | None = None
        gone: frozenset[str] = frozenset()
        changed_repos: set[str] | None = None
        self.search_changes: SearchChanges | None = None
        self.search_memory = memory.search if trusted and memory is not None else None
        if trusted and memory is not None:
            old_registry = _remembered(memory)
            # The images the last build hid, for the registry it remembers: not walked again.
            old_selection = v1_tree.select(
                old_registry, self.config.include_private, memory.hidden
            )
            dirty, changed_repos, self.search_changes, gone = dirty_units(
                old_selection, selection, old_registry, registry
            )
            del old_registry, old_selection
        selection = dataclasses.replace(selection, dirty=dirty)
        if before_render is not None and self._beside(writer, selection):
            self._whoosh = self._begin_segments(writer, selection, registry)
        known = memory if trusted else None
        if known is not None:
            _load_rest(known)
        rows = _current(known.rows if known is not None else {}, dirty)
        markup = _current(known.row_markup if known is not None else {}, dirty)
        selection = dataclasses.replace(selection, rows=rows, row_markup=markup)
        kept: dict[str, tuple[Problem, ...]] = {}
        if writer.patching and memory is not None and dirty is not None:
            kept = _keep(writer, memory, dirty | gone)
        if before_render is not None:
            self.end_spare()  # (not given a segment: not held through the render)
            before_render()
        unit_problems = self._emit(writer, selection, registry, kept)
        if not trusted:
            memory = state.load_memory(self.output, crawl=False)  # see `run`
        published = self._published(selection, memory, changed_repos)
        feed = self._feeds(writer, selection, memory, published, found, registry)
        result = self._result(selection, writer, started)
        summary = state.Summary(result.repositories, result.tags, result.images, result.files)
        writer.write_state(state.REPORT_FILE, state.dump((summary, tuple(self.report.problems))))
        if found is None:  # no walk (an HTTP source): the sources are the layout and key
            with writer.state_file(state.SOURCES_FILE) as f:
                state.dump_to(state.Sources(state.FORMAT, self.key, self.layout, {}, 0), f)
        names = list(map(_FULL_NAME, selection.repositories))
        remembered = state.Memory(
            state.FORMAT, self.key, writer.manifest(), registry=None if crawled else registry,
            published=published, feed=feed, problems=unit_problems, search=self.search_memory,
            rows=_all_rows(selection, registry, rows, names),
            row_markup=_in_order(names, markup), hidden=hidden,
        )
        return result, remembered

    # -- the phases --------------------------------------------------------------------

    def _unchanged(self, old: state.Sources, started: float) -> BuildResult:
        """Nothing in the storage changed: report what the last build reported, touch nothing."""
        for problem in old.problems:
            self.report.add(problem)
        s = old.summary
        return BuildResult(
            repositories=s.repositories, tags=s.tags, images=s.images, files=s.files,
            problems=len(old.problems), seconds=time.monotonic() - started, changed=False,
        )

    def _crawl(
        self, found: Scan | None, memory: state.Memory | None, old: state.Sources | None
    ) -> tuple[Registry, dict[str, object], bool]:
        """The registry, for v1 the crawl cache of every entry (empty otherwise), and whether
        a stored `/files` answer may have lost its last image (`_Crawled.orphans`)."""
        if self.layout == "v1" and found is not None and self.root is not None:
            cache = memory.cache if memory is not None else {}
            fingerprints = old.fingerprints if memory is not None and old is not None else {}
            with self.progress.phase("crawl", total=len(found.entries), unit="entry") as advance:
                registry, new_cache, read = crawl_v1(
                    self.root, found, cache, fingerprints, self.report, advance, self.jobs,
                    listings_of(self.output),
                )
            log.info("read %d of %d storage entries", read, len(found.entries))
            return registry, new_cache, memory is None or _images_changed(cache, new_cache)
        with self.progress.phase("crawl", unit="repository"):
            return crawler_for(self.config)(self.report), {}, False

    def _emit(
        self, writer: SiteWriter, selection: Selection, registry: Registry,
        kept: dict[str, tuple[Problem, ...]],
    ) -> dict[str, tuple[Problem, ...]]:
        """Write the units to redo; return the problems of every unit (kept ones included).

        A problem found while making a unit's files (corrupt metadata, a clash)
        belongs to that unit: a kept unit's problems are reported again, and
        all of them are listed unit by unit, so that every build reports what
        a full one does, in the same order.
        """
        found: dict[str, list[Problem]] = {unit: list(p) for unit, p in kept.items() if p}
        markup = selection.row_markup if selection.row_markup is not None else {}
        rows = selection.rows if selection.rows is not None else {}

        def emit_units(share: Selection, advance: Advance) -> Made:
            # The rows and their markup this half made were added last to `rows` and `markup`
            # (its copies of them, in the forked worker): they go back to the parent, which
            # remembers them.
            markup_before, rows_before = len(markup), len(rows)
            problems = self._emit_units(writer, share, registry, advance)
            return (
                problems,
                dict(islice(markup.items(), markup_before, None)),
                dict(islice(rows.items(), rows_before, None)),
            )

        dirty = selection.dirty
        todo = "every unit" if dirty is None else f"{len(dirty)} units"
        with self.progress.phase("render", unit="file") as advance:
            if not self._on_one_process(dirty):
                log.info("rendering %s on two processes", todo)
                registry.images_by_id()  # made once, shared by both (`SiteData`)
                parts: tuple[Made, ...] = parallel.split(emit_units, selection, writer, advance)
            else:
                log.info("rendering %s on one process", todo)
                parts = (emit_units(selection, advance),)
        for part, made, made_rows in parts:
            found.update(part)
            markup.update(made)
            rows.update(made_rows)
        for unit in sorted(found):
            for problem in found[unit]:
                self.report.problems.append(problem)
        for problems in kept.values():
            for problem in problems:
                log.info("%s", problem)
        return {unit: tuple(problems) for unit, problems in sorted(found.items()) if problems}

    def _emit_units(
        self, writer: SiteWriter, selection: Selection, registry: Registry, advance: Advance
    ) -> dict[str, list[Problem]]:
        """Write the files of the units `selection` wants; return their problems by unit."""
        mark = len(self.report.problems)
        found: dict[str, list[Problem]] = {}
        # A rebuild's Whoosh segments are written beside its pages (see `_beside`), begun
        # before them (`_emit_all`).
        early = self._beside(writer, selection)
        whoosh = self._whoosh if early else None

        def pages() -> None:
            for emit in EMITTERS:
                for output in emit(selection, registry, self.config, self.report):
                    if selection.wants(output.unit):
                        _write(writer, output)
                        advance(1)
                    self._file_problems(found, output.unit, mark)

        def search() -> None:
            with self.progress.phase("index", total=1, unit="index") as done:
                self._search(writer, selection, registry, advance, whoosh, planned=early)
                done(1)
            self._file_problems(found, units.SEARCH, mark)

        steps = [pages]
        if selection.wants(units.SEARCH):
            # A split build's parent indexes first, while the render worker is small: last,
            # its 15 MB of postings were held beside the worker at its largest.
            steps.insert(0 if selection.worker is False else 1, search)
        try:
            for step in steps:
                step()
                # What the step freed (Whoosh's postings, the pages' views) goes back to the
                # system: the parent of a split build goes on beside its worker, or waits.
                collector.give_back()
        except BaseException:
            if whoosh is not None:
                whoosh.abandon()
            raise
        return found

    def _on_one_process(self, dirty: frozenset[str] | None) -> bool:
        """Whether `_emit` renders on one process (else it splits the units over two)."""
        return not (self.jobs > 1 and forked.available() and units.worth_splitting(dirty))

    def _begin_segments(
        self, writer: SiteWriter, selection: Selection, registry: Registry
    ) -> _Segments | None:
        """The Whoosh index begun (`_whoosh_plan`), its segments handed to the process beside
        (the one started early, `_spare`, if there is one)."""
        whoosh = self._whoosh_plan(writer, selection)
        if whoosh is not None and whoosh.plan.to_write:
            spare, self._spare = self._spare, None
            whoosh.start_beside(registry, spare)
        return whoosh

    def _file_problems(self, found: dict[str, list[Problem]], unit: str, mark: int) -> None:
        """Move the problems reported since `mark` to `unit`'s in `found`."""
        if len(self.report.problems) > mark:
            found.setdefault(unit, []).extend(self.report.problems[mark:])
            del self.report.problems[mark:]

    def _beside(self, writer: SiteWriter, selection: Selection) -> bool:
        """Whether the Whoosh segments this render rewrites are written beside it by another
        process (`segment_writer.py`: why, and what it saves).

        Not for a full build (its documents are shared with the client
        index), a split render (both cores are busy) or one core: `_search`
        writes the segments itself.
        """
        second_core_free = (
            self.jobs > 1 and forked.available() and self._on_one_process(selection.dirty)
        )
        return (
            second_core_free and writer.patching and self.search_changes is not None
            and selection.wants(units.SEARCH)
        )

    @staticmethod
    def _reuse(writer: SiteWriter, changes: SearchChanges) -> index.Reuse:
        """The previous index, and the buckets of the documents that changed since."""
        from generator import index  # see `_search`

        names = changes.old.keys() | changes.new.keys()
        return index.Reuse(
            writer.output / paths.INDEX_DIR, frozenset(map(index.segment_of, names))
        )

    def _search(
        self, writer: SiteWriter, selection: Selection, registry: Registry, advance: Advance,
        whoosh: _Segments | None = None, *, planned: bool = False,
    ) -> None:
        """Both search indexes: the Whoosh index and the client-side shards.

        A full build makes every document once, for both. A rebuild after
        some documents changed (`SearchChanges`) rewrites the Whoosh segments
        of their buckets and the shards their tokens reach, and keeps the
        rest of each from the previous build: the files are the same as a
        full build's, byte for byte. If `planned`, the Whoosh index was begun
        before the pages (`whoosh`: None if its folder could not be claimed),
        and its segments may be being written beside them (`_beside`). The
        index is left for `_publish` to finish (`_whoosh`).
        """
        # Whoosh: not imported by a build that finds nothing changed.
        from generator import index
        from generator.emit import search_shards

        repositories = selection.repositories
        changes = self.search_changes if writer.patching else None
        client = None
        if changes is not None and self.search_memory is not None and not changes.names_moved:
            client = search_shards.update_client_index(
                search_shards.ClientMemory.unpack(self.search_memory), repositories,
                changes.old, changes.new,
            )
        builder = search_shards.ClientIndexBuilder() if client is None else None
        if not planned:
            whoosh = self._whoosh_plan(writer, selection)
        # Writing every bucket, the Whoosh index makes every document: the shards share them.
        shared = builder is not None and changes is None and whoosh is not None
        if whoosh is not None and whoosh.child is None:
            whoosh.plan.write_segments(registry, builder.add if shared else None)
        if builder is not None:
            if not shared:
                for i, doc in enumerate(index.iter_documents(repositories, registry)):
                    builder.add(i, doc)
            client = builder.build(repositories)
        assert client is not None
        self.search_memory = client.memory.pack()
        kept = [f"{SEARCH_INDEX_URL}/{relpath}" for relpath in client.kept]
        for url in writer.keep_files(units.SEARCH, kept, "client search index"):
            writer.link(url, writer.output / url, "client search index", units.SEARCH)
        advance(len(kept))
        for relpath, data in sorted(client.files.items()):
            url = f"{SEARCH_INDEX_URL}/{relpath}"
            writer.write(url, data, "client search index", units.SEARCH)
            advance(1)
        self._whoosh = whoosh  # finished by `_publish`

    def _whoosh_plan(self, writer: SiteWriter, selection: Selection) -> _Segments | None:
        """The Whoosh index begun (`index.plan_index`), its segments not yet written; None
        if its folder cannot be claimed."""
        from generator import index  # see `_search`

        index_dir = writer.directory(paths.INDEX_DIR, "search index", units.SEARCH)
        if index_dir is None:
            return None
        changes = self.search_changes if writer.patching else None
        reuse = None if changes is None else self._reuse(writer, changes)
        return _Segments(index.plan_index(selection.repositories, index_dir, reuse), None)

    def _published(
        self, selection: Selection, memory: state.Memory | None, changed: set[str] | None
    ) -> dict[str, feeds.Published]:
        """What the change feeds compare, recomputed only for repositories that changed."""
        before = memory.published if memory is not None else {}
        published = {}
        for repository in selection.repositories:
            if not repository.is_directory:
                continue
            name = repository.full_name
            kept = changed is not None and name not in changed and name in before
            published[name] = before[name] if kept else feeds.snapshot(repository)
        return published

    def _feeds(
        self, writer: SiteWriter, selection: Selection, memory: state.Memory | None,
        published: dict[str, feeds.Published], found: Scan | None, registry: Registry,
    ) -> list[dict[str, str]]:
        """Write `/changes.json` and `/changes.atom`; return the feed's entries."""
        entries = list(memory.feed) if memory is not None else []
        if not selection.wants(units.SITE):
            return entries
        before = memory.published if memory is not None else {}
        changes = feeds.compare(*_unlike(before, published))
        clock = _clock(found, registry)
        if changes:
            new = feeds.entry(changes, clock, self.config.base_url)
            entries = [new, *entries][: feeds.FEED_ENTRIES]
        writer.write(paths.CHANGES_JSON, feeds.changes_json(changes, clock), "change feed")
        body = feeds.atom(entries, self.config.title, self.config.base_url, clock)
        writer.write(paths.CHANGES_FEED, body, "change feed")
        return entries

    def _result(self, selection: Selection, writer: SiteWriter, started: float) -> BuildResult:
        return BuildResult(
            repositories=sum(1 for r in selection.repositories if r.is_directory),
            tags=sum(len(r.tags) for r in selection.repositories),
            images=len(selection.images),
            files=writer.files,
            problems=len(self.report.problems),
            seconds=time.monotonic() - started,
        )


def _unlike(
    before: dict[str, feeds.Published], now: dict[str, feeds.Published]
) -> tuple[dict[str, feeds.Published], dict[str, feeds.Published]]:
    """`before` and `now` without the repositories whose entry is the very same object (kept by
    `_published`): what `feeds.compare` finds is the same, without looking at every one."""
    names = list(compress(now, map(operator.is_not, map(before.get, now), now.values())))
    names += before.keys() - now.keys()
    return (
        {name: before[name] for name in names if name in before},
        {name: now[name] for name in names if name in now},
    )


def _load_rest(memory: state.Memory) -> None:
    """The trusted memory's fields after its crawl (`state.load_rest`), read once the
    segments that changed are handed to the process beside (`_Build._begin_segments`),
    which writes them meanwhile: it had been the last to finish.

    Not before the crawl is done: beside the walk, and then beside the walk's new
    fingerprints while crawling, these 60 MB (at 20,000 repositories) made a one-change
    rebuild's peak, 290 MB for both processes.
    """
    if memory.origin is not None and memory.origin.rest_at is not None:
        state.load_rest(memory)
        gc.freeze()  # as long-lived as the crawls (`_Build.run`)


def _import_for_render() -> None:
    """Import what a build that found a change renders and indexes with (Jinja, Whoosh), as
    the walk finds the change: on the core the walk shares, 0.04 s less after it."""
    from generator import index, segment_writer  # noqa: F401
    from generator.emit import html, search_shards  # noqa: F401


def _remembered(memory: state.Memory) -> Registry:
    """The registry the previous build published, as it crawled it."""
    if memory.registry is not None:
        return memory.registry  # type: ignore[no-any-return]
    repositories, images = [], []
    for key, (obj, _problems) in memory.cache.items():
        if obj is not None:
            (repositories if key.startswith("R:") else images).append(obj)
    return Registry(repositories=tuple(repositories), images=tuple(images))


def _images_changed(old: Mapping[str, object], new: Mapping[str, object]) -> bool:
    """Whether an image entry of the last crawl's cache is gone from this one's, or was read
    again and differs (an entry not read again is the very object the last crawl kept; one
    read again because its walk was racy is usually equal)."""
    other = compress(old, map(operator.is_not, old.values(), map(new.get, old)))  # (C speed)
    return any(key.startswith("I:") and old[key] != new.get(key) for key in other)


def _keep(
    writer: SiteWriter, memory: state.Memory, redo: frozenset[str]
) -> dict[str, tuple[Problem, ...]]:
    """Keep every unit of the last build but those in `redo`; return the problems of the
    kept units that had some.

    The last build's units are those of its selection, so `redo` (the units
    dirty or gone, `incremental.Dirty`) is all that is not kept: a filter at
    C speed over the 75,000 units of 20,000 repositories, without making
    the name of every unit this build has to look each one up.
    """
    kept = list(filterfalse(redo.__contains__, memory.manifest))
    writer.keep_all(kept)
    problems = memory.problems
    return {unit: problems[unit] for unit in filter(problems.__contains__, kept)}


def _all_rows(
    selection: Selection, registry: Registry, rows: dict[str, RepositoryRow], names: list[str]
) -> dict[str, RepositoryRow]:
    """The row of every repository of `selection` (`html_data.repository_rows`), in its order
    (`names`: their full names).

    The index page has computed the rows that were not known (it lists every
    repository): then they are only gathered.
    """
    if all(map(rows.__contains__, names)):
        found = dict(zip(names, map(rows.__getitem__, names), strict=True))
        if len(found) == len(names):  # (two repositories of one name have no row by name)
            return found
    return html_data.repository_rows(selection, registry, rows)


def _in_order(names: list[str], markup: dict[str, str]) -> dict[str, str]:
    """The markup of the rows of the repositories `names` that have some, in their order
    (so that the next build copies the chunks of the state that did not change)."""
    if all(map(markup.__contains__, names)):  # the index page used the filter: at C speed
        return dict(zip(names, map(markup.__getitem__, names), strict=True))
    return {name: markup[name] for name in names if name in markup}


_FULL_NAME = operator.attrgetter("full_name")

_Remembered = TypeVar("_Remembered")


def _current(
    remembered: dict[str, _Remembered], dirty: frozenset[str] | None
) -> dict[str, _Remembered]:
    """What the previous build remembered of each repository (its row in lists, the row's
    markup) that is still true: that of the repositories whose unit is clean.

    A repository's unit is dirty whenever it or an image its tags reach
    changed, which is all that its row shows. A rebuild has few dirty units:
    their names are taken out of a copy (at C speed), rather than each name
    looked up.
    """
    if dirty is None:
        return {}
    current = dict(remembered)
    for name in v1_tree.dirty_names(dirty, units.repository("")):
        current.pop(name, None)
    return current


def _previous(
    sources: state.Sources | None,
) -> tuple[dict[str, tuple[int, int, str, int]] | None, dict[str, bytes] | None]:
    """The listings and fingerprints the walk compares with (none without `sources`)."""
    return (None, None) if sources is None else (sources.listings, sources.fingerprints)


def _clock(found: Scan | None, registry: Registry) -> int:
    """The build's date: SOURCE_DATE_EPOCH, else the storage's newest mtime (see emit/feeds.py).

    Without storage (an HTTP source), the newest date the registry holds: a
    tag's push time or an image's creation.
    """
    epoch = html_inputs.source_date_epoch()
    if epoch is not None:
        return epoch
    if found is not None and found.newest_mtime_ns:
        return found.newest_mtime_ns // 1_000_000_000
    from generator.emit.html_data import Moment  # not for a build that finds nothing changed

    stamps = [t.last_update or 0 for r in registry.repositories for t in r.tags]
    for image in registry.images:
        moment = Moment.parse(image.config.get("created"))
        stamps.append(moment.timestamp if moment else 0)
    return max(stamps, default=0)


def _write(writer: SiteWriter, output: Output) -> None:
    if output.source is not None:
        writer.link(output.relpath, output.source, output.origin, output.unit)
    else:
        writer.write(output.relpath, output.data or b"", output.origin, output.unit)


def _v1_outputs(
    selection: Selection, registry: Registry, config: Config, report: Report
) -> Iterator[Output]:
    del registry
    yield from v1_tree.site_outputs(
        selection, config.include_layers, report, listings_of(config.output)
    )


def listings_of(output: Path) -> ListingStore:
    """The `/files` answers of the v1 crawl of the site in `output` (`listings.py`)."""
    return ListingStore(state.state_dir(output) / listings.FOLDER)


def _v2_outputs(
    selection: Selection, registry: Registry, config: Config, report: Report
) -> Iterator[Output]:
    del report
    yield from v2_tree.site_outputs(selection, registry, config.include_layers)


def _html_outputs(
    selection: Selection, registry: Registry, config: Config, report: Report
) -> Iterator[Output]:
    from generator.emit import html  # Jinja: not imported by a build that finds nothing changed

    yield from html.site_outputs(selection, registry, config, report)


@dataclass
class _Crawled:
    """What the crawl made, held here alone so that `compact` can make the registry anew."""

    registry: Registry
    cache: dict[str, object]
    """v1: every storage entry crawled (`crawl_v1`), written into the build state and
    cleared before the render; empty otherwise."""
    orphans: bool
    """Whether the `/files` store may hold answers no image names any more: a v1 crawl that
    read everything, or that lost an image the last one had or found it changed. A rebuild
    after pushes that only added images need not list the store (55,000 answers at 20,000
    repositories)."""

    def compact(self) -> None:
        """Make the registry again from its pickle, once the crawl's other objects are gone.

        The crawl made the registry among its scaffolding (the walk's
        fingerprints, the cache), freed since: at 20,000 repositories the
        registry's 50 MB of objects were spread over 150 MB of heap, and a
        forked render worker copies every page either process touches. Made
        again in one go, the objects fill the freed holes and the emptied
        arenas go back to the system: the heap was 147-149 MB before, 114-135
        after, and the two render processes' peak 292-293 MB before, 255-278
        after (five runs), for 1 s of pickling. Nothing else holds the old
        objects when it runs.
        """
        packed = pickle.dumps(self.registry, pickle.HIGHEST_PROTOCOL)
        self.registry = Registry()  # the old objects are freed before the new ones are made
        gc.collect()  # what the state's writing left in cycles, and the free lists
        with collector.paused():  # (they make no cycles: see `collector`)
            self.registry = pickle.loads(packed)  # our own, made a line above
        del packed
        gc.freeze()  # as the crawl was (`_Build.run`)


@dataclass
class _Segments:
    """A Whoosh index begun (`_Build._whoosh_plan`), and the process writing its segments
    beside the pages, if one does (`start_beside`)."""

    plan: index.IndexPlan
    child: segment_writer.SegmentWriter | None = None

    def start_beside(
        self, registry: Registry, spare: segment_writer.SegmentWriter | None = None
    ) -> None:
        """Have another process write the segments, `spare` if one was started early (if it
        cannot start, `_search` writes them)."""
        from generator import segment_writer  # see `_Build._search`

        log.info("writing %d search index segments beside the pages", len(self.plan.to_write))
        child = spare
        try:
            if child is None:
                child = segment_writer.SegmentWriter()
            child.give(self.plan.directory, self.plan.buckets(registry))
        except OSError as exc:  # the second core is a saving: the build goes on without it
            if child is not None:
                child.kill()
            log.warning("cannot start a process to write the search index segments (%s): "
                        "writing them in this one", exc)
            return
        except BaseException:  # not yet ours to abandon (`abandon`): stopped here
            if child is not None:
                child.kill()
            raise
        self.child = child

    def finish(self, registry: Registry) -> None:
        """The index made whole, once its segments are written (here, if the child failed)."""
        if self.child is not None:
            try:
                self.child.wait()
            except BuildError as exc:  # the second core is a saving: the build goes on
                log.warning("%s; writing them in this process", exc)
                self.plan.write_segments(registry)
        self.plan.finish()

    def abandon(self) -> None:
        """Stop the child (the build failed)."""
        if self.child is not None:
            self.child.kill()


Made = tuple[dict[str, list[Problem]], dict[str, str], dict[str, RepositoryRow]]
"""What a share of a build's units gives back: its problems by unit, and the rows it made
with their markup."""

EMITTERS: tuple[Emitter, ...] = (_v1_outputs, _v2_outputs, _html_outputs)
"""Every emitter, in the order their files are written (then the search indexes: `_search`)."""
