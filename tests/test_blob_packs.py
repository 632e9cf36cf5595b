"""Pack files: batches of small files stored in one pack, read, verified, deleted and collected like loose blobs."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelyard.blobs import BlobStore, hash_bytes
from modelyard.blobs._packs import PACK_MIN_FILES, read_index
from modelyard.errors import BlobCorruptedError, BlobNotFoundError

N = PACK_MIN_FILES + 16


def make_files(root: Path, n: int = N, *, seed: int = 0, size: int = 3000) -> list[Path]:
    """``n`` files of distinct content under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    block = os.urandom(size + n) if seed == 0 else bytes((i * seed) % 251 for i in range(size + n))
    paths = []
    for i in range(n):
        path = root / f"f{i:04d}.bin"
        path.write_bytes(block[i : i + size])
        paths.append(path)
    return paths


def packs_of(store: BlobStore) -> list[Path]:
    return sorted((Path(store.url) / "objects" / "packs").glob("*.pack"))


def loose_blobs(store: BlobStore) -> list[Path]:
    objects = Path(store.url) / "objects"
    return [p for p in objects.glob("??/*") if p.is_file()]


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(str(tmp_path / "store"))


def test_a_batch_of_small_files_is_one_pack_read_back_verified(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "src")
    infos = store.put_files(paths)
    assert [i.digest for i in infos] == [hash_bytes(p.read_bytes()).digest for p in paths]
    (pack,) = packs_of(store)
    assert loose_blobs(store) == []  # no file per blob
    assert pack.stat().st_size == sum(p.stat().st_size for p in paths)
    assert not os.access(pack, os.W_OK) or os.geteuid() == 0  # read-only, like every blob
    assert pack.stat().st_mode & 0o777 == 0o444
    index = read_index(str(pack.with_suffix(".idx")))
    assert set(index) == {i.digest for i in infos}
    # another store object (another process) sees them once published
    other = BlobStore(store.url)
    assert other.exists_many(i.digest for i in infos) == {i.digest for i in infos}
    for path, info in zip(paths, infos, strict=True):
        assert other.exists(info.digest)
        assert other.size(info.digest) == info.size
        assert other.read_bytes(info.digest) == path.read_bytes()
    assert sorted(d for d, _ in other.iter_blobs()) == sorted(i.digest for i in infos)


def test_small_batches_stay_loose_files(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "src", PACK_MIN_FILES - 1)
    store.put_files(paths)
    assert packs_of(store) == []
    assert len(loose_blobs(store)) == PACK_MIN_FILES - 1


def test_pending_pack_is_visible_only_to_its_store_until_sync(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "src")
    infos = store.put_files(paths, sync=False)
    assert store.read_bytes(infos[0].digest) == paths[0].read_bytes()
    assert not BlobStore(store.url).exists(infos[0].digest)  # no index yet: invisible elsewhere
    store.sync()
    assert BlobStore(store.url).exists(infos[0].digest)


def test_content_already_packed_is_not_stored_again(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "src")
    store.put_files(paths)
    index = packs_of(store)[0].with_suffix(".idx")
    old = time.time() - 3600
    os.utime(index, (old, old))
    copies = tmp_path / "copies"
    copies.mkdir()
    for p in paths:
        (copies / p.name).write_bytes(p.read_bytes())
    fresh = BlobStore(store.url)
    fresh.put_files(sorted(copies.iterdir()))
    assert len(packs_of(store)) == 1 and loose_blobs(store) == []
    assert index.stat().st_mtime > old + 1800  # touched: a garbage collection sparing recent blobs spares them


def test_duplicates_within_a_batch_are_packed_once(store: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(N):
        (src / f"{i}.txt").write_bytes(b"same" if i % 2 else f"different {i}".encode())
    store.put_files(sorted(src.iterdir()))
    (pack,) = packs_of(store)
    assert len(read_index(str(pack.with_suffix(".idx")))) == N // 2 + 1


def test_a_flipped_byte_in_a_pack_is_detected_and_quarantined(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "src")
    infos = store.put_files(paths)
    (pack,) = packs_of(store)
    victim = infos[5]
    where = store.locate(victim.digest)
    assert where.packed and where.path == str(pack)
    pack.chmod(0o644)
    with pack.open("r+b") as f:
        f.seek(where.offset + 7)
        byte = f.read(1)
        f.seek(where.offset + 7)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(BlobCorruptedError):
        store.read_bytes(victim.digest)
    with pytest.raises(BlobCorruptedError):
        store.get_file(victim.digest, tmp_path / "out.bin", link=True)
    assert not (tmp_path / "out.bin").exists()
    target = store.quarantine(victim.digest)
    assert target is not None and Path(target).stat().st_size == victim.size
    assert not store.exists(victim.digest) and not BlobStore(store.url).exists(victim.digest)
    assert store.read_bytes(infos[6].digest) == paths[6].read_bytes()  # the neighbours are intact
    store.put_file(paths[5])  # storing the right bytes again repairs the store
    assert store.read_bytes(victim.digest) == paths[5].read_bytes()


def test_get_file_copies_a_packed_blob_even_when_asked_to_link(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "src")
    infos = store.put_files(paths)
    dst = tmp_path / "out" / "x.bin"
    store.get_file(infos[3].digest, dst, link=True)
    assert dst.read_bytes() == paths[3].read_bytes()
    assert dst.stat().st_ino != packs_of(store)[0].stat().st_ino


def test_delete_erases_packed_bytes_and_drops_an_empty_pack(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "src", seed=7)
    infos = store.put_files(paths)
    (pack,) = packs_of(store)
    gone = infos[:10]
    places = [store.locate(i.digest) for i in gone]
    assert store.delete_many(i.digest for i in gone) == {i.digest for i in gone}
    data = pack.read_bytes()
    for where in places:
        assert data[where.offset : where.offset + where.size] == bytes(where.size)  # erased, not just unlisted
    other = BlobStore(store.url)
    assert not any(other.exists(i.digest) for i in gone)
    with pytest.raises(BlobNotFoundError):
        other.read_bytes(gone[0].digest)
    assert other.read_bytes(infos[10].digest) == paths[10].read_bytes()
    store.delete(infos[10].digest)
    with pytest.raises(BlobNotFoundError):
        store.delete(infos[10].digest)
    store.delete_many(i.digest for i in infos)
    assert packs_of(store) == [] and list((Path(store.url) / "objects" / "packs").glob("*.idx")) == []


def test_a_damaged_index_hides_its_pack_instead_of_misreading_it(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "src")
    infos = store.put_files(paths)
    index = packs_of(store)[0].with_suffix(".idx")
    index.chmod(0o644)
    data = bytearray(index.read_bytes())
    data[20] ^= 1
    index.write_bytes(bytes(data))
    other = BlobStore(store.url)
    assert not other.exists(infos[0].digest)
    with pytest.raises(BlobNotFoundError):
        other.read_bytes(infos[0].digest)


def test_a_pack_without_index_is_invisible_and_swept_after_a_day(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "src")
    infos = store.put_files(paths, sync=False)  # written, never published (a crash before sync)
    (pack,) = packs_of(store)
    assert not BlobStore(store.url).exists(infos[0].digest)
    assert BlobStore(store.url).remove_orphan_packs() == 0  # recent: maybe still being written
    old = time.time() - 2 * 86400
    os.utime(pack, (old, old))
    assert BlobStore(store.url).remove_orphan_packs() == 1
    assert not pack.exists()


def test_concurrent_batches_of_overlapping_files(tmp_path: Path) -> None:
    url = str(tmp_path / "store")
    a = make_files(tmp_path / "a", seed=3)
    b = make_files(tmp_path / "b", seed=3)  # same contents, other files

    def put(paths: list[Path]) -> list[str]:
        return [i.digest for i in BlobStore(url).put_files(paths)]

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(put, [a, b])
    assert first == second
    reader = BlobStore(url)
    for path, digest in zip(a, first, strict=True):
        assert reader.read_bytes(digest) == path.read_bytes()


def test_garbage_collection_removes_unreferenced_packed_blobs(tmp_path: Path) -> None:
    import modelyard as yard

    client = yard.Client(str(tmp_path / "home"))
    client.create_project("p")
    src = tmp_path / "many"
    make_files(src, seed=11)
    version = client.data.add(src, "many", project="p")
    blobs = client.backend.blobs
    assert packs_of(blobs) and all(blobs.exists(f.digest) for f in version.files)
    deletion = client.data.delete("many", purge=True, project="p")
    assert deletion.blobs_removed == N
    assert packs_of(blobs) == []


def test_a_corrupted_packed_dataset_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    import modelyard as yard

    client = yard.Client(str(tmp_path / "home"))
    client.create_project("p")
    src = tmp_path / "many"
    paths = make_files(src, seed=13)
    client.data.add(src, "many", project="p")
    blobs = client.backend.blobs
    where = blobs.locate(hash_bytes(paths[2].read_bytes()).digest)
    assert where.packed
    os.chmod(where.path, 0o644)
    with open(where.path, "r+b") as f:
        f.seek(where.offset)
        f.write(b"X")
    with pytest.raises(BlobCorruptedError) as caught:
        client.data.get("many", tmp_path / "out", project="p")
    assert "many@1" in str(caught.value) and paths[2].name in str(caught.value)
    assert not (tmp_path / "out" / paths[2].name).exists()


def test_content_packed_twice_by_concurrent_writers_is_deleted_from_both(tmp_path: Path) -> None:
    url = str(tmp_path / "store")
    paths = make_files(tmp_path / "src", seed=5)
    first, second = BlobStore(url), BlobStore(url)
    infos = first.put_files(paths, sync=False)
    second.put_files(paths, sync=False)  # neither sees the other's unpublished pack
    first.sync()
    second.sync()
    store = BlobStore(url)
    assert len(packs_of(store)) == 2
    victim = infos[0].digest
    assert store.delete_many([victim]) == {victim}
    assert not store.exists(victim) and not BlobStore(url).exists(victim)  # erased from both packs
    assert store.read_bytes(infos[1].digest) == paths[1].read_bytes()


def test_a_long_lived_store_sees_packed_blobs_another_process_deleted(tmp_path: Path) -> None:
    url = str(tmp_path / "store")
    paths = make_files(tmp_path / "src", seed=9)
    server = BlobStore(url)  # e.g. a server's store, its index of packs read once
    infos = server.put_files(paths)
    assert server.exists(infos[0].digest)
    BlobStore(url).delete_many([infos[0].digest])  # another process
    assert not server.exists(infos[0].digest)  # as a loose blob's stat would say at once
    with pytest.raises(BlobNotFoundError):
        server.read_bytes(infos[0].digest)
    assert server.exists(infos[1].digest) and server.read_bytes(infos[1].digest) == paths[1].read_bytes()
    BlobStore(url).delete_many(i.digest for i in infos)  # the pack goes away entirely
    assert not server.exists(infos[1].digest)
