"""The CLI's fast answer for an unchanged directory: right when sure, ``None`` (the ordinary path) otherwise."""

from __future__ import annotations

import os
import time
from pathlib import Path

from modelyard.client import Client
from modelyard.data._quick import unchanged_version
from modelyard.settings import Settings
from modelyard.store._datasets_probe import newest_dataset_version

OLD = time.time() - 3600


def _tree(root: Path, n: int = 5) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        (root / f"f{i}.txt").write_text(f"file {i}\n")
        os.utime(root / f"f{i}.txt", (OLD, OLD))
    return root


def test_an_unchanged_directory_is_recognised_and_a_changed_one_is_not(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    uri, settings = str(tmp_path / "store"), Settings(home=tmp_path / "home", project="p")
    assert unchanged_version(src, "ds", settings=settings, uri=uri, project=None) is None  # no store yet
    client = Client(uri, settings=settings)
    try:
        first = client.data.add(src, "ds")
        client.data.add(tmp_path / "src" / "f0.txt", "other")
    finally:
        client.close()
    assert unchanged_version(src, "ds", settings=settings, uri=uri, project=None) == ("ds@1", first.digest, 5)
    assert unchanged_version(src, "ds", settings=settings, uri=uri, project="elsewhere") is None
    assert unchanged_version(src, "other", settings=settings, uri=uri, project=None) is None  # other content
    assert unchanged_version(src, "ds", settings=settings, uri="http://127.0.0.1:9", project=None) is None
    assert unchanged_version(tmp_path / "nope", "ds", settings=settings, uri=uri, project=None) is None
    (src / "f1.txt").write_text("changed\n")  # the stat cache does not know it: ask the store
    assert unchanged_version(src, "ds", settings=settings, uri=uri, project=None) is None


def test_the_probe_reads_only_live_versions_and_never_fails(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    uri, settings = str(tmp_path / "store"), Settings(home=tmp_path / "home", project="p")
    client = Client(uri, settings=settings)
    try:
        client.data.add(src, "ds")
        (src / "f9.txt").write_text("more\n")
        second = client.data.add(src, "ds")
        db = str(tmp_path / "store" / "modelyard.db")
        assert newest_dataset_version(db, "p", "ds") == (2, second.digest)
        client.data.delete("ds@2")
        assert newest_dataset_version(db, "p", "ds")[0] == 1  # type: ignore[index]
    finally:
        client.close()
    assert newest_dataset_version(str(tmp_path / "missing.db"), "p", "ds") is None
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    assert newest_dataset_version(str(tmp_path / "junk.db"), "p", "ds") is None
