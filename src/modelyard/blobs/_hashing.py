"""Hashing: BLAKE3 digests of bytes, files and streams, computed while copying."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol, cast

import blake3

from modelyard.errors import (
    InvalidInputError,
)

if TYPE_CHECKING:
    from _typeshed import StrPath


__all__ = [
    "BlobInfo",
    "CHUNK_SIZE",
    "DIGEST_RE",
    "ReadableBinary",
    "check_digest",
    "copy_hashed",
    "hash_bytes",
    "hash_file",
    "read_all",
    "write_all",
]

CHUNK_SIZE = 1 << 20
"""Bytes read, hashed and written at a time: large files are streamed, never held in memory."""

_PARALLEL_HASH_MIN = 16 << 20
"""Files from this size up are hashed memory-mapped, on several threads."""

DIGEST_RE = re.compile(r"[0-9a-f]{64}")


class BlobInfo(NamedTuple):
    """The identity of a blob: its BLAKE3 digest and its size in bytes."""

    digest: str
    size: int


class ReadableBinary(Protocol):
    """A binary stream :meth:`BlobStore.put_stream` can read: anything with ``read(size) -> bytes``."""

    def read(self, size: int, /) -> bytes:
        """Return up to ``size`` bytes; an empty result means the end of the stream."""
        ...


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a blob digest (exactly 64 lowercase hex characters).

    Every path or key is built from a checked digest, so a digest can never reach outside the store.

    Raises:
        InvalidInputError: ``digest`` is not 64 lowercase hexadecimal characters.
    """
    if isinstance(digest, str) and DIGEST_RE.fullmatch(digest):
        return digest
    shown = repr(digest) if len(repr(digest)) <= 80 else repr(digest)[:77] + "..."
    raise InvalidInputError(
        f"invalid blob digest {shown}: expected 64 lowercase hexadecimal characters (a BLAKE3 digest)"
    )


def hash_bytes(data: bytes | bytearray | memoryview) -> BlobInfo:
    """Return the digest and size ``data`` would have as a blob."""
    view = memoryview(data)
    return BlobInfo(blake3.blake3(view).hexdigest(), view.nbytes)


def hash_file(path: StrPath) -> BlobInfo:
    """Return the digest and size the file at ``path`` would have as a blob.

    Small files are read in chunks; large ones are memory-mapped and hashed by BLAKE3 on every core
    (its tree mode gives the same digest), without holding the GIL.

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        if size < _PARALLEL_HASH_MIN:
            return copy_hashed(src, None, size)
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        hasher.update_mmap(path)
        if os.fstat(src.fileno()).st_size != size:
            raise OSError(f"{os.fspath(path)} changed size while it was hashed")
        return BlobInfo(hasher.hexdigest(), size)


def copy_hashed(
    src: ReadableBinary, write: Callable[[memoryview], object] | None, size_hint: int | None = None
) -> BlobInfo:
    """Stream ``src`` to its end through the hasher, passing each chunk to ``write`` if given.

    ``size_hint`` (the expected size, if known) keeps small copies from allocating a whole chunk.
    """
    hasher = blake3.blake3()
    size = 0
    buffer = bytearray(CHUNK_SIZE if size_hint is None else max(1, min(CHUNK_SIZE, size_hint + 1)))
    view = memoryview(buffer)
    readinto = getattr(src, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(view)
            if n is None:
                raise InvalidInputError("cannot store a non-blocking stream that has no data ready")
            chunk = view[:n]
        else:
            data = src.read(CHUNK_SIZE)
            if isinstance(cast(object, data), str):
                raise InvalidInputError("cannot store a text stream: open the file in binary mode")
            n = len(data)
            chunk = memoryview(data)
        if not n:
            return BlobInfo(hasher.hexdigest(), size)
        hasher.update(chunk)
        if write is not None:
            write(chunk)
        size += n


def read_all(fd: int, size: int) -> bytes:
    """Read a file descriptor to its end: one read for a file of ``size`` bytes that did not grow."""
    data = os.read(fd, size + 1)
    parts = [data]
    while chunk := os.read(fd, max(CHUNK_SIZE, size)):  # grown, a short read, or the end
        parts.append(chunk)
    return b"".join(parts) if len(parts) > 1 else data


def write_all(fd: int, view: memoryview) -> None:
    """Write all of ``view`` to a file descriptor (a write may be short)."""
    while view:
        view = view[os.write(fd, view) :]
