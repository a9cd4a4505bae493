"""The v1 oracle corpus: storage written by the real docker-registry 0.9.1 and its answers."""

from __future__ import annotations

import base64
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "v1-oracle"


@dataclass(frozen=True)
class Recorded:
    path: str
    status: int
    headers: dict[str, str | list[str]]
    body: bytes

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type"))


def unpack_storage(into: Path) -> Path:
    """Unpack `storage.tar.gz` (empty directories included) and return the storage root."""
    with tarfile.open(DATA / "storage.tar.gz") as tar:
        tar.extractall(into, filter="tar")
    return into / "storage"


def answers() -> list[Recorded]:
    requests = (DATA / "requests.txt").read_text().splitlines()
    recorded = []
    for line, request in zip(
        (DATA / "answers.jsonl").read_text().splitlines(), requests, strict=True
    ):
        entry = json.loads(line)
        assert entry["path"] == request
        recorded.append(
            Recorded(
                entry["path"],
                entry["status"],
                entry["headers"],
                base64.b64decode(entry["body_b64"]),
            )
        )
    return recorded
