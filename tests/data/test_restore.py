"""Restoring soft-deleted dataset versions: on every backend, audited, never for purged data."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modelyard.client import Client
from modelyard.errors import ConflictError, DatasetNotFoundError

OLD = time.time() - 3600


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (OLD, OLD))
    return path


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_deleted_version_comes_back_with_its_files(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / "a.bin", os.urandom(300))
    client.data.add(src, "ds")
    _write(src / "b.bin", os.urandom(200))
    second = client.data.add(src, "ds")
    client.data.delete("ds@2")
    assert client.data.show("ds").version == 1

    restored = client.data.restore("ds@2")
    assert [(v.version, v.deleted, v.digest) for v in restored] == [(2, False, second.digest)]
    assert client.data.show("ds").version == 2  # the newest again
    out = client.data.get("ds@2", tmp_path / "out")
    assert _tree(out) == _tree(src)
    events = client.list_audit(object_type="dataset", project=client.project)
    assert (events[0].action, events[0].object_id, events[0].summary["versions"]) == ("dataset.restore", "ds@2", [2])


def test_restoring_a_dataset_restores_every_deleted_version(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / "a.bin", b"one")
    client.data.add(src, "ds")
    _write(src / "a.bin", b"second")
    client.data.add(src, "ds")
    client.data.delete("ds")
    assert client.data.list() == []
    restored = client.data.restore("ds")
    assert [v.version for v in restored] == [2, 1]
    assert [d.name for d in client.data.list()] == ["ds"]
    assert [v.version for v in client.data.versions("ds")] == [2, 1]


def test_restore_refuses_live_purged_and_unknown_versions(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / "a.bin", b"one")
    client.data.add(src, "ds")
    _write(src / "a.bin", b"second")
    client.data.add(src, "ds")
    with pytest.raises(ConflictError, match=r"ds@2 is not deleted"):
        client.data.restore("ds@2")
    with pytest.raises(ConflictError, match="no deleted version"):
        client.data.restore("ds")
    client.data.delete("ds@1", purge=True)
    with pytest.raises(ConflictError, match=r"ds@1 was purged.*add the data again"):
        client.data.restore("ds@1")
    with pytest.raises(DatasetNotFoundError, match="no version 9"):
        client.data.restore("ds@9")
    with pytest.raises(DatasetNotFoundError, match="nope"):
        client.data.restore("nope@1")
    assert [(v.version, v.deleted, v.purged) for v in client.data.versions("ds", include_deleted=True)] == [
        (2, False, False),
        (1, True, True),
    ]
