"""The command line: help for every command, exit statuses, and the README's promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from generator.cli import main
from generator.config import config_keys
from tests.support.limits import limit_file_size

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
COMMANDS = ["build", "serve", "nginx-config", "publish"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_documented(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: sitegen" in capsys.readouterr().out
    assert f"sitegen {command}" in README


@pytest.mark.parametrize("key", config_keys())
def test_every_config_key_is_documented(key: str) -> None:
    assert f"`{key}`" in README


def test_a_configuration_error_is_exit_status_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "sitegen.yaml").write_text("source: nowhere\ninclude_layer: true\n")
    proc = subprocess.run([sys.executable, "-m", "generator", "build"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "sitegen.yaml: unknown key 'include_layer'; did you mean 'include_layers'?" in (
        proc.stderr)
    assert "'source'" in proc.stderr and "does not exist" in proc.stderr


def test_usage_errors_are_exit_status_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "generator", "build", "--no-such-flag"],
                          capture_output=True, text=True)
    assert proc.returncode == 2


def test_the_shipped_config_builds_the_embedded_sample(tmp_path: Path) -> None:
    """The README's first command: `sitegen build` with the shipped sitegen.yaml."""
    proc = subprocess.run(
        [sys.executable, "-m", "generator", "build", "--config", str(ROOT / "sitegen.yaml"),
         "--output", str(tmp_path / "site")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # Git keeps no empty folder, so count what this checkout holds (team42/empty-repo may be gone).
    repositories = [p for p in (ROOT / "sample/registry/repositories").glob("*/*")
                    if p.is_dir() and not (p / "_private").exists()]
    done = re.search(r"Done: (\d+) repositories, \d+ tags, \d+ images", proc.stdout + proc.stderr)
    assert done and int(done.group(1)) == len(repositories)
    assert (tmp_path / "site/v1/repositories/busybox/tags/.index.json").is_file()


def test_a_disk_error_is_one_line_naming_the_output_and_the_site_stays(tmp_path: Path) -> None:
    """A write the system refuses (here a real file-size limit, `RLIMIT_FSIZE`, as a full
    disk refuses it) stops the build with one line naming the output, exit status 1, no
    traceback; the published site is the last build's, and the next build succeeds."""
    command = [sys.executable, "-m", "generator", "build", "--config", str(ROOT / "sitegen.yaml"),
               "--output", str(tmp_path / "site"), "--full"]
    assert subprocess.run(command, capture_output=True).returncode == 0
    published = {p: p.read_bytes() for p in (tmp_path / "site").rglob("*") if p.is_file()}

    proc = subprocess.run(command, capture_output=True, text=True, preexec_fn=limit_file_size)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "stopped:" in line]
    assert len(errors) == 1, proc.stderr
    assert f"the build of {tmp_path / 'site'} stopped: " in errors[0]
    assert "File too large" in errors[0]
    assert {p: p.read_bytes() for p in (tmp_path / "site").rglob("*") if p.is_file()} == published
    assert not list(tmp_path.glob(".site.staging*"))
    assert subprocess.run(command, capture_output=True).returncode == 0


def test_nginx_config_prints_a_server_block_for_the_output(tmp_path: Path, capsys) -> None:
    assert main(["nginx-config", "--output", str(tmp_path), "--listen", "127.0.0.1:9999"]) == 0
    out = capsys.readouterr().out
    assert "listen 127.0.0.1:9999;" in out
    assert f'root "{tmp_path.resolve()}";' in out


def test_commands_that_read_the_output_do_not_need_the_source(tmp_path: Path, capsys) -> None:
    """The site may be served on a host that cannot see the registry's storage."""
    config = tmp_path / "sitegen.yaml"
    config.write_text("source: /registry/not/on/this/host\noutput: public\n")
    assert main(["nginx-config", "--config", str(config)]) == 0
    assert f'root "{tmp_path / "public"}";' in capsys.readouterr().out
    assert main(["build", "--config", str(config)]) == 2
    assert "does not exist" in capsys.readouterr().err
