"""The dataset service: versions, references, deletion and purge, materialisation and lineage, with audit.

This is the one place where dataset rules live: a version's files must all be durable blobs before
its row commits; adding the same files as the newest version creates nothing; version numbers are
given under the dataset's lock; deleted versions keep their rows (lineage stays readable) and purged
ones lose their files, statistics and — when nothing else references them — their blobs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.audit import Caller
from modelyard.blobs import CHUNK_SIZE, BlobInfo, check_digest
from modelyard.data._manifest import check_files, manifest_digest, parse_manifest, select_files
from modelyard.data._refs import DatasetRef, parse_ref
from modelyard.entities import Dataset, DatasetDeletion, DatasetFile, DatasetVersion, RunInput
from modelyard.errors import (
    BlobCorruptedError,
    BlobNotFoundError,
    ConflictError,
    DatasetNotFoundError,
    IntegrityError,
    InvalidInputError,
)
from modelyard.names import MAX_TAG_VALUE_LENGTH, validate_key, validate_name, validate_run_id

if TYPE_CHECKING:
    from modelyard.blobs import BlobStore
    from modelyard.store.sql import SqlStore, StoreTx

__all__ = ["DatasetService", "MAX_MESSAGE_LENGTH"]

MAX_MESSAGE_LENGTH = 10_000
_MAX_ROLE_LENGTH = 64

Progress = Callable[[int], object]
"""Called with a number of bytes processed."""


class DatasetService:
    """Dataset operations over a metadata store and a blob store, on behalf of one caller."""

    def __init__(self, store: SqlStore, blobs: BlobStore, caller: Caller) -> None:
        """Bind the service to its stores and the caller recorded in the audit log."""
        self.store = store
        self.blobs = blobs
        self.caller = caller

    def _audit(
        self, tx: StoreTx, action: str, object_type: str, object_id: str, project: str, summary: Mapping[str, Any]
    ) -> None:
        tx.append_audit(
            self.caller.user,
            action,
            object_type,
            object_id,
            project,
            summary,
            self.caller.request_id,
            self.caller.client_addr,
        )

    # blobs --------------------------------------------------------------------------------
    def missing_blobs(self, project: str, digests: Sequence[str], *, scoped: bool = False) -> list[str]:
        """The digests the blob store lacks, so the caller uploads only those.

        With ``scoped`` (callers through the server) a blob counts as present only if an object of
        ``project`` already references it, so the answer never reveals other projects' data.
        """
        validate_name(project, "project name")
        wanted = list(dict.fromkeys(digests))
        present = self.blobs.exists_many(wanted)
        if scoped and present:
            with self.store.read() as tx:
                project_id = tx.project_id(project) if tx.project_exists(project) else None
                present = tx.digests_in_project(project_id, present) if project_id is not None else set()
        return [d for d in wanted if d not in present]

    def put_files(
        self,
        files: Sequence[tuple[Path, str | None]],
        *,
        link: bool = False,
        progress: Progress | None = None,
    ) -> list[tuple[BlobInfo, bool]]:
        """Store local files as blobs: copies, or protected hardlinks with ``link``; all durable on return.

        Files given with their digest (known from the stat cache) are skipped when the store holds
        them already; the others are hashed while they are copied, in one pass, several at a time
        (see :meth:`BlobStore.put_files <modelyard.blobs.BlobStore.put_files>`).

        Returns each file's blob and whether the file is now a hardlink to it.
        """
        known = {digest for _, digest in files if digest is not None}
        present = self.blobs.exists_many(known) if known else set()
        results: list[tuple[BlobInfo, bool] | None] = [None] * len(files)
        copies: list[int] = []  # stored together, in batches (see BlobStore.put_files)
        for i, (path, digest) in enumerate(files):
            if digest is not None and digest in present and not (link and not self.blobs.is_linked(path, digest)):
                try:
                    size = os.stat(path).st_size
                except OSError as exc:
                    raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
                results[i] = (BlobInfo(digest, size), link)
            elif link:
                results[i] = self.blobs.put_link(path, sync=False)
            else:
                copies.append(i)
                continue
            if progress is not None:
                progress(results[i][0].size)  # type: ignore[index]
        if copies:
            infos = self.blobs.put_files([files[i][0] for i in copies], sync=False, progress=progress)
            for i, info in zip(copies, infos, strict=True):
                results[i] = (info, False)
        self.blobs.sync()
        return [r for r in results if r is not None]

    def put_uploaded_blob(self, path: Path, digest: str, project: str | None = None) -> BlobInfo:
        """Store an upload already checked against ``digest`` (the server's blob routes).

        With ``project``, the project is recorded as holding the blob: versions and step outputs it
        records over the API may then reference it (:meth:`create_version` with ``scoped``).
        """
        info = self.blobs.put_file(path)
        if info.digest != digest:
            raise IntegrityError(f"upload changed while it was stored: digest {info.digest}, expected {digest}.")
        if project is not None:
            validate_name(project, "project name")
            with self.store.write() as tx:
                existed = tx.project_exists(project)
                project_id = tx.project_id(project, create=True)
                if not existed:
                    self._audit(tx, "project.create", "project", project, project, {"implicit": True})
                tx.grant_blobs(project_id, [digest])
        return info

    def require_project_blobs(self, tx: StoreTx, project: str, blobs: Mapping[str, str], what: str) -> None:
        """Refuse blobs (digest -> what it is) the project neither uploaded nor references.

        A digest alone proves nothing: it may name another project's data.
        """
        project_id = tx.project_id(project) if tx.project_exists(project) else None
        allowed = tx.digests_in_project(project_id, blobs) if project_id is not None else set()
        unknown = sorted(d for d in blobs if d not in allowed)
        if unknown:
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise InvalidInputError(
                f"{what}: {blobs[unknown[0]]} (blob {unknown[0]}) is not uploaded to project {project!r}{more}; "
                f"upload the bytes first (PUT /api/v1/datasets/blobs/{{digest}}?project={project})."
            )

    def create_version(
        self,
        project: str,
        name: str,
        files: Sequence[DatasetFile | Mapping[str, Any]],
        *,
        message: str = "",
        tags: Mapping[str, Any] | None = None,
        num_rows: int | None = None,
        num_columns: int | None = None,
        schema: Mapping[str, Any] | None = None,
        profile: Mapping[str, Any] | None = None,
        scoped: bool = False,
    ) -> tuple[DatasetVersion, bool]:
        """Record a version of ``name`` with these files; its parent is the newest live version.

        Returns the version and whether it is new: files identical to the newest version's return
        that version (``False``) and change nothing. With ``scoped`` (callers through the server)
        every blob must have been uploaded to the project or be referenced by it already.

        Raises:
            InvalidInputError: a bad name, path, digest, tag or message.
            IntegrityError: a file's blob is not in the blob store (upload it first).
        """
        validate_name(project, "project name")
        validate_name(name, "dataset name")
        manifest = check_files(files)
        tag_values = _check_metadata(message, tags, num_rows, num_columns)
        digest = manifest_digest(manifest)
        with self.store.write() as tx:
            if scoped:
                self.require_project_blobs(
                    tx, project, {f.digest: f"file {f.path!r}" for f in manifest}, f"dataset {name!r}"
                )
            # Checked under the write lock, so a purge cannot remove a blob between check and commit.
            self._require_blobs(name, manifest)
            existed = tx.project_exists(project)
            project_id = tx.project_id(project, create=True)
            if not existed:
                self._audit(tx, "project.create", "project", project, project, {"implicit": True})
            dataset_id = tx.lock_dataset(project_id, name)
            latest = tx.version_row(dataset_id)
            if latest is not None and latest.digest == digest:
                return tx.version_entity(latest, name, project), False
            number = tx.max_version(dataset_id) + 1
            tx.insert_version(
                {
                    "dataset_id": dataset_id,
                    "version": number,
                    "digest": digest,
                    "size": sum(f.size for f in manifest),
                    "num_files": len(manifest),
                    "num_rows": num_rows,
                    "num_columns": num_columns,
                    "schema": dict(schema) if schema is not None else None,
                    "profile": dict(profile) if profile is not None else None,
                    "creator": self.caller.user,
                    "created_at": now_ms(),
                    "parent_version": None if latest is None else latest.version,
                    "message": message,
                    "tags": tag_values,
                },
                manifest,
            )
            tx.touch_dataset(dataset_id)
            self._audit(
                tx,
                "dataset.version.create",
                "dataset",
                f"{name}@{number}",
                project,
                {"digest": digest, "files": len(manifest), "bytes": sum(f.size for f in manifest), "message": message},
            )
            row = tx.version_row(dataset_id, number)
            return tx.version_entity(row, name, project, manifest=manifest), True

    def create_version_from_manifest(
        self, project: str, name: str, manifest: str, **kwargs: Any
    ) -> tuple[DatasetVersion, bool]:
        """:meth:`create_version` with the files of a manifest uploaded as a blob (large versions over HTTP).

        ``manifest`` is the digest of the canonical manifest text (see
        :func:`~modelyard.data._manifest.manifest_text`), which is also the version's digest. The
        manifest blob is referenced by nothing afterwards: garbage collection removes it.

        Raises:
            InvalidInputError: the manifest blob was not uploaded, or is not a canonical manifest.
            IntegrityError: the stored manifest blob is corrupted (it is quarantined), or a file's
                blob is missing.
        """
        check_digest(manifest)
        if kwargs.get("scoped"):
            with self.store.read() as tx:
                self.require_project_blobs(tx, project, {manifest: "the manifest"}, f"dataset {name!r}")
        try:
            data = self.blobs.read_bytes(manifest)
        except BlobNotFoundError:
            raise InvalidInputError(
                f"manifest {manifest} is not uploaded: PUT it to /api/v1/datasets/blobs/{manifest} first."
            ) from None
        except BlobCorruptedError:
            self.blobs.quarantine(manifest)
            raise IntegrityError(f"the uploaded manifest {manifest} is corrupted; upload it again.") from None
        return self.create_version(project, name, parse_manifest(data, manifest), **kwargs)

    def import_version(self, version: DatasetVersion, *, source: str) -> tuple[DatasetVersion, bool]:
        """Record a version exactly as another store holds it: same number, digest, files and metadata.

        Used by ``pull``: the same rules as :meth:`create_version` apply (names, paths, digests, tags,
        message; every blob durable here, checked under the write lock) and the import is audited as
        ``dataset.version.pull``. Recording the same version twice changes nothing (``False``).

        Raises:
            InvalidInputError: a bad name, path, digest, tag or message.
            ConflictError: this version number already holds other content here.
            IntegrityError: a blob is missing, or the files do not hash to the version's digest.
        """
        project, name = version.project, version.name
        validate_name(project, "project name")
        validate_name(name, "dataset name")
        if isinstance(version.version, bool) or not isinstance(version.version, int) or version.version < 1:
            raise InvalidInputError(f"version must be a positive integer, got {version.version!r}.")
        files = check_files(version.files)
        tag_values = _check_metadata(version.message, version.tags, version.num_rows, version.num_columns)
        digest = manifest_digest(files)
        if digest != version.digest:
            raise IntegrityError(f"{version.ref}: its files hash to {digest}, not to its digest {version.digest}.")
        with self.store.write() as tx:
            self._require_blobs(version.ref, files, restoring=False)
            if not tx.project_exists(project):
                tx.project_id(project, create=True)
                self._audit(tx, "project.create", "project", project, project, {"implicit": True})
            dataset_id = tx.lock_dataset(tx.project_id(project), name)
            row = tx.version_row(dataset_id, version.version)
            if row is not None:
                if row.digest != digest:
                    raise ConflictError(
                        f"{version.ref} already exists here with other content "
                        f"(sha:{row.digest[:12]}, not sha:{digest[:12]})."
                    )
                return tx.version_entity(row, name, project, files=False), False
            size = sum(f.size for f in files)
            tx.insert_version(
                {
                    "dataset_id": dataset_id,
                    "version": version.version,
                    "digest": digest,
                    "size": size,
                    "num_files": len(files),
                    "num_rows": version.num_rows,
                    "num_columns": version.num_columns,
                    "schema": version.schema,
                    "profile": version.profile,
                    "creator": version.creator,
                    "created_at": int(round(version.created_at.timestamp() * 1000)),
                    "parent_version": version.parent_version,
                    "message": version.message,
                    "tags": tag_values,
                },
                files,
            )
            tx.touch_dataset(dataset_id)
            summary = {"digest": digest, "files": len(files), "bytes": size, "source": source}
            self._audit(tx, "dataset.version.pull", "dataset", version.ref, project, summary)
            row = tx.version_row(dataset_id, version.version)
            return tx.version_entity(row, name, project, manifest=files), True

    def _require_blobs(self, name: str, files: Sequence[DatasetFile], *, restoring: bool = False) -> None:
        """Raise unless the blob store holds every file's content (``name`` names the dataset or version)."""
        present = self.blobs.exists_many({f.digest for f in files})
        missing = [f.path for f in files if f.digest not in present]
        if missing:
            shown = ", ".join(repr(p) for p in missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            if restoring:
                raise IntegrityError(
                    f"cannot restore {name}: the blob store lost the content of {len(missing)} file(s) ({shown}); "
                    "add the data again as a new version instead."
                )
            raise IntegrityError(
                f"cannot record dataset {name!r}: the blob store lacks the content of {len(missing)} file(s) "
                f"({shown}); upload them before creating the version."
            )

    def _resolve(self, tx: StoreTx, project: str, ref: DatasetRef, *, include_deleted: bool = False) -> Any:
        """The version row ``ref`` names in ``project``."""
        dataset_id = tx.dataset_id(tx.project_id(project), ref.name)
        if dataset_id is None:
            raise DatasetNotFoundError(
                f"No dataset named {ref.name!r} in project {project!r}; list them with `modelyard data ls`."
            )
        if ref.version is not None:
            row = tx.version_row(dataset_id, ref.version)
            if row is None:
                latest = tx.max_version(dataset_id)
                raise DatasetNotFoundError(f"Dataset {ref.name!r} has no version {ref.version} (newest: {latest}).")
        elif ref.sha is not None:
            rows = tx.version_rows_by_digest(dataset_id, ref.sha)
            if not rows:
                raise DatasetNotFoundError(f"No version of dataset {ref.name!r} has a digest starting with {ref.sha}.")
            if len({r.digest for r in rows}) > 1:
                candidates = ", ".join(f"{ref.name}@{r.version} (sha:{r.digest[:12]})" for r in rows[:10])
                raise InvalidInputError(f"{ref} is ambiguous: it matches {candidates}; give more digest characters.")
            row = rows[0]  # the same content in several versions: the newest
        else:
            row = tx.version_row(dataset_id)
            if row is None:
                raise DatasetNotFoundError(f"Dataset {ref.name!r} has no versions left (all were deleted).")
        if row.deleted_at is not None and not include_deleted:
            raise DatasetNotFoundError(f"{ref.name}@{row.version} was deleted.")
        return row

    def get_version(
        self, project: str, ref: str, *, files: bool = True, include_deleted: bool = False
    ) -> DatasetVersion:
        """The version a reference names: ``name``, ``name@latest``, ``name@3`` or ``name@sha:<prefix>``."""
        validate_name(project, "project name")
        parsed = parse_ref(ref)
        with self.store.read() as tx:
            row = self._resolve(tx, project, parsed, include_deleted=include_deleted)
            return tx.version_entity(row, parsed.name, project, files=files)

    def list_datasets(self, project: str) -> list[Dataset]:
        """Datasets of a project that have a live version, by name."""
        validate_name(project, "project name")
        with self.store.read() as tx:
            return tx.list_datasets(tx.project_id(project), project)

    def list_versions(self, project: str, name: str, *, include_deleted: bool = False) -> list[DatasetVersion]:
        """Versions of a dataset, newest first, without their file lists (see ``num_files``)."""
        validate_name(project, "project name")
        validate_name(name, "dataset name")
        with self.store.read() as tx:
            dataset_id = tx.dataset_id(tx.project_id(project), name)
            if dataset_id is None:
                raise DatasetNotFoundError(f"No dataset named {name!r} in project {project!r}.")
            rows = tx.version_rows(dataset_id, include_deleted=include_deleted)
            return [tx.version_entity(r, name, project, files=False) for r in rows]

    def file_of(self, project: str, ref: str, path: str) -> tuple[DatasetVersion, DatasetFile]:
        """A version (without its file list) and one of its files (for downloads): one indexed lookup."""
        validate_name(project, "project name")
        parsed = parse_ref(ref)
        with self.store.read() as tx:
            row = self._resolve(tx, project, parsed)
            version = tx.version_entity(row, parsed.name, project, files=False)
            found = tx.version_file(row.id, path)
        if found is None:
            raise DatasetNotFoundError(f"{version.ref} has no file {path!r}.")
        return version, found

    def iter_file(
        self, project: str, ref: str, path: str, *, verify_up_to: int = 0
    ) -> tuple[DatasetFile, Iterator[bytes]]:
        """One file of a version as a stream of chunks (for downloads), verified as it is read.

        Files up to ``verify_up_to`` bytes are checked before the first chunk, so a corrupted blob
        is a clean error; a larger one fails at the chunk that completes it. Either way the bad
        blob is quarantined and the error names the dataset, version and file.
        """
        version, f = self.file_of(project, ref, path)
        try:
            if f.size <= verify_up_to:
                self.blobs.verify(f.digest)
            reader = self.blobs.open(f.digest)
        except BlobCorruptedError:
            self.blobs.quarantine(f.digest)
            raise BlobCorruptedError(corrupted_message(version, f)) from None
        except BlobNotFoundError:
            raise IntegrityError(missing_message(version, f)) from None

        def chunks() -> Iterator[bytes]:
            with reader:
                try:
                    while chunk := reader.read(CHUNK_SIZE):
                        yield chunk
                except BlobCorruptedError:
                    self.blobs.quarantine(f.digest)
                    raise BlobCorruptedError(corrupted_message(version, f)) from None

        return f, chunks()

    # deletion -----------------------------------------------------------------------------
    def delete(self, project: str, ref: str, *, purge: bool = False) -> DatasetDeletion:
        """Delete a version (``name@3``) or a whole dataset (``name``); restorable rows stay for lineage.

        With ``purge`` the versions also lose their files, schema and profile, and the blobs no
        other object references are deleted at once (after the rows commit) — for data that must be
        erased. Lineage keeps naming the purged versions.
        """
        validate_name(project, "project name")
        parsed = parse_ref(ref)
        whole = "@" not in ref
        stamp = now_ms()
        with self.store.write() as tx:
            if whole:
                dataset_id = tx.dataset_id(tx.project_id(project), parsed.name)
                if dataset_id is None:
                    raise DatasetNotFoundError(f"No dataset named {parsed.name!r} in project {project!r}.")
                rows = tx.version_rows(dataset_id, include_deleted=purge)
                rows = [r for r in rows if r.purged_at is None]
                if not rows:
                    raise DatasetNotFoundError(f"Dataset {parsed.name!r} has no versions left to delete.")
            else:
                row = self._resolve(tx, project, parsed, include_deleted=purge)
                if row.purged_at is not None:
                    raise ConflictError(f"{parsed.name}@{row.version} is already purged.")
                rows = [row]
            ids = [r.id for r in rows]
            versions = sorted(r.version for r in rows)
            unused: set[str] = set()
            if purge:
                digests = tx.purge_versions(ids, stamp)
                unused = digests - tx.digests_in_use(digests)
            else:
                tx.mark_versions_deleted(ids, stamp)
            action = "dataset.purge" if purge else "dataset.delete"
            object_id = parsed.name if whole else f"{parsed.name}@{versions[0]}"
            self._audit(tx, action, "dataset", object_id, project, {"versions": versions, "blobs": len(unused)})
        removed, size = self._delete_blobs(unused)
        return DatasetDeletion(
            name=parsed.name,
            project=project,
            versions=versions,
            purged=purge,
            blobs_removed=removed,
            bytes_removed=size,
        )

    def restore(self, project: str, ref: str) -> list[DatasetVersion]:
        """Undo the deletion of a version (``name@3``) or of every deleted version of a dataset (``name``).

        Returns the restored versions, newest first (without their file lists).

        Raises:
            DatasetNotFoundError: no such dataset or version.
            ConflictError: the version is not deleted, or was purged (its files are erased: add the
                data again), or the dataset has no deleted version to restore.
            IntegrityError: the blob store lost a file's content meanwhile (nothing is restored).
        """
        validate_name(project, "project name")
        parsed = parse_ref(ref)
        whole = "@" not in ref
        with self.store.write() as tx:
            if whole:
                dataset_id = tx.dataset_id(tx.project_id(project), parsed.name)
                if dataset_id is None:
                    raise DatasetNotFoundError(f"No dataset named {parsed.name!r} in project {project!r}.")
                rows = [
                    r
                    for r in tx.version_rows(dataset_id, include_deleted=True)
                    if r.deleted_at is not None and r.purged_at is None
                ]
                if not rows:
                    raise ConflictError(f"Dataset {parsed.name!r} has no deleted version that can be restored.")
            else:
                row = self._resolve(tx, project, parsed, include_deleted=True)
                where = f"{parsed.name}@{row.version}"
                if row.purged_at is not None:
                    raise ConflictError(f"{where} was purged: its files are erased; add the data again instead.")
                if row.deleted_at is None:
                    raise ConflictError(f"{where} is not deleted; there is nothing to restore.")
                rows = [row]
            for r in rows:  # the blobs of soft-deleted versions are kept; check nothing was lost since
                self._require_blobs(f"{parsed.name}@{r.version}", tx.version_files(r.id), restoring=True)
            tx.restore_versions([r.id for r in rows])
            versions = sorted(r.version for r in rows)
            object_id = parsed.name if whole else f"{parsed.name}@{versions[0]}"
            self._audit(tx, "dataset.restore", "dataset", object_id, project, {"versions": versions})
            restored = [tx.version_row(r.dataset_id, r.version) for r in rows]
            return [
                tx.version_entity(r, parsed.name, project, files=False)
                for r in sorted(restored, key=lambda r: -r.version)
            ]

    def _delete_blobs(self, digests: set[str]) -> tuple[int, int]:
        sizes: dict[str, int] = {}
        for digest in sorted(digests):
            try:
                sizes[digest] = self.blobs.size(digest)
            except BlobNotFoundError:
                continue
        # Re-checked under the write lock: a version recorded meanwhile may use a blob again.
        with self.store.write() as tx:
            removed = self.blobs.delete_many(set(sizes) - tx.digests_in_use(sizes))
        return len(removed), sum(sizes[d] for d in removed)

    # materialisation ----------------------------------------------------------------------
    def materialize(
        self,
        project: str,
        ref: str,
        dst: Path,
        *,
        include: str | Sequence[str] | None = None,
        link: bool = False,
        progress: Progress | None = None,
    ) -> tuple[DatasetVersion, list[DatasetFile]]:
        """Write a version's files (those matching ``include``) under ``dst``, each verified.

        Files are copies, or with ``link`` read-only hardlinks to the blobs (local stores), so the
        store's objects are never modified through them. A corrupted blob is not written: it is
        quarantined and the error names the dataset, version and file.
        """
        version = self.get_version(project, ref)
        chosen = select_files(version.files, include)
        if not chosen:
            raise InvalidInputError(f"no file of {version.ref} matches {include!r}.")
        root = Path(dst).absolute()
        for f in chosen:
            target = root.joinpath(*f.path.split("/"))
            try:
                self.blobs.get_file(f.digest, target, link=link)
            except BlobCorruptedError:
                self.blobs.quarantine(f.digest)
                raise BlobCorruptedError(corrupted_message(version, f)) from None
            except BlobNotFoundError:
                raise IntegrityError(missing_message(version, f)) from None
            if progress is not None:
                progress(f.size)
        return version, chosen

    # lineage ------------------------------------------------------------------------------
    def log_input(self, run_id: str, project: str, ref: str, role: str = "input") -> RunInput:
        """Record that a run used a dataset version in ``role`` (idempotent)."""
        validate_run_id(run_id)
        validate_name(project, "project name")
        role = _check_role(role)
        parsed = parse_ref(ref)
        with self.store.write() as tx:
            run = tx.run_row(run_id)
            if run.deleted_at is not None:
                raise ConflictError(
                    f"Run {run_id} is deleted; restore it with `modelyard runs restore {run_id}` first."
                )
            row = self._resolve(tx, project, parsed)
            if tx.insert_run_input(run_id, row.id, role):
                self._audit(
                    tx,
                    "run.input.log",
                    "run",
                    run_id,
                    run.project,
                    {"dataset": f"{parsed.name}@{row.version}", "dataset_project": project, "role": role},
                )
            found = [i for i in tx.run_inputs(run_id) if i.version == row.version and i.dataset == parsed.name]
            return next(i for i in found if i.role == role and i.project == project)

    def lineage(self, project: str, ref: str) -> list[RunInput]:
        """The runs that used a version (deleted versions included: lineage outlives the data)."""
        validate_name(project, "project name")
        parsed = parse_ref(ref)
        with self.store.read() as tx:
            row = self._resolve(tx, project, parsed, include_deleted=True)
            return tx.version_uses(row.id)


def corrupted_message(version: DatasetVersion, f: DatasetFile) -> str:
    """The error for a file whose blob failed its digest check."""
    return (
        f"{version.ref}: file {f.path!r} is corrupted in the blob store (blob {f.digest} does not match its "
        "digest); it was not written, and the bad copy was quarantined. Add the original file again to repair it."
    )


def missing_message(version: DatasetVersion, f: DatasetFile) -> str:
    """The error for a file whose blob is gone from the blob store."""
    return (
        f"{version.ref}: the content of file {f.path!r} (blob {f.digest}) is missing from the blob store; "
        "add the original file again to repair it."
    )


def _check_metadata(
    message: object, tags: Mapping[str, Any] | None, num_rows: object, num_columns: object
) -> dict[str, str]:
    """Check a version's message, tags and table shape; return the tags as text."""
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_LENGTH:
        raise InvalidInputError(f"message must be a string of at most {MAX_MESSAGE_LENGTH} characters.")
    for field, value in (("num_rows", num_rows), ("num_columns", num_columns)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidInputError(f"{field} must be a non-negative integer, got {value!r}.")
    return _check_tags(tags or {})


def _check_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise InvalidInputError(f"tags must be a mapping of key to value, got {type(tags).__name__}.")
    out: dict[str, str] = {}
    for key, value in tags.items():
        validate_key(key, "tag")
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_TAG_VALUE_LENGTH:
            raise InvalidInputError(f"tag {key!r} is longer than {MAX_TAG_VALUE_LENGTH} characters.")
        out[key] = text
    return out


def _check_role(role: object) -> str:
    if not isinstance(role, str) or not role or len(role) > _MAX_ROLE_LENGTH:
        raise InvalidInputError(f"input role must be a name of 1 to {_MAX_ROLE_LENGTH} characters, got {role!r}.")
    return validate_name(role, "input role")


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000
