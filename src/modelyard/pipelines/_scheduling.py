"""The scheduling service: schedules, triggers and the queue of pipeline runs, with audit.

It stores and hands out work; it never imports or runs a pipeline (user code runs only in
``modelyard worker`` processes, never in the API server). Every change appends an audit event in
the same transaction: ``pipeline.schedule``, ``pipeline.unschedule``, ``pipeline.trigger.add``,
``pipeline.trigger.remove``, ``pipeline_run.enqueue`` (with what enqueued it), ``pipeline_run.claim``,
``pipeline_run.finish`` and ``pipeline_run.reap``. Heartbeats change only liveness times and are
not audited.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelyard.audit import Caller
from modelyard.entities import PipelineSchedule, PipelineTrigger, PipelineWorker, QueuedPipelineRun, RunStatus
from modelyard.errors import InvalidInputError, ProjectNotFoundError, ScheduleNotFoundError, TriggerNotFoundError
from modelyard.ids import new_run_id
from modelyard.names import validate_name, value_text
from modelyard.pipelines._schedule import (
    check_cron,
    check_executor,
    check_missed,
    check_params,
    check_target,
    check_timezone,
    fire_times,
    next_fire,
)

if TYPE_CHECKING:
    from modelyard.store.sql import SqlStore, StoreTx

__all__ = ["SchedulingService", "TRIGGER_KINDS"]

TRIGGER_KINDS = ("dataset", "alert")
_END_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SchedulingService:
    """Schedules, triggers and the run queue over a metadata store, on behalf of one caller."""

    def __init__(self, store: SqlStore, caller: Caller) -> None:
        """Bind the service to its store and the caller recorded in the audit log."""
        self.store = store
        self.caller = caller

    def _audit(self, tx: StoreTx, action: str, object_id: str, project: str, summary: Mapping[str, Any]) -> None:
        tx.append_audit(
            self.caller.user,
            action,
            "pipeline",
            object_id,
            project,
            summary,
            self.caller.request_id,
            self.caller.client_addr,
        )

    def _register(self, tx: StoreTx, project: str, name: str, target: str, now: int) -> tuple[int, int]:
        existed = tx.project_exists(project)
        project_id = tx.project_id(project, create=True)
        if not existed:
            tx.append_audit(
                self.caller.user, "project.create", "project", project, project, {"implicit": True},
                self.caller.request_id, self.caller.client_addr,
            )  # fmt: skip
        pipeline_id, changed = tx.register_pipeline(project_id, name, target, now)
        if changed:
            self._audit(tx, "pipeline.register", name, project, {"target": target})
        return project_id, pipeline_id

    def _pipeline(self, tx: StoreTx, project: str, name: str) -> int | None:
        if not tx.project_exists(project):
            raise ProjectNotFoundError(f"No project named {project!r}.")
        return tx.pipeline_id(tx.project_id(project), name)

    # schedules ----------------------------------------------------------------------------
    def schedule(
        self,
        project: str,
        name: str,
        target: str,
        cron: str,
        *,
        timezone: str = "UTC",
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
        missed: str = "skip",
        now_ms: int | None = None,
    ) -> PipelineSchedule:
        """Schedule pipeline ``name`` (at import path ``target``) on ``cron``; a second call replaces the schedule.

        Every argument is checked before anything is stored.
        """
        validate_name(project, "project name")
        validate_name(name, "pipeline name")
        target = check_target(target)
        cron = check_cron(cron)
        timezone = check_timezone(timezone)
        values = check_params(params)
        executor = check_executor(executor)
        missed = check_missed(missed)
        now = _now_ms() if now_ms is None else now_ms
        first = next_fire(cron, timezone, now)
        with self.store.write() as tx:
            _, pipeline_id = self._register(tx, project, name, target, now)
            created = tx.save_schedule(
                pipeline_id,
                {
                    "cron": cron,
                    "timezone": timezone,
                    "params": values,
                    "executor": executor,
                    "missed": missed,
                    "next_fire": first,
                    "enabled": True,
                    "creator": self.caller.user,
                },
                now,
            )
            self._audit(
                tx,
                "pipeline.schedule",
                name,
                project,
                {"cron": cron, "timezone": timezone, "missed": missed, "params": values, "created": created},
            )
            found = tx.get_schedule(pipeline_id)
            assert found is not None
            return found

    def unschedule(self, project: str, name: str) -> PipelineSchedule:
        """Remove the schedule of a pipeline; return it as it was."""
        validate_name(project, "project name")
        validate_name(name, "pipeline name")
        with self.store.write() as tx:
            pipeline_id = self._pipeline(tx, project, name)
            found = None if pipeline_id is None else tx.get_schedule(pipeline_id)
            if pipeline_id is None or found is None:
                raise ScheduleNotFoundError(
                    f"Pipeline {name!r} of project {project!r} has no schedule; list them with "
                    "`modelyard pipelines schedules`."
                )
            tx.delete_schedule(pipeline_id)
            self._audit(tx, "pipeline.unschedule", name, project, {"cron": found.cron, "timezone": found.timezone})
            return found

    def list_schedules(self, project: str | None = None) -> list[PipelineSchedule]:
        """Schedules of a project (every project when ``None``)."""
        with self.store.read() as tx:
            if project is None:
                return tx.list_schedules()
            validate_name(project, "project name")
            if not tx.project_exists(project):
                return []
            return tx.list_schedules(tx.project_id(project))

    # triggers -----------------------------------------------------------------------------
    def add_trigger(
        self,
        project: str,
        name: str,
        target: str,
        kind: str,
        source: str,
        *,
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
    ) -> PipelineTrigger:
        """Enqueue pipeline ``name`` whenever ``source`` fires.

        ``kind="dataset"``: each new version of dataset ``source``; ``kind="alert"``: each time the
        monitoring alert ``source`` fires (:meth:`fire_alert_trigger`). A dataset trigger starts after
        the dataset's current newest version: only versions added later enqueue runs.
        """
        validate_name(project, "project name")
        validate_name(name, "pipeline name")
        target = check_target(target)
        if kind not in TRIGGER_KINDS:
            raise InvalidInputError(f"trigger kind must be 'dataset' or 'alert', got {kind!r}.")
        validate_name(source, f"{kind} name")
        values = check_params(params)
        executor = check_executor(executor)
        now = _now_ms()
        with self.store.write() as tx:
            project_id, pipeline_id = self._register(tx, project, name, target, now)
            seen = tx.latest_dataset_versions(project_id).get((project_id, source)) if kind == "dataset" else None
            row: dict[str, Any] = {
                "params": values,
                "executor": executor,
                "enabled": True,
                "creator": self.caller.user,
                "last_seen": seen if seen is not None else 0,
            }
            created = tx.save_trigger(pipeline_id, kind, source, row, now)
            self._audit(tx, "pipeline.trigger.add", name, project, {"kind": kind, "source": source, "created": created})
            return next(t for t in tx.list_triggers(project_id, kind=kind, source=source) if t.pipeline == name)

    def remove_trigger(self, project: str, name: str, kind: str, source: str) -> None:
        """Remove a trigger of a pipeline."""
        validate_name(project, "project name")
        validate_name(name, "pipeline name")
        with self.store.write() as tx:
            pipeline_id = self._pipeline(tx, project, name)
            if pipeline_id is None or not tx.delete_trigger(pipeline_id, kind, source):
                raise TriggerNotFoundError(
                    f"Pipeline {name!r} of project {project!r} has no {kind} trigger on {source!r}; list them with "
                    "`modelyard pipelines triggers`."
                )
            self._audit(tx, "pipeline.trigger.remove", name, project, {"kind": kind, "source": source})

    def list_triggers(self, project: str | None = None) -> list[PipelineTrigger]:
        """Triggers of a project (every project when ``None``)."""
        with self.store.read() as tx:
            if project is None:
                return tx.list_triggers()
            validate_name(project, "project name")
            if not tx.project_exists(project):
                return []
            return tx.list_triggers(tx.project_id(project))

    def fire_alert_trigger(self, project: str, alert_name: str, details: Mapping[str, Any] | None = None) -> list[str]:
        """Enqueue a run of every pipeline with an enabled trigger on alert ``alert_name``; return the run ids.

        The monitoring service calls this when an alert fires; ``details`` (JSON-able) are kept with
        each queued run.
        """
        validate_name(project, "project name")
        validate_name(alert_name, "alert name")
        extra = check_params(details)
        with self.store.write() as tx:
            if not tx.project_exists(project):
                return []
            project_id = tx.project_id(project)
            rows = tx.trigger_rows(project_id, kind="alert", source=alert_name, enabled_only=True)
            return [
                self._enqueue_tx(
                    tx, row.project, row.project_id, row.pipeline_id, row.pipeline, row.target,
                    _json_dict(row.params), row.executor, "alert", {"alert": alert_name, **extra},
                )
                for row in rows
            ]  # fmt: skip

    def poll_dataset_triggers(self) -> list[str]:
        """Enqueue a run for every dataset trigger whose dataset got a newer live version; return the run ids.

        Each trigger moves its ``last_seen`` version by compare-and-set in the transaction that
        enqueues, so concurrent schedulers enqueue a new version once. Several versions added
        between two polls enqueue one run (for the newest).
        """
        enqueued: list[str] = []
        with self.store.read() as tx:
            rows = tx.trigger_rows(kind="dataset", enabled_only=True)
            latest = tx.latest_dataset_versions() if rows else {}
        for row in rows:
            version = latest.get((row.project_id, row.source))
            if version is None or version <= (row.last_seen or 0):
                continue
            with self.store.write() as tx:
                if not tx.advance_trigger(row.id, row.last_seen, version):
                    continue  # another scheduler handled it
                enqueued.append(
                    self._enqueue_tx(
                        tx, row.project, row.project_id, row.pipeline_id, row.pipeline, row.target,
                        _json_dict(row.params), row.executor, "dataset",
                        {"dataset": row.source, "version": version, "ref": f"{row.source}@{version}"},
                    )
                )  # fmt: skip
        return enqueued

    # schedules firing ---------------------------------------------------------------------
    def fire_due_schedules(self, now_ms: int | None = None, misfire_grace_s: float = 60.0) -> list[str]:
        """Enqueue the runs of every due schedule and advance it; return the run ids.

        A fire time at most ``misfire_grace_s`` old is on time and enqueues one run. Older fire times
        were missed (no scheduler ran): ``skip`` drops them, ``catch_up_once`` enqueues one run for
        the latest of them. Either way ``next_fire`` moves to the first fire time after now, by
        compare-and-set in the enqueueing transaction, so no fire time is ever enqueued twice.
        """
        now = _now_ms() if now_ms is None else now_ms
        grace = int(misfire_grace_s * 1000)
        enqueued: list[str] = []
        with self.store.read() as tx:
            due = tx.due_schedules(now)
        for row in due:
            count, latest, following = fire_times(row.cron, row.timezone, row.next_fire, now)
            on_time = now - latest <= grace
            fire = on_time or row.missed == "catch_up_once"
            with self.store.write() as tx:
                if not tx.advance_schedule(row.id, row.next_fire, following, latest if fire else None):
                    continue  # another scheduler fired it first
                missed = count - 1 if on_time else count
                if fire:
                    details = {"fire_time": latest, "missed": missed, "catch_up": not on_time}
                    enqueued.append(
                        self._enqueue_tx(
                            tx, row.project, row.project_id, row.pipeline_id, row.pipeline, row.target,
                            _json_dict(row.params), row.executor, "schedule", details,
                        )
                    )  # fmt: skip
                if missed:
                    self._audit(
                        tx,
                        "pipeline.schedule.missed",
                        row.pipeline,
                        row.project,
                        {"missed": missed, "policy": row.missed, "caught_up": fire and not on_time},
                    )
        return enqueued

    # queue --------------------------------------------------------------------------------
    def enqueue(
        self,
        project: str,
        name: str,
        target: str,
        *,
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
        reason: str = "manual",
        details: Mapping[str, Any] | None = None,
    ) -> QueuedPipelineRun:
        """Put a ``PENDING`` run of pipeline ``name`` in the queue (a manual trigger); a worker will run it."""
        validate_name(project, "project name")
        validate_name(name, "pipeline name")
        target = check_target(target)
        values = check_params(params)
        executor = check_executor(executor)
        extra = check_params(details)
        now = _now_ms()
        with self.store.write() as tx:
            project_id, pipeline_id = self._register(tx, project, name, target, now)
            run_id = self._enqueue_tx(
                tx, project, project_id, pipeline_id, name, target, values, executor, reason, extra
            )
            found = tx.get_queued(run_id)
            assert found is not None
            return found

    def _enqueue_tx(
        self,
        tx: StoreTx,
        project: str,
        project_id: int,
        pipeline_id: int,
        name: str,
        target: str,
        params: dict[str, Any],
        executor: str,
        reason: str,
        details: dict[str, Any],
    ) -> str:
        """Create the PENDING pipeline run (run row, pipeline run row, queue row) in ``tx``."""
        run_id = new_run_id()
        now = _now_ms()
        tx.insert_run(
            {
                "id": run_id,
                "project_id": project_id,
                "name": name,
                "status": RunStatus.PENDING.value,
                "parent_id": None,
                "user": self.caller.user,
                "start_time": now,
                "source": target,
            }
        )
        tx.insert_params(run_id, {k: value_text(v) for k, v in params.items()})
        tx.upsert_tags(run_id, {"modelyard.pipeline": name, "modelyard.trigger": reason})
        tx.insert_pipeline_run(
            {"run_id": run_id, "project_id": project_id, "pipeline": name, "target": target, "params": _json(params),
             "executor": executor}
        )  # fmt: skip
        tx.insert_queued(
            {
                "run_id": run_id,
                "pipeline_id": pipeline_id,
                "params": params,
                "executor": executor,
                "reason": reason,
                "details": details,
                "enqueued_at": now,
            }
        )
        self._audit(tx, "pipeline_run.enqueue", name, project, {"run_id": run_id, "reason": reason, **details})
        return run_id

    def list_queue(
        self, project: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[QueuedPipelineRun]:
        """Queued runs (of a project, of one status), newest first."""
        if status is not None and status not in ("PENDING", "RUNNING", *_END_STATES):
            raise InvalidInputError(f"status must be PENDING, RUNNING, FINISHED, FAILED or KILLED, got {status!r}.")
        limit = max(1, min(int(limit), 10_000))
        with self.store.read() as tx:
            project_id = None
            if project is not None:
                validate_name(project, "project name")
                if not tx.project_exists(project):
                    return []
                project_id = tx.project_id(project)
            return tx.list_queue(project_id, [status] if status else None, limit)

    def claim(self, worker_id: str) -> QueuedPipelineRun | None:
        """Claim the oldest pending run for ``worker_id`` (never one another worker holds), or ``None``.

        A run cancelled while it waited is ended as ``KILLED`` and skipped.
        """
        while True:
            with self.store.read() as tx:
                if not tx.has_pending():
                    return None
            with self.store.write() as tx:
                claimed = tx.claim_next(worker_id, _now_ms())
                if claimed is None:
                    return None
                run = tx.run_row(claimed.run_id)
                if run.status in _END_STATES or tx.cancel_requested(claimed.run_id):
                    tx.finish_queued(claimed.run_id, "KILLED", "cancelled before it started", _now_ms(), worker_id)
                    tx.fail_unfinished_runs([claimed.run_id], "cancelled before it started", _now_ms())
                    continue
                self._audit(
                    tx, "pipeline_run.claim", claimed.pipeline, claimed.project,
                    {"run_id": claimed.run_id, "worker": worker_id},
                )  # fmt: skip
                return claimed

    def heartbeat(self, worker_id: str, run_ids: list[str]) -> int:
        """Record that ``worker_id`` is alive and still runs ``run_ids``; return how many it still holds."""
        now = _now_ms()
        with self.store.write() as tx:
            tx.heartbeat_worker(worker_id, now)
            return tx.heartbeat_claims(worker_id, run_ids, now)

    def finish(self, run_id: str, worker_id: str, error: str | None = None) -> QueuedPipelineRun | None:
        """End a claimed run's queue entry with its run's status; a run left unfinished is marked FAILED."""
        with self.store.write() as tx:
            queued = tx.get_queued(run_id)
            if queued is None or queued.worker_id != worker_id or queued.status != "RUNNING":
                return queued  # reaped meanwhile, or not ours
            if error is not None:
                tx.fail_unfinished_runs([run_id], error, _now_ms())
            run = tx.run_row(run_id)
            status = str(run.status)
            if status == "FAILED" and error is None:
                error = run.error
            if status not in _END_STATES:
                error = error or f"the worker ended with the run still {status}"
                tx.fail_unfinished_runs([run_id], error, _now_ms())
                status = "FAILED"
            tx.finish_queued(run_id, status, error, _now_ms(), worker_id)
            self._audit(
                tx, "pipeline_run.finish", queued.pipeline, queued.project,
                {"run_id": run_id, "worker": worker_id, "status": status},
            )  # fmt: skip
            return tx.get_queued(run_id)

    def reap(self, timeout_s: float, now_ms: int | None = None) -> list[str]:
        """Fail claimed runs whose worker sent no heartbeat for ``timeout_s`` seconds; return their ids."""
        now = _now_ms() if now_ms is None else now_ms
        cutoff = now - int(timeout_s * 1000)
        with self.store.read() as tx:
            stale = tx.stale_claims(cutoff)
        reaped: list[str] = []
        for queued in stale:
            error = (
                f"worker {queued.worker_id} stopped sending heartbeats (none for {timeout_s:g} s, "
                "MODELYARD_HEARTBEAT_TIMEOUT): it probably died mid-run"
            )
            with self.store.write() as tx:
                if not tx.fail_stale_claim(queued.run_id, cutoff, error, now):
                    continue
                tx.fail_unfinished_runs([queued.run_id], error, now)
                self._audit(
                    tx, "pipeline_run.reap", queued.pipeline, queued.project,
                    {"run_id": queued.run_id, "worker": queued.worker_id},
                )  # fmt: skip
            reaped.append(queued.run_id)
        return reaped

    # workers ------------------------------------------------------------------------------
    def worker_started(self, worker_id: str, hostname: str, pid: int) -> None:
        """Record a worker's start."""
        with self.store.write() as tx:
            tx.upsert_worker(worker_id, hostname, pid, _now_ms())

    def worker_stopped(self, worker_id: str) -> None:
        """Record a worker's clean stop."""
        with self.store.write() as tx:
            tx.heartbeat_worker(worker_id, _now_ms(), stopped=True)

    def list_workers(self, active_within_s: float | None = None) -> list[PipelineWorker]:
        """Workers, newest heartbeat first (only those heard from recently, with ``active_within_s``)."""
        since = None if active_within_s is None else _now_ms() - int(active_within_s * 1000)
        with self.store.read() as tx:
            return tx.list_workers(since)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _json_dict(text: str) -> dict[str, Any]:
    import json

    value = json.loads(text or "{}")
    return value if isinstance(value, dict) else {}
