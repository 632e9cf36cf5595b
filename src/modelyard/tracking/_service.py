"""The tracking service: runs, params, metrics, tags and artifacts, with their invariants and audit.

This is the one place where tracking rules live (validation, immutable params, idempotent creates,
no writes to deleted runs). The local backend calls it in-process; the server calls it per request.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.audit import Caller
from modelyard.entities import (
    ArtifactInfo,
    AuditEvent,
    GcReport,
    Metric,
    MetricBucket,
    Project,
    Run,
    RunInput,
    RunPage,
    RunStatus,
)
from modelyard.errors import (
    ArtifactNotFoundError,
    BlobNotFoundError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RunNotFoundError,
)
from modelyard.names import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    validate_artifact_path,
    validate_key,
    validate_name,
    validate_run_id,
    validate_run_name,
    value_text,
)
from modelyard.search import parse_filter, parse_order_by
from modelyard.tracking._downloads import download_plan
from modelyard.tracking._naming import random_run_name
from modelyard.types import MetricPoint

if TYPE_CHECKING:
    from modelyard.blobs import BlobStore
    from modelyard.store.sql import SqlStore, StoreTx

__all__ = ["MAX_SEARCH_LIMIT", "TrackingService", "record_artifacts"]

MAX_SEARCH_LIMIT = 50_000


class TrackingService:
    """Tracking operations over a metadata store and a blob store, on behalf of one caller."""

    def __init__(self, store: SqlStore, blobs: BlobStore, caller: Caller) -> None:
        """Bind the service to its stores and the caller recorded in the audit log."""
        self.store = store
        self.blobs = blobs
        self.caller = caller

    def _audit(
        self,
        tx: StoreTx,
        action: str,
        object_type: str,
        object_id: str,
        project: str | None,
        summary: Mapping[str, Any] | None = None,
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

    # projects -----------------------------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project (names are unique)."""
        validate_name(name, "project name")
        with self.store.write() as tx:
            project = tx.insert_project(name, description)
            self._audit(tx, "project.create", "project", name, name, {"description": description})
        return project

    def list_projects(self) -> list[Project]:
        """Every project with its run count and last activity."""
        with self.store.read() as tx:
            return tx.list_projects()

    # runs ---------------------------------------------------------------------------------
    def create_run(
        self,
        *,
        run_id: str,
        project: str,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_id: str | None = None,
        start_time_ms: int | None = None,
        source: str | None = None,
        git_commit: str | None = None,
        status: RunStatus = RunStatus.RUNNING,
    ) -> Run:
        """Create a run. Idempotent: creating an existing id again in the same project returns it."""
        validate_run_id(run_id)
        validate_name(project, "project name")
        if name is not None:
            validate_run_name(name)
        tag_values = _validate_mapping(tags or {}, "tag", MAX_TAG_VALUE_LENGTH)
        if parent_id is not None:
            validate_run_id(parent_id)
        with self.store.write() as tx:
            existing = _maybe(lambda: tx.run_row(run_id))
            if existing is not None:
                if existing.project != project:
                    raise ConflictError(f"Run id {run_id} already exists in project {existing.project!r}.")
                return tx.get_run(run_id)
            project_existed = tx.project_exists(project)
            project_id = tx.project_id(project, create=True)
            if not project_existed:
                self._audit(tx, "project.create", "project", project, project, {"implicit": True})
            if parent_id is not None:
                try:
                    parent = tx.run_row(parent_id)
                except RunNotFoundError:
                    raise RunNotFoundError(
                        f"parent_id {parent_id!r} names no run; pass the id of an existing run."
                    ) from None
                if parent.project != project:
                    raise InvalidInputError(
                        f"parent run {parent_id} is in project {parent.project!r}, not {project!r}: "
                        "a nested run must be in its parent's project."
                    )
            run_name = name or random_run_name()
            start = start_time_ms if start_time_ms is not None else time.time_ns() // 1_000_000
            tx.insert_run(
                {
                    "id": run_id,
                    "project_id": project_id,
                    "name": run_name,
                    "status": RunStatus(status).value,
                    "parent_id": parent_id,
                    "user": self.caller.user,
                    "start_time": start,
                    "source": source,
                    "git_commit": git_commit,
                }
            )
            tx.upsert_tags(run_id, tag_values)
            self._audit(tx, "run.create", "run", run_id, project, {"name": run_name, "parent_id": parent_id})
            return tx.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        """Return a run with its params, latest metrics and tags."""
        validate_run_id(run_id)
        with self.store.read() as tx:
            return tx.get_run(run_id)

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | str | None = None,
        end_time_ms: int | None = None,
        error: str | None = None,
        name: str | None = None,
    ) -> Run:
        """Change a run's status (ending it sets its end time), error or name."""
        validate_run_id(run_id)
        values: dict[str, Any] = {}
        if status is not None:
            try:
                new_status = RunStatus(status)
            except ValueError:
                raise InvalidInputError(
                    f"status {status!r} is invalid; use one of {', '.join(s.value for s in RunStatus)}."
                ) from None
            values["status"] = new_status.value
            if new_status.is_terminal:
                values["end_time"] = end_time_ms if end_time_ms is not None else time.time_ns() // 1_000_000
        if error is not None:
            values["error"] = error[:20_000]
        if name is not None:
            values["name"] = validate_run_name(name)
        with self.store.write() as tx:
            row = self._writable(tx, run_id)
            if values:
                tx.update_run(run_id, **values)
                self._audit(
                    tx, "run.update", "run", run_id, row.project, {k: v for k, v in values.items() if k != "error"}
                )
            return tx.get_run(run_id)

    def _writable(self, tx: StoreTx, run_id: str) -> Any:
        row = tx.run_row(run_id)
        if row.deleted_at is not None:
            raise ConflictError(f"Run {run_id} is deleted; restore it with `modelyard runs restore {run_id}` first.")
        return row

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
    ) -> bool:
        """Log metrics, params and tags in one transaction; all or nothing.

        Metric points are ``(key, value, timestamp_ms, step)``. A ``batch_id`` makes the call
        idempotent: a batch already applied is skipped (returns ``False``).
        """
        validate_run_id(run_id)
        points = _validate_points(metrics)
        param_values = _validate_mapping(params or {}, "param", MAX_PARAM_VALUE_LENGTH)
        tag_values = _validate_mapping(tags or {}, "tag", MAX_TAG_VALUE_LENGTH)
        if batch_id is not None and (not isinstance(batch_id, str) or not 0 < len(batch_id) <= 64):
            raise InvalidInputError("batch_id must be a string of 1 to 64 characters.")
        with self.store.write() as tx:
            row = self._writable(tx, run_id)
            if batch_id is not None and not tx.claim_batch(run_id, batch_id):
                return False
            new_params = tx.insert_params(run_id, param_values)
            tx.upsert_tags(run_id, tag_values)
            if points:
                tx.insert_points(run_id, points)
            summary: dict[str, Any] = {}
            if points:
                summary["metric_points"] = len(points)
                summary["metric_keys"] = sorted({p[0] for p in points})[:20]
            if new_params:
                summary["params"] = dict(list(new_params.items())[:50])
            if tag_values:
                summary["tags"] = dict(list(tag_values.items())[:50])
            if summary:
                self._audit(tx, "run.log", "run", run_id, row.project, summary)
        return True

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag from a run."""
        validate_run_id(run_id)
        validate_key(key, "tag")
        with self.store.write() as tx:
            row = self._writable(tx, run_id)
            if not tx.delete_tag(run_id, key):
                raise NotFoundError(f"Run {run_id} has no tag {key!r}.")
            self._audit(tx, "run.tag.delete", "run", run_id, row.project, {"key": key})

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run and its descendants (restorable; hidden from search)."""
        self._set_deleted(run_id, deleted=True)

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run and its descendants."""
        self._set_deleted(run_id, deleted=False)

    def _set_deleted(self, run_id: str, *, deleted: bool) -> None:
        validate_run_id(run_id)
        with self.store.write() as tx:
            row = tx.run_row(run_id)
            ids = [run_id]
            i = 0
            while i < len(ids):
                ids.extend(tx.child_run_ids(ids[i]))
                i += 1
            stamp = time.time_ns() // 1_000_000 if deleted else None
            for rid in ids:
                tx.update_run(rid, deleted_at=stamp)
            action = "run.delete" if deleted else "run.restore"
            self._audit(tx, action, "run", run_id, row.project, {"runs": len(ids)})

    # metrics ------------------------------------------------------------------------------
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a metric series, ordered by step."""
        validate_run_id(run_id)
        validate_key(key)
        with self.store.read() as tx:
            tx.run_row(run_id)
            return tx.history(run_id, key)

    def get_metric_buckets(self, run_id: str, key: str, max_buckets: int = 1000) -> list[MetricBucket]:
        """A downsampled series: at most ``max_buckets`` buckets, each keeping its min and max."""
        validate_run_id(run_id)
        validate_key(key)
        if not 1 <= max_buckets <= 100_000:
            raise InvalidInputError("max_buckets must be between 1 and 100000.")
        with self.store.read() as tx:
            tx.run_row(run_id)
            return tx.downsample(run_id, key, max_buckets)

    # search -------------------------------------------------------------------------------
    def search_runs(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """Search runs of a project with the search language; see :mod:`modelyard.search`."""
        validate_name(project, "project name")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise InvalidInputError(f"limit must be an integer from 1 to {MAX_SEARCH_LIMIT}; use page_token for more.")
        expr = parse_filter(filter)
        keys = parse_order_by(order_by)
        with self.store.read() as tx:
            project_id = tx.project_id(project)
            runs, token = tx.search_runs(project_id, expr, keys, limit, page_token, include_deleted)
        return RunPage(runs, token)

    # artifacts ----------------------------------------------------------------------------
    def log_artifacts(self, run_id: str, files: Iterable[tuple[Path, str]]) -> list[ArtifactInfo]:
        """Store local files as blobs and record them as artifacts at the given paths.

        Every blob is durable before the rows that reference it commit.
        """
        validate_run_id(run_id)
        planned = [(Path(src), validate_artifact_path(dst)) for src, dst in files]
        with self.store.read() as tx:
            self._writable(tx, run_id)
        infos = []
        for src, dst in planned:
            blob = self.blobs.put_file(src, sync=False)
            infos.append(ArtifactInfo(path=dst, size=blob.size, digest=blob.digest))
        self.blobs.sync()
        with self.store.write() as tx:
            record_artifacts(tx, self.caller, self._writable(tx, run_id), infos)
        return infos

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        """Artifacts of a run, optionally under ``path``."""
        validate_run_id(run_id)
        prefix = validate_artifact_path(path) if path else None
        with self.store.read() as tx:
            tx.run_row(run_id)
            return tx.list_artifacts(run_id, prefix)

    def open_artifact(self, run_id: str, path: str) -> tuple[ArtifactInfo, Any]:
        """One artifact file's info and a reader of its bytes, verified as read to the end (close it)."""
        path = validate_artifact_path(path)
        found = [a for a in self.list_artifacts(run_id, path) if a.path == path]
        if not found:
            raise ArtifactNotFoundError(f"Run {run_id} has no artifact file {path!r}.")
        return found[0], self.blobs.open(found[0].digest)

    def download_artifacts(self, run_id: str, path: str | None, dst: Path) -> Path:
        """Copy an artifact (or every artifact under a directory path) into ``dst``, digest-verified.

        Returns the local path of the file or directory.
        """
        pairs, result = download_plan(run_id, path, self.list_artifacts(run_id, path), Path(dst))
        for info, target in pairs:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.blobs.get_file(info.digest, target)
        return result

    # inputs -------------------------------------------------------------------------------
    def list_run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run used, with their roles (lineage; see ``DatasetService.log_input``)."""
        validate_run_id(run_id)
        with self.store.read() as tx:
            tx.run_row(run_id)
            return tx.run_inputs(run_id)

    # audit and maintenance ----------------------------------------------------------------
    def list_audit(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first (see :meth:`StoreTx.list_audit` for the filters)."""
        with self.store.read() as tx:
            return tx.list_audit(**filters)

    def gc(self, *, dry_run: bool = True, grace_seconds: int = 3600) -> GcReport:
        """Remove blobs that no live object references and that are older than ``grace_seconds``."""
        with self.store.read() as tx:
            referenced = tx.referenced_digests()
        cutoff = time.time() - grace_seconds
        kept = 0
        sizes: dict[str, int] = {}
        for digest, mtime in list(self.blobs.iter_blobs()):
            if digest in referenced:
                continue
            if mtime > cutoff:
                kept += 1
                continue
            with contextlib.suppress(BlobNotFoundError):  # deleted meanwhile
                sizes[digest] = self.blobs.size(digest)
        doomed = set(sizes)
        if not dry_run and doomed:
            # Re-check under a write transaction: an artifact may have been logged meanwhile.
            with self.store.write() as tx:
                doomed = self.blobs.delete_many(doomed - tx.referenced_digests())
        if not dry_run:
            self.blobs.remove_orphan_packs()
        removed, size = len(doomed), sum(sizes[d] for d in doomed)
        if not dry_run and removed:
            with self.store.write() as tx:
                self._audit(tx, "blob.gc", "blobs", self.blobs.url, None, {"removed": removed, "bytes": size})
        return GcReport(dry_run=dry_run, blobs_removed=removed, bytes_removed=size, blobs_kept_recent=kept)


def _maybe(fn: Any) -> Any:
    try:
        return fn()
    except NotFoundError:
        return None


def _validate_mapping(values: Mapping[str, Any], kind: str, max_len: int) -> dict[str, str]:
    if not isinstance(values, Mapping):
        raise InvalidInputError(f"{kind}s must be a mapping of key to value, got {type(values).__name__}.")
    out: dict[str, str] = {}
    for key, value in values.items():
        validate_key(key, kind)
        text = value_text(value)
        if len(text) > max_len:
            raise InvalidInputError(f"{kind} {key!r} is longer than {max_len} characters; log it as an artifact.")
        out[key] = text
    return out


def _validate_points(points: Sequence[MetricPoint]) -> Sequence[MetricPoint]:
    """Check metric points; the common case (well-typed tuples) is checked in bulk."""
    if not all(type(p) is tuple and len(p) == 4 for p in points):
        try:
            points = [tuple(p) for p in points]  # type: ignore[misc]
        except TypeError:
            points = []
        if not all(len(p) == 4 for p in points):
            raise InvalidInputError("Each metric point must be (key, value, timestamp_ms, step).")
    keys, values, stamps, steps = (list(map(itemgetter(i), points)) for i in range(4))
    for key in set(keys):
        validate_key(key)
    if (
        all(type(v) is float for v in values)
        and all(type(s) is int for s in steps)
        and all(type(ts) is int for ts in stamps)
        and (not points or (min(steps) >= -(2**63) and max(steps) < 2**63 and min(stamps) >= 0 and max(stamps) < 2**63))
    ):
        return points
    return [_validate_point(*point) for point in points]


def _validate_point(key: str, value: Any, ts: Any, step: Any) -> MetricPoint:
    if isinstance(value, bool) or isinstance(value, str):
        raise InvalidInputError(f"metric {key!r} value must be a number, got {type(value).__name__} {value!r}.")
    try:
        value = float(value)  # ints, numpy scalars, Decimal, ...
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"metric {key!r} value must be a number, got {type(value).__name__} {value!r}."
        ) from None
    try:
        step, ts = _as_int(step, "step", key), _as_int(ts, "timestamp", key)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(f"metric {key!r}: step and timestamp must be integers.") from None
    if not -(2**63) <= step < 2**63 or not 0 <= ts < 2**63:
        raise InvalidInputError(f"metric {key!r}: step or timestamp out of range.")
    return (key, value, ts, step)


def _as_int(value: Any, field: str, key: str) -> int:
    if isinstance(value, bool):
        raise TypeError(field)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(field)
    return int(value)


def record_artifacts(tx: StoreTx, caller: Caller, run: Any, infos: list[ArtifactInfo]) -> None:
    """Write artifact rows of ``run`` (its ``runs`` row) and their one ``artifact.log`` audit event, in ``tx``."""
    tx.put_artifacts(run.id, infos)
    tx.append_audit(
        caller.user,
        "artifact.log",
        "run",
        run.id,
        run.project,
        {"paths": [i.path for i in infos[:50]], "files": len(infos), "bytes": sum(i.size for i in infos)},
        caller.request_id,
        caller.client_addr,
    )
