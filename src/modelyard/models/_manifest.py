"""File manifests of model packages: hashing, listing and verifying package files.

A manifest maps each file's relative POSIX path to ``(BLAKE3 hex digest, size)``. The package
digest is the BLAKE3 of the canonical manifest (one ``path<TAB>digest<TAB>size<LF>`` line per file,
sorted by path — the same rule as dataset versions), so identical files give an identical package.
Large files are hashed from a memory map on several threads (BLAKE3 parallelises within one file),
so hashing a just-written file costs a fraction of writing it.
"""

from __future__ import annotations

import contextlib
import contextvars
import mmap
import os
import queue
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import blake3

from modelyard.data._manifest import digest_of_entries
from modelyard.errors import ModelIntegrityError
from modelyard.models._types import FileManifest

__all__ = ["HashingWriter", "early_writeback", "hash_file", "list_files", "manifest_digest", "verify_files"]

_MMAP_THRESHOLD = 1 << 20
"""Files from this size up are hashed from a memory map, multi-threaded."""
HASH_STEP_BYTES = 8 << 20
"""Every this many bytes written, :class:`HashingWriter` hands the new range to its hasher thread."""
_WRITEBACK: contextvars.ContextVar[bool] = contextvars.ContextVar("modelyard_early_writeback", default=False)


@contextlib.contextmanager
def early_writeback() -> Iterator[None]:
    """Within this block, :class:`HashingWriter` starts the kernel's writeback as it writes.

    For files about to be made durable (``log_model`` stores them as blobs, fsynced): the disk
    works while the serializer still computes, so that ``fsync`` waits only for the tail. Files
    nobody fsyncs (a plain ``save_model``) are better left to the page cache.
    """
    token = _WRITEBACK.set(True)
    try:
        yield
    finally:
        _WRITEBACK.reset(token)


class HashingWriter:
    """A binary file opened for writing that hashes every byte on its way to disk.

    Serializers that accept a file object (joblib, pickle) write through it, so the file is written
    once and its digest is known when it is closed — no second read from disk.

    Hashing runs on a second thread, overlapping the serializer: every :data:`HASH_STEP_BYTES`
    written, the writer flushes and tells the hasher thread how far the file is complete, and that
    thread hashes the new range from a memory map of the file (still in the page cache). BLAKE3
    releases the GIL while it hashes, and the thread takes the GIL only a few times per step, so the
    digest costs little beyond the write itself. The hasher reads what the file holds, in file order:
    buffers the caller reuses after :meth:`write` returns (pickle's frames) are hashed as written,
    and nothing is copied or kept. A file smaller than one step is hashed by :meth:`close` itself,
    with no thread. An error in the hasher thread is raised by the next :meth:`write` or by
    :meth:`close`.

    Inside :func:`early_writeback`, the hasher thread also starts the kernel's writeback of each range it hashed
    (``sync_file_range(SYNC_FILE_RANGE_WRITE)`` on Linux: an asynchronous start that keeps the pages
    cached for the hasher), so the ``fsync`` that makes the blob durable later waits only for the
    tail. Durability itself is unchanged: it is still that ``fsync``.
    """

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")  # closed by close() or the context manager
        try:
            self._source = os.open(path, os.O_RDONLY)  # what the hasher maps (a write-only file cannot be)
        except BaseException:
            self._file.close()
            raise
        # Single-threaded BLAKE3 on one hasher thread: the parallelism is hashing beside the
        # serializer (BLAKE3's own pool on 8 MiB steps would compete with the serializer for cores).
        self._hasher = blake3.blake3()
        self._hashed = 0
        self._ends: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._failure: list[BaseException] = []
        self._size = 0
        self._stepped = 0
        self._writeback = _WRITEBACK.get()
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` (hashed from the file later, in order); return the number of bytes written."""
        if self._failure:
            raise self._failure[0]
        written = self._file.write(data)
        self._size += written
        if self._size - self._stepped >= HASH_STEP_BYTES:
            self._step()
        return written

    def _step(self) -> None:
        """Hand the range written since the last step to the hasher (and to the kernel's writeback)."""
        self._file.flush()  # the range is in the file (the page cache) before the hasher maps it
        if self._thread is None:
            self._thread = threading.Thread(target=self._hash_steps, name="modelyard-hash", daemon=True)
            self._thread.start()
        self._ends.put(self._size)
        self._stepped = self._size

    def _hash_steps(self) -> None:
        while (end := self._ends.get()) is not None:
            if self._failure:
                continue  # drain until close() says stop
            try:
                self._hash_to(end)
            except BaseException as exc:  # noqa: BLE001 - raised by the writing thread
                self._failure.append(exc)

    def _hash_to(self, end: int) -> None:
        """Hash the file from where hashing stopped up to ``end``, from a memory map.

        Inside :func:`early_writeback`, then start the kernel's writeback of that range: from this
        thread, since starting it may block while the device queue is full, and the serializer
        should not wait for that.
        """
        start = self._hashed
        if end <= start:
            return
        base = start - start % mmap.ALLOCATIONGRANULARITY  # map offsets must be aligned
        with mmap.mmap(self._source, end - base, access=mmap.ACCESS_READ, offset=base) as mapped:
            with memoryview(mapped) as view, view[start - base :] as new:
                self._hasher.update(new)
        self._hashed = end
        if self._writeback:
            # imported here: only log_model into a local store asks for writeback, with the blob store loaded
            from modelyard.blobs._copy import start_writeback

            start_writeback(self._source, start, end - start)

    def tell(self) -> int:
        """The current position (joblib aligns arrays with it)."""
        return self._file.tell()

    def flush(self) -> None:
        """Flush Python's buffer to the operating system."""
        self._file.flush()

    def close(self) -> tuple[str, int]:
        """Close the file; return its digest and size.

        Raises:
            Exception: hashing failed (the hasher thread's error).
        """
        if not self._closed:
            try:
                self._file.flush()
                if self._thread is not None:
                    self._ends.put(self._size)  # the tail
                else:  # a file smaller than one step: not worth a thread
                    self._hash_to(self._size)
            except BaseException as exc:  # noqa: BLE001 - raised below, after closing the file
                self._failure.append(exc)
            self._finish()
        if self._failure:
            raise self._failure[0]
        return self._hasher.hexdigest(), self._size

    def _finish(self) -> None:
        """Stop the hasher thread (after the steps handed over) and close the file; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._thread is not None:
                self._ends.put(None)
                self._thread.join()
        finally:
            os.close(self._source)
            self._file.close()

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()


def hash_file(path: Path) -> tuple[str, int]:
    """The BLAKE3 hex digest and size of the file at ``path``."""
    size = path.stat().st_size
    if size >= _MMAP_THRESHOLD:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        hasher.update_mmap(path)
    else:
        hasher = blake3.blake3(path.read_bytes())
    return hasher.hexdigest(), size


def list_files(directory: Path) -> list[str]:
    """Relative POSIX paths of every regular file under ``directory``, sorted.

    Raises:
        ModelIntegrityError: the directory holds a symbolic link or something that is not a file.
    """
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            full = Path(root) / name
            rel = full.relative_to(directory).as_posix()
            if full.is_symlink():
                raise ModelIntegrityError(
                    f"model package file {rel!r} is a symbolic link: packages hold only files", rel
                )
            if name in files and not full.is_file():
                raise ModelIntegrityError(f"model package entry {rel!r} is not a regular file", rel)
            if name in files:
                found.append(rel)
    return sorted(found)


def manifest_digest(files: Mapping[str, tuple[str, int]]) -> str:
    """The package digest of a manifest (order does not matter)."""
    return digest_of_entries((path, digest, size) for path, (digest, size) in files.items())


def verify_files(
    directory: Path,
    expected: Mapping[str, tuple[str, int]],
    source: str,
    *,
    also_allowed: frozenset[str] = frozenset(),
    hashed: FileManifest | None = None,
) -> FileManifest:
    """Check that ``directory`` holds exactly the ``expected`` files with their digests; return them hashed.

    Args:
        directory: the package directory.
        expected: the manifest to match.
        source: where ``expected`` came from, for messages (``"model.yaml"``, ``"the registry"``).
        also_allowed: files that may be present without being listed (``model.yaml`` in itself).
        hashed: digests already computed for some files, reused instead of hashing them again.

    Raises:
        ModelIntegrityError: a file is missing, extra, or differs in size or digest (named in the message).
    """
    present = list_files(directory)
    for rel in present:
        if rel not in expected and rel not in also_allowed:
            raise ModelIntegrityError(
                f"model package file {rel!r} is not listed in {source}: the package was modified; refusing to load", rel
            )
    hashed = dict(hashed or {})
    for rel in sorted(expected):
        path = directory / rel
        if rel not in present:
            raise ModelIntegrityError(
                f"model package file {rel!r} listed in {source} is missing; refusing to load", rel
            )
        want_digest, want_size = expected[rel]
        if path.stat().st_size != want_size:
            raise ModelIntegrityError(
                f"model package file {rel!r} has {path.stat().st_size} bytes, {source} says {want_size}: "
                "it was tampered with or truncated; refusing to load",
                rel,
            )
        if rel not in hashed:
            hashed[rel] = hash_file(path)
        if hashed[rel][0] != want_digest:
            raise ModelIntegrityError(
                f"model package file {rel!r} does not match its digest in {source}: "
                "it was tampered with; refusing to load",
                rel,
            )
    return hashed
