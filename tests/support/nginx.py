"""A real nginx on loopback, configured with the block `sitegen nginx-config` prints."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.http import wait_until_up

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_nginx(server_block: str, workdir: Path) -> Iterator[str]:
    """Start nginx in the foreground with `server_block` inside `http { }`; yield its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(
        "daemon off;\n"
        "user root;\n"  # the test tree lives under a 0700 tmp dir
        "worker_processes 1;\n"
        f"pid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/error.log warn;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    access_log {workdir}/access.log;\n"
        f"    client_body_temp_path {workdir}/body;\n"
        f"    proxy_temp_path {workdir}/proxy;\n"
        f"    fastcgi_temp_path {workdir}/fastcgi;\n"
        f"    uwsgi_temp_path {workdir}/uwsgi;\n"
        f"    scgi_temp_path {workdir}/scgi;\n"
        f"{server_block}\n"
        "}\n"
    )
    check = subprocess.run(
        [NGINX, "-t", "-c", str(conf), "-p", str(workdir)], capture_output=True, text=True
    )
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejected the configuration:\n{check.stderr}")
    listen = next(
        line.split()[1].rstrip(";")
        for line in server_block.splitlines()
        if line.strip().startswith("listen ")
    )
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(workdir)], stderr=subprocess.DEVNULL)
    base = f"http://{listen}"
    try:
        wait_until_up(base)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def nginx_for_site(site: Path, workdir: Path, **options: str) -> Iterator[str]:
    """Real nginx serving `site` with the block `sitegen nginx-config` prints for it."""
    from generator.nginx import render

    if shutil.which("nginx") is None and not Path(NGINX).exists():
        raise RuntimeError("nginx is not installed; scripts/install-test-deps.sh installs it")
    with running_nginx(render(site, f"127.0.0.1:{free_port()}", **options), workdir) as base:
        yield base
