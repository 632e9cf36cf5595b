"""The content of a remote: blobs in the blob store's layout, and one JSON manifest per version.

::

    <remote>/objects/ab/cdef0123...                        blobs, as in the local blob store
    <remote>/datasets/<project>/<name>/<version>.json      version manifests
    <remote>/quarantine/<digest>.<ns>                      corrupted blobs a pull set aside

A manifest holds everything a :class:`~modelyard.entities.DatasetVersion` holds (name, version,
digest, files, schema, profile, message, tags, creator, time, ...) plus its ``format``. Readers check
that it is the version it is filed as and that its files hash to its digest, so a damaged or edited
manifest is refused rather than imported.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import secrets
from collections.abc import Sequence
from typing import Any

from modelyard.blobs import BlobStore, fsync_dir
from modelyard.data._manifest import check_files, manifest_digest
from modelyard.data._refs import DatasetRef
from modelyard.data._remote_config import Remote
from modelyard.entities import DatasetVersion
from modelyard.errors import DatasetNotFoundError, IntegrityError, InvalidInputError, StoreError
from modelyard.names import validate_name

__all__ = ["MANIFEST_FORMAT", "RemoteStore", "manifest_bytes", "parse_manifest"]

MANIFEST_FORMAT = 1
"""The version of the manifest layout written to remotes (readers refuse newer ones)."""

_VERSION_FILE = re.compile(r"([1-9][0-9]{0,9})\.json")
# Object stores whose uploads appear all at once when complete: manifests go straight to their key.
_ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})

_list = builtins.list


class RemoteStore:
    """The content of one remote: its blobs (a :class:`BlobStore`) and its version manifests."""

    def __init__(self, remote: Remote) -> None:
        """Open ``remote`` (nothing is read or created yet).

        Raises:
            StoreError: its filesystem needs a package that is not installed.
        """
        self.remote = remote
        self.blobs = BlobStore(remote.url)
        self.is_local = self.blobs.is_local
        self._fs: Any = None
        self._root = self.blobs.url
        if not self.is_local:
            import fsspec  # type: ignore[import-untyped,unused-ignore]

            self._fs, root = fsspec.core.url_to_fs(remote.url)
            self._root = str(root).rstrip("/")
        self._atomic_put = remote.url.split("://", 1)[0].lower() in _ATOMIC_PUT

    @property
    def label(self) -> str:
        """How messages name the remote."""
        return f"remote {self.remote.name!r} ({self.remote.url})"

    # paths -------------------------------------------------------------------------------------
    def _join(self, *parts: str) -> str:
        return os.path.join(self._root, *parts) if self.is_local else "/".join([self._root, *parts])

    def _manifest_path(self, project: str, name: str, version: int) -> str:
        return self._join("datasets", project, name, f"{version}.json")

    # listing -----------------------------------------------------------------------------------
    def _children(self, path: str) -> _list[str]:
        if self.is_local:
            try:
                return sorted(os.listdir(path))
            except (FileNotFoundError, NotADirectoryError):
                return []
        self._fs.invalidate_cache(path)
        try:
            entries = self._fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return sorted(str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def present(self, digests: set[str]) -> set[str]:
        """Those of ``digests`` the remote holds, found in one batch.

        A local remote is asked with one ``stat`` per blob. An object store is asked per shard
        directory, in parallel: one listing of ``objects/ab/`` when several blobs share the shard,
        else one existence check per blob.
        """
        if self.is_local:
            return self.blobs.exists_many(digests)
        by_shard: dict[str, _list[str]] = {}
        for digest in digests:
            by_shard.setdefault(digest[:2], []).append(digest)
        if len(by_shard) <= 1:
            return self.blobs.exists_many(digests)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(by_shard)), thread_name_prefix="modelyard-exists") as pool:
            found = pool.map(self.blobs.exists_many, by_shard.values())
            return set().union(*found)

    def dataset_names(self, project: str) -> _list[str]:
        """Names of the datasets the remote holds versions of in ``project``."""
        names = []
        for entry in self._children(self._join("datasets", project)):
            with contextlib.suppress(InvalidInputError):
                names.append(validate_name(entry, "dataset name"))
        return names

    def version_numbers(self, project: str, name: str) -> _list[int]:
        """The version numbers of ``name`` the remote holds, ascending."""
        found = []
        for entry in self._children(self._join("datasets", project, name)):
            match = _VERSION_FILE.fullmatch(entry)
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    # manifests ---------------------------------------------------------------------------------
    def read_manifest(self, project: str, name: str, version: int) -> DatasetVersion | None:
        """The version the remote's manifest describes, checked, or ``None`` when it has none.

        Raises:
            IntegrityError: the manifest is malformed or its files do not hash to its digest.
        """
        path = self._manifest_path(project, name, version)
        try:
            if self.is_local:
                with open(path, "rb") as src:
                    raw = src.read()
            else:
                raw = self._fs.cat_file(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {path} on {self.label}: {exc.strerror or exc}") from exc
        return parse_manifest(raw, project, name, version, where=f"{path} on {self.label}")

    def write_manifest(self, version: DatasetVersion) -> None:
        """Publish a version's manifest durably (call only once every blob it references is durable)."""
        data = manifest_bytes(version)
        path = self._manifest_path(version.project, version.name, version.version)
        try:
            if self.is_local:
                _write_local_durable(path, data)
            elif self._atomic_put:
                self._fs.pipe_file(path, data)
            else:
                tmp = self._join("datasets", ".tmp", f"{secrets.token_hex(16)}.json")
                self._fs.pipe_file(tmp, data)
                try:
                    self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
                    self._fs.mv(tmp, path)
                except BaseException:
                    with contextlib.suppress(Exception):
                        self._fs.rm_file(tmp)
                    raise
        except OSError as exc:
            raise StoreError(f"cannot write {path} on {self.label}: {exc.strerror or exc}") from exc

    # resolving references ----------------------------------------------------------------------
    def resolve(self, project: str, ref: DatasetRef, *, all_versions: bool = False) -> _list[DatasetVersion]:
        """The manifests a reference names on the remote (``all_versions``: every version of the name).

        Raises:
            DatasetNotFoundError: the remote holds no such dataset or version.
        """
        numbers = self.version_numbers(project, ref.name)
        if not numbers:
            raise DatasetNotFoundError(f"{self.label} holds no dataset named {ref.name!r} in project {project!r}.")
        if ref.version is not None:
            if ref.version not in numbers:
                raise DatasetNotFoundError(
                    f"{self.label} holds no version {ref.version} of {ref.name!r} (it has {_ranges(numbers)})."
                )
            chosen = [ref.version]
        elif ref.sha is None:
            chosen = numbers if all_versions else [numbers[-1]]
        else:
            chosen = numbers
        versions = [v for v in (self.read_manifest(project, ref.name, n) for n in chosen) if v is not None]
        if ref.sha is not None:
            versions = [v for v in versions if v.digest.startswith(ref.sha)]
            if not versions:
                raise DatasetNotFoundError(f"{self.label} holds no version of {ref.name!r} with digest {ref.sha}...")
            if len({v.digest for v in versions}) > 1:
                raise InvalidInputError(f"{ref} is ambiguous on {self.label}: give more digest characters.")
            versions = versions[-1:]
        return versions


def manifest_bytes(version: DatasetVersion) -> bytes:
    """The JSON manifest of a version, as written to remotes."""
    data = version.model_dump(mode="json", by_alias=True, exclude={"deleted", "purged"})
    data["format"] = MANIFEST_FORMAT
    # Compact: a manifest of a million files stays fast to write and read (`jq` shows it indented).
    return (json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n").encode()


def parse_manifest(raw: bytes, project: str, name: str, version: int, *, where: str) -> DatasetVersion:
    """Read and check a manifest: its format, that it is the version it is filed as, and its digest.

    Raises:
        IntegrityError: anything does not hold.
    """
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        fmt = data.pop("format", None)
        if fmt != MANIFEST_FORMAT:
            raise ValueError(f"manifest format {fmt!r}; this modelyard reads format {MANIFEST_FORMAT} (upgrade it)")
        data.pop("deleted", None)
        data.pop("purged", None)
        parsed = DatasetVersion.model_validate(data)
        files = check_files(parsed.files)
    except (ValueError, InvalidInputError) as exc:
        raise IntegrityError(f"the manifest {where} is malformed: {exc}") from None
    if (parsed.project, parsed.name, parsed.version) != (project, name, version):
        raise IntegrityError(
            f"the manifest {where} describes {parsed.project}/{parsed.ref}, not {project}/{name}@{version}."
        )
    actual = manifest_digest(files)
    if actual != parsed.digest:
        raise IntegrityError(f"the manifest {where} is inconsistent: its files hash to {actual}, not {parsed.digest}.")
    parsed.files = files
    return parsed


def _write_local_durable(path: str, data: bytes) -> None:
    """Write ``path`` atomically and durably (temp + fsync + rename + directory fsyncs)."""
    parent = os.path.dirname(path)
    created: list[str] = []
    probe = parent
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        created.append(probe)
        probe = os.path.dirname(probe)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{secrets.token_hex(8)}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    for directory in [parent, *(os.path.dirname(p) for p in created)]:
        fsync_dir(directory)


def _ranges(numbers: Sequence[int]) -> str:
    return "versions " + ", ".join(str(n) for n in numbers[:10]) + (" ..." if len(numbers) > 10 else "")
