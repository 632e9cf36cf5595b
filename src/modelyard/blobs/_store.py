"""The blob store: atomic, deduplicated, durable writes over a local directory or fsspec."""

from __future__ import annotations

import contextlib
import errno
import io
import itertools
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from modelyard.errors import (
    BlobCorruptedError,
    InvalidInputError,
    StoreError,
)

if TYPE_CHECKING:
    from _typeshed import StrPath

from modelyard.blobs._copy import KERNEL_COPY_MIN
from modelyard.blobs._files import (
    SYNCFS_MIN_FILES,
    fsync_dir,
    fsync_file,
    remove_file,
    remove_file_quietly,
    same_file,
    syncfs,
    touch,
)
from modelyard.blobs._hashing import (
    CHUNK_SIZE,
    BlobInfo,
    ReadableBinary,
    check_digest,
    copy_hashed,
    hash_bytes,
    hash_file,
)
from modelyard.blobs._local import BlobLocation, LocalWrites
from modelyard.blobs._packs import PACK_MIN_FILES, PackRange, Packs, PackWriter
from modelyard.blobs._reader import BlobReader, changed_error, corrupted_error, not_found_error
from modelyard.blobs._remote import REST_RE, SHARD_RE, RemoteOps

__all__ = [
    "BlobLocation",
    "BlobStore",
]

PUT_WORKERS = 8
"""Threads of :meth:`BlobStore.put_files` by default."""

# Object stores whose uploads appear all at once when complete (a multipart upload is committed at the
# end): a blob can be written straight to its final key. Elsewhere fsspec writes may be visible while in
# progress, so the store uploads to a temp key and moves it into place.
_ATOMIC_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})

# Where each object store's `pip install` extra lives, for the error raised when it is missing.
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}


class BlobStore(LocalWrites, RemoteOps):
    """Content-addressed storage of blobs under one root, local or remote (see the module docstring).

    A store may be shared by threads; several processes may write the same local or remote store.
    """

    def __init__(
        self,
        url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        atomic_put: bool | None = None,
    ) -> None:
        """Open the blob store at ``url``; nothing is created before the first write.

        Args:
            url: A local path, ``file://`` URL or fsspec URL (``s3://bucket/prefix``, ``gs://...``,
                ``memory://...``). Object stores need their extra: ``pip install 'modelyard[s3]'``.
            storage_options: Options for the fsspec filesystem (endpoint, credentials...).
            atomic_put: Whether uploads to the remote filesystem appear all at once when complete, so
                that blobs can be written straight to their final key. By default true for object
                stores (S3, GCS, Azure) and false elsewhere, where uploads go to a temp key first.

        Raises:
            InvalidInputError: ``url`` is empty or its scheme is unknown.
            StoreError: the filesystem for ``url`` needs a package that is not installed.
        """
        if not url:
            raise InvalidInputError("the blob store URL is empty: give a directory or a URL such as s3://bucket/prefix")
        self._lock = threading.Lock()
        # Local stores: blobs written with sync=False, by digest, waiting in objects/tmp for sync().
        self._pending: dict[str, str] = {}
        self._prefix = f"put-{os.getpid()}-{secrets.token_hex(4)}"
        self._names = itertools.count()
        self._durable_shards: set[str] = set()
        self._prepared = False
        self._fs: Any = None
        self._packs: Packs | None = None  # a local store's packs of small blobs (see _packs)
        self._pending_packs: list[PackWriter] = []  # written with sync=False, published by sync()
        if "://" not in url or url.startswith("file://"):
            path = url[len("file://") :] if url.startswith("file://") else url
            self._root = os.path.abspath(os.path.expanduser(path))
            self._url = self._root
            self._objects = os.path.join(self._root, "objects")
            self._tmp = os.path.join(self._objects, "tmp")
            self._atomic_put = True
            self._packs = Packs(self._objects)
            return
        self._url = url.rstrip("/")
        protocol = url.split("://", 1)[0].lower()
        try:
            import fsspec  # type: ignore[import-untyped,unused-ignore]

            self._fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        except ImportError as exc:
            extra = _EXTRAS.get(protocol)
            hint = f"pip install 'modelyard[{extra}]'" if extra else f"install the fsspec filesystem for {protocol}://"
            raise StoreError(f"cannot open the blob store at {url}: {exc}. To use it, {hint}.") from exc
        except ValueError as exc:
            raise InvalidInputError(f"cannot open the blob store at {url}: {exc}") from exc
        self._root = str(root).rstrip("/")
        self._objects = f"{self._root}/objects"
        self._tmp = f"{self._objects}/tmp"
        self._atomic_put = protocol in _ATOMIC_PUT_PROTOCOLS if atomic_put is None else atomic_put

    @property
    def url(self) -> str:
        """The store's root: an absolute path for a local store, else the URL it was opened with."""
        return self._url

    @property
    def is_local(self) -> bool:
        """Whether the store is a local directory (fsync'd writes, hardlinks possible)."""
        return self._fs is None

    def __repr__(self) -> str:
        """Return ``BlobStore('<url>')``."""
        return f"BlobStore({self._url!r})"

    # -- writing ---------------------------------------------------------------------------------

    def put_file(self, path: StrPath, *, sync: bool = True) -> BlobInfo:
        """Store the file at ``path``, streaming it in chunks (it may be larger than memory).

        Args:
            path: The file to store.
            sync: Make the blob durable before returning. With ``False`` the fsync is deferred to
                :meth:`sync`, which must be called before committing anything that references the blob.

        Returns:
            The blob's digest and size.

        Raises:
            InvalidInputError: ``path`` cannot be read.
            StoreError: the store cannot be written.
        """
        try:
            src = io.FileIO(path, "rb")
        except OSError as exc:
            raise InvalidInputError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
        with src:
            before = os.fstat(src.fileno())
            if self.is_local:
                if before.st_size >= KERNEL_COPY_MIN:
                    info = self._put_local_large(src.fileno(), os.fspath(path), before, sync)
                    if info is not None:
                        return info
                return self._put_local(src, sync, before.st_size)
            info = copy_hashed(src, None, before.st_size)
            # An object store writes the final key directly from the file, so a change between hashing
            # and uploading would store other bytes under this digest: check it did not change.
            self._put_remote(info, path=os.fspath(path), guard=lambda: same_file(before, os.stat(path)))
            return info

    def put_bytes(self, data: bytes | bytearray | memoryview, *, sync: bool = True) -> BlobInfo:
        """Store ``data``; see :meth:`put_file` for ``sync``.

        Raises:
            StoreError: the store cannot be written.
        """
        if self.is_local:
            return self._put_local(io.BytesIO(data), sync, memoryview(data).nbytes)
        info = hash_bytes(data)
        self._put_remote(info, data=bytes(data))
        return info

    def put_stream(self, fileobj: ReadableBinary, *, sync: bool = True) -> BlobInfo:
        """Store everything left in the binary stream ``fileobj``, read in chunks; see :meth:`put_file`.

        For a remote store the stream is first spooled to a local temp file (hashing it), so that
        content already stored is never uploaded again.

        Raises:
            InvalidInputError: ``fileobj`` is a text stream.
            StoreError: the store cannot be written.
        """
        if self.is_local:
            return self._put_local(fileobj, sync)
        with tempfile.TemporaryDirectory(prefix="modelyard-blob-") as spool_dir:
            spool = os.path.join(spool_dir, "blob")
            with open(spool, "wb") as out:
                info = copy_hashed(fileobj, out.write)
            self._put_remote(info, path=spool)
        return info

    def put_files(
        self,
        paths: Sequence[StrPath],
        *,
        sync: bool = True,
        progress: Callable[[int], object] | None = None,
        workers: int = PUT_WORKERS,
    ) -> list[BlobInfo]:
        """Store many files, as :meth:`put_file` would one by one, with less work per file.

        In a local store each small file is read whole and hashed; a batch of at least
        :data:`~modelyard.blobs._packs.PACK_MIN_FILES` files is written as one pack file (one
        sequential write and one fsync instead of a file created per blob: see ``_packs``), a smaller
        one as temp files made durable together by :meth:`sync`. Large files take :meth:`put_file`'s
        kernel copy.

        Args:
            paths: The files to store.
            sync: Make the blobs durable before returning (else see :meth:`put_file`).
            progress: Called with each file's size once it is stored (from worker threads).
            workers: Threads reading, hashing and writing at once (a local store; reads of files not
                in the page cache overlap, which a disk serves much faster than one at a time).

        Returns:
            Each file's digest and size, in the order of ``paths``.

        Raises:
            InvalidInputError: a file cannot be read.
            StoreError: the store cannot be written.
        """
        writer: PackWriter | None = None

        def put(path: StrPath) -> BlobInfo:
            info = self._put_small(os.fspath(path), writer) if self.is_local else self.put_file(path, sync=False)
            if progress is not None:
                progress(info.size)
            return info

        if self._packs is not None:
            self._prepare_local()
            if len(paths) >= PACK_MIN_FILES:
                self._packs.refresh()  # once: each file is then looked up in memory
                try:
                    writer = self._packs.new_writer()
                except OSError as exc:
                    raise self._write_error(exc) from exc
        try:
            if workers > 1 and len(paths) >= 2 * workers:
                step = max(16, min(256, len(paths) // (4 * workers)))  # few tasks, still balanced
                chunks = [paths[i : i + step] for i in range(0, len(paths), step)]
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelyard-put") as pool:
                    infos = [info for done in pool.map(lambda chunk: [put(p) for p in chunk], chunks) for info in done]
            else:
                infos = [put(path) for path in paths]
        except BaseException:
            if writer is not None and self._packs is not None:
                self._packs.discard(writer)
            raise
        if writer is not None:
            with self._lock:
                self._pending_packs.append(writer)
        if sync:
            self.sync()
        return infos

    def sync(self) -> None:
        """Make every blob stored with ``sync=False`` durable and visible to other store objects.

        The pending files are fsynced, renamed into place, and each directory involved is fsynced once.
        Remote stores have nothing to do: their uploads are complete when ``put_*`` returns.

        Raises:
            StoreError: the store cannot be written.
        """
        if self._packs is None:
            return
        with self._lock:
            writers, self._pending_packs = self._pending_packs, []
        for writer in writers:
            try:
                self._packs.publish(writer)
            except OSError as exc:
                raise self._write_error(exc) from exc
        with self._lock:
            if not self._pending:
                return
            try:
                # Many files (a directory of small files): one syncfs(2) of the filesystem costs
                # far less than an fsync per file and per directory, with the same guarantee.
                batched = len(self._pending) >= SYNCFS_MIN_FILES and syncfs(self._root)
                if not batched:
                    for tmp in self._pending.values():
                        fsync_file(tmp)
                shards: set[str] = set()
                for digest, tmp in list(self._pending.items()):
                    final = self._local_path(digest)
                    shard = os.path.dirname(final)
                    if shard not in shards:
                        with contextlib.suppress(FileExistsError):
                            os.mkdir(shard)
                        shards.add(shard)
                    if batched:
                        # Durable already: renaming over a copy another writer stored meanwhile (the
                        # same verified bytes) is harmless, and cheaper than checking for it per file.
                        os.replace(tmp, final)
                    else:
                        self._install(tmp, final, os.stat(tmp).st_size, make_dir=False)
                    del self._pending[digest]
                if batched and syncfs(self._root):
                    return
                for shard in shards:
                    fsync_dir(shard)
                self._sync_objects_dir(shards)
            except OSError as exc:
                raise self._write_error(exc) from exc

    # -- reading ---------------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Return whether the store holds the blob ``digest``.

        Raises:
            InvalidInputError: ``digest`` is not a valid digest.
        """
        check_digest(digest)
        if self._packs is not None:
            return (
                os.path.exists(self._local_path(digest))
                or digest in self._pending
                or self._packs.find(digest) is not None
            )
        return bool(self._fs.exists(self._remote_key(digest)))

    def exists_many(self, digests: Iterable[str]) -> set[str]:
        """Return the subset of ``digests`` the store holds, listing remote directories when cheaper.

        Raises:
            InvalidInputError: one of ``digests`` is not a valid digest.
        """
        wanted = {check_digest(digest) for digest in digests}
        if self._packs is not None:
            # The packs' index is in memory (one refresh): only what it lacks costs a stat.
            found = set(self._packs.find_many(wanted)) if wanted else set()
            rest = wanted - found
            return found | {d for d in rest if d in self._pending or os.path.exists(self._local_path(d))}
        by_shard: dict[str, set[str]] = {}
        for digest in wanted:
            by_shard.setdefault(digest[:2], set()).add(digest)
        present: set[str] = set()
        for shard, group in by_shard.items():
            if len(group) <= 4:
                present.update(d for d in group if self._fs.exists(self._remote_key(d)))
                continue
            shard_dir = f"{self._objects}/{shard}"
            self._fs.invalidate_cache(shard_dir)
            try:
                names = {str(p).rsplit("/", 1)[-1] for p in self._fs.ls(shard_dir, detail=False)}
            except FileNotFoundError:
                continue
            present.update(d for d in group if d[2:] in names)
        return present

    def size(self, digest: str) -> int:
        """Return the size in bytes of the blob ``digest``.

        Raises:
            InvalidInputError: ``digest`` is not a valid digest.
            BlobNotFoundError: the store has no such blob.
        """
        check_digest(digest)
        if self.is_local:
            raw, size = self._open_local(digest)
            raw.close()
            return size
        try:
            return int(self._fs.size(self._remote_key(digest)))
        except FileNotFoundError as exc:
            raise not_found_error(digest) from exc

    def open(self, digest: str) -> BlobReader:
        """Open the blob ``digest`` for reading, verifying it against its digest as it is read.

        Returns:
            A binary reader; it raises :class:`~modelyard.errors.BlobCorruptedError` no later than
            the read that reaches the blob's end if the bytes do not match the digest.

        Raises:
            InvalidInputError: ``digest`` is not a valid digest.
            BlobNotFoundError: the store has no such blob.
        """
        check_digest(digest)
        if self.is_local:
            raw, size = self._open_local(digest)
            return BlobReader(raw, digest, size)
        key = self._remote_key(digest)
        try:
            raw = self._fs.open(key, "rb")
        except FileNotFoundError as exc:
            raise not_found_error(digest) from exc
        known = getattr(raw, "size", None)
        return BlobReader(raw, digest, int(known if known is not None else self._fs.size(key)))

    def read_bytes(self, digest: str) -> bytes:
        """Return the content of the blob ``digest``, verified against its digest.

        Raises:
            InvalidInputError: ``digest`` is not a valid digest.
            BlobNotFoundError: the store has no such blob.
            BlobCorruptedError: the stored bytes do not match the digest.
        """
        with self.open(digest) as reader:
            return reader.read()

    def verify(self, digest: str) -> None:
        """Read the blob ``digest`` to its end and check it matches its digest.

        Raises:
            InvalidInputError: ``digest`` is not a valid digest.
            BlobNotFoundError: the store has no such blob.
            BlobCorruptedError: the stored bytes do not match the digest.
        """
        with self.open(digest) as reader:
            while reader.read(CHUNK_SIZE):
                pass

    def get_file(self, digest: str, dst: StrPath, *, link: bool = False) -> None:
        """Materialise the blob ``digest`` at ``dst``, verified, atomically replacing any file there.

        The blob is written to a temp file beside ``dst`` and renamed over it, so ``dst`` never holds
        partial or corrupted bytes. Missing parent directories are created. ``dst`` is not fsynced: it is
        a copy that can be materialised again.

        Args:
            digest: The blob to materialise.
            dst: The file to create or replace.
            link: For a local store, hardlink ``dst`` to the blob instead of copying it (after verifying
                the blob), falling back to a copy where a link is impossible (another device). A linked
                file shares the blob's read-only inode: replace it, never modify it in place. Remote
                stores always copy.

        Raises:
            InvalidInputError: ``digest`` is not a valid digest.
            BlobNotFoundError: the store has no such blob.
            BlobCorruptedError: the stored bytes do not match the digest; ``dst`` is left untouched.
        """
        check_digest(digest)
        dst_path = os.path.abspath(os.fspath(dst))
        parent, name = os.path.split(dst_path)
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".{name}.{secrets.token_hex(8)}.part")
        try:
            if not (link and self.is_local and self._link_verified(digest, tmp)):
                with self.open(digest) as reader, open(tmp, "xb") as out:
                    copy_hashed(reader, out.write, reader.size)
            os.replace(tmp, dst_path)
            # Renaming a hardlink over another link to the same blob does nothing and leaves it behind.
            remove_file_quietly(tmp)
        except BaseException:
            remove_file_quietly(tmp)
            raise

    def put_link(self, path: StrPath, *, sync: bool = True, known: BlobInfo | None = None) -> tuple[BlobInfo, bool]:
        """Store the file at ``path`` by hardlinking it into a local store instead of copying it.

        This is DVC's protected hardlink mode, for data too large to copy: the file and the blob share
        one inode, which is made read-only so the stored bytes cannot be edited through the file (replace
        the file instead). Where the blob is already stored, ``path`` is replaced by a hardlink to it
        (after verifying the blob). Where no link is possible (a remote store, another filesystem, a file
        whose mode cannot be changed) the file is copied, and the result says so.

        Args:
            path: The file to store.
            sync: See :meth:`put_file`.
            known: The file's digest and size when the caller itself has just written and hashed
                these very bytes (``save_model`` hashes while writing): the file is not read a
                second time. Its size is checked; a wrong digest would file the bytes under another
                name, so never pass one computed from anything else.

        Returns:
            The blob's digest and size, and whether ``path`` is now a hardlink to the blob.

        Raises:
            InvalidInputError: ``path`` cannot be read.
            StoreError: the store cannot be written, or the file changed while it was stored.
        """
        src = os.path.abspath(os.fspath(path))
        if not self.is_local:
            return self.put_file(src, sync=sync), False
        try:
            before = os.stat(src)
            info = hash_file(src) if known is None else BlobInfo(check_digest(known.digest), known.size)
        except OSError as exc:
            raise InvalidInputError(f"cannot read {src}: {exc.strerror or exc}") from exc
        if known is not None and info.size != before.st_size:
            raise InvalidInputError(f"{src} has {before.st_size} bytes, not the {info.size} its known digest is of")
        self._prepare_local()
        if self.exists(info.digest):
            return info, self._relink(src, before, info)
        tmp = os.path.join(self._tmp, f"link-{secrets.token_hex(8)}.tmp")
        try:
            os.link(src, tmp)
        except OSError:
            return self.put_file(src, sync=sync), False  # another filesystem, or no hardlinks here
        try:
            if not same_file(before, os.stat(tmp)):
                raise changed_error(src)
            try:
                os.chmod(tmp, 0o444)  # the user's file too: one inode
            except OSError:
                remove_file(tmp)
                return self.put_file(src, sync=sync), False  # not ours to protect: copy it
            if sync:
                fsync_file(tmp)
            self._commit_local(tmp, info, sync, sync)
        except BaseException:
            remove_file_quietly(tmp)
            raise
        return info, self.is_linked(src, info.digest)

    def _relink(self, src: str, before: os.stat_result, info: BlobInfo) -> bool:
        """Replace ``src`` by a verified hardlink to its already stored blob; false where impossible."""
        parent, name = os.path.split(src)
        tmp = os.path.join(parent, f".{name}.{secrets.token_hex(8)}.link")
        try:
            if not self._link_verified(info.digest, tmp):
                return False
            if not same_file(before, os.stat(src)):
                raise changed_error(src)
            os.replace(tmp, src)
        except BlobCorruptedError:
            # The stored copy is damaged: set it aside and store these (verified) bytes instead.
            remove_file_quietly(tmp)
            self.quarantine(info.digest)
            return self.put_link(src)[1]
        except OSError:
            remove_file_quietly(tmp)
            return False
        finally:
            remove_file_quietly(tmp)
        touch(self._local_path(info.digest))
        return True

    def is_linked(self, path: StrPath, digest: str) -> bool:
        """Whether the file at ``path`` is a hardlink to the blob ``digest`` of this (local) store."""
        if not self.is_local:
            return False
        check_digest(digest)
        src = os.fspath(path)
        with self._lock:
            blob = self._pending.get(digest) or self._local_path(digest)
        try:
            return os.path.samefile(src, blob)
        except OSError:
            return False

    def quarantine(self, digest: str) -> str | None:
        """Move a (corrupted) blob out of ``objects/`` into ``quarantine/``, kept for inspection.

        The blob is never served again, and storing the right bytes later repairs the store.

        Returns:
            Where the blob went, or ``None`` when the store did not hold it.

        Raises:
            InvalidInputError: ``digest`` is not a valid digest.
            StoreError: the store cannot be written.
        """
        check_digest(digest)
        name = f"{digest}.{time.time_ns()}"
        try:
            if self._packs is not None:
                target = os.path.join(self._root, "quarantine", name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                try:
                    os.replace(self._local_path(digest), target)
                except FileNotFoundError:
                    return self._quarantine_packed(digest, target)
            else:
                target = f"{self._root}/quarantine/{name}"
                self._fs.mv(self._remote_key(digest), target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._write_error(exc) from exc
        return target

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        """Yield ``(digest, mtime)`` for every blob in place, mtime in epoch seconds, for garbage collection.

        Writes in flight (including blobs waiting for :meth:`sync`) are temp files and never yielded.
        Storing content that is already present refreshes the blob's mtime on local stores, so a
        collector that spares recent blobs does not delete one that a new row is about to reference.
        """
        if self._packs is None:
            yield from self._iter_remote()
            return
        loose: set[str] = set()
        for digest, mtime in self._iter_local():
            loose.add(digest)
            yield digest, mtime
        yield from ((d, m) for d, m in self._packs.iter() if d not in loose)

    def delete(self, digest: str, *, missing_ok: bool = False) -> None:
        """Delete the blob ``digest`` (a pending one included).

        Raises:
            InvalidInputError: ``digest`` is not a valid digest.
            BlobNotFoundError: the store has no such blob and ``missing_ok`` is false.
            StoreError: the store cannot be written.
        """
        check_digest(digest)
        if self._packs is not None:
            found = digest in self.delete_many([digest])
        else:
            key = self._remote_key(digest)
            found = bool(self._fs.exists(key))
            if found:
                try:
                    self._fs.rm_file(key)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise self._write_error(exc) from exc
        if not found and not missing_ok:
            raise not_found_error(digest)

    # -- local internals -------------------------------------------------------------------------

    def _local_path(self, digest: str) -> str:
        return os.path.join(self._objects, digest[:2], digest[2:])

    def _write_error(self, exc: OSError) -> StoreError:
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            fix = "Free some space on its disk, or point MODELYARD_HOME to a larger one."
        elif self.is_local:
            fix = "Make it writable, or set MODELYARD_HOME to a writable directory."
        else:
            fix = "Check the credentials and permissions for this URL."
        return StoreError(f"cannot write to the blob store at {self._url}: {reason}{where}. {fix}")

    def _prepare_local(self) -> None:
        """Create the root, objects/ and objects/tmp/ once, durably."""
        if self._prepared:
            return
        created: list[str] = []
        probe = self._tmp
        while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
            created.append(probe)
            probe = os.path.dirname(probe)
        try:
            os.makedirs(self._tmp, exist_ok=True)
            for directory in {os.path.dirname(path) for path in created} | {self._root, self._objects}:
                fsync_dir(directory)
        except OSError as exc:
            raise self._write_error(exc) from exc
        self._prepared = True

    def _link_verified(self, digest: str, tmp: str) -> bool:
        """Hardlink the blob to ``tmp`` and verify the linked file; false where a link is impossible."""
        with self._lock:  # sync() may be renaming a pending blob into place
            final = self._local_path(digest)
            source = self._pending[digest] if digest in self._pending and not os.path.exists(final) else final
            try:
                os.link(source, tmp)
            except FileNotFoundError as exc:
                if self._find_packed(digest) is not None:
                    return False  # packed: no file of its own to link, so copy it
                raise not_found_error(digest) from exc
            except OSError:
                return False  # another device, or a filesystem without hardlinks: copy instead
        actual = hash_file(tmp)
        if actual.digest != digest:
            raise corrupted_error(digest, f"their BLAKE3 digest is {actual.digest}")
        return True

    def _sync_objects_dir(self, shards: set[str]) -> None:
        """Fsync objects/ unless every shard directory in ``shards`` is already known to be durable."""
        new = shards - self._durable_shards
        if new:
            fsync_dir(self._objects)
            self._durable_shards |= new

    def _open_local(self, digest: str) -> tuple[Any, int]:
        """A raw reader over the stored bytes of ``digest`` (a loose file or a pack's range), and their size."""
        final = self._local_path(digest)
        try:
            file = io.FileIO(final, "rb")
            return file, os.fstat(file.fileno()).st_size
        except FileNotFoundError:
            pass
        with self._lock:
            tmp = self._pending.get(digest)
            if tmp is not None or os.path.exists(final):
                try:
                    # sync() may have renamed it into place meanwhile.
                    file = io.FileIO(final if tmp is None else tmp, "rb")
                    return file, os.fstat(file.fileno()).st_size
                except FileNotFoundError:
                    pass
        packed = self._find_packed(digest)
        if packed is not None:
            try:
                return PackRange(packed), packed.size
            except FileNotFoundError:
                pass  # the pack was removed meanwhile (its blobs deleted)
        raise not_found_error(digest)

    def _iter_local(self) -> Iterator[tuple[str, float]]:
        try:
            shards = os.scandir(self._objects)
        except FileNotFoundError:
            return
        with shards:
            for shard in shards:
                if not SHARD_RE.fullmatch(shard.name) or not shard.is_dir(follow_symlinks=False):
                    continue
                with os.scandir(shard.path) as entries:
                    for entry in entries:
                        if not REST_RE.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                            continue
                        try:
                            mtime = entry.stat(follow_symlinks=False).st_mtime
                        except FileNotFoundError:
                            continue  # deleted meanwhile
                        yield shard.name + entry.name, mtime
