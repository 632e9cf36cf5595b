"""Verified reading: a blob's bytes are hashed as they are read and checked at the end."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import blake3

from modelyard.errors import (
    BlobCorruptedError,
    BlobNotFoundError,
    StoreError,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

from modelyard.blobs._hashing import CHUNK_SIZE

__all__ = [
    "BlobReader",
    "changed_error",
    "corrupted_error",
    "not_found_error",
]


def corrupted_error(digest: str, detail: str) -> BlobCorruptedError:
    return BlobCorruptedError(
        f"blob {digest} is corrupted: the stored bytes do not match their digest ({detail}). "
        "Store the original file again after deleting the corrupted blob, or restore it from a remote copy."
    )


def changed_error(path: str | None) -> StoreError:
    return StoreError(f"{path} changed while it was being stored: store it again once it is complete")


def not_found_error(digest: str) -> BlobNotFoundError:
    return BlobNotFoundError(f"no blob with digest {digest} in the blob store")


class _VerifyingStream(io.RawIOBase):
    """A raw stream over a blob's stored bytes that hashes them and checks them at the last byte."""

    def __init__(self, raw: Any, digest: str, size: int) -> None:
        super().__init__()
        self._raw = raw
        self._digest = digest
        self._size = size
        self._count = 0
        self._hasher = blake3.blake3()
        self._verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        # Never read past the size seen at open: the hash covers exactly those bytes.
        want = min(view.nbytes, self._size - self._count)
        n = (self._raw.readinto(view[:want]) or 0) if want else 0
        if want and not n:
            raise self._truncated()
        self._consume(view[:n])
        return int(n)

    def readall(self) -> bytes:
        # Reading the rest in one call avoids a copy through a buffer: one large read, one bytes object.
        parts = []
        while self._count < self._size:
            data = self._raw.read(self._size - self._count)
            if not data:
                raise self._truncated()
            self._consume(memoryview(data))
            parts.append(data)
        self._consume(memoryview(b""))  # an empty blob is checked too
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _consume(self, chunk: memoryview) -> None:
        self._hasher.update(chunk)
        self._count += chunk.nbytes
        if self._count == self._size and not self._verified:
            # Checked before the last chunk is handed out, so a reader that stops after exactly
            # `size` bytes still never gets a complete read of corrupted bytes.
            actual = self._hasher.hexdigest()
            if actual != self._digest:
                raise corrupted_error(self._digest, f"their BLAKE3 digest is {actual}")
            self._verified = True

    def _truncated(self) -> BlobCorruptedError:
        return corrupted_error(self._digest, f"it ends after {self._count} of {self._size} bytes")

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


class BlobReader(io.BufferedReader):
    """A buffered binary reader over one blob that verifies the blob's digest as it is read.

    Corruption (bytes that hash to another digest, or a size that changed) raises
    :class:`~modelyard.errors.BlobCorruptedError` no later than the read that would return the
    blob's last bytes. A consumer that streams a blob elsewhere must therefore read it to the end
    before trusting what it has written. The reader is not seekable: use
    :meth:`BlobStore.get_file` for random access.

    Attributes:
        digest: The blob's digest.
        size: The blob's size in bytes.
    """

    def __init__(self, raw: Any, digest: str, size: int) -> None:
        """Wrap ``raw`` (an open binary file over the stored bytes, of ``size`` bytes)."""
        super().__init__(_VerifyingStream(raw, digest, size), buffer_size=CHUNK_SIZE)
        self.digest = digest
        self.size = size
