"""A version of 100,000 files through a real server: its manifest goes up as a blob, not a JSON body."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import blake3
import pytest

from modelyard.client import Client
from modelyard.data._manifest import manifest_digest, manifest_text, parse_manifest
from modelyard.entities import DatasetFile
from modelyard.errors import InvalidInputError
from modelyard.settings import Settings
from tests.conftest import ServerProcess

N = 100_000


def _path(i: int) -> str:
    date = f"{1 + i % 12:02d}-{1 + i % 28:02d}"
    return f"warehouse/raw/events/date=2024-{date}/shard-{i % 97:03d}/part-{i:06d}.snappy.parquet"


def test_a_100000_file_version_through_a_real_server(http_server: ServerProcess, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", blobs=str(http_server.blobs), project=f"t{uuid.uuid4().hex[:12]}")
    client = Client(http_server.url, settings=settings)
    try:
        sources = []
        for k in range(7):  # 100,000 files over 7 distinct contents: 7 uploads, a full-size manifest
            path = tmp_path / "src" / f"c{k}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"content {k}\n".encode() * (k + 1))
            sources.append(path)
        stored = client.backend.put_dataset_blobs(settings.project, [(p, None) for p in sources])
        files = [
            DatasetFile(path=_path(i), size=stored[i % 7][0].size, digest=stored[i % 7][0].digest) for i in range(N)
        ]
        as_json = json.dumps({"files": [f.model_dump() for f in files]})
        assert len(as_json) > settings.max_body_bytes  # one JSON body would be refused (413)

        version, created = client.backend.create_dataset_version(settings.project, "events", files, message="big")
        assert created and version.num_files == N and version.digest == manifest_digest(files)
        assert version.message == "big" and version.size == sum(f.size for f in files)
        again, created = client.backend.create_dataset_version(settings.project, "events", files)
        assert not created and again.version == 1

        shown = client.data.show("events@1")
        assert len(shown.files) == N and shown.files[12_345] == sorted(files, key=lambda f: f.path)[12_345]
        out = client.data.get("events@1", tmp_path / "out", include="warehouse/raw/events/date=2024-03-*/shard-005/*")
        got = sorted(p for p in out.rglob("*") if p.is_file())
        expected = sorted(i for i in range(N) if 1 + i % 12 == 3 and i % 97 == 5)
        assert [p.relative_to(out).as_posix() for p in got] == sorted(_path(i) for i in expected)
        assert all(p.read_bytes() == sources[int(p.name[5:11]) % 7].read_bytes() for p in got)
    finally:
        client.close()


def test_a_manifest_must_be_canonical() -> None:
    files = [DatasetFile(path="b.csv", size=3, digest="b" * 64), DatasetFile(path="a.csv", size=1, digest="a" * 64)]
    text = manifest_text(files)
    digest = manifest_digest(files)
    assert text == f"a.csv\t{'a' * 64}\t1\nb.csv\t{'b' * 64}\t3\n".encode()
    assert parse_manifest(text, digest) == sorted(files, key=lambda f: f.path)
    with pytest.raises(InvalidInputError, match="does not match its digest"):
        parse_manifest(text + b"c.csv\t" + b"c" * 64 + b"\t1\n", digest)
    bad = {
        b"".join(reversed(text.splitlines(keepends=True))): "not canonical",
        text.replace(b"\t1\n", b"\t01\n"): "not canonical",
        b"a.csv " + b"a" * 64 + b" 1\n": "line 1 is not path<TAB>digest<TAB>size",
        f"../x\t{'a' * 64}\t1\n".encode(): "'..' segment",
        f"x\t{'A' * 64}\t1\n".encode(): "invalid blob digest",
        text[:-1]: "end with a newline",
    }
    for data, error in bad.items():
        with pytest.raises(InvalidInputError, match=error):
            parse_manifest(data, blake3.blake3(data).hexdigest())
