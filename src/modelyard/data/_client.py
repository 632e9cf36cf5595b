"""The dataset client: add, get, load, list and delete dataset versions over any backend.

``DataClient`` works through a :class:`~modelyard.client.Client`'s backend, so embedded stores and
servers behave alike. Adding lists the source, takes the digests of unchanged files from the stat
cache, returns the newest version at once when nothing changed, stores only the blobs the store
lacks (hashing while copying, or hardlinking with ``link=True``), then records the version.
"""

from __future__ import annotations

import builtins
import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.data._manifest import digest_of_entries, files_of_entries, gc_paused, manifest_digest
from modelyard.data._sources import SourceFile, check_readable, open_source
from modelyard.data._statcache import STAT_CACHE_FILE, StatCache, file_stat, now_ns
from modelyard.data._tabular import (
    TableStats,
    is_tabular,
    load_frame,
    pii_columns,
    read_frame,
    table_stats,
    validate_table,
)
from modelyard.entities import Dataset, DatasetDeletion, DatasetVersion, RunInput
from modelyard.errors import DatasetNotFoundError, InvalidInputError, ProjectNotFoundError
from modelyard.names import validate_name

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.client import Client

__all__ = ["AddResult", "DataClient", "STAT_CACHE_FILE"]

_log = logging.getLogger("modelyard.data")

Progress = Callable[[int], object]
ProgressFactory = Callable[[str, int], Progress]
"""Makes a progress callback for a task described by its label and total bytes."""


@dataclass(slots=True)
class AddResult:
    """What one ``add`` did.

    Attributes:
        version: The new version, or the existing newest one when nothing changed.
        created: Whether a new version was recorded.
        hashed: Files whose digest had to be computed (new or changed since the last add).
        cached: Files whose digest came from the stat cache.
        linked: Files now hardlinked into the blob store (``link=True``).
        note: Why ``link=True`` copied some or all files instead, if it did.
    """

    version: DatasetVersion
    created: bool
    hashed: int = 0
    cached: int = 0
    linked: int = 0
    note: str | None = None


class DataClient:
    """Dataset operations for one :class:`~modelyard.client.Client` (its backend and current project)."""

    def __init__(self, client: Client) -> None:
        """Work through ``client``; the stat cache lives in its settings' home directory."""
        self.client = client
        self.cache_path = Path(client.settings.home).expanduser() / STAT_CACHE_FILE

    @property
    def backend(self) -> Any:
        """The client's backend."""
        return self.client.backend

    def _project(self, project: str | None, ref: object = None) -> str:
        if project is None and isinstance(ref, DatasetVersion):
            project = ref.project
        return validate_name(project or self.client.project, "project name")

    # adding -------------------------------------------------------------------------------
    def add(
        self,
        source: Any,
        name: str,
        *,
        message: str = "",
        tags: Mapping[str, Any] | None = None,
        link: bool = False,
        project: str | None = None,
        validate: Any = None,
        pii: Sequence[str] = (),
    ) -> DatasetVersion:
        """Add a file, directory, glob or DataFrame as a new version of dataset ``name``.

        Adding content identical to the newest version returns that version and creates nothing.
        Tabular data (one CSV, Parquet or JSON-lines file, or a DataFrame) gets row and column
        counts, an inferred schema and a profile.

        Args:
            source: A file, a directory, a glob (``data/*.csv``) or a pandas/polars DataFrame
                (stored as ``data.parquet``).
            name: The dataset's name (letters, digits, ``_ . -``).
            message: What changed, recorded with the version.
            tags: Tags of the version.
            link: Hardlink the files into a local blob store and make them read-only instead of
                copying them (for data too large to copy); elsewhere the files are copied.
            project: The dataset's project (default: the current project).
            validate: A schema (object, mapping, or YAML file path): tabular data that fails it
                raises :class:`~modelyard.errors.ValidationError` and nothing is stored.
            pii: Columns of personal data: their values never appear in the stored schema and
                profile (columns the ``validate`` schema tags as PII are added).

        Raises:
            InvalidInputError: a missing or unreadable source, a bad name or path.
            ValidationError: the data failed ``validate``.
        """
        return self.add_detailed(
            source, name, message=message, tags=tags, link=link, project=project, validate=validate, pii=pii
        ).version

    def add_detailed(
        self,
        source: Any,
        name: str,
        *,
        message: str = "",
        tags: Mapping[str, Any] | None = None,
        link: bool = False,
        project: str | None = None,
        validate: Any = None,
        pii: Sequence[str] = (),
        progress: ProgressFactory | None = None,
    ) -> AddResult:
        """:meth:`add`, returning what it did (hashing, cache hits, links); ``progress`` reports bytes."""
        project = self._project(project)
        validate_name(name, "dataset name")
        with open_source(source) as (files, from_frame), StatCache(self.cache_path) as cache:
            tabular = is_tabular([f.rel for f in files])
            frame: Any = None
            if validate is not None:
                if not tabular:
                    raise InvalidInputError(
                        "validate= needs tabular data: one CSV, Parquet or JSON-lines file, or a DataFrame."
                    )
                frame = read_frame(files[0].path)
                validate_table(frame, validate, f"dataset {name!r}")
                pii = [*pii, *pii_columns(validate)]
            with gc_paused():
                digests: dict[str, str | None] = dict.fromkeys((f.path for f in files), None)
                digests.update(cache.lookup([(f.path, f.stat) for f in files]))
            hashed, cached = cache.misses, cache.hits
            check_readable(f for f in files if digests[f.path] is None)
            if not cache.misses:
                latest = self._unchanged(project, name, files, digests)
                if latest is not None:
                    _log.info("dataset %s is unchanged: returning %s", name, latest.ref)
                    return AddResult(latest, False, hashed=hashed, cached=cached)
            started = now_ns()
            callback = None
            if progress is not None:
                callback = progress("linking" if link else "storing", sum(f.stat[0] for f in files))
            stored = self.backend.put_dataset_blobs(
                project,
                [(Path(f.path), digests[f.path]) for f in files],
                link=link and not from_frame,
                progress=callback,
            )
            # Checked by the service that records them.
            manifest = files_of_entries(
                (f.rel, info.digest, info.size) for f, (info, _) in zip(files, stored, strict=True)
            )
            linked = sum(1 for _, is_link in stored if is_link)
            note = self._link_note(len(files) - linked, from_frame) if link and linked < len(files) else None
            if not from_frame:  # a DataFrame's temporary file is never seen again
                self._remember(cache, files, stored, digests, started)
            changed = self._changed(project, name, manifest_digest(manifest))
            stats = self._stats(files, frame, pii) if tabular and changed else None
            version, created = self.backend.create_dataset_version(
                project,
                name,
                manifest,
                message=message,
                tags=dict(tags or {}),
                num_rows=stats.num_rows if stats else None,
                num_columns=stats.num_columns if stats else None,
                schema=stats.schema if stats else None,
                profile=stats.profile if stats else None,
            )
        if not created:
            _log.info("dataset %s is unchanged: returning %s", name, version.ref)
        return AddResult(version, created, hashed=hashed, cached=cached, linked=linked, note=note)

    def _unchanged(
        self, project: str, name: str, files: Sequence[SourceFile], digests: Mapping[str, str | None]
    ) -> DatasetVersion | None:
        """The newest version when its manifest equals these files (all digests known), else ``None``.

        Only the newest version's digest is read: equal digests mean equal manifests, so its file list
        is built from the files at hand instead of being fetched.
        """
        with gc_paused():
            entries = sorted((f.rel, digests[f.path] or "", f.stat[0]) for f in files)
        digest = digest_of_entries(entries, ordered=True)
        try:
            version: DatasetVersion = self.backend.get_dataset_version(project, name, files=False)
        except (DatasetNotFoundError, ProjectNotFoundError):
            return None
        if version.digest != digest:
            return None
        version.files = files_of_entries(entries)
        return version

    def _changed(self, project: str, name: str, digest: str) -> bool:
        """Whether ``digest`` differs from the newest version's (or there is none)."""
        try:
            latest = self.backend.get_dataset_version(project, name, files=False)
        except (DatasetNotFoundError, ProjectNotFoundError):
            return True
        return bool(latest.digest != digest)

    def _link_note(self, copied: int, from_frame: bool) -> str:
        if from_frame:
            return "a DataFrame is written to a temporary file, which is copied, not linked."
        if not getattr(self.backend, "blobs", None) or not self.backend.blobs.is_local:
            return (
                f"{copied} file(s) were copied, not linked: hardlinks need a local blob store "
                "(this store is remote or behind a server)."
            )
        return (
            f"{copied} file(s) were copied, not linked: they are on another filesystem than the blob store, "
            "or their permissions cannot be changed."
        )

    def _remember(
        self,
        cache: StatCache,
        files: Sequence[SourceFile],
        stored: Sequence[tuple[Any, bool]],
        digests: Mapping[str, str | None],
        started: int,
    ) -> None:
        """Cache the digests just computed (and new inodes of relinked files) for the next add."""
        entries = []
        for f, (info, linked) in zip(files, stored, strict=True):
            if digests[f.path] is not None and not linked:
                continue
            try:
                now = file_stat(os.stat(f.path))
            except OSError:
                continue
            if now[:2] == f.stat[:2]:  # same size and mtime: the bytes hashed are the file's bytes
                entries.append((f.path, now, info.digest, started))
        cache.store(entries)

    @staticmethod
    def _stats(files: Sequence[SourceFile], frame: Any, pii: Sequence[str]) -> TableStats | None:
        try:
            frame = frame if frame is not None else read_frame(files[0].path)
        except InvalidInputError:
            return None  # a .csv that is not a table is still a dataset, without statistics
        return table_stats(frame, pii)

    # reading ------------------------------------------------------------------------------
    def show(
        self, ref: str | DatasetVersion, *, project: str | None = None, version: int | str | None = None
    ) -> DatasetVersion:
        """The version a reference names (``name``, ``name@3``, ``name@latest``, ``name@sha:<prefix>``)."""
        found: DatasetVersion = self.backend.get_dataset_version(self._project(project, ref), _ref(ref, version))
        return found

    def get(
        self,
        ref: str | DatasetVersion,
        path: str | Path | None = None,
        *,
        include: str | Sequence[str] | None = None,
        link: bool = False,
        project: str | None = None,
        version: int | str | None = None,
        progress: ProgressFactory | None = None,
    ) -> Path:
        """Materialise a version's files under ``path`` (default: ``./<name>``); returns the directory.

        Files are verified copies or, with ``link`` and a local blob store, read-only hardlinks;
        ``include`` (a glob, or a directory) checks out part of the version.
        """
        full, project = _ref(ref, version), self._project(project, ref)
        dst = Path(path) if path is not None else Path.cwd() / full.split("@", 1)[0]
        callback = None
        if progress is not None:
            callback = progress("materialising", self.show(full, project=project).size)
        self.backend.download_dataset(project, full, dst, include=include, link=link, progress=callback)
        return dst

    def load(
        self, ref: str | DatasetVersion, *, project: str | None = None, version: int | str | None = None
    ) -> pd.DataFrame:
        """A tabular version (CSV, Parquet or JSON-lines files) as one pandas DataFrame."""
        full, project = _ref(ref, version), self._project(project, ref)
        with tempfile.TemporaryDirectory(prefix="modelyard-load-") as tmp:
            dv, files = self.backend.download_dataset(project, full, Path(tmp), link=True)
            return load_frame([Path(tmp, *f.path.split("/")) for f in files], dv.ref)

    def versions(self, name: str, *, project: str | None = None, include_deleted: bool = False) -> list[DatasetVersion]:
        """Versions of a dataset, newest first (without file lists; see ``num_files``)."""
        found: list[DatasetVersion] = self.backend.list_dataset_versions(
            self._project(project), name, include_deleted=include_deleted
        )
        return found

    def list(self, *, project: str | None = None) -> list[Dataset]:
        """Datasets of a project with their newest version."""
        project = self._project(project)
        try:
            found: builtins.list[Dataset] = self.backend.list_datasets(project)
        except ProjectNotFoundError:
            if project != self.client.settings.project:
                raise
            return []  # the default project is created by its first object
        return found

    def delete(self, ref: str | DatasetVersion, *, purge: bool = False, project: str | None = None) -> DatasetDeletion:
        """Delete a dataset (``name``) or one version (``name@3``); ``purge`` erases the data at once."""
        deletion: DatasetDeletion = self.backend.delete_dataset(
            self._project(project, ref), _ref(ref, None), purge=purge
        )
        return deletion

    def restore(self, ref: str | DatasetVersion, *, project: str | None = None) -> builtins.list[DatasetVersion]:
        """Undo the deletion of a version (``name@3``) or of every deleted version of a dataset (``name``).

        Returns the restored versions, newest first. Purged versions cannot come back (their files
        are erased): add the data again.

        Raises:
            DatasetNotFoundError: no such dataset or version.
            ConflictError: nothing to restore (the version is live, or was purged).
        """
        restored: builtins.list[DatasetVersion] = self.backend.restore_dataset(
            self._project(project, ref), _ref(ref, None)
        )
        return restored

    def lineage(self, ref: str | DatasetVersion, *, project: str | None = None) -> builtins.list[RunInput]:
        """The runs that used a dataset version."""
        found: builtins.list[RunInput] = self.backend.dataset_lineage(self._project(project, ref), _ref(ref, None))
        return found


def _ref(ref: str | DatasetVersion, version: int | str | None) -> str:
    from modelyard.data._refs import parse_ref

    if isinstance(ref, DatasetVersion):
        return ref.ref
    parsed = parse_ref(ref, version)  # checked here too: a server must never see a malformed path
    return str(parsed) if version is not None else ref
