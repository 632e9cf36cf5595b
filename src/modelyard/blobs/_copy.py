"""Kernel copies hashed in parallel, and early write-back: the fast path for large local files.

A large file is copied by the kernel (``os.copy_file_range``: no trip through Python, reflinks where
the filesystem has them) while a second thread hashes the source with BLAKE3 (``update_mmap`` releases
the GIL), and the write-back of each copied range to disk is started at once (``sync_file_range`` on
Linux), so the final ``fsync`` finds little left to write. Used by the blob store for ``put_file`` and by
the dataset transfers (push, pull) between local directories.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import blake3

__all__ = ["KERNEL_COPY_MIN", "KERNEL_COPY_STEP", "kernel_copy_hashed", "start_writeback"]

KERNEL_COPY_MIN = 4 << 20
"""Files from this size up are worth a kernel copy and a hashing thread; smaller ones are read whole."""
KERNEL_COPY_STEP = 64 << 20
"""Bytes per ``copy_file_range`` call: progress is reported (and write-back started) this often."""

_UNSUPPORTED = frozenset({errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF})


def _libc_function(name: str) -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None


_SYNC_FILE_RANGE = _libc_function("sync_file_range")
if _SYNC_FILE_RANGE is not None:
    _SYNC_FILE_RANGE.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    _SYNC_FILE_RANGE.restype = ctypes.c_int
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, nbytes: int) -> None:
    """Start writing a range of a file to disk now, without waiting (Linux; elsewhere nothing).

    The final sync then finds little left to write: writing back overlaps with copying.
    Durability still comes from that sync, never from this hint.
    """
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)


def kernel_copy_hashed(
    src: int,
    src_path: str,
    out: int,
    size: int,
    *,
    advance: Callable[[int], object] | None = None,
    check: Callable[[], object] | None = None,
) -> tuple[str, int] | None:
    """Copy ``size`` bytes of ``src`` to ``out`` in the kernel while another thread hashes ``src_path``.

    Args:
        src: The source file, open for reading at any offset (offsets are explicit).
        src_path: The same file's path, hashed by memory-mapping it.
        out: The destination file, open for writing and empty.
        size: The bytes to copy (the source's size when it was opened).
        advance: Called with each number of bytes copied.
        check: Called between steps; it may raise to stop the copy (a cancelled transfer).

    Returns:
        The BLAKE3 digest of the source as read by the hashing thread and the bytes copied, or
        ``None`` where the kernel cannot copy between these files (nothing was written: copy otherwise).
        The caller checks the source did not change meanwhile (its size and mtime), which makes the
        digest that of the copied bytes.

    Raises:
        OSError: reading, hashing or writing failed.
    """
    if not hasattr(os, "copy_file_range"):
        return None
    result: list[str] = []
    failure: list[BaseException] = []

    def hash_source() -> None:
        try:
            hasher = blake3.blake3()
            hasher.update_mmap(src_path)
            result.append(hasher.hexdigest())
        except BaseException as exc:  # noqa: BLE001 - reported by the copying thread
            failure.append(exc)

    hashing = threading.Thread(target=hash_source, name="modelyard-hash", daemon=True)
    copied = 0
    try:
        while copied < size:
            if check is not None:
                check()
            step = min(KERNEL_COPY_STEP, size - copied)
            try:
                n = os.copy_file_range(src, out, step, copied, copied)
            except OSError as exc:
                if copied == 0 and exc.errno in _UNSUPPORTED:
                    return None
                raise
            if n == 0:
                break  # the source shrank: the caller's size or digest check reports it
            if copied == 0:
                hashing.start()
            start_writeback(out, copied, n)
            copied += n
            if advance is not None:
                advance(n)
    finally:
        if hashing.ident is not None:
            hashing.join()
    if failure:
        raise failure[0]
    if not result:  # nothing was copied (the source is empty now): the digest of no bytes
        return blake3.blake3().hexdigest(), 0
    return result[0], copied
