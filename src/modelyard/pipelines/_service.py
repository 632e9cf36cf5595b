"""The pipeline service: pipeline runs, batches of step runs, the step cache and cancellation.

The engine (in the process that runs the pipeline) calls it through the backend; the server calls
it per request. A pipeline run and each step run are tracked runs (``runs`` rows), so the runs
views, search and the audit log see them like any other run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.audit import Caller
from modelyard.entities import PipelineInfo, PipelineRun, RunStatus, StepOutputRef
from modelyard.errors import ConflictError, InvalidInputError, PipelineNotFoundError
from modelyard.names import validate_name, validate_run_id, value_text

if TYPE_CHECKING:
    from modelyard.blobs import BlobStore
    from modelyard.store.sql import SqlStore, StoreTx

__all__ = ["PipelineService"]

EXECUTORS = ("thread", "process", "ray")
_MAX_LOGS = 100_000


def _now() -> int:
    return time.time_ns() // 1_000_000


class PipelineService:
    """Pipeline operations over a metadata store and a blob store, on behalf of one caller."""

    def __init__(self, store: SqlStore, blobs: BlobStore, caller: Caller) -> None:
        """Bind the service to its stores and the caller recorded in the audit log."""
        self.store = store
        self.blobs = blobs
        self.caller = caller

    def _audit(self, tx: StoreTx, action: str, run_id: str, project: str, summary: Mapping[str, Any]) -> None:
        tx.append_audit(
            self.caller.user,
            action,
            "pipeline_run",
            run_id,
            project,
            summary,
            self.caller.request_id,
            self.caller.client_addr,
        )

    # pipeline runs ------------------------------------------------------------------------
    def create_pipeline_run(
        self,
        *,
        run_id: str,
        project: str,
        pipeline: str,
        target: str | None = None,
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
        status: RunStatus | str = RunStatus.PENDING,
        dag: Mapping[str, Any] | None = None,
    ) -> PipelineRun:
        """Create a pipeline run (``PENDING`` for the queue, ``RUNNING`` when executed at once).

        Idempotent: creating an existing id again returns it.
        """
        validate_run_id(run_id)
        validate_name(project, "project name")
        validate_name(pipeline, "pipeline name")
        if executor not in EXECUTORS:
            raise InvalidInputError(f"executor {executor!r} is unknown; use one of {', '.join(EXECUTORS)}.")
        status = RunStatus(status)
        if status not in (RunStatus.PENDING, RunStatus.RUNNING):
            raise InvalidInputError("a pipeline run starts PENDING or RUNNING.")
        params = dict(params or {})
        try:
            params_json = json.dumps(params, sort_keys=True)
        except (TypeError, ValueError):
            raise InvalidInputError("pipeline params must be JSON values (numbers, strings, lists, dicts).") from None
        with self.store.write() as tx:
            try:
                return tx.get_pipeline_run(run_id)
            except PipelineNotFoundError:
                pass  # a new run: create it below
            project_id = tx.project_id(project, create=True)
            now = _now()
            tx.insert_run(
                {
                    "id": run_id,
                    "project_id": project_id,
                    "name": pipeline,
                    "status": status.value,
                    "parent_id": None,
                    "user": self.caller.user,
                    "start_time": now,
                    "source": target,
                }
            )
            tx.insert_params(run_id, {k: value_text(v) for k, v in params.items()})
            tx.upsert_tags(run_id, {"modelyard.pipeline": pipeline})
            tx.insert_pipeline_run(
                {
                    "run_id": run_id,
                    "project_id": project_id,
                    "pipeline": pipeline,
                    "target": target,
                    "params": params_json,
                    "executor": executor,
                    "dag": json.dumps(dict(dag or {})),
                }
            )
            self._audit(tx, "pipeline_run.create", run_id, project, {"pipeline": pipeline, "status": status.value})
            return tx.get_pipeline_run(run_id, steps=False)

    def start_pipeline_run(self, run_id: str, *, dag: Mapping[str, Any], executor: str) -> PipelineRun:
        """Mark a pipeline run ``RUNNING`` with its traced DAG (a queued, a failed or a resumed run)."""
        validate_run_id(run_id)
        if executor not in EXECUTORS:
            raise InvalidInputError(f"executor {executor!r} is unknown; use one of {', '.join(EXECUTORS)}.")
        with self.store.write() as tx:
            row = tx.pipeline_run_row(run_id)
            if row.status == RunStatus.RUNNING.value:
                raise ConflictError(f"Pipeline run {run_id} is already running.")
            if row.cancel_requested is not None and row.status != RunStatus.KILLED.value:
                # cancelled while queued or while starting: it must not start; a KILLED run may be resumed
                raise ConflictError(f"Pipeline run {run_id} was cancelled; start a new run instead.")
            tx.update_run(run_id, status=RunStatus.RUNNING.value, end_time=None, error=None)
            tx.update_pipeline_run(run_id, dag=json.dumps(dict(dag)), executor=executor, cancel_requested=None)
            self._audit(tx, "pipeline_run.start", run_id, row.project, {"executor": executor, "from": row.status})
            return tx.get_pipeline_run(run_id)

    def record_steps(
        self,
        run_id: str,
        records: Sequence[Mapping[str, Any]],
        *,
        finish: Mapping[str, Any] | None = None,
        scoped: bool = False,
    ) -> bool:
        """Write a batch of step runs (one transaction); optionally end the pipeline run too.

        ``finish`` is ``{"status": ..., "error": ...}``. Returns whether cancellation was requested.
        With ``scoped`` (records sent to the server) blob outputs must be blobs the project uploaded
        or already references: a bare digest could name another project's data.
        """
        validate_run_id(run_id)
        checked = [_check_record(r) for r in records]
        with self.store.write() as tx:
            row = tx.pipeline_run_row(run_id)
            project_id = tx.project_id(row.project)
            if scoped:
                outputs = [o for r in checked for o in r.get("outputs", ())]
                # Outputs with a ``ref`` name a dataset or model version (checked by those services).
                blobs = {o["digest"] for o in outputs if o.get("digest") and o["kind"] != "inline" and not o.get("ref")}
                unknown = sorted(blobs - tx.digests_in_project(project_id, blobs))
                if unknown:
                    raise InvalidInputError(
                        f"step outputs reference {len(unknown)} blob(s) not uploaded to project {row.project!r} "
                        f"(first: {unknown[0]}); upload them first (PUT /api/v1/pipelines/blobs/{{digest}})."
                    )
            tx.write_step_runs(run_id, project_id, self.caller.user, checked)
            if finish is not None:
                status = RunStatus(finish["status"])
                if not status.is_terminal:
                    raise InvalidInputError("a pipeline run ends FINISHED, FAILED or KILLED.")
                error = finish.get("error")
                tx.update_run(
                    run_id, status=status.value, end_time=_now(), error=None if error is None else str(error)[:20_000]
                )
                self._audit(
                    tx, "pipeline_run.end", run_id, row.project, {"status": status.value, "steps": len(checked)}
                )
            return finish is None and bool(tx.cancel_requested(run_id))

    def request_cancel(self, run_id: str) -> PipelineRun:
        """Ask a pipeline run to stop: a queued run ends ``KILLED`` now, a running one at its next step."""
        validate_run_id(run_id)
        with self.store.write() as tx:
            row = tx.pipeline_run_row(run_id)
            status = RunStatus(row.status)
            if status.is_terminal:
                raise ConflictError(f"Pipeline run {run_id} has already ended ({status.value}); nothing to cancel.")
            tx.update_pipeline_run(run_id, cancel_requested=_now())
            if status == RunStatus.PENDING:
                tx.update_run(run_id, status=RunStatus.KILLED.value, end_time=_now(), error="cancelled")
            self._audit(tx, "pipeline_run.cancel", run_id, row.project, {"from": status.value})
            return tx.get_pipeline_run(run_id)

    # reads --------------------------------------------------------------------------------
    def get_pipeline_run(self, run_id: str) -> PipelineRun:
        """A pipeline run with its DAG and the latest step run of each step."""
        validate_run_id(run_id)
        with self.store.read() as tx:
            return tx.get_pipeline_run(run_id)

    def list_pipeline_runs(
        self, project: str, pipeline: str | None = None, *, status: str | None = None, limit: int = 100
    ) -> list[PipelineRun]:
        """Pipeline runs of a project, newest first (without their step runs)."""
        validate_name(project, "project name")
        if pipeline is not None:
            validate_name(pipeline, "pipeline name")
        if status is not None:
            try:
                status = RunStatus(status).value
            except ValueError:
                raise InvalidInputError(
                    f"status {status!r} is invalid; use one of {', '.join(s.value for s in RunStatus)}."
                ) from None
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidInputError("limit must be an integer from 1 to 10000.")
        with self.store.read() as tx:
            project_id = tx.project_id(project)
            return tx.list_pipeline_runs(project_id, pipeline, limit, status)

    def list_pipelines(self, project: str) -> list[PipelineInfo]:
        """Pipelines that have runs in a project, with their latest run."""
        validate_name(project, "project name")
        with self.store.read() as tx:
            return tx.list_pipelines(tx.project_id(project))

    def cache_lookup(self, project: str, cache_keys: Sequence[str]) -> dict[str, tuple[str, list[StepOutputRef]]]:
        """Live cache entries: cache key -> (the step run that produced the outputs, the outputs)."""
        validate_name(project, "project name")
        keys = [k for k in cache_keys if isinstance(k, str) and len(k) == 64]
        if not keys:
            return {}
        with self.store.read() as tx:
            return tx.cache_lookup(project, keys, _now())

    # blobs of step outputs ----------------------------------------------------------------
    def put_output_blob(self, data: bytes, *, sync: bool = False) -> tuple[str, int]:
        """Store an output's bytes as a blob; return its digest and size (durable after :meth:`sync_blobs`)."""
        info = self.blobs.put_bytes(data, sync=sync)
        return info.digest, info.size

    def sync_blobs(self) -> None:
        """Make every blob written with ``sync=False`` durable."""
        self.blobs.sync()

    def read_output_blob(self, run_id: str, digest: str) -> bytes:
        """The bytes of a blob that an output of ``run_id`` (a step run) references."""
        validate_run_id(run_id)
        with self.store.read() as tx:
            outputs = tx.step_outputs([run_id]).get(run_id, [])
        if not any(o.digest == digest and o.kind != "inline" for o in outputs):
            raise InvalidInputError(f"step run {run_id} has no output stored as blob {digest}.")
        return self.blobs.read_bytes(digest)


_RECORD_KEYS = {
    "run_id", "name", "status", "start_time", "end_time", "error", "logs", "params", "outputs", "inputs",
    "generation", "attempt", "cache_key", "cached_from", "cache_store", "cache_expires_at",
}  # fmt: skip
_MAX_MS = 2**62


def _int(value: Any, field: str, name: str, *, optional: bool = False, low: int = 0, high: int = _MAX_MS) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(f"step {name!r}: {field} must be an integer from {low} to {high}.")
    return value


def _text(value: Any, field: str, name: str, limit: int, *, optional: bool = True) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInputError(f"step {name!r}: {field} must be a string of at most {limit} characters.")
    return value


def _check_output(output: Any, name: str) -> dict[str, Any]:
    if not isinstance(output, Mapping):
        raise InvalidInputError(f"step {name!r}: each output must be an object.")
    unknown = set(output) - {"index", "kind", "type", "value", "digest", "ref", "size", "warning"}
    if unknown:
        raise InvalidInputError(f"step {name!r}: output has unknown fields {sorted(unknown)}.")
    out = {
        "index": _int(output.get("index"), "output index", name, high=10_000),
        "kind": _text(output.get("kind"), "output kind", name, 64, optional=False),
        "type": _text(output.get("type"), "output type", name, 250, optional=False),
        "digest": _text(output.get("digest"), "output digest", name, 64),
        "ref": _text(output.get("ref"), "output ref", name, 250),
        "size": _int(output.get("size", 0), "output size", name),
        "warning": _text(output.get("warning"), "output warning", name, 2000),
        "value": output.get("value"),
    }
    try:
        json.dumps(out["value"])
    except (TypeError, ValueError):
        raise InvalidInputError(f"step {name!r}: an inline output value must be JSON.") from None
    return out


def _check_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one step record (they may come over HTTP)."""
    if not isinstance(record, Mapping):
        raise InvalidInputError("each step record must be an object.")
    out = dict(record)
    validate_run_id(out.get("run_id"))
    name = out.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 250:
        raise InvalidInputError("a step record needs a step name of 1 to 250 characters.")
    unknown = set(out) - _RECORD_KEYS
    if unknown:
        raise InvalidInputError(f"step {name!r}: unknown fields {sorted(unknown)}.")
    try:
        out["status"] = RunStatus(str(out.get("status"))).value
    except ValueError:
        raise InvalidInputError(f"step {name!r}: status {out.get('status')!r} is invalid.") from None
    _int(out.get("start_time"), "start_time (epoch ms)", name)
    _int(out.get("end_time"), "end_time (epoch ms)", name, optional=True)
    _int(out.get("cache_expires_at"), "cache_expires_at (epoch ms)", name, optional=True)
    out["generation"] = _int(out.get("generation", 0), "generation", name, high=1_000_000)
    out["attempt"] = _int(out.get("attempt", 1), "attempt", name, low=1, high=1_000_000)
    _text(out.get("cache_key"), "cache_key", name, 64)
    if out.get("cached_from") is not None:
        validate_run_id(out["cached_from"])
    logs = _text(out.get("logs"), "logs", name, 10 * _MAX_LOGS)
    if logs is not None and len(logs) > _MAX_LOGS:
        out["logs"] = logs[:_MAX_LOGS] + "\n[... truncated ...]"
    if out.get("error") is not None:
        out["error"] = str(out["error"])[:20_000]
    params = out.get("params") or {}
    if not isinstance(params, Mapping):
        raise InvalidInputError(f"step {name!r}: params must be an object.")
    out["params"] = {str(k)[:250]: value_text(v)[:6000] for k, v in params.items()}
    outputs = out.get("outputs") or []
    if not isinstance(outputs, list):
        raise InvalidInputError(f"step {name!r}: outputs must be a list.")
    out["outputs"] = [_check_output(o, name) for o in outputs]
    inputs = out.get("inputs") or []
    if not isinstance(inputs, list) or not all(
        isinstance(i, Mapping) and isinstance(i.get("ref"), str) and isinstance(i.get("role", "input"), str)
        for i in inputs
    ):
        raise InvalidInputError(f"step {name!r}: inputs must be a list of {{ref, role}} objects.")
    out["cache_store"] = bool(out.get("cache_store"))
    return out
