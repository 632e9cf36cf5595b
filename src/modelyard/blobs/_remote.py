"""The blob store's object-store side (fsspec): keys, uploads and listings.

A mixin of :class:`~modelyard.blobs.BlobStore` (its methods take the store as ``self``), kept apart so
that each module stays short.
"""

from __future__ import annotations

import contextlib
import io
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelyard.blobs._hashing import BlobInfo, copy_hashed
from modelyard.blobs._reader import changed_error

if TYPE_CHECKING:
    from modelyard.errors import StoreError

__all__ = ["REST_RE", "RemoteOps", "SHARD_RE"]

SHARD_RE = re.compile(r"[0-9a-f]{2}")
"""A blob's directory under ``objects/``: the first two hex characters of its digest."""
REST_RE = re.compile(r"[0-9a-f]{62}")
"""A blob's file name in its directory: the other 62."""


class RemoteOps:
    """Reading and writing blobs in an fsspec store (see :class:`~modelyard.blobs.BlobStore`)."""

    if TYPE_CHECKING:  # what the store provides
        _fs: Any
        _objects: str
        _tmp: str
        _atomic_put: bool

        def _write_error(self, exc: OSError) -> StoreError: ...

    def _remote_key(self, digest: str) -> str:
        return f"{self._objects}/{digest[:2]}/{digest[2:]}"

    def _put_remote(
        self,
        info: BlobInfo,
        *,
        path: str | None = None,
        data: bytes | None = None,
        guard: Callable[[], bool] | None = None,
    ) -> None:
        """Upload a blob whose digest is known from the local file ``path`` or from ``data``.

        ``guard``, if given, returns whether the source is still the one that was hashed.
        """
        fs = self._fs
        final = self._remote_key(info.digest)
        try:
            if fs.exists(final):
                return
            if self._atomic_put:
                if path is not None:
                    fs.put_file(path, final)
                else:
                    fs.pipe_file(final, data)
                if guard is not None and not guard():
                    fs.rm_file(final)
                    raise changed_error(path)
                return
            tmp = f"{self._tmp}/{secrets.token_hex(16)}.tmp"
            try:
                with (
                    open(path, "rb") if path is not None else io.BytesIO(data or b"") as src,
                    fs.open(tmp, "wb") as out,
                ):
                    written = copy_hashed(src, out.write, info.size)
                if written != info:
                    raise changed_error(path)
                fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
                fs.mv(tmp, final)
            except BaseException:
                with contextlib.suppress(Exception):  # best effort: the original error matters
                    fs.rm_file(tmp)
                raise
        except OSError as exc:
            raise self._write_error(exc) from exc

    def _iter_remote(self) -> Iterator[tuple[str, float]]:
        fs = self._fs
        prefix = self._objects + "/"
        try:
            found = fs.find(self._objects, detail=True)
        except FileNotFoundError:
            return
        for path, info in found.items():
            relative = str(path)[len(prefix) :] if str(path).startswith(prefix) else ""
            shard, _, rest = relative.partition("/")
            if not (SHARD_RE.fullmatch(shard) and REST_RE.fullmatch(rest)):
                continue
            yield shard + rest, _remote_mtime(fs, str(path), info)


def _remote_mtime(fs: Any, path: str, info: Mapping[str, Any]) -> float:
    """Return a remote file's modification time, or now where the filesystem cannot tell."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    try:
        return float(fs.modified(path).timestamp())
    except (NotImplementedError, FileNotFoundError, AttributeError):
        # Unknown age: report it as new, so a garbage collection sparing recent blobs keeps it.
        return time.time()
