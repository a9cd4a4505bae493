"""The output mapping, table-driven: URL ↔ file, and names that cannot be published."""

from __future__ import annotations

import pytest

from generator import paths


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("/", ".index.json"),
        ("/_ping", "_ping"),
        ("/v1/_ping", "v1/_ping"),
        ("/v1/search", "v1/search"),
        ("/v1/repositories/acme/web/tags", "v1/repositories/acme/web/tags/.index.json"),
        ("/v1/repositories/acme/web/tags/latest",
         "v1/repositories/acme/web/tags/latest/.index.json"),
        ("/v1/repositories/acme/web/tags/latest/json",
         "v1/repositories/acme/web/tags/latest/json"),
        ("/v1/repositories/busybox/tags", "v1/repositories/busybox/tags/.index.json"),
        ("/v1/repositories/acme/web/json", "v1/repositories/acme/web/json"),
        ("/v1/repositories/acme/web/images", "v1/repositories/acme/web/images"),
        ("/v1/images/" + "a" * 64 + "/json", "v1/images/" + "a" * 64 + "/json"),
    ],
)
def test_url_maps_to_one_file_and_back(url: str, file: str) -> None:
    assert paths.file_for_url(url) == file
    assert paths.url_for_file(file) == url


@pytest.mark.parametrize(
    "file", [".sitegen/index/x", ".sitegen/meta/images/abc/inprogress", ".sitegen"]
)
def test_internal_files_have_no_url(file: str) -> None:
    assert paths.url_for_file(file) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        (".", "walk out"),
        ("..", "walk out"),
        ("a/b", "slash"),
        ("a\\b", "slash"),
        ("a\nb", "control"),
        ("a\x00b", "control"),
        ("a\x7f", "control"),
        ("\x9fb", "control"),  # C1 controls are category Cc too
        ("bad\udcff", "UTF-8"),
        ("é" * 128, "bytes long"),
        ("a" * 256, "bytes long"),
        ("\x00" * 300, "control"),  # the first rule broken is the one named
        (".index.json", "reserved"),
        (".sitegen", "reserved"),
    ],
)
def test_unpublishable_names_are_refused_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(paths.UnsafeName, match=reason):
        paths.check_segment(name)


@pytest.mark.parametrize(
    "name",
    ["latest", "1.0.1", "_valid", "v2-rc.1", "Legacy_App", "é" * 127, "a" * 255, "\xa0", "..."],
)
def test_legal_names_pass_unchanged(name: str) -> None:
    assert paths.check_segment(name) == name


def test_image_ids_as_0_9_1_validates_them() -> None:
    assert paths.IMAGE_ID_RE.match("a" * 64)
    assert paths.IMAGE_ID_RE.match("0123456789abcdef")
    assert not paths.IMAGE_ID_RE.match("A" * 64)
    assert not paths.IMAGE_ID_RE.match("a" * 63)


@pytest.mark.parametrize("base_url", ["/", "/registry/", "/a b/"])
def test_url_builder_links_as_url_for_does(base_url: str) -> None:
    """Its short way for plain names gives url_for's href, and refuses what url_for refuses."""
    bound = paths.url_builder(base_url)
    odd = ["", ".", "..", ".index.json", ".sitegen", "a/b", "a b", "é", "a%2F", "~x", "x.",
           "-", "_", "A.b-c_9", "a" * 255, "a" * 256, "a\x00", "x&y", "q?"]
    for page, arity in (("repository", 2), ("namespace", 1), ("image", 1), ("static", 1),
                        ("v1", 2), ("index", 0), ("repository", 1), ("image", 2)):
        for first in odd:
            for second in ("web", *odd[:8]):
                names = (first, second, "x")[:arity]
                try:
                    want: object = paths.url_for(page, *names, base_url=base_url)
                except ValueError as exc:
                    want = type(exc)
                try:
                    got: object = bound(page, *names)
                except ValueError as exc:
                    got = type(exc)
                assert got == want, (page, names)
