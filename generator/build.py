"""The pipeline, top to bottom: lock → crawl → select → emit → index → publish.

Everything is gathered before anything is written (mkdocs' two phases), and
everything is written into staging before the site is swapped in, so a
failed nightly run leaves yesterday's site serving. Each emitter turns the
gathered registry into `Output`s; the writer is the only thing that writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from generator import index, paths
from generator.config import Config
from generator.emit import html, search_shards, v1_tree, v2_tree
from generator.emit.v1_tree import Output, Selection
from generator.emit.writer import SiteWriter, output_lock, remove_stale_staging
from generator.model import Registry
from generator.report import Report
from generator.sources import crawler_for

log = logging.getLogger("sitegen")

Emitter = Callable[[Selection, Registry, Config, Report], Iterator[Output]]

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

    def summary(self) -> str:
        """One line for cron mail, after pelican's "Done: Processed …"."""
        return (
            f"Done: {self.repositories} repositories, {self.tags} tags, {self.images} images, "
            f"{self.files} files, {self.problems} problems in {self.seconds:.2f} seconds"
        )


def build(config: Config, report: Report) -> BuildResult:
    """Build the site for `config` and publish it; raise SitegenError on fatal errors."""
    started = time.monotonic()
    with output_lock(config.output):
        for leftover in remove_stale_staging(config.output):
            log.info("removed %s left by an interrupted build", leftover)
        registry = crawler_for(config)(report)
        selection = v1_tree.select(registry, config.include_private)

        writer = SiteWriter(config.output, report)
        try:
            for emit in EMITTERS:
                for output in emit(selection, registry, config, report):
                    _write(writer, output)
            index_dir = writer.directory(paths.INDEX_DIR, "search index")
            if index_dir is not None:
                index.build_index(selection.repositories, registry, index_dir)
            files = len(writer.written())
            writer.publish()
        except BaseException:
            writer.discard()
            raise
    return BuildResult(
        repositories=sum(1 for r in selection.repositories if r.is_directory),
        tags=sum(len(r.tags) for r in selection.repositories),
        images=len(selection.images),
        files=files,
        problems=len(report.problems),
        seconds=time.monotonic() - started,
    )


def _write(writer: SiteWriter, output: Output) -> None:
    if output.source is not None:
        writer.link(output.relpath, output.source, output.origin)
    else:
        writer.write(output.relpath, output.data or b"", output.origin)


def _v1_outputs(
    selection: Selection, registry: Registry, config: Config, report: Report
) -> Iterator[Output]:
    del registry
    yield from v1_tree.site_outputs(selection, config.include_layers, report)


def _v2_outputs(
    selection: Selection, registry: Registry, config: Config, report: Report
) -> Iterator[Output]:
    del report
    yield from v2_tree.site_outputs(selection, registry, config.include_layers)


def _search_outputs(
    selection: Selection, registry: Registry, config: Config, report: Report
) -> Iterator[Output]:
    del config, report
    files = search_shards.client_index_files(selection.repositories, registry)
    for relpath, data in sorted(files.items()):
        yield Output(f"{SEARCH_INDEX_URL}/{relpath}", data, origin="client search index")


EMITTERS: tuple[Emitter, ...] = (_v1_outputs, _v2_outputs, _search_outputs, html.site_outputs)
"""Every emitter, in the order their files are written."""
