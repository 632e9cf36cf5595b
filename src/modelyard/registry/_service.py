"""The registry service: registered models, versions, aliases, environments with approvals, history.

The one place where registry rules live:

- a version is registered from a package logged on a run of the same project (its ``model/``
  artifacts); its files are the run's blobs, checked present under the write lock; numbers are
  given under the model's lock (1..N exactly, however many register at once);
- names are compared NFC-normalised and case-folded (``Churn`` is ``churn``);
- aliases move atomically; environments (``staging``, ``production`` by default) change only by an
  approved promotion request (or a rollback), decided by a user holding the approver role;
- archived versions keep their rows and files but take no alias, environment or ``@latest``;
- every change appends an audit event in its own transaction; alias and environment history (and
  rollback) is read back from those events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.audit import Caller
from modelyard.blobs import CHUNK_SIZE
from modelyard.entities import (
    AliasChange,
    ModelFile,
    ModelVersion,
    ModelVersionStatus,
    PromotionRequest,
    PromotionState,
    RegisteredModel,
    Role,
)
from modelyard.errors import (
    BlobCorruptedError,
    BlobNotFoundError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    ModelNotFoundError,
    PermissionDeniedError,
)
from modelyard.names import validate_artifact_path, validate_name, validate_run_id
from modelyard.registry._checks import (
    check_moment,
    check_request_id,
    check_tags,
    check_text,
    check_version_number,
)
from modelyard.registry._refs import ModelRef, model_key, parse_model_ref, validate_alias, validate_model_name
from modelyard.registry._registration import PACKAGE_FILE, Registration, now_ms

if TYPE_CHECKING:
    from modelyard.blobs import BlobStore
    from modelyard.store.sql import SqlStore, StoreTx

__all__ = ["DEFAULT_ENVIRONMENTS", "PACKAGE_FILE", "RegistryService"]

DEFAULT_ENVIRONMENTS = ("staging", "production")

RoleOf = Callable[[str], "Role | None"]
"""The caller's role in a project (``None``: none); absent in embedded mode, where the caller owns the store."""


class RegistryService(Registration):
    """Registry operations over a metadata store and a blob store, on behalf of one caller."""

    def __init__(
        self,
        store: SqlStore,
        blobs: BlobStore,
        caller: Caller,
        *,
        environments: Sequence[str] = DEFAULT_ENVIRONMENTS,
        approver_role: Role | str = Role.ADMIN,
        role_of: RoleOf | None = None,
        authenticated: bool = True,
    ) -> None:
        """Bind the service to its stores, the caller, the environments and the approval rule.

        Args:
            store: the metadata store.
            blobs: the blob store holding package files.
            caller: who acts (recorded in the audit log).
            environments: the environments versions may be promoted to.
            approver_role: the project role needed to approve or reject promotions.
            role_of: the caller's role in a project; ``None`` in embedded mode (every role).
            authenticated: the caller proved who they are (a server with auth on; embedded: the
                store's owner). Versions they register are ``trusted``: a package that needs
                pickle loads from the registry only as a trusted version.
        """
        self.store = store
        self.blobs = blobs
        self.caller = caller
        self.environments = tuple(validate_name(e, "environment").lower() for e in environments)
        self.approver_role = Role(approver_role)
        self.role_of = role_of
        self.authenticated = authenticated

    def _require_role(self, project: str, needed: Role, what: str) -> None:
        if self.role_of is None:
            return
        role = self.role_of(project)
        if role is None or not role.allows(needed):
            raise PermissionDeniedError(
                f"{self.caller.user} needs the {needed.value} role on project {project!r} to {what}"
                + (f" (has {role.value})." if role else " (has no role).")
            )

    # lookups ------------------------------------------------------------------------------
    def _model(self, tx: StoreTx, project: str, name: str) -> Any:
        validate_model_name(name)
        row = tx.model_row(tx.project_id(project), model_key(name)) if tx.project_exists(project) else None
        if row is None:
            raise ModelNotFoundError(
                f"No model named {name!r} in project {project!r}; list them with `modelyard models ls`."
            )
        return row

    def _resolve(self, tx: StoreTx, project: str, ref: ModelRef) -> tuple[Any, Any]:
        """The model row and version row a (registered) reference names."""
        if ref.is_run or ref.name is None:
            raise InvalidInputError(f"{ref} names a run's package, not a registered version.")
        model = self._model(tx, project, ref.name)
        if ref.version is not None:
            row = tx.model_version_row(model.id, ref.version)
            if row is None:
                newest = tx.max_model_version(model.id)
                raise ModelNotFoundError(f"Model {model.name!r} has no version {ref.version} (newest: {newest}).")
        elif ref.alias is not None:
            row = tx.pointer_version(model.id, "alias", ref.alias) or tx.pointer_version(
                model.id, "environment", ref.alias
            )
            if row is None:
                entity = tx.model_entities([model], project)[0]
                raise ModelNotFoundError(
                    f"Model {model.name!r} has no alias or environment {ref.alias!r} (aliases: "
                    f"{', '.join(entity.aliases) or 'none'}; environments: {', '.join(entity.environments) or 'none'})."
                )
        elif ref.sha is not None:
            rows = [r for r in tx.model_version_rows(model.id) if r.digest.startswith(ref.sha)]
            if not rows:
                raise ModelNotFoundError(f"No version of model {model.name!r} has a digest starting with {ref.sha}.")
            if len({r.digest for r in rows}) > 1:
                found = ", ".join(f"{model.name}@{r.version}" for r in rows[:10])
                raise InvalidInputError(f"{ref} is ambiguous: it matches {found}; give more digest characters.")
            row = rows[0]
        else:
            row = tx.model_version_row(model.id, ready_only=True)
            if row is None:
                raise ModelNotFoundError(f"Model {model.name!r} has no READY version (all are archived).")
        return model, row

    def get_version(self, project: str, ref: str, *, files: bool = True) -> ModelVersion:
        """The version a reference names: ``churn``, ``churn@3``, ``churn@champion``, ``models:/churn/3`` ..."""
        validate_name(project, "project name")
        parsed = parse_model_ref(ref)
        with self.store.read() as tx:
            model, row = self._resolve(tx, project, parsed)
            return tx.model_version_entities([row], model.name, project, files=files)[0]

    def list_models(self, project: str) -> list[RegisteredModel]:
        """Registered models of a project, by name."""
        validate_name(project, "project name")
        with self.store.read() as tx:
            if not tx.project_exists(project):
                return []
            return tx.model_entities(tx.model_rows(tx.project_id(project)), project)

    def get_model(self, project: str, name: str) -> RegisteredModel:
        """A registered model with its newest version number, aliases and environments."""
        validate_name(project, "project name")
        with self.store.read() as tx:
            return tx.model_entities([self._model(tx, project, name)], project)[0]

    def list_versions(self, project: str, name: str) -> list[ModelVersion]:
        """Versions of a model, newest first, without their file lists."""
        validate_name(project, "project name")
        with self.store.read() as tx:
            model = self._model(tx, project, name)
            return tx.model_version_entities(tx.model_version_rows(model.id), model.name, project)

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The model versions registered from a run (lineage)."""
        validate_run_id(run_id)
        with self.store.read() as tx:
            tx.run_row(run_id)
            out: list[ModelVersion] = []
            for row in tx.model_version_rows_of_run(run_id):
                out += tx.model_version_entities([row], row.model_name, row.project_name)
            return out

    def update_model(
        self, project: str, name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> RegisteredModel:
        """Change a model's description or tags (the tags given replace the old ones)."""
        validate_name(project, "project name")
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = check_text(description, "description")
        if tags is not None:
            values["tags"] = check_tags(tags)
        with self.store.write() as tx:
            model = self._model(tx, project, name)
            if values:
                tx.update_model(model.id, **values)
                self._audit(tx, "model.update", model.name, project, {"fields": sorted(values)})
            return tx.model_entities([tx.model_row(model.project_id, model.name_key)], project)[0]

    # aliases ------------------------------------------------------------------------------
    def set_alias(self, project: str, name: str, alias: str, version: int | str) -> ModelVersion:
        """Point ``alias`` at a version (moving it atomically if it pointed elsewhere).

        Raises:
            InvalidInputError: the alias is a number, ``latest`` or an environment's name.
            ModelNotFoundError: no such model or version.
            ConflictError: the version is archived.
        """
        validate_name(project, "project name")
        key = validate_alias(alias)
        if key in self.environments:
            raise InvalidInputError(
                f"{key!r} is an environment: promote a version there with `modelyard models promote`."
            )
        number = check_version_number(version)
        with self.store.write() as tx:
            model, row = self._resolve(tx, project, ModelRef(name=name, version=number))
            if row.status != ModelVersionStatus.READY.value:
                raise ConflictError(f"{model.name}@{number} is archived; restore it before giving it an alias.")
            previous = tx.pointer_version(model.id, "alias", key)
            if previous is not None and previous.id == row.id:
                return tx.model_version_entities([row], model.name, project)[0]  # already there: no event
            tx.set_pointer(model.id, "alias", key, row.id, self.caller.user)
            self._audit(
                tx,
                "model.alias.set",
                model.name,
                project,
                {"alias": key, "version": number, "previous": None if previous is None else previous.version},
            )
            return tx.model_version_entities([row], model.name, project)[0]

    def delete_alias(self, project: str, name: str, alias: str) -> None:
        """Remove an alias (the version stays)."""
        validate_name(project, "project name")
        key = validate_alias(alias)
        with self.store.write() as tx:
            model = self._model(tx, project, name)
            previous = tx.pointer_version(model.id, "alias", key)
            if previous is None:
                raise ModelNotFoundError(f"Model {model.name!r} has no alias {key!r}.")
            tx.delete_pointer(model.id, "alias", key)
            self._audit(
                tx,
                "model.alias.delete",
                model.name,
                project,
                {"alias": key, "version": None, "previous": previous.version},
            )

    # environments and approvals -----------------------------------------------------------
    def _environment(self, environment: object) -> str:
        if not isinstance(environment, str) or environment.lower() not in self.environments:
            raise InvalidInputError(
                f"environment {environment!r} is not configured: use one of {', '.join(self.environments)} "
                "(MODELYARD_MODEL_ENVIRONMENTS)."
            )
        return environment.lower()

    def request_promotion(self, project: str, ref: str, environment: str, reason: str = "") -> PromotionRequest:
        """Ask for a version to be moved into an environment; an approver decides.

        Raises:
            ConflictError: the version is archived, already there, or already has a pending request there.
        """
        validate_name(project, "project name")
        env = self._environment(environment)
        reason = check_text(reason, "reason")
        parsed = parse_model_ref(ref)
        with self.store.write() as tx:
            model, row = self._resolve(tx, project, parsed)
            label = f"{model.name}@{row.version}"
            if row.status != ModelVersionStatus.READY.value:
                raise ConflictError(f"{label} is archived; restore it before promoting it.")
            current = tx.pointer_version(model.id, "environment", env)
            if current is not None and current.id == row.id:
                raise ConflictError(f"{label} is already in {env}.")
            for pending in tx.promotion_rows(model.project_id, model.id, PromotionState.PENDING.value):
                if pending.version_id == row.id and pending.environment == env:
                    raise ConflictError(f"{label} already has a pending request (#{pending.id}) for {env}.")
            request_id = tx.insert_promotion(
                {
                    "model_id": model.id,
                    "version_id": row.id,
                    "environment": env,
                    "state": PromotionState.PENDING.value,
                    "requested_by": self.caller.user,
                    "requested_at": now_ms(),
                    "reason": reason,
                }
            )
            self._audit(
                tx,
                "model.promotion.request",
                model.name,
                project,
                {"request": request_id, "version": row.version, "environment": env, "reason": reason},
            )
            return tx.promotion_entity(tx.promotion_row(request_id))

    def decide_promotion(self, project: str, request_id: int, *, approve: bool, reason: str = "") -> PromotionRequest:
        """Approve (moving the environment to the version) or reject a pending request.

        Raises:
            PermissionDeniedError: the caller lacks the approver role.
            InvalidInputError: a rejection without a reason.
            ConflictError: the request is no longer pending, or its version was archived.
        """
        validate_name(project, "project name")
        reason = check_text(reason, "reason")
        if not approve and not reason.strip():
            raise InvalidInputError("a rejection needs a reason (--reason): it is recorded for the requester.")
        verb = "approve" if approve else "reject"
        self._require_role(project, self.approver_role, f"{verb} promotions")
        with self.store.write() as tx:
            row = tx.promotion_row(check_request_id(request_id))
            if row is None or row.project_name != project:
                raise ModelNotFoundError(f"No promotion request #{request_id} in project {project!r}.")
            label = f"{row.model_name}@{row.version}"
            if row.state != PromotionState.PENDING.value:
                raise ConflictError(
                    f"Promotion request #{row.id} ({label} to {row.environment}) is already {row.state}."
                )
            if approve:
                version = tx.model_version_row(row.model_id, row.version)
                if version.status != ModelVersionStatus.READY.value:
                    raise ConflictError(f"{label} was archived since the request; restore it first.")
                self._move(tx, row.model_id, row.model_name, project, "environment", row.environment, version, reason,
                           request=row.id)  # fmt: skip
            state = PromotionState.APPROVED if approve else PromotionState.REJECTED
            tx.decide_promotion_row(row.id, state, self.caller.user, reason)
            self._audit(
                tx,
                f"model.promotion.{verb}",
                row.model_name,
                project,
                {"request": row.id, "version": row.version, "environment": row.environment, "reason": reason},
            )
            return tx.promotion_entity(tx.promotion_row(row.id))

    def list_promotions(
        self, project: str, name: str | None = None, state: str | None = None
    ) -> list[PromotionRequest]:
        """Promotion requests of a project (or one model), newest first, optionally in one state."""
        validate_name(project, "project name")
        if state is not None:
            try:
                state = PromotionState(str(state).upper()).value
            except ValueError:
                raise InvalidInputError(f"state must be PENDING, APPROVED or REJECTED, got {state!r}.") from None
        with self.store.read() as tx:
            if not tx.project_exists(project):
                return []
            model_id = self._model(tx, project, name).id if name is not None else None
            return [tx.promotion_entity(r) for r in tx.promotion_rows(tx.project_id(project), model_id, state)]

    def _move(
        self,
        tx: StoreTx,
        model_id: int,
        name: str,
        project: str,
        kind: str,
        key: str,
        version: Any,
        reason: str,
        **extra: Any,
    ) -> None:
        previous = tx.pointer_version(model_id, kind, key)
        tx.set_pointer(model_id, kind, key, version.id, self.caller.user)
        summary = {
            kind: key,
            "version": version.version,
            "previous": None if previous is None else previous.version,
            "reason": reason,
            **extra,
        }
        self._audit(tx, f"model.{kind}.set", name, project, summary)

    # archive ------------------------------------------------------------------------------
    def set_archived(self, project: str, ref: str, archived: bool) -> ModelVersion:
        """Archive a version (no alias or environment may point at it) or restore it."""
        validate_name(project, "project name")
        parsed = parse_model_ref(ref)
        with self.store.write() as tx:
            model, row = self._resolve(tx, project, parsed)
            label = f"{model.name}@{row.version}"
            wanted = ModelVersionStatus.ARCHIVED if archived else ModelVersionStatus.READY
            if row.status == wanted.value:
                raise ConflictError(f"{label} is already {wanted.value}.")
            if archived:
                holders = tx.pointers_of_version(row.id)
                if holders:
                    names = ", ".join(f"{kind} {key!r}" for kind, key in holders)
                    raise ConflictError(f"{label} is still used by {names}: move them to another version first.")
            tx.update_model_version(row.id, status=wanted.value)
            action = "model.version.archive" if archived else "model.version.restore"
            self._audit(tx, action, model.name, project, {"version": row.version})
            return tx.model_version_entities([tx.model_version_row(model.id, row.version)], model.name, project)[0]

    # history and rollback -----------------------------------------------------------------
    def history(
        self, project: str, name: str, *, target: str | None = None, until_ms: int | None = None
    ) -> list[AliasChange]:
        """Moves of a model's aliases and environments (one ``target`` or all), oldest first."""
        validate_name(project, "project name")
        until_ms = check_moment(until_ms, "until_ms")
        key = None if target is None else model_key(validate_name(target, "alias or environment"))
        with self.store.read() as tx:
            model = self._model(tx, project, name)
            return tx.pointer_history(project, model.name, target=key, until_ms=until_ms)

    def holder_at(self, project: str, name: str, target: str, at_ms: int) -> int | None:
        """The version an alias or environment pointed at, at a moment (``None``: it did not exist then)."""
        changes = self.history(project, name, target=target, until_ms=at_ms)
        return changes[-1].version if changes else None

    def rollback(
        self, project: str, name: str, target: str, *, at_ms: int | None = None, reason: str = ""
    ) -> ModelVersion:
        """Move an alias or environment back: to the version it held at ``at_ms``, or to its previous holder.

        Rolling an environment back needs the approver role, like a promotion.
        """
        validate_name(project, "project name")
        key = model_key(validate_name(target, "alias or environment"))
        at_ms = check_moment(at_ms, "at_ms")
        kind = "environment" if key in self.environments else "alias"
        reason = check_text(reason, "reason")
        if kind == "environment":
            self._require_role(project, self.approver_role, f"roll back {key}")
        with self.store.write() as tx:
            model = self._model(tx, project, name)
            changes = tx.pointer_history(project, model.name, target=key)
            current = tx.pointer_version(model.id, kind, key)
            if at_ms is not None:
                past = [c for c in changes if c.time.timestamp() * 1000 <= at_ms]
                number = past[-1].version if past else None
                when = f"at {at_ms} ms"
            else:
                number = changes[-1].previous if changes else None
                when = "before its last change"
            if number is None:
                raise ConflictError(
                    f"{model.name}: {kind} {key!r} pointed at no version {when}; nothing to roll back to."
                )
            if current is not None and current.version == number:
                raise ConflictError(f"{model.name}: {kind} {key!r} already points at version {number}.")
            version = tx.model_version_row(model.id, number)
            if version.status != ModelVersionStatus.READY.value:
                raise ConflictError(f"{model.name}@{number} is archived; restore it before rolling back to it.")
            self._move(tx, model.id, model.name, project, kind, key, version, reason, rollback=True)
            return tx.model_version_entities([tx.model_version_row(model.id, number)], model.name, project)[0]

    # files --------------------------------------------------------------------------------
    def materialize(self, project: str, ref: str, dst: Path) -> ModelVersion:
        """Write a version's package files under ``dst``, each verified against its digest."""
        version = self.get_version(project, ref)
        root = Path(dst).absolute()
        for f in version.files:
            target = root.joinpath(*validate_artifact_path(f.path, "model file path").split("/"))
            try:
                self.blobs.get_file(f.digest, target)
            except BlobCorruptedError:
                self.blobs.quarantine(f.digest)
                raise BlobCorruptedError(_corrupted(version, f)) from None
            except BlobNotFoundError:
                raise IntegrityError(_missing(version, f)) from None
        return version

    def iter_file(
        self, project: str, ref: str, path: str, *, verify_up_to: int = 0
    ) -> tuple[ModelVersion, ModelFile, Iterator[bytes]]:
        """One package file as a stream of chunks, verified as it is read (files up to ``verify_up_to`` first)."""
        version = self.get_version(project, ref)
        found = [f for f in version.files if f.path == path]
        if not found:
            raise ModelNotFoundError(f"{version.ref} has no file {path!r}.")
        f = found[0]
        try:
            if f.size <= verify_up_to:
                self.blobs.verify(f.digest)
            reader = self.blobs.open(f.digest)
        except BlobCorruptedError:
            self.blobs.quarantine(f.digest)
            raise BlobCorruptedError(_corrupted(version, f)) from None
        except BlobNotFoundError:
            raise IntegrityError(_missing(version, f)) from None

        def chunks() -> Iterator[bytes]:
            with reader:
                try:
                    while chunk := reader.read(CHUNK_SIZE):
                        yield chunk
                except BlobCorruptedError:
                    self.blobs.quarantine(f.digest)
                    raise BlobCorruptedError(_corrupted(version, f)) from None

        return version, f, chunks()


def _corrupted(version: ModelVersion, f: ModelFile) -> str:
    return (
        f"{version.ref}: package file {f.path!r} is corrupted in the blob store (blob {f.digest} does not match "
        "its digest); it was not written, and the bad copy was quarantined. Log the model again to repair it."
    )


def _missing(version: ModelVersion, f: ModelFile) -> str:
    return f"{version.ref}: the content of package file {f.path!r} (blob {f.digest}) is missing from the blob store."
