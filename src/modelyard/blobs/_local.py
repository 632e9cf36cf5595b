"""The local store's own paths: writes, batched deletes, and where a blob's bytes lie.

Writes go through temp files, kernel copies of large files, and batches of small ones (packs);
deletes come in batches (one rewrite per pack); a blob's bytes are a loose file or a range of a pack.

A mixin of :class:`~modelyard.blobs.BlobStore` (its methods take the store as ``self``), kept apart so
that each module stays short.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import TYPE_CHECKING, NamedTuple

from modelyard.blobs._copy import KERNEL_COPY_MIN, kernel_copy_hashed
from modelyard.blobs._files import fsync_dir, fsync_file, has_size, remove_file, remove_file_quietly, same_file, touch
from modelyard.blobs._hashing import (
    BlobInfo,
    ReadableBinary,
    check_digest,
    copy_hashed,
    hash_bytes,
    read_all,
    write_all,
)
from modelyard.blobs._packs import PackRange
from modelyard.blobs._reader import changed_error, not_found_error
from modelyard.errors import BlobNotFoundError, InvalidInputError

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterable, Iterator

    from _typeshed import StrPath

    from modelyard.blobs._packs import PackedBlob, Packs, PackWriter
    from modelyard.errors import StoreError

__all__ = ["BlobLocation", "LocalWrites"]


class BlobLocation(NamedTuple):
    """Where a local store keeps a blob's bytes (see :meth:`BlobStore.locate`)."""

    path: str
    """The file holding them: the blob itself, or its pack."""
    offset: int
    """Where they start in that file."""
    size: int
    """How many there are."""
    packed: bool
    """Whether ``path`` is a pack (shared with other blobs: never hardlink or upload it whole)."""


class LocalWrites:
    """Writing blobs into a local store (see :class:`~modelyard.blobs.BlobStore`)."""

    if TYPE_CHECKING:  # what the store provides
        _lock: threading.Lock
        _pending: dict[str, str]
        _tmp: str
        _prefix: str
        _names: Iterator[int]
        _prepared: bool
        _packs: Packs | None

        def put_file(self, path: StrPath, *, sync: bool = True) -> BlobInfo: ...
        def delete(self, digest: str, *, missing_ok: bool = False) -> None: ...
        def _local_path(self, digest: str) -> str: ...
        def _write_error(self, exc: OSError) -> StoreError: ...
        def _prepare_local(self) -> None: ...
        def _sync_objects_dir(self, shards: set[str]) -> None: ...

    def _put_small(self, path: str, pack: PackWriter | None = None) -> BlobInfo:
        """Store one file with ``sync=False``: read whole if small, else through :meth:`put_file`.

        A small file goes into ``pack`` when one is given, else into a temp file of its own.
        """
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            size = os.fstat(fd).st_size
            data = read_all(fd, size) if size < KERNEL_COPY_MIN else None
        except OSError as exc:
            raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)
        if data is None:
            return self.put_file(path, sync=False)
        info = hash_bytes(data)
        final = self._local_path(info.digest)
        if info.digest in self._pending:
            return info
        if has_size(final, info.size):
            touch(final)  # already stored: see _install
            return info
        packs = self._packs
        assert packs is not None  # only a local store reads small files whole
        packed = packs.find(info.digest, refresh=False)
        if packed is not None and packed.size == info.size:
            packs.touch(packed)  # already stored (the caller refreshed the packs' index)
            return info
        if pack is not None:
            try:
                pack.add(info.digest, data)
            except OSError as exc:
                raise self._write_error(exc) from exc
            return info
        tmp = os.path.join(self._tmp, f"{self._prefix}-{next(self._names)}.tmp")
        try:
            # Created read-only (blobs are immutable); the descriptor may still write it.
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o444)
            try:
                write_all(out, memoryview(data))
            finally:
                os.close(out)
        except OSError as exc:
            remove_file_quietly(tmp)
            if isinstance(exc, FileNotFoundError):
                self._prepared = False  # the store was removed under us: create it again
                self._prepare_local()
            raise self._write_error(exc) from exc
        with self._lock:
            if info.digest in self._pending:
                remove_file_quietly(tmp)
            else:
                self._pending[info.digest] = tmp
        return info

    def _new_tmp(self) -> tuple[int, str]:
        """Create a temp file in ``objects/tmp/``: its descriptor (open for writing) and path."""
        self._prepare_local()
        try:
            return tempfile.mkstemp(dir=self._tmp, prefix="put-", suffix=".tmp")
        except FileNotFoundError:
            self._prepared = False  # the store was removed under us: create it again
            self._prepare_local()
            return tempfile.mkstemp(dir=self._tmp, prefix="put-", suffix=".tmp")
        except OSError as exc:
            raise self._write_error(exc) from exc

    def _put_local_large(self, src: int, path: str, before: os.stat_result, sync: bool) -> BlobInfo | None:
        """Store a large file by a kernel copy hashed in parallel; ``None`` (nothing stored) if impossible."""
        fd, tmp = self._new_tmp()
        try:
            try:
                copied = kernel_copy_hashed(src, path, fd, before.st_size)
                if copied is None:
                    remove_file_quietly(tmp)
                    return None
                digest, size = copied
                # The hashing thread read the file by its path, the copy through ``src``: both are the
                # same unchanged file only if its identity, size and mtime are still those it had.
                if size != before.st_size or not (
                    same_file(before, os.fstat(src)) and same_file(before, os.stat(path))
                ):
                    raise changed_error(path)
                info = BlobInfo(digest, size)
                fsynced = sync and not has_size(self._local_path(digest), size)
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o444)
                if fsynced:
                    os.fsync(fd)
            except OSError as exc:
                raise self._write_error(exc) from exc
            finally:
                os.close(fd)
            self._commit_local(tmp, info, sync, fsynced)
        except BaseException:
            remove_file_quietly(tmp)
            raise
        return info

    def _put_local(self, src: ReadableBinary, sync: bool, size_hint: int | None = None) -> BlobInfo:
        fd, tmp = self._new_tmp()
        try:
            with open(fd, "wb", buffering=0) as out:

                def write(chunk: memoryview) -> None:
                    try:
                        while chunk:  # an unbuffered write may be short
                            chunk = chunk[out.write(chunk) :]
                    except OSError as exc:
                        raise self._write_error(exc) from exc

                info = copy_hashed(src, write, size_hint)
                # Content already stored needs no fsync: its temp file is about to be dropped.
                fsynced = sync and not has_size(self._local_path(info.digest), info.size)
                try:
                    # Blobs are immutable: read-only also protects files hardlinked to them from edits.
                    if hasattr(os, "fchmod"):
                        os.fchmod(out.fileno(), 0o444)
                    if fsynced:
                        os.fsync(out.fileno())
                except OSError as exc:
                    raise self._write_error(exc) from exc
            self._commit_local(tmp, info, sync, fsynced)
        except BaseException:
            remove_file_quietly(tmp)
            raise
        return info

    def _commit_local(self, tmp: str, info: BlobInfo, sync: bool, fsynced: bool) -> None:
        """Move the written temp file ``tmp`` into place, or into the pending set, unless already stored."""
        digest = info.digest
        final = self._local_path(digest)
        with self._lock:
            if not sync:
                if digest in self._pending:
                    remove_file_quietly(tmp)
                elif has_size(final, info.size):
                    touch(final)  # already stored: see _install
                    remove_file_quietly(tmp)
                else:
                    self._pending[digest] = tmp
                return
            stale = self._pending.pop(digest, None)
            try:
                if not fsynced and not has_size(final, info.size):
                    fsync_file(tmp)  # the stored copy went away since it was checked
                self._install(tmp, final, info.size)
                # Also when the blob was already there: another process may not have fsynced it yet.
                fsync_dir(os.path.dirname(final))
                self._sync_objects_dir({os.path.dirname(final)})
            except OSError as exc:
                raise self._write_error(exc) from exc
            finally:
                if stale is not None:
                    remove_file_quietly(stale)

    def _install(self, tmp: str, final: str, size: int, *, make_dir: bool = True) -> None:
        """Rename the fsynced ``tmp`` to ``final``, or drop it if ``final`` already holds the blob."""
        if make_dir:
            with contextlib.suppress(FileExistsError):
                os.mkdir(os.path.dirname(final))
        if has_size(final, size):
            # A name in objects/ only ever holds complete, durable bytes: keep it (dedup), and refresh
            # its mtime so that a concurrent garbage collection, which spares recent blobs, spares it.
            # A different size means it was truncated behind our back: replacing it repairs it.
            touch(final)
            os.remove(tmp)
        else:
            os.replace(tmp, final)

    # -- packed blobs: deletes, locations ---------------------------------------------------------

    def delete_many(self, digests: Iterable[str]) -> set[str]:
        """Delete the blobs ``digests`` the store holds; in a local store, packed ones in one rewrite per pack.

        Returns:
            The digests that were found (and are now gone).

        Raises:
            InvalidInputError: one of ``digests`` is not a valid digest.
            StoreError: the store cannot be written.
        """
        wanted = {check_digest(digest) for digest in digests}
        found: set[str] = set()
        if self._packs is None:  # an object store: one request per blob
            for digest in wanted:
                with contextlib.suppress(BlobNotFoundError):
                    self.delete(digest)
                    found.add(digest)
            return found
        with self._lock:
            for digest in wanted:
                paths = [self._local_path(digest)]
                pending = self._pending.pop(digest, None)
                if pending is not None:
                    paths.append(pending)
                for path in paths:
                    try:
                        remove_file(path)
                        found.add(digest)
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        raise self._write_error(exc) from exc
        try:
            found.update(self._packs.remove(wanted))
        except OSError as exc:
            raise self._write_error(exc) from exc
        return found

    def locate(self, digest: str) -> BlobLocation:
        """Where a local store keeps the blob ``digest``: a loose file, or a range of a pack file.

        For readers that copy blobs by file descriptor (transfers between local stores); they must
        verify what they read, as :meth:`open` does.

        Raises:
            BlobNotFoundError: the store has no such blob (or is not local).
        """
        check_digest(digest)
        final = self._local_path(digest)
        try:
            return BlobLocation(final, 0, os.stat(final).st_size, packed=False)
        except FileNotFoundError:
            pass
        packed = self._find_packed(digest)
        if packed is None:
            raise not_found_error(digest)
        return BlobLocation(packed.pack, packed.offset, packed.size, packed=True)

    def remove_orphan_packs(self) -> int:
        """Remove pack files a crashed writer left without an index a day ago or more; return how many."""
        return self._packs.sweep_orphans() if self._packs is not None else 0

    def _quarantine_packed(self, digest: str, target: str) -> str | None:
        """Copy a packed blob's bytes to ``target``, then delete it from its pack."""
        packed = self._find_packed(digest)
        if packed is None:
            return None
        with PackRange(packed) as raw, open(target, "xb") as out:
            copy_hashed(raw, out.write, packed.size)
        assert self._packs is not None  # packed blobs exist only in local stores
        self._packs.remove([digest])
        return target

    def _find_packed(self, digest: str) -> PackedBlob | None:
        return self._packs.find(digest) if self._packs is not None else None
