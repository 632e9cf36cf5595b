"""HashingWriter: the digest it returns is the BLAKE3 of the file it wrote, whatever the writes were."""

from __future__ import annotations

import array
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3
import joblib
import numpy as np
import pytest

from modelyard.models import _manifest
from modelyard.models._manifest import HashingWriter, early_writeback, hash_file

MiB = 1 << 20
Writes = Callable[[HashingWriter], bytes]
"""Writes through a writer and returns the bytes it meant to write."""


def _hash_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "modelyard-hash"]


def _large_bytes(writer: HashingWriter) -> bytes:
    chunks = [os.urandom(n) for n in (3 * MiB, 16 * MiB + 5, 1, 5 * MiB)]
    for chunk in chunks:
        writer.write(chunk)
    return b"".join(chunks)


def _small_bytes(writer: HashingWriter) -> bytes:  # like pickle's opcodes: many tiny writes
    chunks = [os.urandom(1 + i % 97) for i in range(60_000)]
    for chunk in chunks:
        writer.write(chunk)
    return b"".join(chunks)


def _reused_bytearray(writer: HashingWriter) -> bytes:
    """One buffer, refilled after every write: the writer must hash what it held at write time."""
    buffer, expected = bytearray(), []
    for i in range(40):
        buffer[:] = os.urandom((i * 37_111) % (300 << 10) + 1)
        expected.append(bytes(buffer))
        writer.write(buffer)
    buffer[:] = b"overwritten after the last write"
    return b"".join(expected)


def _reused_memoryview(writer: HashingWriter) -> bytes:
    """Like pickle's framer: a memoryview of a BytesIO-like buffer that is rewritten next."""
    backing, expected = bytearray(256 << 10), []
    for i in range(48):
        backing[:] = os.urandom(len(backing))
        view = memoryview(backing)[: (i * 7_919) % len(backing) + 1]
        expected.append(bytes(view))
        writer.write(view)
        view.release()
    return b"".join(expected)


def _typed_memoryview(writer: HashingWriter) -> bytes:
    """A memoryview of 8-byte items: its length counts items, the writer must count bytes."""
    values = array.array("q", range(1_500_000))
    writer.write(memoryview(values))
    values[0] = -1  # changed after the write: not what was written
    return array.array("q", range(1_500_000)).tobytes()


def _mixed(writer: HashingWriter) -> bytes:
    """Small and mutable writes between large immutable ones: the order of the hashed bytes must hold."""
    buffer, expected = bytearray(), []
    for i in range(30):
        large = os.urandom((i % 5) * MiB + 65_536 * (i % 3))
        buffer[:] = os.urandom(i * 1_000 + 1)
        for piece in (buffer, large, b"x" * (i % 4)):
            expected.append(bytes(piece))
            writer.write(piece)
        with memoryview(buffer) as view:
            expected.append(bytes(view[: i + 1]))
            writer.write(view[: i + 1])
    return b"".join(expected)


PATTERNS: dict[str, Writes] = {
    "empty": lambda writer: b"",
    "large_bytes": _large_bytes,
    "small_bytes": _small_bytes,
    "reused_bytearray": _reused_bytearray,
    "reused_memoryview": _reused_memoryview,
    "typed_memoryview": _typed_memoryview,
    "mixed": _mixed,
}


@pytest.mark.parametrize("writeback", [False, True], ids=["page_cache", "early_writeback"])
@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_digest_is_that_of_the_complete_file(tmp_path: Path, pattern: str, writeback: bool) -> None:
    path = tmp_path / "out"
    with early_writeback() if writeback else contextlib.nullcontext():
        with HashingWriter(path) as writer:
            expected = PATTERNS[pattern](writer)
            assert writer.tell() == len(expected)
            digest, size = writer.close()
    assert path.read_bytes() == expected
    assert (digest, size) == (blake3.blake3(expected).hexdigest(), len(expected)) == hash_file(path)
    assert not _hash_threads()


def test_joblib_through_the_writer(tmp_path: Path) -> None:
    model = {"weights": np.arange(3_000_000, dtype=np.float64), "names": [f"feature {i}" for i in range(5_000)]}
    with HashingWriter(tmp_path / "model.joblib") as writer:
        joblib.dump(model, writer)
        digest, size = writer.close()
    assert (digest, size) == hash_file(tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    assert np.array_equal(loaded["weights"], model["weights"]) and loaded["names"] == model["names"]


def test_a_small_file_starts_no_thread(tmp_path: Path) -> None:
    with HashingWriter(tmp_path / "small") as writer:
        writer.write(os.urandom(100_000))
        assert not _hash_threads()
        digest, _ = writer.close()
    assert digest == hash_file(tmp_path / "small")[0]


@pytest.mark.usefixtures("failing_hasher")
def test_an_error_hashing_a_small_file_surfaces_at_close(tmp_path: Path) -> None:
    with HashingWriter(tmp_path / "out") as writer:
        writer.write(os.urandom(2 * MiB))
        with pytest.raises(MemoryError, match="hasher out of memory"):
            writer.close()


class _FailingHasher:
    """A hasher that breaks on the first large update, like a hasher thread hitting an error."""

    def __init__(self) -> None:
        self._inner = blake3.blake3()

    def update(self, data: bytes) -> None:
        if len(data) >= MiB:
            raise MemoryError("hasher out of memory")
        self._inner.update(data)

    def hexdigest(self) -> str:
        return self._inner.hexdigest()


@pytest.fixture
def failing_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    class FakeBlake3:
        blake3 = _FailingHasher

    monkeypatch.setattr(_manifest, "blake3", FakeBlake3)
    yield
    assert not _hash_threads()


@pytest.mark.usefixtures("failing_hasher")
def test_an_error_in_the_hasher_thread_surfaces_at_close(tmp_path: Path) -> None:
    with HashingWriter(tmp_path / "out") as writer:
        writer.write(os.urandom(9 * MiB))  # more than one step: hashed on the thread
        with pytest.raises(MemoryError, match="hasher out of memory"):
            writer.close()


@pytest.mark.usefixtures("failing_hasher")
def test_an_error_in_the_hasher_thread_stops_the_writes(tmp_path: Path) -> None:
    chunk = os.urandom(5 * MiB)
    with pytest.raises(MemoryError, match="hasher out of memory"), HashingWriter(tmp_path / "out") as writer:
        for _ in range(200):  # far more than the queue holds: the writer must not block on a dead hasher
            writer.write(chunk)
        writer.close()


def test_a_failing_serializer_stops_the_thread(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="serializer failed"), HashingWriter(tmp_path / "out") as writer:
        writer.write(os.urandom(9 * MiB))
        raise RuntimeError("serializer failed")
    assert not _hash_threads()


def test_close_twice_gives_the_same_digest(tmp_path: Path) -> None:
    with HashingWriter(tmp_path / "out") as writer:
        writer.write(os.urandom(9 * MiB))
        first = writer.close()
        assert writer.close() == first == hash_file(tmp_path / "out")
