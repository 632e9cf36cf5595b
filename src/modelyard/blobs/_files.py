"""Local-filesystem primitives of the blob store: durable writes (fsync, syncfs), quiet removal."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Any

__all__ = [
    "SYNCFS_MIN_FILES",
    "fsync_dir",
    "fsync_file",
    "has_size",
    "remove_file",
    "remove_file_quietly",
    "same_file",
    "syncfs",
    "touch",
]


def same_file(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime_ns, before.st_ino) == (after.st_size, after.st_mtime_ns, after.st_ino)


def has_size(path: str, size: int) -> bool:
    try:
        return os.stat(path).st_size == size
    except FileNotFoundError:
        return False


def touch(path: str) -> None:
    with contextlib.suppress(OSError):  # another user's blob: its mtime only matters to garbage collection
        os.utime(path)


def remove_file(path: str) -> None:
    if os.name == "nt":
        with contextlib.suppress(OSError):
            os.chmod(path, 0o644)  # Windows refuses to delete read-only files
    os.remove(path)


def remove_file_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        remove_file(path)


def fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """Make the entries of directory ``path`` durable (POSIX; Windows cannot open directories)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # filesystems that cannot sync directories
            raise
    finally:
        os.close(fd)


SYNCFS_MIN_FILES = 32


def _libc_syncfs() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _libc_syncfs()


def syncfs(path: str) -> bool:
    """Flush every dirty page and inode of the filesystem holding ``path``; ``False`` where impossible.

    One ``syncfs`` commits the journal once for many files, instead of once per ``fsync``. Since
    Linux 5.8 it reports write-back errors, so a failure here is a real error (``OSError``).
    """
    if _SYNCFS is None:
        return False
    import ctypes

    fd = os.open(path, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            code = ctypes.get_errno()
            if code in (errno.ENOSYS, errno.EINVAL):
                return False
            raise OSError(code, os.strerror(code), path)
    finally:
        os.close(fd)
    return True
