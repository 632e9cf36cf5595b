"""Remotes: configuration, push and pull to local directories and memory://, interruption, corruption."""

from __future__ import annotations

import errno
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.backend.http import HttpBackend
from modelyard.blobs._packs import PACK_MIN_FILES
from modelyard.client import Client
from modelyard.data import _remotes, _transfer
from modelyard.data._remotes import RemoteConfig, RemoteStore, pull, push
from modelyard.entities import DatasetVersion
from modelyard.errors import (
    BlobCorruptedError,
    ConflictError,
    DatasetNotFoundError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    StoreError,
)
from modelyard.settings import Settings


def _client(root: Path, project: str = "p") -> Client:
    return Client(str(root), settings=Settings(home=root, project=project))


@pytest.fixture
def store_a(tmp_path: Path) -> Iterator[Client]:
    client = _client(tmp_path / "a")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def store_b(tmp_path: Path) -> Iterator[Client]:
    client = _client(tmp_path / "b")
    try:
        yield client
    finally:
        client.close()


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _two_versions(client: Client, src: Path) -> tuple[DatasetVersion, DatasetVersion]:
    """ds@1 (four files, one of 5 MiB for the kernel-copy path) and ds@2 (one changed, one added)."""
    big = os.urandom(5 * 1024 * 1024)
    _write(src, {"a.csv": b"x,y\n1,2\n", "sub/b.bin": os.urandom(70_000), "sub/c.txt": b"", "big.bin": big})
    v1 = client.data.add(src, name="ds", message="first", tags={"k": "v"})
    _write(src, {"a.csv": b"x,y\n1,2\n3,4\n", "new.txt": b"hello"})
    v2 = client.data.add(src, name="ds", message="second")
    assert (v1.version, v2.version) == (1, 2)
    return v1, v2


def _remote_url(kind: str, tmp_path: Path) -> str:
    return str(tmp_path / "remote") if kind == "local" else f"memory://modelyard-test-{uuid.uuid4().hex}"


# -- configuration ----------------------------------------------------------------------------------


def test_remote_config_add_list_remove(tmp_path: Path) -> None:
    config = RemoteConfig(tmp_path / "home" / "remotes.json")
    assert config.list() == []
    with pytest.raises(NotFoundError, match="remote add"):
        config.get()
    first = config.add("backup", "relative/dir")
    assert first.default and first.url == str(Path("relative/dir").absolute())
    second = config.add("cloud", "memory://bucket/prefix/")
    assert not second.default and second.url == "memory://bucket/prefix"
    assert [r.name for r in config.list()] == ["backup", "cloud"]
    assert config.get().name == "backup"
    assert config.get("cloud").url == "memory://bucket/prefix"
    with pytest.raises(ConflictError, match="already exists"):
        config.add("cloud", "/elsewhere")
    assert config.add("cloud", "/elsewhere", replace=True, default=True).default
    assert config.get().name == "cloud"
    config.remove("cloud")
    assert config.get().name == "backup"  # the only one left
    with pytest.raises(NotFoundError, match="nope"):
        config.remove("nope")
    with pytest.raises(NotFoundError, match="configured: backup"):
        config.get("nope")
    data = json.loads((tmp_path / "home" / "remotes.json").read_text())
    assert data["remotes"] == {"backup": {"url": str(Path("relative/dir").absolute())}}


def test_remote_config_rejects_bad_input(tmp_path: Path) -> None:
    config = RemoteConfig(tmp_path / "remotes.json")
    with pytest.raises(InvalidInputError, match="password"):
        config.add("s3", "s3://key:secret@bucket/prefix")
    with pytest.raises(InvalidInputError, match="unknown protocol"):
        config.add("x", "nosuchproto://bucket")
    with pytest.raises(InvalidInputError, match="empty"):
        config.add("x", "  ")
    with pytest.raises(InvalidInputError):
        config.add("../evil", str(tmp_path))
    assert not (tmp_path / "remotes.json").exists()
    (tmp_path / "remotes.json").write_text("{not json")
    with pytest.raises(StoreError, match="malformed"):
        config.list()


def test_several_remotes_without_default_need_a_name(tmp_path: Path) -> None:
    config = RemoteConfig(tmp_path / "remotes.json")
    config.add("one", str(tmp_path / "1"))
    config.add("two", str(tmp_path / "2"))
    config.remove("one")  # the default goes; the one left becomes the default
    assert config.get().name == "two"
    config.add("three", str(tmp_path / "3"))
    assert config.get().name == "two"


def test_remotes_live_in_the_store_home(store_a: Client, tmp_path: Path) -> None:
    _remotes.add_remote("backup", str(tmp_path / "remote"), client=store_a)
    assert (tmp_path / "a" / "remotes.json").exists()
    assert [r.name for r in _remotes.list_remotes(client=store_a)] == ["backup"]
    _remotes.remove_remote("backup", client=store_a)
    assert _remotes.list_remotes(client=store_a) == []


# -- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_push_pull_round_trip(kind: str, store_a: Client, store_b: Client, tmp_path: Path) -> None:
    v1, v2 = _two_versions(store_a, tmp_path / "src")
    url = _remote_url(kind, tmp_path)
    for client in (store_a, store_b):
        _remotes.add_remote("r", url, client=client)

    report = push("ds", all_versions=True, client=store_a)
    assert [(v.ref, v.status) for v in report.versions] == [("ds@1", "pushed"), ("ds@2", "pushed")]
    assert report.blobs == 6  # 4 files in v1, 2 new in v2 (the unchanged ones are stored once)
    assert report.bytes == sum(f.size for f in v1.files) + sum(
        f.size for f in v2.files if f.path in ("a.csv", "new.txt")
    )
    again = push("ds", all_versions=True, client=store_a)
    assert [v.status for v in again.versions] == ["up_to_date", "up_to_date"]
    assert again.blobs == 0 and again.blobs_skipped == 6

    store = RemoteStore(RemoteConfig(tmp_path / "a" / "remotes.json").get())
    assert store.dataset_names("p") == ["ds"]
    assert store.version_numbers("p", "ds") == [1, 2]

    pulled = pull("ds", all_versions=True, client=store_b)
    assert [(v.ref, v.status) for v in pulled.versions] == [("ds@1", "pulled"), ("ds@2", "pulled")]
    for original in (v1, v2):
        copy = store_b.data.show(original.ref)
        # The same version exactly: number, digest, files, metadata, creator and time.
        assert copy.model_dump() == store_a.data.show(original.ref).model_dump()
    out = store_b.data.get("ds@1", tmp_path / "out")
    assert (out / "big.bin").read_bytes() == (tmp_path / "src" / "big.bin").read_bytes()
    assert (out / "a.csv").read_bytes() == b"x,y\n1,2\n"
    assert [v.status for v in pull("ds", all_versions=True, client=store_b).versions] == ["present", "present"]
    # The pulled store goes on numbering after the pulled versions.
    _write(tmp_path / "src", {"more.txt": b"more"})
    assert store_b.data.add(tmp_path / "src", name="ds").version == 3


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_push_pull_of_packed_blobs(kind: str, store_a: Client, store_b: Client, tmp_path: Path) -> None:
    """A directory of many small files is stored as a pack; transfers read its blobs from the pack."""
    files = {f"part-{i:03d}.bin": os.urandom(2_000 + i) for i in range(PACK_MIN_FILES + 5)}
    v1 = store_a.data.add(_write(tmp_path / "src", files), name="many")
    assert all(store_a.backend.blobs.locate(f.digest).packed for f in v1.files)
    url = _remote_url(kind, tmp_path)
    for client in (store_a, store_b):
        _remotes.add_remote("r", url, client=client)
    report = push("many", client=store_a)
    assert report.blobs == len(files) and report.bytes == sum(len(b) for b in files.values())
    pulled = pull("many", client=store_b)
    assert [v.status for v in pulled.versions] == ["pulled"]
    out = store_b.data.get("many@1", tmp_path / "out")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files


def test_push_every_dataset_latest_only_and_pull_everything(store_a: Client, store_b: Client, tmp_path: Path) -> None:
    _two_versions(store_a, tmp_path / "src")
    _write(tmp_path / "other", {"o.txt": b"other"})
    store_a.data.add(tmp_path / "other", name="other")
    url = str(tmp_path / "remote")
    _remotes.add_remote("r", url, client=store_a)
    _remotes.add_remote("r", url, client=store_b)
    report = push(client=store_a)
    assert sorted(v.ref for v in report.versions) == ["ds@2", "other@1"]
    manifests = sorted(p.relative_to(tmp_path / "remote").as_posix() for p in (tmp_path / "remote").rglob("*.json"))
    assert manifests == ["datasets/p/ds/2.json", "datasets/p/other/1.json"]
    pulled = pull(client=store_b)
    assert sorted(v.ref for v in pulled.versions) == ["ds@2", "other@1"]
    # Only version 2 was pulled: it keeps its number, and version 1 stays unknown here.
    assert [v.version for v in store_b.data.versions("ds")] == [2]
    with pytest.raises(NotFoundError):
        store_b.data.show("ds@1")


def test_pull_a_single_version_by_number_and_digest(store_a: Client, store_b: Client, tmp_path: Path) -> None:
    v1, _ = _two_versions(store_a, tmp_path / "src")
    url = str(tmp_path / "remote")
    _remotes.add_remote("r", url, client=store_a)
    _remotes.add_remote("r", url, client=store_b)
    push("ds", all_versions=True, client=store_a)
    pulled = pull(f"ds@sha:{v1.digest[:10]}", client=store_b)
    assert [v.ref for v in pulled.versions] == ["ds@1"]
    with pytest.raises(DatasetNotFoundError, match="no version 7"):
        pull("ds@7", client=store_b)
    with pytest.raises(DatasetNotFoundError, match="no dataset named 'nope'"):
        pull("nope", client=store_b)
    with pytest.raises(InvalidInputError, match="not both"):
        pull("ds@1", all_versions=True, client=store_b)


def test_manifest_is_json_with_every_field(store_a: Client, tmp_path: Path) -> None:
    v1, _ = _two_versions(store_a, tmp_path / "src")
    _remotes.add_remote("r", str(tmp_path / "remote"), client=store_a)
    push("ds@1", client=store_a)
    data = json.loads((tmp_path / "remote" / "datasets" / "p" / "ds" / "1.json").read_text())
    assert data["format"] == 1
    assert (data["name"], data["version"], data["digest"], data["message"]) == ("ds", 1, v1.digest, "first")
    assert {f["path"] for f in data["files"]} == {"a.csv", "sub/b.bin", "sub/c.txt", "big.bin"}
    assert {"schema", "profile", "tags", "creator", "created_at", "num_rows"} <= set(data)
    for f in data["files"]:
        blob = tmp_path / "remote" / "objects" / f["digest"][:2] / f["digest"][2:]
        assert blob.stat().st_size == f["size"]


# -- interruption, retries, integrity ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_interrupted_push_publishes_nothing_and_a_retry_succeeds(
    kind: str, store_a: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, _ = _two_versions(store_a, tmp_path / "src")
    _remotes.add_remote("r", _remote_url(kind, tmp_path), client=store_a)
    doomed = next(f.digest for f in v1.files if f.path == "sub/b.bin")
    attempts: list[str] = []
    method = "_copy_small" if kind == "local" else "_copy_generic"
    original = getattr(_transfer.BlobTransfer, method)

    def failing(self: _transfer.BlobTransfer, job: _transfer.BlobJob, advance: object) -> object:
        if job.digest == doomed:
            attempts.append(job.digest)
            raise OSError(5, "Input/output error")
        return original(self, job, advance)

    monkeypatch.setattr(_transfer.BlobTransfer, method, failing)
    with pytest.raises(StoreError, match=r"ds@1, file 'sub/b.bin'.*after 2 attempts"):
        push("ds@1", client=store_a, retries=1)
    assert len(attempts) == 2  # one retry
    store = RemoteStore(RemoteConfig(tmp_path / "a" / "remotes.json").get())
    assert store.read_manifest("p", "ds", 1) is None  # nothing published
    present = store.blobs.exists_many(f.digest for f in v1.files)
    assert doomed not in present  # the others stopped; those already copied were kept, durably

    monkeypatch.setattr(_transfer.BlobTransfer, method, original)
    report = push("ds@1", client=store_a)
    assert [v.status for v in report.versions] == ["pushed"]
    assert report.blobs == 4 - len(present) and report.blobs_skipped == len(present)
    published = store.read_manifest("p", "ds", 1)
    assert published is not None and published.digest == v1.digest


def test_transient_errors_are_retried(store_a: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v1, _ = _two_versions(store_a, tmp_path / "src")
    _remotes.add_remote("r", str(tmp_path / "remote"), client=store_a)
    failures: dict[str, int] = {}

    def flaky(method: Any) -> Any:
        def wrapper(self: _transfer.BlobTransfer, job: _transfer.BlobJob, advance: Any) -> Any:
            if failures.get(job.digest, 0) < 1:
                failures[job.digest] = failures.get(job.digest, 0) + 1
                advance(1)  # a partial attempt: the progress is taken back before the retry
                raise OSError(5, "Input/output error")
            return method(self, job, advance)

        return wrapper

    for name in ("_copy_small", "_copy_large"):
        monkeypatch.setattr(_transfer.BlobTransfer, name, flaky(getattr(_transfer.BlobTransfer, name)))
    progress = _Progress()
    report = push("ds@1", client=store_a, progress=progress)
    assert [v.status for v in report.versions] == ["pushed"] and report.blobs == len(v1.files)
    assert set(failures) == {f.digest for f in v1.files}
    assert progress.total == progress.done == sum(f.size for f in v1.files)


class _Progress:
    def __init__(self) -> None:
        self.total = self.done = 0

    def start(self, total_bytes: int, total_blobs: int) -> None:
        self.total = total_bytes

    def advance(self, nbytes: int) -> None:
        self.done += nbytes


def test_a_failed_blob_leaves_only_its_versions_unpublished(
    store_a: Client, store_b: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, v2 = _two_versions(store_a, tmp_path / "src")
    url = str(tmp_path / "remote")
    _remotes.add_remote("r", url, client=store_a)
    _remotes.add_remote("r", url, client=store_b)
    doomed = next(f.digest for f in v2.files if f.path == "new.txt")  # only in version 2
    original = _transfer.BlobTransfer._copy_small

    def failing(self: _transfer.BlobTransfer, job: _transfer.BlobJob, advance: Any) -> Any:
        if job.digest == doomed:
            raise OSError(28, "No space left on device")  # permanent: no retry
        return original(self, job, advance)

    monkeypatch.setattr(_transfer.BlobTransfer, "_copy_small", failing)
    with pytest.raises(StoreError, match="new.txt"):
        push("ds", all_versions=True, client=store_a)
    store = RemoteStore(RemoteConfig(tmp_path / "a" / "remotes.json").get())
    assert store.version_numbers("p", "ds") == [1]  # version 1 is complete: published
    # The same on pull: version 1 is recorded, version 2 is not.
    monkeypatch.setattr(_transfer.BlobTransfer, "_copy_small", original)
    push("ds", all_versions=True, client=store_a)
    monkeypatch.setattr(_transfer.BlobTransfer, "_copy_small", failing)
    with pytest.raises(StoreError, match="new.txt"):
        pull("ds", all_versions=True, client=store_b)
    assert [v.version for v in store_b.data.versions("ds")] == [1]


def test_diverged_stores_conflict(store_a: Client, store_b: Client, tmp_path: Path) -> None:
    _write(tmp_path / "x", {"f.txt": b"from a"})
    _write(tmp_path / "y", {"f.txt": b"from b"})
    store_a.data.add(tmp_path / "x", name="ds")
    store_b.data.add(tmp_path / "y", name="ds")
    url = str(tmp_path / "remote")
    _remotes.add_remote("r", url, client=store_a)
    _remotes.add_remote("r", url, client=store_b)
    push("ds", client=store_a)
    with pytest.raises(ConflictError, match="diverged"):
        push("ds", client=store_b)
    with pytest.raises(ConflictError, match="diverged"):
        pull("ds", client=store_b)


@pytest.mark.parametrize("kind", ["local", "memory"])
@pytest.mark.parametrize("damage", ["flip", "append"])
def test_corrupted_remote_blob_is_refused_and_quarantined(
    damage: str, kind: str, store_a: Client, store_b: Client, tmp_path: Path
) -> None:
    v1, _ = _two_versions(store_a, tmp_path / "src")
    url = _remote_url(kind, tmp_path)
    _remotes.add_remote("r", url, client=store_a)
    _remotes.add_remote("r", url, client=store_b)
    push("ds@1", client=store_a)
    store = RemoteStore(RemoteConfig(tmp_path / "a" / "remotes.json").get())
    target = next(f for f in v1.files if f.path == "sub/b.bin")
    key = store._join("objects", target.digest[:2], target.digest[2:])
    if kind == "local":
        Path(key).chmod(0o644)
        data = bytearray(Path(key).read_bytes())
    else:
        data = bytearray(store._fs.cat_file(key))
    if damage == "flip":
        data[100] ^= 0x01
    else:
        data += b"\0"
    if kind == "local":
        Path(key).write_bytes(bytes(data))
    else:
        store._fs.pipe_file(key, bytes(data))

    with pytest.raises(BlobCorruptedError) as caught:
        pull("ds@1", client=store_b)
    message = str(caught.value)
    assert "ds@1" in message and "sub/b.bin" in message and "quarantine" in message
    assert not store.blobs.exists(target.digest)  # moved aside
    assert len(store._children(store._join("quarantine"))) == 1
    with pytest.raises(NotFoundError):
        store_b.data.show("ds@1")  # nothing recorded
    assert not store_b.backend.blobs.exists(target.digest)  # type: ignore[attr-defined]

    # Pushing again repairs the remote (the manifest was there, a blob was not); then the pull works.
    repaired = push("ds@1", client=store_a)
    assert [(v.status, v.blobs) for v in repaired.versions] == [("repaired", 1)]
    assert [v.status for v in pull("ds@1", client=store_b).versions] == ["pulled"]


def test_tampered_manifest_is_refused(store_a: Client, store_b: Client, tmp_path: Path) -> None:
    _two_versions(store_a, tmp_path / "src")
    url = str(tmp_path / "remote")
    _remotes.add_remote("r", url, client=store_a)
    _remotes.add_remote("r", url, client=store_b)
    push("ds@1", client=store_a)
    path = tmp_path / "remote" / "datasets" / "p" / "ds" / "1.json"
    data = json.loads(path.read_text())
    data["files"][0]["size"] += 1
    path.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="inconsistent"):
        pull("ds@1", client=store_b)
    data["format"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="format"):
        pull("ds@1", client=store_b)


def test_corrupted_local_blob_is_not_pushed(store_a: Client, tmp_path: Path) -> None:
    v1, _ = _two_versions(store_a, tmp_path / "src")
    _remotes.add_remote("r", str(tmp_path / "remote"), client=store_a)
    target = next(f for f in v1.files if f.path == "big.bin")
    blob = Path(store_a.backend.blobs.url) / "objects" / target.digest[:2] / target.digest[2:]  # type: ignore[attr-defined]
    blob.chmod(0o644)
    with open(blob, "r+b") as f:
        f.seek(4_000_000)
        f.write(b"\xff\xfe")
    with pytest.raises(BlobCorruptedError, match=r"ds@1, file 'big.bin' is corrupted in the local blob store"):
        push("ds@1", client=store_a)
    assert not (tmp_path / "remote" / "datasets" / "p" / "ds" / "1.json").exists()
    assert not (tmp_path / "remote" / "objects" / target.digest[:2] / target.digest[2:]).exists()


# -- server mode --------------------------------------------------------------------------------------


def test_server_mode_refuses_push_and_pull(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"version": "9.9.9", "api_version": 1, "min_client_version": "0.0.1"})

    backend = HttpBackend("http://server.test", Settings(home=tmp_path), transport=httpx.MockTransport(handler))
    client = Client(backend=backend, settings=Settings(home=tmp_path))
    try:
        for action in (push, pull):
            with pytest.raises(InvalidInputError, match="server is the remote"):
                action("ds", client=client)
        with pytest.raises(InvalidInputError, match="server is the remote"):
            _remotes.add_remote("r", str(tmp_path / "r"), client=client)
    finally:
        client.close()


def test_without_kernel_copy_large_blobs_are_streamed(
    store_a: Client, store_b: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another filesystem (or no copy_file_range): 1 MiB chunks through the hasher instead."""
    v1, _ = _two_versions(store_a, tmp_path / "src")
    url = str(tmp_path / "remote")
    _remotes.add_remote("r", url, client=store_a)
    _remotes.add_remote("r", url, client=store_b)

    def cross_device(*args: Any) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(_transfer.os, "copy_file_range", cross_device)
    push("ds@1", client=store_a)
    pull("ds@1", client=store_b)
    out = store_b.data.get("ds@1", tmp_path / "out")
    assert (out / "big.bin").read_bytes() == (tmp_path / "src" / "big.bin").read_bytes()


def test_pulled_versions_pass_the_service_rules_and_are_audited(
    store_a: Client, store_b: Client, tmp_path: Path
) -> None:
    _two_versions(store_a, tmp_path / "src")
    url = str(tmp_path / "remote")
    _remotes.add_remote("r", url, client=store_a)
    _remotes.add_remote("r", url, client=store_b)
    push(client=store_a)
    path = tmp_path / "remote" / "datasets" / "p" / "ds" / "2.json"
    good = path.read_text()
    data = json.loads(good)
    data["tags"] = {"bad key/..": "x"}
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidInputError, match="tag"):
        pull("ds@2", client=store_b)
    data["tags"], data["message"] = {}, "m" * 10_001
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidInputError, match="message"):
        pull("ds@2", client=store_b)
    with pytest.raises(NotFoundError):  # nothing was recorded, not even the project
        store_b.data.show("ds@2")
    path.write_text(good)
    pull("ds@2", client=store_b)
    events = store_b.list_audit(object_type="dataset", project="p")
    assert [(e.action, e.object_id, e.summary["source"]) for e in events] == [("dataset.version.pull", "ds@2", url)]
