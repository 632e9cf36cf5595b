"""The content-addressed blob store.

Every artifact, dataset file, model file and pipeline output is stored once, as its raw bytes, under
its BLAKE3 digest (64 lowercase hex characters)::

    <root>/objects/ab/cdef0123...     first two hex characters as the directory, the other 62 as the name
    <root>/objects/tmp/...            writes in flight (never mistaken for a blob)
    <root>/objects/packs/pack-*.pack  many small blobs back to back, and each pack's *.idx (see _packs)

Raw bytes (no header, no compression) keep blobs inspectable with ordinary tools and let a local store
materialise them as hardlinks. Storing the same content twice stores it once.

The root is a URL handled through fsspec (``s3://``, ``gs://``, ``memory://``, ...) or a local path
(plain or ``file://``). Local stores use plain ``os`` calls so that writes can be made durable: a blob is
written to a temp file in ``objects/tmp/`` while it is hashed, fsynced, renamed into place, and its
directory is fsynced. A name under ``objects/`` therefore only ever holds complete, durable bytes, which is
what lets a later write of the same content trust it and skip the copy.

Durability may be batched: ``put_*(..., sync=False)`` leaves the new blob in ``objects/tmp/`` and
:meth:`BlobStore.sync` fsyncs every pending blob, renames them into place and fsyncs their directories
once. A pending blob is readable through the same :class:`BlobStore` object but nowhere else, so a
caller **must call** :meth:`BlobStore.sync` **before it commits any row or manifest that references the
blob**; forgetting it shows up at once as a missing blob, never as a silent durability gap.

Reads are verified: :meth:`BlobStore.open` hashes while reading and raises
:class:`~modelyard.errors.BlobCorruptedError` before handing out the last bytes of a blob whose content
does not match its digest, so corrupted bytes are never returned as a complete read.

``fsspec`` is imported only when a remote store is created: ``import modelyard.blobs`` stays light.
"""

from __future__ import annotations

from modelyard.blobs._copy import KERNEL_COPY_MIN, kernel_copy_hashed, start_writeback
from modelyard.blobs._files import fsync_dir, fsync_file, syncfs
from modelyard.blobs._hashing import (
    CHUNK_SIZE,
    BlobInfo,
    ReadableBinary,
    check_digest,
    hash_bytes,
    hash_file,
    read_all,
    write_all,
)
from modelyard.blobs._reader import BlobReader
from modelyard.blobs._store import BlobLocation, BlobStore

__all__ = [
    "BlobInfo",
    "BlobLocation",
    "BlobReader",
    "BlobStore",
    "CHUNK_SIZE",
    "KERNEL_COPY_MIN",
    "ReadableBinary",
    "check_digest",
    "fsync_dir",
    "fsync_file",
    "hash_bytes",
    "hash_file",
    "kernel_copy_hashed",
    "read_all",
    "start_writeback",
    "syncfs",
    "write_all",
]
