"""config.py: every message is checked as the full text a cron user reads."""

from __future__ import annotations

import ast
import dataclasses
import os
from pathlib import Path

import pytest

from generator import config as config_module
from generator.config import SOURCE_TYPES, Config, SearchConfig, config_keys, load_config
from generator.errors import ConfigError


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding `registry/` (a storage root) and `file.txt`; it is the cwd."""
    (tmp_path / "registry").mkdir()
    (tmp_path / "file.txt").write_text("not a folder\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_config(folder: Path, text: str, name: str = "sitegen.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path | None = None, **overrides: str | Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, **overrides)
    return info.value.messages


# One row per mistake: the YAML, then the one message it must produce. `{root}` is the config
# file's folder. Each YAML sets a valid source unless the row is about the source.
ONE_MISTAKE = [
    pytest.param(
        "source: registry\ninclude_layers: 'yes'\n",
        "sitegen.yaml: 'include_layers': expected true or false, got 'yes' (a string)."
        " Hint: remove the quotes.",
        id="quoted-bool",
    ),
    pytest.param(
        "source: registry\ninclude_private: 1\n",
        "sitegen.yaml: 'include_private': expected true or false, got 1 (an integer)."
        " Hint: write true or false.",
        id="integer-bool",
    ),
    pytest.param(
        "source: registry\ninclude_layers: maybe\n",
        "sitegen.yaml: 'include_layers': expected true or false, got 'maybe' (a string).",
        id="word-bool",
    ),
    pytest.param(
        "source: registry\ninclude_layers:\n",
        "sitegen.yaml: 'include_layers': expected true or false, got nothing (null).",
        id="null-bool",
    ),
    pytest.param(
        "source: registry\ninclude_layer: true\n",
        "sitegen.yaml: unknown key 'include_layer'; did you mean 'include_layers'?",
        id="typo",
    ),
    pytest.param(
        "source: registry\noutput_dir: public\n",
        "sitegen.yaml: unknown key 'output_dir'; did you mean 'output'?",
        id="mkdocs-habit",
    ),
    pytest.param(
        "source: registry\nInclude_Layers: true\n",
        "sitegen.yaml: unknown key 'Include_Layers'; did you mean 'include_layers'?",
        id="wrong-case",
    ),
    pytest.param(
        "source: registry\ncolour: red\n",
        "sitegen.yaml: unknown key 'colour' (known keys: source, output, include_private,"
        " include_layers, source_type, platform, search, title, registry_host, base_url,"
        " index_limit, templates_dir, http)",
        id="unknown-no-guess",
    ),
    pytest.param(
        "source: registry\n1: x\n",
        "sitegen.yaml: unknown key 1 (keys are names such as 'source')",
        id="number-key",
    ),
    pytest.param(
        "source: registry\nsearch:\n  paginat: true\n",
        "sitegen.yaml: unknown key 'search.paginat'; did you mean 'search.paginate'?",
        id="nested-typo",
    ),
    pytest.param(
        "source: registry\nsearch:\n  colour: red\n",
        "sitegen.yaml: unknown key 'search.colour' (known keys: search.paginate)",
        id="nested-unknown",
    ),
    pytest.param(
        "source: registry\npaginate: true\n",
        "sitegen.yaml: unknown key 'paginate'; did you mean 'search.paginate'?",
        id="nested-key-at-top",
    ),
    pytest.param(
        "source: registry\nsearch: true\n",
        "sitegen.yaml: 'search': expected a section with the keys paginate, got true (a boolean)",
        id="section-not-mapping",
    ),
    pytest.param(
        "source: registry\nsearch:\n  paginate: 'no'\n",
        "sitegen.yaml: 'search.paginate': expected true or false, got 'no' (a string)."
        " Hint: remove the quotes.",
        id="nested-bool",
    ),
    pytest.param(
        "source: registry\nsource_type: v3\n",
        "sitegen.yaml: 'source_type': 'v3' is not one of auto, v1, v2, http",
        id="bad-choice",
    ),
    pytest.param(
        "source: registry\nsource_type: V1\n",
        "sitegen.yaml: 'source_type': 'V1' is not one of auto, v1, v2, http; did you mean 'v1'?",
        id="choice-case",
    ),
    pytest.param(
        "source: registry\nsource_type: 1\n",
        "sitegen.yaml: 'source_type': expected one of auto, v1, v2, http, got 1 (an integer)",
        id="choice-not-string",
    ),
    pytest.param(
        "include_layers: true\n",
        "sitegen.yaml: 'source' is required (a registry storage directory)",
        id="no-source",
    ),
    pytest.param(
        "source:\n",
        "sitegen.yaml: 'source': expected a path (a string), got nothing (null).",
        id="null-source",
    ),
    pytest.param(
        "source: ''\n",
        "sitegen.yaml: 'source': expected a path, got an empty string",
        id="empty-source",
    ),
    pytest.param(
        "source: 2024\n",
        "sitegen.yaml: 'source': expected a path (a string), got 2024 (an integer)."
        " Hint: put it in quotes.",
        id="number-source",
    ),
    pytest.param(
        "source: [registry]\n",
        "sitegen.yaml: 'source': expected a path (a string), got a list.",
        id="list-source",
    ),
    pytest.param(
        "source: nowhere\n",
        "sitegen.yaml: 'source': {root}/nowhere does not exist"
        " (a relative path is read from the config file's folder)",
        id="missing-relative-source",
    ),
    pytest.param(
        "source: {root}/nowhere\n",
        "sitegen.yaml: 'source': {root}/nowhere does not exist",
        id="missing-absolute-source",
    ),
    pytest.param(
        "source: file.txt\n",
        "sitegen.yaml: 'source': {root}/file.txt is not a directory",
        id="file-source",
    ),
    pytest.param(
        "source: registry\noutput: file.txt\n",
        "sitegen.yaml: 'output': {root}/file.txt is not a directory",
        id="file-output",
    ),
    pytest.param(
        "source: registry\noutput: ''\n",
        "sitegen.yaml: 'output': expected a path, got an empty string",
        id="empty-output",
    ),
    pytest.param(
        "source: registry\noutput: registry/site\n",
        "sitegen.yaml: 'output': {root}/registry/site is inside the source {root}/registry;"
        " the build would publish into the registry's storage",
        id="output-inside-source",
    ),
    pytest.param(
        "source: registry\noutput: ./registry/\n",
        "sitegen.yaml: 'output': {root}/registry is the source itself;"
        " the build would replace the registry's storage",
        id="output-is-source",
    ),
    pytest.param(
        "source: registry\noutput: .\n",
        "sitegen.yaml: 'output': {root} contains the source {root}/registry;"
        " the build replaces the whole output, which would delete the registry's storage",
        id="output-contains-source",
    ),
    pytest.param(
        "source: .\n",
        "sitegen.yaml: 'output': {root}/site (the default, next to the config file)"
        " is inside the source {root}; the build would publish into the registry's storage",
        id="default-output-inside-source",
    ),
    pytest.param(
        "source: registry\ninclude_layers: true: false\n",
        "sitegen.yaml: line 2, column 21: invalid YAML: mapping values are not allowed here",
        id="yaml-syntax",
    ),
    pytest.param(
        "source: 'registry\n",
        "sitegen.yaml: line 2, column 1: invalid YAML: found unexpected end of stream"
        " (while scanning a quoted scalar on line 1)",
        id="yaml-unclosed-quote",
    ),
    pytest.param(
        "source: !!python/name:os.system\n",
        "sitegen.yaml: line 1, column 9: invalid YAML: could not determine a constructor"
        " for the tag 'tag:yaml.org,2002:python/name:os.system'",
        id="unsafe-tag-refused",
    ),
    pytest.param(
        "source: registry\ninclude_layers: true\ninclude_layers: false\n",
        "sitegen.yaml: line 3: duplicate key 'include_layers' (first on line 2);"
        " YAML would silently keep only the last one",
        id="duplicate-key",
    ),
    pytest.param(
        "- registry\n",
        "sitegen.yaml: expected a mapping of options (lines like 'source: /var/lib/registry'),"
        " got a list",
        id="not-a-mapping",
    ),
    pytest.param(
        "just words\n",
        "sitegen.yaml: expected a mapping of options (lines like 'source: /var/lib/registry'),"
        " got 'just words' (a string)",
        id="scalar-document",
    ),
]


@pytest.mark.parametrize(("yaml_text", "expected_message"), ONE_MISTAKE)
def test_one_mistake_one_message(root: Path, yaml_text: str, expected_message: str) -> None:
    write_config(root, yaml_text.replace("{root}", str(root)))
    assert errors_of(Path("sitegen.yaml")) == [expected_message.replace("{root}", str(root))]


def test_every_error_is_reported_at_once(root: Path) -> None:
    write_config(
        root,
        "source: nowhere\n"
        "output: site\n"
        "include_layer: true\n"
        "include_private: 'yes'\n"
        "source_type: v3\n"
        "search:\n"
        "  paginat: true\n"
        "output: site\n",
    )
    assert errors_of(Path("sitegen.yaml")) == [
        "sitegen.yaml: line 8: duplicate key 'output' (first on line 2);"
        " YAML would silently keep only the last one",
        "sitegen.yaml: unknown key 'include_layer'; did you mean 'include_layers'?",
        "sitegen.yaml: 'include_private': expected true or false, got 'yes' (a string)."
        " Hint: remove the quotes.",
        "sitegen.yaml: 'source_type': 'v3' is not one of auto, v1, v2, http",
        "sitegen.yaml: unknown key 'search.paginat'; did you mean 'search.paginate'?",
        f"sitegen.yaml: 'source': {root}/nowhere does not exist"
        " (a relative path is read from the config file's folder)",
    ]


def test_config_error_text_is_every_message(root: Path) -> None:
    write_config(root, "include_layer: true\n")
    with pytest.raises(ConfigError) as info:
        load_config(Path("sitegen.yaml"))
    assert str(info.value) == "\n".join(info.value.messages)
    assert len(info.value.messages) == 2


def test_a_full_config(root: Path) -> None:
    write_config(
        root,
        "source: registry\n"
        "output: public\n"
        "include_private: true\n"
        "include_layers: yes\n"  # YAML 1.1: an unquoted yes is a boolean
        "source_type: v1\n"
        "search:\n"
        "  paginate: true\n",
    )
    assert load_config(Path("sitegen.yaml")) == Config(
        source=root / "registry",
        output=root / "public",
        include_private=True,
        include_layers=True,
        source_type="v1",
        search=SearchConfig(paginate=True),
        config_file=root / "sitegen.yaml",
    )


def test_defaults(root: Path) -> None:
    write_config(root, "source: registry\n")
    assert load_config(Path("sitegen.yaml")) == Config(
        source=root / "registry",
        output=root / "site",
        include_private=False,
        include_layers=False,
        source_type="auto",
        search=SearchConfig(paginate=False),
        config_file=root / "sitegen.yaml",
    )


def test_empty_file_sets_nothing(root: Path) -> None:
    write_config(root, "")
    cfg = load_config(Path("sitegen.yaml"), source="registry")
    assert (cfg.source, cfg.output) == (root / "registry", root / "site")


def test_relative_paths_in_the_file_are_read_from_its_folder(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = root / "etc"
    etc.mkdir()
    config_file = write_config(etc, "source: ../registry\noutput: public/../www\n")
    monkeypatch.chdir("/")  # as under cron
    cfg = load_config(config_file)
    assert cfg.source == root / "registry"
    assert cfg.output == etc / "www"
    assert cfg.config_file == config_file


def test_default_output_is_next_to_the_config_file(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = root / "etc"
    etc.mkdir()
    write_config(etc, "source: ../registry\n")
    monkeypatch.chdir("/")
    assert load_config(etc / "sitegen.yaml").output == etc / "site"


def test_relative_config_path_is_read_from_the_cwd(root: Path) -> None:
    etc = root / "etc"
    etc.mkdir()
    write_config(etc, "source: ../registry\n")
    cfg = load_config(Path("etc/sitegen.yaml"))
    assert cfg.config_file == etc / "sitegen.yaml"
    assert cfg.source == root / "registry"


def test_command_line_paths_are_read_from_the_cwd(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = root / "etc"
    etc.mkdir()
    # The file's source does not exist on this host: an override must not trip over it.
    write_config(etc, "source: /srv/elsewhere\noutput: public\n")
    monkeypatch.chdir(root)
    cfg = load_config(etc / "sitegen.yaml", source="registry", output=Path("out"))
    assert cfg.source == root / "registry"
    assert cfg.output == root / "out"


def test_command_line_messages_say_so(root: Path) -> None:
    assert errors_of(source="nowhere", output="") == [
        "command line: 'output': expected a path, got an empty string",
        f"command line: 'source': {root}/nowhere does not exist"
        " (a relative path is read from the current directory)",
    ]


def test_command_line_overlap(root: Path) -> None:
    assert errors_of(source="registry", output="registry/www") == [
        f"command line: 'output': {root}/registry/www is inside the source {root}/registry;"
        " the build would publish into the registry's storage",
    ]


def test_without_a_file_defaults_and_overrides_apply(root: Path) -> None:
    cfg = load_config(source=root / "registry")
    assert cfg == Config(source=root / "registry", output=root / "site")
    assert cfg.config_file is None


def test_sitegen_yaml_in_the_cwd_is_read_by_default(root: Path) -> None:
    write_config(root, "source: registry\ninclude_layers: true\n")
    cfg = load_config()
    assert cfg.include_layers is True
    assert cfg.config_file == root / "sitegen.yaml"


def test_default_file_messages_use_its_name(root: Path) -> None:
    write_config(root, "source: registry\ninclude_layer: true\n")
    assert errors_of() == [
        "sitegen.yaml: unknown key 'include_layer'; did you mean 'include_layers'?"
    ]


def test_no_file_and_no_source(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = root / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert errors_of() == [
        f"no sitegen.yaml in {empty} and no source given:"
        " 'source' is required (a registry storage directory)"
    ]


def test_default_output_without_a_file_overlapping(root: Path) -> None:
    # No file names the output, so the message names only the key.
    assert errors_of(source=".") == [
        f"'output': {root}/site (the default, in the current directory)"
        f" is inside the source {root}; the build would publish into the registry's storage"
    ]


def test_explicit_config_file_missing(root: Path) -> None:
    assert errors_of(Path("missing.yaml")) == [
        f"missing.yaml: config file does not exist ({root}/missing.yaml)"
    ]
    assert errors_of(root / "missing.yaml") == [f"{root}/missing.yaml: config file does not exist"]


def test_config_file_is_a_directory(root: Path) -> None:
    assert errors_of(Path("registry")) == ["registry: is a directory, not a config file"]


def test_config_file_not_utf8(root: Path) -> None:
    (root / "sitegen.yaml").write_bytes(b"source: registry\n\xff\n")
    assert errors_of(Path("sitegen.yaml")) == [
        "sitegen.yaml: not UTF-8 text (bad byte at offset 17)"
    ]


def test_config_file_unreadable(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads any file whatever its mode, so EACCES is simulated where the file is read.
    write_config(root, "source: registry\n")

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    assert errors_of(Path("sitegen.yaml")) == [
        "sitegen.yaml: config file is not readable (permission denied)"
    ]


def test_unreadable_source_by_mode(root: Path) -> None:
    locked = root / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK | os.X_OK):
            pytest.skip(
                "this user can read a mode-000 folder (root); the os.access test covers the"
                " logic; to run this one as root, drop the capabilities: setpriv"
                " --bounding-set=-dac_override,-dac_read_search python -m pytest ..."
            )
        assert errors_of(source=locked) == [
            f"command line: 'source': {locked} is not readable (permission denied)"
        ]
    finally:
        locked.chmod(0o755)


def test_unreadable_source_as_os_access_reports_it(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runs as root too: the check trusts os.access, so make os.access refuse this one folder.
    real_access = os.access

    def access(path: str | os.PathLike[str], mode: int) -> bool:
        return Path(path) != root / "registry" and real_access(path, mode)

    monkeypatch.setattr(config_module.os, "access", access)
    write_config(root, "source: registry\n")
    assert errors_of(Path("sitegen.yaml")) == [
        f"sitegen.yaml: 'source': {root}/registry is not readable (permission denied)"
    ]


def test_overlap_is_found_through_symlinks(root: Path) -> None:
    (root / "link").symlink_to(root / "registry")
    write_config(root, "source: registry\noutput: link/site\n")
    assert errors_of(Path("sitegen.yaml")) == [
        f"sitegen.yaml: 'output': {root}/link/site is inside the source {root}/registry;"
        " the build would publish into the registry's storage"
    ]


def test_home_is_expanded(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(root))
    write_config(root, "source: ~/registry\n")
    assert load_config(Path("sitegen.yaml")).source == root / "registry"


def test_config_keys() -> None:
    assert config_keys() == [
        "source",
        "output",
        "include_private",
        "include_layers",
        "source_type",
        "platform",
        "search.paginate",
        "title",
        "registry_host",
        "base_url",
        "index_limit",
        "templates_dir",
        "http.username",
        "http.password",
        "http.docker_config",
        "http.ca_bundle",
        "http.tls_verify",
        "http.parallel",
        "http.timeout",
        "http.retries",
        "http.page_size",
        "http.max_failed_percent",
    ]


def test_every_key_has_a_one_line_docstring() -> None:
    """The schema is the documentation: each key is followed by one line saying what it does."""
    tree = ast.parse(Path(config_module.__file__).read_text(encoding="utf-8"))
    docs: dict[str, str] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for stmt, after in zip(cls.body, [*cls.body[1:], None], strict=True):
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                doc = after.value.value if isinstance(after, ast.Expr) else None
                docs[f"{cls.name}.{stmt.target.id}"] = doc if isinstance(doc, str) else ""
    for key in config_keys():
        section, _, leaf = key.rpartition(".")
        sections = {"search": "SearchConfig", "http": "HttpConfig"}
        attribute = f"{sections[section]}.{leaf}" if section else f"Config.{key}"
        assert docs.get(attribute), f"{key} has no attribute docstring"
        assert "\n" not in docs[attribute], f"{key}: keep its docstring to one line"
    assert docs["Config.search"], "the search section is documented too"
    assert docs["Config.http"], "the http section is documented too"


def test_source_types_are_the_choices() -> None:
    field = next(f for f in dataclasses.fields(Config) if f.name == "source_type")
    assert field.metadata["choices"] is SOURCE_TYPES
    assert SOURCE_TYPES[0] == "auto"


def test_config_is_frozen_and_absolute(root: Path) -> None:
    cfg = Config(source=Path("registry"), config_file=Path("etc/sitegen.yaml"))
    assert cfg.config_file == root / "etc" / "sitegen.yaml"
    assert cfg.source == root / "etc" / "registry"
    assert cfg.output == root / "etc" / "site"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.source = root  # type: ignore[misc]
