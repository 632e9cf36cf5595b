"""Pack files: many small blobs stored back to back in one file, as git packs its objects.

Adding a directory of thousands of small files would otherwise create one file per blob under
``objects/``. Creating a file is the expensive part of storing a small one: on the disks measured
here it costs 0.03 to 1.3 ms, far more than writing its 50 KiB (measured: 10,000 files of 50 KiB
take 7-8 s to create and write, one file of the same 500 MB 0.35 s, each plus one sync). So a batch
of small files (:meth:`~modelyard.blobs.BlobStore.put_files`) is written as one pack: one sequential
write and one fsync.

Layout, beside the loose blobs::

    <root>/objects/packs/pack-<id>.pack   the blobs' raw bytes, back to back
    <root>/objects/packs/pack-<id>.idx    its index, written (durably) after the pack is durable

A pack is visible only through its index, so a pack cut short by a crash is never read (and is swept
by garbage collection a day later). An index holds ``MYIDX001``, the entry count (u64), the entries
sorted by digest (32-byte digest, u64 offset, u64 size, little-endian) and the BLAKE3 of everything
before it, so a damaged index is refused rather than misread.

Reads are verified like loose blobs (the store wraps a range of the pack in its verifying reader).
Deleting packed blobs rewrites their pack's index without them and punches holes over their bytes
(``fallocate``; zeros where holes are not supported), so erased data is gone at once; a pack left
empty is removed. A blob's age, for garbage collection, is its index's mtime: storing content a
pack already holds touches that index, as it touches a loose blob.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import secrets
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import blake3

from modelyard.blobs._copy import start_writeback
from modelyard.blobs._files import fsync_dir, remove_file_quietly
from modelyard.blobs._hashing import write_all

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["PACK_MIN_FILES", "PackWriter", "PackedBlob", "Packs"]

PACK_MIN_FILES = 64
"""A batch of at least this many small files is written as a pack; smaller batches stay loose files."""
ORPHAN_AGE_SECONDS = 24 * 3600
"""A pack without an index (a writer that crashed) is removed by garbage collection after this long."""

_MAGIC = b"MYIDX001"
_ENTRY = struct.Struct("<32sQQ")
_COUNT = struct.Struct("<Q")
_WRITEBACK_BYTES = 8 << 20
_FALLOC_PUNCH_HOLE = 0x02 | 0x01  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE


@dataclass(frozen=True, slots=True)
class PackedBlob:
    """Where a packed blob lies: its pack file, offset and size."""

    pack: str
    offset: int
    size: int

    @property
    def index(self) -> str:
        """The pack's index file."""
        return self.pack[: -len(".pack")] + ".idx"


class PackRange(io.RawIOBase):
    """A raw reader over one packed blob's bytes (the store verifies them as they are read)."""

    def __init__(self, blob: PackedBlob) -> None:
        super().__init__()
        self._fd = os.open(blob.pack, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._pos = blob.offset
        self._end = blob.offset + blob.size

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        want = min(view.nbytes, self._end - self._pos)
        if want <= 0:
            return 0
        n = os.preadv(self._fd, [view[:want]], self._pos)
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
            super().close()


class PackWriter:
    """One pack being written by several threads at once: offsets are reserved, bytes written in place."""

    def __init__(self, directory: str) -> None:
        self.name = f"pack-{time.time_ns():x}-{secrets.token_hex(6)}"
        self.path = os.path.join(directory, self.name + ".pack")
        self._lock = threading.Lock()
        # Read-only mode like every blob; the descriptor still writes.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o444)
        self._size = 0
        self._written_back = 0
        self.entries: dict[str, PackedBlob] = {}

    def add(self, digest: str, data: memoryview | bytes) -> PackedBlob | None:
        """Append a blob's bytes; ``None`` if this pack already holds ``digest``."""
        size = len(data)
        with self._lock:
            if digest in self.entries:
                return None
            blob = PackedBlob(self.path, self._size, size)
            self.entries[digest] = blob
            self._size += size
            # The disk writes while the threads go on reading and hashing: the final fsync finds
            # little left (durability still comes from that fsync).
            flush = self._size - self._written_back >= _WRITEBACK_BYTES
            start = self._written_back
            if flush:
                self._written_back = blob.offset
        written = 0
        view = memoryview(data)
        while written < size:
            written += os.pwrite(self._fd, view[written:], blob.offset + written)
        if flush:
            start_writeback(self._fd, start, blob.offset - start)
        return blob

    def finish(self) -> None:
        """Make the pack durable, then its index (after which the pack is visible to every reader)."""
        if not self.entries:
            self.abort()
            return
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        write_index(self.path[: -len(".pack")] + ".idx", {d: (b.offset, b.size) for d, b in self.entries.items()})
        fsync_dir(os.path.dirname(self.path))

    def abort(self) -> None:
        """Drop the pack (nothing refers to it)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        remove_file_quietly(self.path)


def write_index(path: str, entries: dict[str, tuple[int, int]]) -> None:
    """Write an index durably (temp file, fsync, rename); the caller fsyncs the directory."""
    body = bytearray(_MAGIC + _COUNT.pack(len(entries)))
    for digest in sorted(entries):
        offset, size = entries[digest]
        body += _ENTRY.pack(bytes.fromhex(digest), offset, size)
    body += blake3.blake3(body).digest()
    tmp = f"{path}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o444)
    try:
        try:
            write_all(fd, memoryview(body))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        remove_file_quietly(tmp)
        raise


def read_index(path: str) -> dict[str, tuple[int, int]]:
    """The entries of an index file: ``digest -> (offset, size)``.

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not a complete, undamaged index.
    """
    with open(path, "rb") as f:
        body = f.read()
    if len(body) < len(_MAGIC) + _COUNT.size + 32 or not body.startswith(_MAGIC):
        raise ValueError(f"{path} is not a pack index")
    content, check = body[:-32], body[-32:]
    if blake3.blake3(content).digest() != check:
        raise ValueError(f"{path} is damaged (its checksum does not match)")
    (count,) = _COUNT.unpack_from(content, len(_MAGIC))
    start = len(_MAGIC) + _COUNT.size
    if len(content) != start + count * _ENTRY.size:
        raise ValueError(f"{path} is damaged (it is not {count} entries long)")
    return {digest.hex(): (offset, size) for digest, offset, size in _ENTRY.iter_unpack(memoryview(content)[start:])}


class Packs:
    """The packs of one local store: an index in memory, refreshed from the index files on a miss."""

    def __init__(self, objects: str) -> None:
        self.directory = os.path.join(objects, "packs")
        self._lock = threading.Lock()
        self._entries: dict[str, PackedBlob] = {}
        # index file -> (its stat key, its entries): _entries is built from these
        self._loaded: dict[str, tuple[tuple[int, int, int], dict[str, tuple[int, int]]]] = {}
        self._writers: list[PackWriter] = []  # packs being written by this process (visible to it)

    # -- lookups -----------------------------------------------------------------------------------
    def find(self, digest: str, *, refresh: bool = True) -> PackedBlob | None:
        """Where the blob ``digest`` is packed, or ``None``.

        With ``refresh`` (the default) the answer is current, as a loose blob's ``stat`` would be:
        the index files are re-read on a miss, and a hit is checked against its index file (one
        ``stat``), which another process may have rewritten or removed (deleting blobs) since it was
        read. Without it the in-memory index answers alone (a batch that refreshed once at its start).
        """
        with self._lock:
            found = self._entries.get(digest)
            loaded = self._loaded.get(found.index) if found is not None else None
            found = found or self._pending(digest)
        if refresh and loaded is not None and _stat_key(found.index if found else "") != loaded[0]:
            found = None  # its index changed since it was read
        if found is None and refresh:
            self.refresh()
            with self._lock:
                found = self._entries.get(digest)
        return found

    def find_many(self, digests: Iterable[str]) -> dict[str, PackedBlob]:
        """Where each of ``digests`` that is packed lies (one refresh of the index files)."""
        self.refresh()
        with self._lock:
            found = {d: b for d in digests if (b := self._entries.get(d) or self._pending(d)) is not None}
        return found

    def _pending(self, digest: str) -> PackedBlob | None:
        for writer in self._writers:
            blob = writer.entries.get(digest)
            if blob is not None:
                return blob
        return None

    def refresh(self) -> None:
        """Load index files that are new or changed, forget those that are gone."""
        try:
            with os.scandir(self.directory) as found:
                current = {
                    e.path: (s.st_ino, s.st_size, s.st_mtime_ns)
                    for e in found
                    if e.name.endswith(".idx") and (s := _stat(e)) is not None
                }
        except (FileNotFoundError, NotADirectoryError):
            current = {}
        with self._lock:
            stale = [path for path, (key, _) in self._loaded.items() if current.get(path) != key]
            fresh = [path for path, key in current.items() if self._loaded.get(path, (None,))[0] != key]
        if not stale and not fresh:
            return
        loaded: dict[str, tuple[tuple[int, int, int], dict[str, tuple[int, int]]]] = {}
        for path in fresh:
            try:
                loaded[path] = (current[path], read_index(path))
            except FileNotFoundError:
                continue  # removed meanwhile
            except (OSError, ValueError):
                continue  # damaged: its blobs are missing, which verification and gc report
        with self._lock:
            for path in stale:
                self._loaded.pop(path, None)
            self._loaded.update(loaded)
            # New packs only add entries; an index rewritten or removed (a delete) may have held blobs
            # that another pack holds too, so then every entry is rebuilt.
            if stale:
                self._entries = {}
            for path, (_, entries) in (self._loaded if stale else loaded).items():
                pack = path[: -len(".idx")] + ".pack"
                self._entries.update({d: PackedBlob(pack, o, s) for d, (o, s) in entries.items()})

    def holders(self, digest: str) -> list[PackedBlob]:
        """Every published pack holding ``digest`` (concurrent writers may have packed it twice)."""
        with self._lock:
            return [
                PackedBlob(path[: -len(".idx")] + ".pack", *entries[digest])
                for path, (_, entries) in self._loaded.items()
                if digest in entries
            ]

    # -- writing -----------------------------------------------------------------------------------
    def new_writer(self) -> PackWriter:
        """Start a pack; its blobs are readable through this object at once, elsewhere once published."""
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, exist_ok=True)
            fsync_dir(os.path.dirname(self.directory))
        writer = PackWriter(self.directory)
        with self._lock:
            self._writers.append(writer)
        return writer

    def publish(self, writer: PackWriter) -> None:
        """Make a pack and its index durable and visible."""
        try:
            writer.finish()
        finally:
            with self._lock:
                self._writers.remove(writer)
        self.refresh()

    def discard(self, writer: PackWriter) -> None:
        """Drop a pack that will not be published."""
        with self._lock:
            if writer in self._writers:
                self._writers.remove(writer)
        writer.abort()

    def touch(self, blob: PackedBlob) -> None:
        """Refresh the age of a packed blob (its index's mtime), as storing it again does for a loose one."""
        with contextlib.suppress(OSError):
            os.utime(blob.index)

    # -- removal -----------------------------------------------------------------------------------
    def remove(self, digests: Iterable[str]) -> dict[str, PackedBlob]:
        """Delete packed blobs: drop them from their indexes and erase their bytes.

        Returns:
            The blobs removed, by digest (digests no pack held are skipped).
        """
        from filelock import FileLock

        self.refresh()
        by_pack: dict[str, set[str]] = {}
        for digest in set(digests):
            for blob in self.holders(digest):
                by_pack.setdefault(blob.pack, set()).add(digest)
        removed: dict[str, PackedBlob] = {}
        if not by_pack:
            return removed
        with FileLock(os.path.join(self.directory, ".lock")):
            for pack, group in by_pack.items():
                index = pack[: -len(".pack")] + ".idx"
                try:
                    entries = read_index(index)  # re-read under the lock: another process may have edited it
                except FileNotFoundError:
                    continue
                except ValueError:
                    entries = {}
                gone = {d: PackedBlob(pack, *entries[d]) for d in group if d in entries}
                if not gone:
                    continue
                left = {d: e for d, e in entries.items() if d not in gone}
                if left:
                    write_index(index, left)
                    _erase(pack, gone.values())
                else:
                    os.remove(index)
                    remove_file_quietly(pack)
                fsync_dir(self.directory)
                removed.update(gone)
        self.refresh()
        return removed

    def iter(self) -> Iterator[tuple[str, float]]:
        """``(digest, mtime)`` of every published packed blob (mtime: its index's)."""
        self.refresh()
        with self._lock:
            entries = list(self._entries.items())
        mtimes: dict[str, float] = {}
        for digest, blob in entries:
            if blob.pack not in mtimes:
                try:
                    mtimes[blob.pack] = os.stat(blob.index).st_mtime
                except FileNotFoundError:
                    mtimes[blob.pack] = -1.0
            if mtimes[blob.pack] >= 0:
                yield digest, mtimes[blob.pack]

    def sweep_orphans(self, older_than: float = ORPHAN_AGE_SECONDS) -> int:
        """Remove packs left without an index (a crashed writer) for over ``older_than`` seconds."""
        cutoff = time.time() - older_than
        removed = 0
        try:
            with os.scandir(self.directory) as found:
                packs = [e.path for e in found if e.name.endswith(".pack")]
        except FileNotFoundError:
            return 0
        with self._lock:
            writing = {w.path for w in self._writers}
        for pack in packs:
            if pack in writing or os.path.exists(pack[: -len(".pack")] + ".idx"):
                continue
            with contextlib.suppress(FileNotFoundError):
                if os.stat(pack).st_mtime < cutoff:
                    os.remove(pack)
                    removed += 1
        return removed


def _stat_key(path: str) -> tuple[int, int, int] | None:
    """What identifies one version of an index file: inode, size and mtime (``None`` if gone)."""
    try:
        s = os.stat(path)
    except OSError:
        return None
    return s.st_ino, s.st_size, s.st_mtime_ns


def _stat(entry: os.DirEntry[str]) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None


def _libc_fallocate() -> Any:
    try:
        fn = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fn.restype = ctypes.c_int
    return fn


_FALLOCATE = _libc_fallocate()


def _erase(pack: str, blobs: Iterable[PackedBlob]) -> None:
    """Erase the bytes of ``blobs`` in ``pack``: punch holes (zeros where impossible), then fsync."""
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(pack, flags)
    except PermissionError:  # packs are read-only, like every blob: open it for this write only
        os.chmod(pack, 0o644)
        try:
            fd = os.open(pack, flags)
        finally:
            os.chmod(pack, 0o444)
    try:
        for blob in blobs:
            if _FALLOCATE is not None and _FALLOCATE(fd, _FALLOC_PUNCH_HOLE, blob.offset, blob.size) == 0:
                continue
            zeros = bytes(min(blob.size, 1 << 20))
            done = 0
            while done < blob.size:
                n = min(len(zeros), blob.size - done)
                done += os.pwrite(fd, zeros[:n], blob.offset + done)
        os.fsync(fd)
    finally:
        os.close(fd)
