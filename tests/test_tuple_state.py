"""`generator.tuple_state`: the crawl's objects pickle as a tuple of every field, and back."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from generator.model import Image, Repository, Tag, V2Repository
from generator.tuple_state import tuple_state


def test_every_field_of_the_crawl_objects_round_trips() -> None:
    tag = Tag("latest", "a" * 64, b'{"arch": "amd64"}')
    image = Image(
        id="a" * 64, json=b"{}", parent="b" * 64, ancestry=("a" * 64, "b" * 64),
        packed_checksums=("sha256:x",), layer_size=3, blob_file="/blobs/x", compression="gzip",
        in_progress=True, files=b"[]", files_digest=b"f" * 16, files_unsupported=True,
        images_dir="/s/images",
        json_digest=b"d" * 16,
    )
    repository = Repository(
        "ns", "web", is_directory=False, has_entries=False, private=True, tags=(tag,),
        index_images=b'[{"id": "c"}]', metadata=b"{}", description="text",
        repositories_dir="/s/repositories", index_images_digest=b"i" * 16,
        v2=V2Repository("ns/web"),
    )
    repository.image_ids()
    for value in (tag, image, repository):
        fields = dataclasses.fields(value)  # type: ignore[arg-type]
        names = [f.name for f in fields]
        # The test sets every field away from its default (a field added later too).
        assert all(getattr(value, f.name) != f.default for f in fields), value
        state = value.__getstate__()
        assert state == tuple(getattr(value, n) for n in names)
        back = pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        assert back == value
        assert all(getattr(back, n) == getattr(value, n) for n in names)
    assert pickle.loads(pickle.dumps(repository))._image_ids == ("a" * 64, "c")


def test_only_slots_dataclasses_with_those_fields_take_it() -> None:
    @dataclasses.dataclass(frozen=True)
    class Plain:
        name: str

    with pytest.raises(TypeError):
        tuple_state()(Plain)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        name: str

    with pytest.raises(TypeError):
        tuple_state(interned=("other",))(Slotted)
