"""Registering model versions and recording model packages: the write path of ``log_model``.

A mixin of :class:`~modelyard.registry._service.RegistryService` (which holds the stores, the caller
and the rules): a version is registered from the package a run holds at an artifact path; its
flavor, signature and requirements come from the stored ``model.yaml``, never from the caller; a
package's artifact rows and its version commit in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.audit import Caller
from modelyard.blobs import BlobInfo, check_digest
from modelyard.data._manifest import digest_of_entries
from modelyard.entities import ArtifactInfo, ModelFile, ModelVersion, ModelVersionStatus
from modelyard.errors import (
    BlobCorruptedError,
    BlobNotFoundError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
)
from modelyard.names import validate_artifact_path, validate_name, validate_run_id
from modelyard.registry._checks import (
    MAX_JSON_BYTES,
    check_flavor,
    check_importance,
    check_json_object,
    check_requirements,
    check_text,
)
from modelyard.registry._refs import model_key, validate_model_name
from modelyard.tracking._service import record_artifacts

if TYPE_CHECKING:
    from modelyard.blobs import BlobStore
    from modelyard.store.sql import SqlStore, StoreTx

__all__ = ["PACKAGE_FILE", "Registration", "now_ms", "writable_run"]

PACKAGE_FILE = "model.yaml"
"""The file every model package has at its root."""


class Registration:
    """Registration and package recording (mixed into ``RegistryService``)."""

    store: SqlStore
    blobs: BlobStore
    caller: Caller
    authenticated: bool

    def _audit(self, tx: StoreTx, action: str, name: str, project: str, summary: Mapping[str, Any]) -> None:
        tx.append_audit(
            self.caller.user,
            action,
            "model",
            name,
            project,
            summary,
            self.caller.request_id,
            self.caller.client_addr,
        )

    # registration -------------------------------------------------------------------------
    def register_version(
        self,
        project: str,
        name: str,
        *,
        run_id: str,
        artifact_path: str = "model",
        importance: Mapping[str, Mapping[str, float]] | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register the package logged on run ``run_id`` at ``artifact_path`` as the next version of ``name``.

        The version's files are the run's artifacts under ``artifact_path`` (paths relative to it);
        flavor, signature, requirements and ``unsafe_format`` are read from the stored
        ``model.yaml`` (never taken from the caller), whose file list must match the artifacts;
        the metrics are the run's latest metric values now.

        Raises:
            InvalidInputError: a bad name or importance; the run is in another project; no package
                (``model.yaml``) at ``artifact_path``.
            IntegrityError: a package file's blob is missing, or ``model.yaml`` disagrees with the files.
        """
        validate_name(project, "project name")
        validate_model_name(name)
        validate_run_id(run_id)
        prefix = validate_artifact_path(artifact_path, "artifact_path")
        importance_value = check_importance(importance)
        description = check_text(description, "description")
        with self.store.write() as tx:
            run = tx.run_row(run_id)
            if run.project != project:
                raise InvalidInputError(
                    f"run {run_id} belongs to project {run.project!r}: register its model in that project."
                )
            return self._register_in(tx, writable_run(tx, run_id, run), name, prefix, importance_value, description)

    def _register_in(
        self, tx: StoreTx, run: Any, name: str, prefix: str, importance: Any, description: str
    ) -> ModelVersion:
        """Register the package of ``run`` (its live ``runs`` row) within ``tx``; arguments are checked."""
        run_id, project = run.id, run.project
        files = [
            ModelFile(path=a.path.removeprefix(prefix + "/"), size=a.size, digest=a.digest)
            for a in tx.list_artifacts(run_id, prefix)
            if a.path != prefix
        ]
        if not any(f.path == PACKAGE_FILE for f in files):
            raise InvalidInputError(
                f"run {run_id} has no model package at {prefix!r} (no {PACKAGE_FILE}); log one with "
                "yard.log_model(model, name) inside the run."
            )
        present = self.blobs.exists_many({f.digest for f in files})
        missing = [f.path for f in files if f.digest not in present]
        if missing:
            raise IntegrityError(
                f"cannot register {name!r}: the blob store lacks package file(s) {', '.join(missing[:5])}; "
                "log the model again."
            )
        meta = self._package_metadata(run_id, prefix, files)
        flavor, signature_value = meta["flavor"], meta["signature"]
        metrics = tx.get_runs([run])[0].metrics
        model, created = tx.lock_model(run.project_id, name, model_key(name), self.caller.user)
        number = tx.max_model_version(model.id) + 1
        if created:
            self._audit(tx, "model.create", model.name, project, {})
        stamp = now_ms()
        digest = digest_of_entries((f.path, f.digest, f.size) for f in files)
        tx.insert_model_version(
            {
                "model_id": model.id,
                "version": number,
                "run_id": run_id,
                "artifact_path": prefix,
                "digest": digest,
                "flavor": flavor,
                "signature": signature_value,
                "metrics": metrics,
                "importance": importance,
                "requirements": meta["requirements"],
                "status": ModelVersionStatus.READY.value,
                "unsafe_format": meta["unsafe_format"],
                "trusted": self.authenticated,
                "description": description,
                "created_by": self.caller.user,
                "created_at": stamp,
                "updated_at": stamp,
            },
            sorted(files, key=lambda f: f.path),
        )
        tx.update_model(model.id)
        self._audit(
            tx,
            "model.version.create",
            model.name,
            project,
            {"version": number, "run_id": run_id, "digest": digest, "flavor": flavor, "files": len(files)},
        )
        row = tx.model_version_row(model.id, number)
        return tx.model_version_entities([row], model.name, project, files=True)[0]

    def _package_metadata(self, run_id: str, prefix: str, files: Sequence[ModelFile]) -> dict[str, Any]:
        """Flavor, signature, requirements and ``unsafe_format`` from the stored ``model.yaml``, checked."""
        import yaml

        meta_file = next(f for f in files if f.path == PACKAGE_FILE)
        where = f"runs:/{run_id}/{prefix}/{PACKAGE_FILE}"
        if meta_file.size > MAX_JSON_BYTES * 16:
            raise InvalidInputError(f"{where} is larger than {MAX_JSON_BYTES * 16} bytes: not a model package.")
        try:
            # libyaml's safe loader where PyYAML has it: the same documents, ~7x faster than the pure-Python one
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            meta = yaml.load(self.blobs.read_bytes(meta_file.digest), Loader=loader)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"{where} is not valid YAML: {exc}") from None
        except (BlobNotFoundError, BlobCorruptedError) as exc:
            raise IntegrityError(f"{where} cannot be read from the blob store: {exc}") from None
        if not isinstance(meta, dict):
            raise InvalidInputError(f"{where} is not a model package description (a mapping).")
        listed = meta.get("files")
        actual = {f.path: (f.digest, f.size) for f in files if f.path != PACKAGE_FILE}
        if (
            not isinstance(listed, dict)
            or {str(k): (v.get("digest"), v.get("size")) for k, v in listed.items() if isinstance(v, dict)} != actual
        ):
            raise IntegrityError(
                f"{where} lists other files than the run holds under {prefix!r}: the package was changed or "
                "logged partially; log the model again."
            )
        unsafe = meta.get("unsafe_format")
        if not isinstance(unsafe, bool):
            raise InvalidInputError(f"{where}: unsafe_format must be true or false, got {unsafe!r}.")
        from modelyard.models import FLAVORS

        flavor = check_flavor(meta.get("flavor"))
        if flavor not in FLAVORS:
            raise InvalidInputError(
                f"{where} names an unknown flavor {flavor!r}: this modelyard loads {', '.join(sorted(FLAVORS))}."
            )
        return {
            "flavor": flavor,
            "signature": check_json_object(meta.get("signature"), "signature"),
            "requirements": check_requirements(meta.get("requirements") or []),
            "unsafe_format": unsafe,
        }

    def log_package(
        self,
        run_id: str,
        files: Sequence[tuple[Path, str]],
        *,
        known: Mapping[str, tuple[str, int]] | None = None,
        register: str | None = None,
        artifact_path: str = "model",
        importance: Mapping[str, Mapping[str, float]] | None = None,
        description: str = "",
    ) -> tuple[list[ArtifactInfo], ModelVersion | None]:
        """Store a package's files as artifacts of a run and, given ``register``, register them, in one transaction.

        The files are ``log_model``'s own temporary copies, so a local store hardlinks them (protected,
        read-only) instead of copying; every blob is durable before the rows. ``known`` maps an
        artifact path to the digest and size ``save_model`` computed while writing that file in this
        process, so a local store does not hash it a second time. The rows are written as
        :meth:`record_package` writes them.
        """
        validate_run_id(run_id)
        planned = [(Path(src), validate_artifact_path(dst)) for src, dst in files]
        checked = self._package_args(artifact_path, register, importance, description)
        known = known or {}
        with self.store.read() as tx:
            writable_run(tx, run_id)
        infos = []
        for src, dst in planned:
            if self.blobs.is_local:
                given = known.get(dst)
                blob = self.blobs.put_link(src, sync=False, known=None if given is None else BlobInfo(*given))[0]
            else:
                blob = self.blobs.put_file(src, sync=False)
            infos.append(ArtifactInfo(path=dst, size=blob.size, digest=blob.digest))
        self.blobs.sync()
        return self._record_package(run_id, infos, *checked, uploaded=False)

    def record_package(
        self,
        run_id: str,
        files: Sequence[ArtifactInfo],
        *,
        register: str | None = None,
        artifact_path: str = "model",
        importance: Mapping[str, Mapping[str, float]] | None = None,
        description: str = "",
    ) -> tuple[list[ArtifactInfo], ModelVersion | None]:
        """Record blobs a client uploaded as a run's package artifacts and, given ``register``, register them.

        One transaction: the artifact rows, their audit event and (with ``register``, a model name)
        the next version of that model in the run's project, so a registration that fails leaves
        no artifact rows either. Every file's blob must be in the store with its size and belong to
        the run's project (uploaded to it, or used by it): a digest alone proves nothing.
        """
        validate_run_id(run_id)
        infos = [
            ArtifactInfo(path=validate_artifact_path(f.path), size=f.size, digest=check_digest(f.digest)) for f in files
        ]
        checked = self._package_args(artifact_path, register, importance, description)
        return self._record_package(run_id, infos, *checked, uploaded=True)

    @staticmethod
    def _package_args(
        artifact_path: str, register: str | None, importance: Mapping[str, Mapping[str, float]] | None, description: str
    ) -> tuple[str, str | None, Any, str]:
        if register is not None:
            validate_model_name(register)
        prefix = validate_artifact_path(artifact_path, "artifact_path")
        return prefix, register, check_importance(importance), check_text(description, "description")

    def _record_package(
        self,
        run_id: str,
        infos: list[ArtifactInfo],
        prefix: str,
        register: str | None,
        importance: Any,
        description: str,
        *,
        uploaded: bool,
    ) -> tuple[list[ArtifactInfo], ModelVersion | None]:
        with self.store.write() as tx:
            row = writable_run(tx, run_id)
            if uploaded:
                self._require_uploaded(tx, row, infos)
            record_artifacts(tx, self.caller, row, infos)
            if register is None:
                return infos, None
            return infos, self._register_in(tx, row, register, prefix, importance, description)

    def _require_uploaded(self, tx: StoreTx, run: Any, infos: Sequence[ArtifactInfo]) -> None:
        """Refuse files whose blob is missing, of another size, or not the run's project's to reference."""
        digests = {i.digest for i in infos}
        present = self.blobs.exists_many(digests)
        allowed = tx.digests_in_project(run.project_id, digests)
        for info in infos:
            if info.digest not in present or info.digest not in allowed:
                raise InvalidInputError(
                    f"{info.path}: blob {info.digest} is not uploaded to project {run.project!r}; upload the bytes "
                    f"first (PUT /api/v1/datasets/blobs/{{digest}}?project={run.project})."
                )
            stored = self.blobs.size(info.digest)
            if stored != info.size:
                raise InvalidInputError(
                    f"{info.path}: size {info.size} is not the size of blob {info.digest} ({stored} bytes)."
                )


def writable_run(tx: StoreTx, run_id: str, row: Any = None) -> Any:
    """The ``runs`` row of a run that may take artifacts and versions (read unless given); refuses a deleted run."""
    row = tx.run_row(run_id) if row is None else row
    if row.deleted_at is not None:
        raise ConflictError(f"Run {run_id} is deleted; restore it with `modelyard runs restore {run_id}` first.")
    return row


def now_ms() -> int:
    return time.time_ns() // 1_000_000
