"""The pipeline, top to bottom: lock → crawl → select → write → index → publish.

Everything is gathered before anything is written (mkdocs' two phases), and
everything is written into staging before the site is swapped in, so a
failed nightly run leaves yesterday's site serving.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from generator.config import Config
from generator.emit import v1_tree
from generator.emit.writer import SiteWriter, output_lock, remove_stale_staging
from generator.report import Report
from generator.sources import open_source

log = logging.getLogger("sitegen")


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
        crawl = open_source(config.source, config.source_type)
        registry = crawl(config.source, report)
        selection = v1_tree.select(registry, config.include_private)

        writer = SiteWriter(config.output, report)
        try:
            for output in v1_tree.site_outputs(selection, config.include_layers, report):
                if output.source is not None:
                    writer.link(output.relpath, output.source, output.origin)
                else:
                    writer.write(output.relpath, output.data or b"", output.origin)
            _build_search(selection, registry, writer)
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


def _build_search(selection: v1_tree.Selection, registry: object, writer: SiteWriter) -> None:
    """The Whoosh index and the static client index, inside the staging tree."""
    del selection, registry, writer  # wired in with the search index
