"""The dataset contract: the same behaviour on every backend (embedded SQLite, PostgreSQL, a real server)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import blake3
import pandas as pd
import pytest

from modelyard.blobs import BlobStore, hash_bytes
from modelyard.client import Client
from modelyard.errors import (
    BlobCorruptedError,
    DatasetNotFoundError,
    InvalidInputError,
    ProjectNotFoundError,
)

OLD = time.time() - 3600  # an mtime old enough for the stat cache to trust


def _write(path: Path, data: bytes | str, *, old: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    if old:
        os.utime(path, (OLD, OLD))
    return path


def _blobs(client: Client) -> BlobStore:
    return BlobStore(str(client.settings.blobs))


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_versions_are_numbered_with_parents_and_manifests(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / "a.txt", "alpha")
    _write(src / "sub" / "b.txt", "beta")
    first = client.data.add(src, "corpus", message="first", tags={"team": "risk"})
    assert (first.name, first.version, first.parent_version, first.project) == ("corpus", 1, None, client.project)
    assert [f.path for f in first.files] == ["a.txt", "sub/b.txt"]
    assert first.files[0].digest == hash_bytes(b"alpha").digest and first.files[0].size == 5
    assert first.size == 9 and first.num_files == 2
    assert first.message == "first" and first.tags == {"team": "risk"} and first.creator
    lines = "".join(f"{f.path}\t{f.digest}\t{f.size}\n" for f in first.files)
    assert first.digest == blake3.blake3(lines.encode()).hexdigest()

    _write(src / "a.txt", "alpha, edited")
    second = client.data.add(src, "corpus")
    assert (second.version, second.parent_version) == (2, 1)
    assert second.digest != first.digest
    versions = client.data.versions("corpus")
    assert [v.version for v in versions] == [2, 1]
    assert versions[0].files == [] and versions[0].num_files == 2
    for ref, number in (("corpus", 2), ("corpus@latest", 2), ("corpus@1", 1), (f"corpus@sha:{first.digest[:8]}", 1)):
        assert client.data.show(ref).version == number, ref
    assert client.data.show("corpus", version=1).digest == first.digest
    datasets = client.data.list()
    assert [(d.name, d.latest_version) for d in datasets] == [("corpus", 2)]


def test_adding_unchanged_content_returns_the_existing_version(client: Client, tmp_path: Path) -> None:
    src = _write(tmp_path / "data.csv", "x,y\n1,2\n")
    first = client.data.add_detailed(src, "same")
    again = client.data.add_detailed(src, "same")
    assert first.created and not again.created
    assert again.version.version == 1 and again.version.digest == first.version.digest
    assert len(client.data.versions("same")) == 1
    # the same bytes under a new mtime (touched, not changed): still no new version
    _write(src, "x,y\n1,2\n", old=False)
    assert not client.data.add_detailed(src, "same").created
    events = client.list_audit(object_type="dataset", project=client.project)
    assert [e.action for e in events] == ["dataset.version.create"]


def test_identical_files_are_stored_once_across_versions_and_datasets(client: Client, tmp_path: Path) -> None:
    payload = os.urandom(4096)
    blobs = _blobs(client)
    before = {d for d, _ in blobs.iter_blobs()}
    _write(tmp_path / "one" / "shared.bin", payload)
    _write(tmp_path / "one" / "own.bin", b"one")
    _write(tmp_path / "two" / "renamed.bin", payload)
    client.data.add(tmp_path / "one", "first")
    client.data.add(tmp_path / "two", "second")
    added = {d for d, _ in blobs.iter_blobs()} - before
    assert added == {hash_bytes(payload).digest, hash_bytes(b"one").digest}


def test_stat_cache_skips_hashing_unchanged_files(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(5):
        _write(src / f"f{i}.txt", f"file {i}")
    first = client.data.add_detailed(src, "cached")
    assert (first.hashed, first.cached) == (5, 0)
    again = client.data.add_detailed(src, "cached")
    assert (again.hashed, again.cached, again.created) == (0, 5, False)
    _write(src / "f0.txt", "file 0, changed")
    changed = client.data.add_detailed(src, "cached")
    assert (changed.hashed, changed.cached, changed.created) == (1, 4, True)
    assert changed.version.version == 2
    # a file written just now is hashed again next time (its mtime could hide a second write)
    _write(src / "f1.txt", "fresh", old=False)
    assert client.data.add_detailed(src, "cached").hashed == 1
    assert client.data.add_detailed(src, "cached").hashed == 1


def test_dataframes_are_stored_as_parquet_with_statistics(client: Client) -> None:
    frame = pd.DataFrame({"age": [31, 45, 27], "plan": ["a", "b", "a"], "churned": [True, False, False]})
    dv = client.data.add(frame, "frame")
    assert [f.path for f in dv.files] == ["data.parquet"]
    assert (dv.num_rows, dv.num_columns) == (3, 3)
    assert dv.schema is not None
    loaded = client.data.load("frame")
    pd.testing.assert_frame_equal(loaded.reset_index(drop=True), frame, check_dtype=False)
    assert not client.data.add_detailed(frame, "frame").created


def test_get_materialises_verified_files_and_partial_checkouts(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / "train" / "x.csv", "a\n1\n")
    _write(src / "train" / "notes.txt", "notes")
    _write(src / "test" / "y.csv", "a\n2\n")
    client.data.add(src, "split")
    out = client.data.get("split@1", tmp_path / "all")
    assert _tree(out) == _tree(src)
    csvs = client.data.get("split", tmp_path / "csv", include="*.csv")
    assert sorted(_tree(csvs)) == ["test/y.csv", "train/x.csv"]
    train = client.data.get("split", tmp_path / "train", include="train/")
    assert sorted(_tree(train)) == ["train/notes.txt", "train/x.csv"]
    with pytest.raises(InvalidInputError, match="matches"):
        client.data.get("split", tmp_path / "none", include="*.parquet")


def test_a_corrupted_blob_is_refused_naming_dataset_version_and_file(client: Client, tmp_path: Path) -> None:
    payload = os.urandom(1237)  # a size no other test uses: the http store is shared
    _write(tmp_path / "src" / "good.txt", "fine")
    _write(tmp_path / "src" / "data" / "bad.bin", payload)
    client.data.add(tmp_path / "src", "fragile")
    digest = hash_bytes(payload).digest
    stored = Path(client.settings.blobs or "") / "objects" / digest[:2] / digest[2:]
    stored.chmod(0o644)
    with stored.open("r+b") as f:
        f.seek(10)
        f.write(bytes([payload[10] ^ 1]))
    with pytest.raises(BlobCorruptedError) as caught:
        client.data.get("fragile", tmp_path / "out", include="data/")
    message = str(caught.value)
    assert "fragile@1" in message and "data/bad.bin" in message
    assert not (tmp_path / "out" / "data" / "bad.bin").exists()
    assert not stored.exists()  # quarantined: never served again
    # adding the original bytes again repairs the store
    client.data.add(tmp_path / "src" / "data" / "bad.bin", "repair")
    assert client.data.get("fragile", tmp_path / "again", include="data/").joinpath("data", "bad.bin").read_bytes() == (
        payload
    )


def test_lineage_links_runs_and_dataset_versions(client: Client, tmp_path: Path) -> None:
    dv = client.data.add(_write(tmp_path / "train.csv", "a\n1\n"), "train")
    ev = client.data.add(_write(tmp_path / "eval.csv", "a\n2\n"), "eval")
    run = client.create_run("fit")
    link = client.log_input(run.id, dv, role="train")
    assert (link.dataset, link.version, link.role, link.run_id) == ("train", 1, "train", run.id)
    client.log_input(run.id, "eval@latest", role="eval")
    client.log_input(run.id, dv, role="train")  # idempotent
    inputs = client.list_run_inputs(run.id)
    assert sorted((i.ref, i.role) for i in inputs) == [("eval@1", "eval"), ("train@1", "train")]
    uses = client.data.lineage("train@1")
    assert [(u.run_id, u.run_name, u.role) for u in uses] == [(run.id, "fit", "train")]
    assert client.data.lineage(ev) and client.data.lineage("train@sha:" + dv.digest[:10])
    # lineage outlives a deleted version
    client.data.delete("train@1")
    assert [u.run_id for u in client.data.lineage("train@1")] == [run.id]
    assert [i.deleted for i in client.list_run_inputs(run.id) if i.dataset == "train"] == [True]


def test_delete_hides_versions_and_purge_erases_unshared_blobs(client: Client, tmp_path: Path) -> None:
    private, shared = os.urandom(512), os.urandom(512)
    _write(tmp_path / "a" / "private.bin", private)
    _write(tmp_path / "a" / "shared.bin", shared)
    _write(tmp_path / "b" / "shared.bin", shared)
    client.data.add(tmp_path / "a", "secret")
    _write(tmp_path / "a" / "extra.txt", "v2")
    client.data.add(tmp_path / "a", "secret")
    client.data.add(tmp_path / "b", "other")
    deleted = client.data.delete("secret@2")
    assert deleted.versions == [2] and not deleted.purged
    with pytest.raises(DatasetNotFoundError, match="deleted"):
        client.data.show("secret@2")
    assert client.data.show("secret").version == 1
    assert [v.version for v in client.data.versions("secret", include_deleted=True)] == [2, 1]
    blobs = _blobs(client)
    purged = client.data.delete("secret", purge=True)
    assert purged.purged and purged.versions == [1, 2]
    assert purged.blobs_removed == 2  # private.bin and extra.txt; shared.bin is still used by "other"
    assert not blobs.exists(hash_bytes(private).digest) and not blobs.exists(hash_bytes(b"v2").digest)
    assert blobs.exists(hash_bytes(shared).digest)
    assert [d.name for d in client.data.list()] == ["other"]
    with pytest.raises(DatasetNotFoundError):
        client.data.get("secret@1", tmp_path / "gone")
    events = [e.action for e in client.list_audit(object_type="dataset", project=client.project)]
    assert events[:2] == ["dataset.purge", "dataset.delete"]


def test_bad_input_is_a_clear_error_and_stores_nothing(client: Client, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        client.data.add(tmp_path / "missing.csv", "x")
    with pytest.raises(InvalidInputError, match="no file matches"):
        client.data.add(str(tmp_path / "*.parquet"), "x")
    src = tmp_path / "src"
    _write(src / "ok.txt", "fine")
    (src / "broken").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InvalidInputError, match="broken"):
        client.data.add(src, "x")
    for name in ("a/b", "../up", "", "white space"):
        with pytest.raises(InvalidInputError, match="dataset name"):
            client.data.add(src / "ok.txt", name)
    with pytest.raises(InvalidInputError):
        client.data.add(12, "x")
    try:
        assert client.data.list() == []
    except ProjectNotFoundError:
        pass  # nothing created the project either
    client.data.add(src / "ok.txt", "real")
    with pytest.raises(DatasetNotFoundError, match="No dataset named 'nope'"):
        client.data.show("nope")
    with pytest.raises(DatasetNotFoundError, match="no version 7"):
        client.data.show("real@7")
    with pytest.raises(DatasetNotFoundError, match="digest"):
        client.data.show("real@sha:000000")
    for ref in ("real@0", "real@x", "real@sha:abc", "real@sha:zzzzzz", "re/al@1"):
        with pytest.raises(InvalidInputError):
            client.data.show(ref)


def test_link_mode_makes_protected_hardlinks_or_says_why_not(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "big"
    _write(src / "one.bin", os.urandom(2048))
    _write(src / "two.bin", os.urandom(2048))
    result = client.data.add_detailed(src, "big", link=True)
    blobs = _blobs(client)
    if client.backend.uri.startswith("http"):
        assert result.linked == 0 and result.note and "local blob store" in result.note
        assert all(p.stat().st_mode & 0o200 for p in src.iterdir())
        return
    assert result.linked == 2 and result.note is None
    for f in result.version.files:
        path = src / f.path
        assert path.stat().st_mode & 0o222 == 0, "a linked file is read-only"
        assert blobs.is_linked(path, f.digest)
    out = client.data.get("big", tmp_path / "out", link=True)
    for f in result.version.files:
        assert blobs.is_linked(out / f.path, f.digest)
        assert (out / f.path).stat().st_mode & 0o222 == 0
    # a copy (the default) is the user's own file
    copied = client.data.get("big", tmp_path / "copy")
    assert not blobs.is_linked(copied / "one.bin", result.version.files[0].digest)


def test_concurrent_adds_get_distinct_consecutive_versions(client: Client, tmp_path: Path) -> None:
    count = 20
    sources = [_write(tmp_path / f"part-{i}.txt", f"content {i}") for i in range(count)]
    versions: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def add(source: Path) -> None:
        try:
            barrier.wait()
            versions.append(client.data.add(source, "busy").version)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(versions) == list(range(1, count + 1))
    chain = {v.version: v.parent_version for v in client.data.versions("busy")}
    assert chain == {n: (n - 1 or None) for n in range(1, count + 1)}


def test_gc_keeps_the_blobs_of_datasets_deleted_or_not(client: Client, tmp_path: Path) -> None:
    live, deleted = os.urandom(300), os.urandom(300)
    client.data.add(_write(tmp_path / "live.bin", live), "live")
    client.data.add(_write(tmp_path / "deleted.bin", deleted), "gone")
    client.data.delete("gone")  # soft: restorable, so its blobs stay
    client.gc(dry_run=False, grace_seconds=0)
    blobs = _blobs(client)
    assert blobs.exists(hash_bytes(live).digest) and blobs.exists(hash_bytes(deleted).digest)
    assert client.data.get("live", tmp_path / "out").joinpath("live.bin").read_bytes() == live
