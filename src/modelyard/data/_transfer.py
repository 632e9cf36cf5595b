"""Blob transfer between two blob stores: parallel, verified, retried, and made durable in one batch.

Push (local store -> remote) and pull (remote -> local store) both copy blobs between two
:class:`~modelyard.blobs.BlobStore` roots that share one layout (``objects/ab/cdef...``). A
:class:`BlobTransfer` copies the blobs it is given and returns once every one of them is durable at the
destination, so the caller may then publish what references them (a remote manifest, a version row).

- **Verified.** Every blob is hashed as it is copied and checked against its digest and size before it
  is installed under its name. A blob whose bytes do not match (one flipped or appended byte) is never
  installed: the bad *source* copy is moved to ``quarantine/`` in its store and
  :class:`~modelyard.errors.BlobCorruptedError` names the dataset, version and file it belongs to.
- **Fast path between local directories.** Small blobs are read whole, hashed and written by one
  thread (threads would only fight over the GIL for such short work). Large blobs are copied by the
  kernel (``os.copy_file_range``: no trip through Python, reflinks where the filesystem has them) on
  the same filesystem, while a second thread hashes the source; their write-back to disk is started
  as they are copied. Other pairs stream 1 MiB chunks through the source store's verifying reader,
  in parallel (network-bound).
- **Durable in one batch.** Local copies are written to ``objects/tmp/`` and, once all are written,
  made durable together: on Linux one ``syncfs`` of the destination filesystem (instead of one
  ``fsync`` per file, each a journal commit), then renamed into place, then the new directory entries
  are made durable the same way. Object stores need nothing: an upload is complete when it returns.
- **Retried, and resumable.** Transient errors (I/O, network) are retried with exponential backoff.
  When a blob still fails, the others are still copied (so every version whose blobs all arrive is
  published, whatever the order), those copied are installed durably (see
  :attr:`BlobTransfer.completed`, so a retry skips them) and the first error is raised. An
  interruption (Ctrl-C) stops every copy at once.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import random
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import blake3

from modelyard.blobs import (
    CHUNK_SIZE,
    KERNEL_COPY_MIN,
    BlobLocation,
    BlobStore,
    check_digest,
    fsync_dir,
    fsync_file,
    kernel_copy_hashed,
    read_all,
    start_writeback,
    syncfs,
    write_all,
)
from modelyard.errors import BlobCorruptedError, BlobNotFoundError, IntegrityError, InvalidInputError, StoreError

__all__ = ["BlobJob", "BlobTransfer", "TransferProgress", "durable_dirs", "durable_files"]

_LARGE = KERNEL_COPY_MIN
"""Blobs from this size up get their own thread and a kernel copy; smaller ones are read whole."""
_BATCH_SYNC_MIN = 8
"""From this many new files on, one ``syncfs`` replaces their individual ``fsync`` calls."""
_PERMANENT_ERRNOS = frozenset({errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT, errno.ENOENT})


class TransferProgress(Protocol):
    """Receives the progress of a transfer (the CLI draws it as a Rich progress bar)."""

    def start(self, total_bytes: int, total_blobs: int) -> None:
        """Called once, before the first byte, with what is about to be copied."""
        ...

    def advance(self, nbytes: int) -> None:
        """Called as bytes are copied (negative when a failed attempt is retried from its start)."""
        ...


@dataclass(frozen=True, slots=True)
class BlobJob:
    """One blob to copy, and what it is, for error messages."""

    digest: str
    size: int
    label: str
    """What the blob holds, e.g. ``churn@2, file 'data/part-0.csv'``."""


class _Cancelled(Exception):
    """Another blob failed: this one stops early (not an error of its own)."""


class BlobTransfer:
    """Copies blobs from one blob store to another (see the module docstring).

    Args:
        src: The store the blobs are read from.
        dst: The store they are copied into.
        src_name: How messages name the source (``"the local blob store"``, ``"remote 'backup'"``).
        workers: Threads copying at once (default: 3 between local directories — one for the small
            blobs, two for large ones — and 32 otherwise).
        retries: Further attempts after a transient failure of one blob.
        backoff: Seconds before the first retry; doubled at each further one (with jitter).
        progress: Receives the bytes copied.

    Attributes:
        completed: Digests of the blobs this transfer installed so far (durable at the destination),
            also when :meth:`copy` raised.
    """

    def __init__(
        self,
        src: BlobStore,
        dst: BlobStore,
        *,
        src_name: str,
        workers: int | None = None,
        retries: int = 3,
        backoff: float = 0.2,
        progress: TransferProgress | None = None,
    ) -> None:
        """Prepare a transfer from ``src`` to ``dst``; nothing is read or written yet."""
        self.src = src
        self.dst = dst
        self.src_name = src_name
        self.local = src.is_local and dst.is_local
        self.workers = max(1, workers if workers is not None else (3 if self.local else 32))
        self.retries = max(0, retries)
        self.backoff = backoff
        self.progress = progress
        self.completed: set[str] = set()
        self._same_fs: bool | None = None
        self._tmp_dir: str | None = None
        self._names = itertools.count()
        self._prefix = f"xfer-{os.getpid()}-{secrets.token_hex(4)}"
        self._stop = threading.Event()  # interrupted: every copy stops at once

    # -- public ----------------------------------------------------------------------------------

    def copy(self, jobs: Sequence[BlobJob]) -> int:
        """Copy every blob of ``jobs`` (once per digest) and make them durable; return the bytes copied.

        Raises:
            BlobCorruptedError: a source blob does not match its digest (it was quarantined).
            IntegrityError: a source blob is missing.
            StoreError: a blob could not be copied after its retries (those copied before are kept).
        """
        unique = list({check_digest(job.digest): job for job in jobs}.values())
        if not unique:
            return 0
        if self.local:
            small = [j for j in unique if j.size < _LARGE]
            large = sorted((j for j in unique if j.size >= _LARGE), key=lambda j: -j.size)
            tasks = ([small] if small else []) + [[j] for j in large]
        else:
            tasks = [[j] for j in unique]
        staged: list[tuple[str, str]] = []  # (digest, temp file) waiting to be installed
        copied: list[str] = []  # digests stored through the destination's API, durable after its sync()
        failures: list[BaseException] = []
        lock = threading.Lock()
        self._stop.clear()

        def run(task: list[BlobJob]) -> None:
            for job in task:
                if self._stop.is_set():
                    return
                try:
                    tmp = self._with_retries(job)
                except _Cancelled:
                    return
                except Exception as exc:  # noqa: BLE001 - the first one is raised once all are done
                    # One blob failing does not stop the others: every version whose blobs all
                    # arrive is still published, whatever order the blobs were copied in.
                    with lock:
                        failures.append(exc)
                    continue
                with lock:
                    if tmp is not None:
                        staged.append((job.digest, tmp))
                    else:
                        copied.append(job.digest)

        error: BaseException | None = None
        pool = ThreadPoolExecutor(max_workers=min(self.workers, len(tasks)), thread_name_prefix="modelyard-xfer")
        try:
            futures: list[Future[None]] = [pool.submit(run, task) for task in tasks]
            wait(futures)
            for future in futures:
                future.result()  # run() keeps blob errors in failures; anything else is raised here
            error = failures[0] if failures else None
        except BaseException:
            # Interrupted (Ctrl-C): stop the copies, wait for them, drop what was staged.
            self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for _, tmp in staged:
                _remove_quietly(tmp)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        # Keep what was copied, even on error: a retried transfer then skips it.
        try:
            if self.local:
                self._install_local(staged)
            else:
                self.dst.sync()
                self.completed.update(copied)
        except BaseException:
            for _, tmp in staged:
                _remove_quietly(tmp)
            raise
        if error is not None:
            raise error
        return sum(job.size for job in unique)

    # -- one blob --------------------------------------------------------------------------------

    def _with_retries(self, job: BlobJob) -> str | None:
        """Copy one blob, retrying transient errors; return its staged temp file (local copies)."""
        attempt = 0
        while True:
            counter = _Counter(self.progress)
            try:
                if not self.local:
                    self._copy_generic(job, counter.advance)
                    return None
                if job.size < _LARGE:
                    return self._copy_small(job, counter.advance)
                return self._copy_large(job, counter.advance)
            except (BlobCorruptedError, IntegrityError, _Cancelled):
                raise
            except (OSError, StoreError) as exc:
                counter.rewind()
                if attempt >= self.retries or not _transient(exc):
                    if isinstance(exc, StoreError):
                        raise
                    raise StoreError(
                        f"cannot copy {job.label} (blob {job.digest}) from {self.src_name} to {self.dst.url}: "
                        f"{exc.strerror or exc}" + (f" (after {attempt + 1} attempts)" if attempt else "")
                    ) from exc
                delay = self.backoff * (2**attempt) * (0.5 + random.random())
                if self._stop.wait(min(delay, 10.0)):
                    raise _Cancelled from exc
                attempt += 1

    def _copy_generic(self, job: BlobJob, advance: Callable[[int], None]) -> None:
        """Copy through the stores' own API: the reader verifies, the writer hashes what it stores."""
        try:
            where = self.src.locate(job.digest) if self.src.is_local and not self.dst.is_local else None
            if where is not None and not where.packed:
                # Upload straight from the blob file (no spooling); the upload hashes what it sends.
                info = self.dst.put_file(where.path, sync=False)
                advance(info.size)
            else:
                with self.src.open(job.digest) as reader:
                    if reader.size != job.size:
                        raise self._corrupted(job, f"it holds {reader.size} bytes, not {job.size}")
                    info = self.dst.put_stream(_CountingReader(reader, advance), sync=False)
        except BlobCorruptedError as exc:
            raise self._corrupted(job, _detail(exc)) from None
        except BlobNotFoundError:
            raise self._missing(job) from None
        except InvalidInputError:
            # A local store's put_file cannot read the source blob: say which file lacks its content.
            if self.src.is_local and not self.src.exists(job.digest):
                raise self._missing(job) from None
            raise
        if info.digest != job.digest or info.size != job.size:
            raise self._corrupted(job, f"its BLAKE3 digest is {info.digest} ({info.size} bytes)")

    def _open_src(self, job: BlobJob) -> tuple[int, BlobLocation]:
        """Open the file holding a source blob: a loose blob, or the pack it is in (see the location)."""
        try:
            where = self.src.locate(job.digest)
            return os.open(where.path, os.O_RDONLY), where
        except (BlobNotFoundError, FileNotFoundError):
            raise self._missing(job) from None

    def _new_tmp(self) -> tuple[str, int]:
        """Create a temp file (read-only mode, as blobs are) under the destination's ``objects/tmp/``."""
        tmp_dir = self._tmp_dir or self._prepare_dst()
        path = os.path.join(tmp_dir, f"{self._prefix}-{next(self._names)}.tmp")
        return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)

    def _copy_small(self, job: BlobJob, advance: Callable[[int], None]) -> str:
        """Read a small blob whole, check it, write it to a temp file; return the temp file."""
        fd, where = self._open_src(job)
        try:
            if where.packed:  # a range of a pack: exactly its bytes (a size mismatch fails below)
                data = os.pread(fd, where.size, where.offset)
            else:
                data = read_all(fd, job.size)
        finally:
            os.close(fd)
        if len(data) != job.size:
            raise self._corrupted(job, f"it holds {len(data)} bytes, not {job.size}")
        digest = blake3.blake3(data).hexdigest()
        if digest != job.digest:
            raise self._corrupted(job, f"its BLAKE3 digest is {digest}")
        tmp, out = self._new_tmp()
        try:
            try:
                write_all(out, memoryview(data))
            finally:
                os.close(out)
        except BaseException:
            _remove_quietly(tmp)
            raise
        advance(job.size)
        return tmp

    def _copy_large(self, job: BlobJob, advance: Callable[[int], None]) -> str:
        """Copy a large blob to a temp file, hashing the source meanwhile; return the temp file."""
        src, where = self._open_src(job)
        tmp = ""
        try:
            # Packs hold only small blobs: a packed one here has another size than the job's.
            size = where.size if where.packed else os.fstat(src).st_size
            if size != job.size:
                raise self._corrupted(job, f"it holds {size} bytes, not {job.size}")
            tmp, out = self._new_tmp()
            try:
                if self._same_fs is None:
                    self._same_fs = os.fstat(src).st_dev == os.fstat(out).st_dev and hasattr(os, "copy_file_range")
                if self._same_fs:
                    digest = self._kernel_copy(job, src, out, advance)
                else:
                    digest = None
                if digest is None:
                    digest = self._stream_copy(src, out, advance)
            finally:
                os.close(out)
            if digest != job.digest:
                raise self._corrupted(job, f"its BLAKE3 digest is {digest}")
        except BaseException:
            if tmp:
                _remove_quietly(tmp)
            raise
        finally:
            os.close(src)
        return tmp

    def _kernel_copy(self, job: BlobJob, src: int, out: int, advance: Callable[[int], None]) -> str | None:
        """``copy_file_range`` while another thread hashes the source; ``None`` (nothing written) if unsupported."""

        def check() -> None:
            if self._stop.is_set():
                raise _Cancelled

        path = self.src.locate(job.digest).path
        copied = kernel_copy_hashed(src, path, out, job.size, advance=advance, check=check)
        if copied is None:
            self._same_fs = False
            return None
        digest, n = copied
        if n != job.size:
            raise self._corrupted(job, f"it ends after {n} of {job.size} bytes")
        return digest

    def _stream_copy(self, src: int, out: int, advance: Callable[[int], None]) -> str:
        """Copy in 1 MiB chunks through the hasher; return the digest of what was copied."""
        hasher = blake3.blake3()
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        offset = 0
        while True:
            if self._stop.is_set():
                raise _Cancelled
            n = os.readv(src, [view])
            if not n:
                return str(hasher.hexdigest())
            chunk = view[:n]
            hasher.update(chunk)
            write_all(out, chunk)
            start_writeback(out, offset, n)
            offset += n
            advance(n)

    def _prepare_dst(self) -> str:
        """Create the destination's ``objects/tmp/`` once (durably) and return it."""
        objects = os.path.join(self.dst.url, "objects")
        tmp_dir = os.path.join(objects, "tmp")
        created: list[str] = []
        probe = tmp_dir
        while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
            created.append(probe)
            probe = os.path.dirname(probe)
        try:
            os.makedirs(tmp_dir, exist_ok=True)
            for directory in {os.path.dirname(p) for p in created}:
                fsync_dir(directory)
        except OSError as exc:
            raise StoreError(f"cannot write to {self.dst.url}: {exc.strerror or exc}") from exc
        self._tmp_dir = tmp_dir
        return tmp_dir

    def _install_local(self, staged: Sequence[tuple[str, str]]) -> None:
        """Make the staged copies durable, rename them into place, and make the new names durable."""
        if not staged:
            return
        objects = os.path.join(self.dst.url, "objects")
        try:
            durable_files([tmp for _, tmp in staged], anchor=objects)
            shards: set[str] = set()
            for digest, tmp in staged:
                shard = os.path.join(objects, digest[:2])
                if shard not in shards:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(shard)
                    shards.add(shard)
                # A blob stored meanwhile by another writer holds the same verified bytes: replacing it
                # is harmless, and cheaper than checking first.
                os.replace(tmp, os.path.join(shard, digest[2:]))
                self.completed.add(digest)
            durable_dirs([*sorted(shards), objects], anchor=objects)
        except OSError as exc:
            raise StoreError(f"cannot write to {self.dst.url}: {exc.strerror or exc}") from exc

    # -- errors ----------------------------------------------------------------------------------

    def _corrupted(self, job: BlobJob, detail: str) -> BlobCorruptedError:
        where = ""
        with contextlib.suppress(Exception):  # best effort: the corruption is what must be reported
            moved = self.src.quarantine(job.digest)
            if moved is not None:
                where = f"; the bad copy was moved to {moved}"
        return BlobCorruptedError(
            f"{job.label} is corrupted in {self.src_name}: blob {job.digest} does not match its digest "
            f"({detail}), so it was not copied{where}. Restore it from a good copy (push or add the original "
            "file again) and retry."
        )

    def _missing(self, job: BlobJob) -> IntegrityError:
        return IntegrityError(
            f"{job.label}: blob {job.digest} is missing from {self.src_name}; restore it (push or add the "
            "original file again) and retry."
        )


class _Counter:
    """Counts the bytes one attempt reported, so that a retry can take them back from the progress."""

    __slots__ = ("count", "progress")

    def __init__(self, progress: TransferProgress | None) -> None:
        self.progress = progress
        self.count = 0

    def advance(self, nbytes: int) -> None:
        self.count += nbytes
        if self.progress is not None:
            self.progress.advance(nbytes)

    def rewind(self) -> None:
        if self.count and self.progress is not None:
            self.progress.advance(-self.count)
        self.count = 0


class _CountingReader:
    """A binary reader that reports each chunk it returns to a progress callback."""

    def __init__(self, raw: Any, advance: Callable[[int], None]) -> None:
        self._raw = raw
        self._advance = advance

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self._raw.read(size)
        self._advance(len(data))
        return data

    def readinto(self, buffer: Any, /) -> int:
        n: int = self._raw.readinto(buffer)
        self._advance(n or 0)
        return n


def _detail(exc: BaseException) -> str:
    """The parenthesised detail of a blob store corruption message, or the whole message."""
    text = str(exc)
    start, end = text.find("("), text.rfind(")")
    return text[start + 1 : end] if 0 <= start < end else text


def _transient(exc: BaseException) -> bool:
    """Whether retrying may help: not for a full disk, missing permissions or a read-only store."""
    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, OSError) and candidate.errno in _PERMANENT_ERRNOS:
            return False
    return True


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


# -- batched durability ------------------------------------------------------------------------


def durable_files(paths: Sequence[str], *, anchor: str) -> None:
    """Make the content of the files ``paths`` durable (one ``syncfs`` of ``anchor``'s filesystem for a batch)."""
    if len(paths) >= _BATCH_SYNC_MIN and syncfs(anchor):
        return
    for path in paths:
        fsync_file(path)


def durable_dirs(directories: Sequence[str], *, anchor: str) -> None:
    """Make the entries of ``directories`` durable (one ``syncfs`` for a batch, else one fsync each)."""
    if len(directories) >= _BATCH_SYNC_MIN and syncfs(anchor):
        return
    for directory in directories:
        fsync_dir(directory)
