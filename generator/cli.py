"""The `sitegen` command: argv in, exit status out. The only place that exits.

Exit status: 0 ok; 1 items had problems and `--strict` was given (or a fatal
build error); 2 usage or configuration error; 3 another build holds the
output. Colour only on a TTY and never with NO_COLOR: cron mail is the main
reader.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import ClassVar, NoReturn

from generator import __version__
from generator import build as build_module
from generator.build import DEFAULT_JOBS, build
from generator.config import Config, load_config
from generator.errors import ConfigError, SitegenError
from generator.progress import Progress
from generator.report import Report

log = logging.getLogger("sitegen")


def run() -> NoReturn:
    """The `sitegen` command: `main`, then exit without tearing the interpreter down.

    What a build holds lives until the end, and freeing it object by object
    (the crawl of 20,000 repositories is 150,000 of them) took 0.13 s, a
    twentieth of a rebuild after one push. Everything sitegen writes is
    closed by then; the log and the standard streams are flushed here. The
    build leaves its largest objects to the exit too (`build.LEAVE_TO_EXIT`).
    """
    build_module.LEAVE_TO_EXIT = []
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            code = code or 1
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    _init_logging(args.verbose - args.quiet)
    try:
        return int(args.func(args))
    except SitegenError as exc:
        for line in str(exc).splitlines():
            log.error("%s", line)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sitegen",
        description="Publish a Docker registry's storage as a static site that answers the "
        "registry's read API, with search and HTML pages.",
    )
    parser.add_argument("--version", action="version", version=f"sitegen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "build",
        help="crawl the storage and publish the site",
        description="Crawl the registry storage and publish the site atomically. A rebuild "
        "reads, renders and writes only what changed since the last build.",
    )
    _common(p)
    p.add_argument(
        "--source",
        metavar="DIR|URL",
        help="registry storage root, or its https:// URL (overrides 'source')",
    )
    p.add_argument(
        "--strict", action="store_true", help="exit with status 1 if any item had a problem"
    )
    p.add_argument(
        "-j", "--jobs", type=int, choices=(1, 2), default=None,
        help="processes that render pages and documents (default: 2 on a machine with two "
        "cores or more; the files are the same either way)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="rebuild everything from the storage and swap in a whole new tree, trusting "
        "nothing the previous build left (the output is the same as an incremental build's)",
    )
    p.set_defaults(func=_build)

    p = sub.add_parser(
        "serve",
        help="serve a built site read-only, with dynamic search",
        description="Serve the output read-only (GET and HEAD), answering "
        "/v1/search?q= from the index. Binds 127.0.0.1 by default; --port 0 "
        "picks a free port.",
    )
    _common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("-p", "--port", type=int, default=8000, help="port (default 8000; 0 = any)")
    p.set_defaults(func=_serve)

    p = sub.add_parser(
        "nginx-config",
        help="print an nginx server block for the output",
        description="Print `map`s and a `server { }` block to include inside "
        "nginx's `http { }`; it serves the output as 0.9.1 answered.",
    )
    _common(p)
    p.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        metavar="ADDR",
        help="nginx `listen` value (default 127.0.0.1:8080)",
    )
    p.add_argument(
        "--search-upstream",
        metavar="URL",
        help="proxy /v1/search?q= to a `sitegen serve` at URL (e.g. "
        "http://127.0.0.1:8000); without it nginx answers every search with the "
        "full list",
    )
    p.set_defaults(func=_nginx_config)

    p = sub.add_parser(
        "publish",
        help="upload the built site to an S3 bucket, only what changed",
        description="Upload the output to s3://BUCKET[/PREFIX], one object per URL "
        "(exact keys, the right Content-Type), only the objects that changed; then "
        "delete the keys under the prefix that the site no longer has. Credentials "
        "come from boto3's usual chain (AWS_* variables, AWS_PROFILE, ~/.aws, "
        "instance roles).",
    )
    _common(p)
    p.add_argument("target", metavar="s3://BUCKET[/PREFIX]", help="where to publish")
    p.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="an S3-compatible server instead of AWS (e.g. http://127.0.0.1:8333)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="upload every object, also unchanged ones (to refresh their headers)",
    )
    p.set_defaults(func=_publish)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--config",
        type=Path,
        metavar="FILE",
        help="configuration file (default: ./sitegen.yaml if present)",
    )
    p.add_argument("-o", "--output", metavar="DIR", help="output folder (overrides 'output')")
    p.add_argument("-v", "--verbose", action="count", default=0, help="say more")
    p.add_argument(
        "-q", "--quiet", action="count", default=0, help="say less: only warnings and errors"
    )


def _config(args: argparse.Namespace, *, needs_source: bool) -> Config:
    source = getattr(args, "source", None)
    return load_config(args.config, source=source, output=args.output, need_source=needs_source)


def _build(args: argparse.Namespace) -> int:
    config = _config(args, needs_source=True)
    report = Report()
    progress = Progress.for_terminal(quiet=args.quiet > 0)
    with progress.redirect_logging():
        jobs = args.jobs or DEFAULT_JOBS
        result = build(config, report, full=args.full, progress=progress, jobs=jobs)
    for line in report.grouped():
        log.warning("%s", line)
    summary = result.summary()
    if report:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.counts().items()))
        summary += f" ({counts})"
    if report:
        log.warning("%s", summary)
    elif args.quiet == 0:
        print(summary)
    return 1 if (report and args.strict) else 0


def _serve(args: argparse.Namespace) -> int:
    from generator.serve import make_site_server

    config = _config(args, needs_source=False)
    if not config.output.is_dir():
        raise ConfigError(f"'output': {config.output} is not a built site; run `sitegen build`")
    server = make_site_server(config.output, args.host, args.port, paginate=config.search.paginate)
    host, port = server.server_address[:2]
    print(f"Serving {config.output} on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        server.get_app().close()
    return 0


def _nginx_config(args: argparse.Namespace) -> int:
    from generator.nginx import render

    config = _config(args, needs_source=False)
    sys.stdout.write(render(config.output, args.listen, args.search_upstream))
    return 0


def _publish(args: argparse.Namespace) -> int:
    from generator.publish import publish

    config = _config(args, needs_source=False)
    result = publish(
        config.output, args.target, endpoint_url=args.endpoint_url, force=args.force
    )
    if args.quiet == 0:
        print(result.summary())
    return 0


class _Formatter(logging.Formatter):
    COLORS: ClassVar[dict[int, str]] = {logging.ERROR: "\033[31m", logging.WARNING: "\033[33m"}

    def __init__(self, color: bool) -> None:
        super().__init__("%(levelname)s %(message)s")
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        color = self.COLORS.get(record.levelno)
        return f"{color}{text}\033[0m" if self.color and color else text


def _init_logging(verbosity: int) -> None:
    level = {-1: logging.WARNING, 0: logging.WARNING, 1: logging.INFO}.get(
        verbosity, logging.DEBUG if verbosity > 1 else logging.ERROR
    )
    handler = logging.StreamHandler(sys.stderr)
    color = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    handler.setFormatter(_Formatter(color))
    root = logging.getLogger("sitegen")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
