"""Registered pipelines, schedules, triggers, the queue of pipeline runs and worker heartbeats in SQL.

Three operations carry the concurrency guarantees, each a single conditional statement:

- :meth:`SchedulingRows.advance_schedule` moves a schedule's ``next_fire`` only if it still holds the
  value the caller read (compare-and-set). The scheduler enqueues in the same transaction, so of two
  servers firing one schedule at once, exactly one enqueues: on PostgreSQL the second ``UPDATE``
  waits for the first's row lock, then re-checks its ``WHERE`` against the new row and matches
  nothing; on SQLite writers are serialised by ``BEGIN IMMEDIATE``.
- :meth:`SchedulingRows.claim_next` takes the oldest ``PENDING`` queued run with
  ``UPDATE ... WHERE run_id = (SELECT ... FOR UPDATE SKIP LOCKED) AND status = 'PENDING' RETURNING``:
  concurrent workers on PostgreSQL skip each other's locked rows instead of queueing behind them; on
  SQLite the write lock makes the statement atomic.
- :meth:`SchedulingRows.fail_stale_claim` fails a claimed run only if its heartbeat is still older
  than the cutoff, so a heartbeat that lands first wins.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from modelyard.entities import PipelineSchedule, PipelineTrigger, PipelineWorker, QueuedPipelineRun, ms_to_datetime
from modelyard.store.sql import schema as t
from modelyard.store.sql._rows import upsert

__all__ = ["SchedulingRows"]

_p, _s, _t, _q, _w = (
    t.registered_pipelines,
    t.pipeline_schedules,
    t.pipeline_triggers,
    t.pipeline_queue,
    t.pipeline_workers,
)
_proj = t.projects


def _load(text: str | None) -> Any:
    return {} if not text else json.loads(text)


def _dump(value: Any) -> str:
    return json.dumps(value if value is not None else {}, sort_keys=True)


def _dt(ms: int) -> Any:
    return ms_to_datetime(ms)


class SchedulingRows:
    """Operations on registered pipelines, schedules, triggers, the queue and workers in one transaction."""

    conn: sa.Connection

    # registered pipelines -----------------------------------------------------------------
    def register_pipeline(self, project_id: int, name: str, target: str, now: int) -> tuple[int, bool]:
        """Register pipeline ``name`` of a project at import path ``target``; return its id and whether it changed."""
        row = self.conn.execute(
            sa.select(_p.c.id, _p.c.target).where(_p.c.project_id == project_id, _p.c.name == name)
        ).first()
        if row is None:
            stmt = upsert(self.conn, _p).values(
                project_id=project_id, name=name, target=target, created_at=now, updated_at=now
            )
            self.conn.execute(stmt.on_conflict_do_nothing(index_elements=["project_id", "name"]))
            found = self.conn.execute(
                sa.select(_p.c.id).where(_p.c.project_id == project_id, _p.c.name == name)
            ).scalar_one()
            return int(found), True
        if row.target != target:
            self.conn.execute(sa.update(_p).where(_p.c.id == row.id).values(target=target, updated_at=now))
            return int(row.id), True
        return int(row.id), False

    def pipeline_id(self, project_id: int, name: str) -> int | None:
        """The id of registered pipeline ``name`` in a project, or ``None``."""
        found = self.conn.execute(sa.select(_p.c.id).where(_p.c.project_id == project_id, _p.c.name == name)).scalar()
        return None if found is None else int(found)

    # schedules ----------------------------------------------------------------------------
    def _schedule_query(self) -> sa.Select[Any]:
        return (
            sa.select(
                _s,
                _p.c.name.label("pipeline"),
                _p.c.target,
                _p.c.project_id,
                _proj.c.name.label("project"),
            )
            .join(_p, _p.c.id == _s.c.pipeline_id)
            .join(_proj, _proj.c.id == _p.c.project_id)
        )

    def save_schedule(self, pipeline_id: int, values: dict[str, Any], now: int) -> bool:
        """Create or replace the schedule of a pipeline; return whether it is new."""
        row = dict(values)
        row["params"] = _dump(row.get("params"))
        existing = self.conn.execute(sa.select(_s.c.id).where(_s.c.pipeline_id == pipeline_id)).scalar()
        if existing is None:
            self.conn.execute(sa.insert(_s).values(pipeline_id=pipeline_id, created_at=now, updated_at=now, **row))
            return True
        row.pop("creator", None)
        self.conn.execute(sa.update(_s).where(_s.c.id == existing).values(updated_at=now, **row))
        return False

    def delete_schedule(self, pipeline_id: int) -> bool:
        """Remove the schedule of a pipeline; return whether there was one."""
        return bool(self.conn.execute(sa.delete(_s).where(_s.c.pipeline_id == pipeline_id)).rowcount)

    def get_schedule(self, pipeline_id: int) -> PipelineSchedule | None:
        """The schedule of a pipeline, or ``None``."""
        row = self.conn.execute(self._schedule_query().where(_s.c.pipeline_id == pipeline_id)).first()
        return None if row is None else _schedule(row)

    def list_schedules(self, project_id: int | None = None) -> list[PipelineSchedule]:
        """Schedules (of one project, or all), by project and pipeline name."""
        query = self._schedule_query().order_by(_proj.c.name, _p.c.name)
        if project_id is not None:
            query = query.where(_p.c.project_id == project_id)
        return [_schedule(r) for r in self.conn.execute(query)]

    def due_schedules(self, now: int) -> list[Any]:
        """Rows of enabled schedules whose next fire time has come, earliest first."""
        query = self._schedule_query().where(_s.c.enabled.is_(True), _s.c.next_fire <= now).order_by(_s.c.next_fire)
        return list(self.conn.execute(query))

    def advance_schedule(self, schedule_id: int, expected_next: int, new_next: int, fired_at: int | None) -> bool:
        """Compare-and-set ``next_fire`` from ``expected_next`` to ``new_next``; return whether this caller won."""
        values: dict[str, Any] = {"next_fire": new_next}
        if fired_at is not None:
            values["last_fire"] = fired_at
        result = self.conn.execute(
            sa.update(_s).where(_s.c.id == schedule_id, _s.c.next_fire == expected_next).values(**values)
        )
        return bool(result.rowcount)

    # triggers -----------------------------------------------------------------------------
    def _trigger_query(self) -> sa.Select[Any]:
        return (
            sa.select(
                _t,
                _p.c.name.label("pipeline"),
                _p.c.target,
                _p.c.project_id,
                _proj.c.name.label("project"),
            )
            .join(_p, _p.c.id == _t.c.pipeline_id)
            .join(_proj, _proj.c.id == _p.c.project_id)
        )

    def save_trigger(self, pipeline_id: int, kind: str, source: str, values: dict[str, Any], now: int) -> bool:
        """Create or update the trigger of a pipeline on (``kind``, ``source``); return whether it is new."""
        row = dict(values)
        row["params"] = _dump(row.get("params"))
        existing = self.conn.execute(
            sa.select(_t.c.id).where(_t.c.pipeline_id == pipeline_id, _t.c.kind == kind, _t.c.source == source)
        ).scalar()
        if existing is None:
            self.conn.execute(
                sa.insert(_t).values(pipeline_id=pipeline_id, kind=kind, source=source, created_at=now, **row)
            )
            return True
        row.pop("creator", None)
        row.pop("last_seen", None)  # a re-saved dataset trigger keeps its place in the version sequence
        self.conn.execute(sa.update(_t).where(_t.c.id == existing).values(**row))
        return False

    def delete_trigger(self, pipeline_id: int, kind: str, source: str) -> bool:
        """Remove a trigger; return whether there was one."""
        result = self.conn.execute(
            sa.delete(_t).where(_t.c.pipeline_id == pipeline_id, _t.c.kind == kind, _t.c.source == source)
        )
        return bool(result.rowcount)

    def list_triggers(
        self, project_id: int | None = None, *, kind: str | None = None, source: str | None = None
    ) -> list[PipelineTrigger]:
        """Triggers (of one project, or all; of one kind and source), by project, pipeline, kind, source."""
        return [_trigger(r) for r in self.trigger_rows(project_id, kind=kind, source=source)]

    def trigger_rows(
        self,
        project_id: int | None = None,
        *,
        kind: str | None = None,
        source: str | None = None,
        enabled_only: bool = False,
    ) -> list[Any]:
        """Trigger rows with their pipeline and project."""
        query = self._trigger_query().order_by(_proj.c.name, _p.c.name, _t.c.kind, _t.c.source)
        if project_id is not None:
            query = query.where(_p.c.project_id == project_id)
        if kind is not None:
            query = query.where(_t.c.kind == kind)
        if source is not None:
            query = query.where(_t.c.source == source)
        if enabled_only:
            query = query.where(_t.c.enabled.is_(True))
        return list(self.conn.execute(query))

    def trigger_entity(self, row: Any) -> PipelineTrigger:
        """Build a :class:`PipelineTrigger` from a row of :meth:`trigger_rows`."""
        return _trigger(row)

    def advance_trigger(self, trigger_id: int, expected_seen: int | None, new_seen: int) -> bool:
        """Compare-and-set a dataset trigger's last handled version; return whether this caller won."""
        seen = _t.c.last_seen.is_(None) if expected_seen is None else _t.c.last_seen == expected_seen
        result = self.conn.execute(sa.update(_t).where(_t.c.id == trigger_id, seen).values(last_seen=new_seen))
        return bool(result.rowcount)

    def latest_dataset_versions(self, project_id: int | None = None) -> dict[tuple[int, str], int]:
        """The newest live version number of every dataset, keyed by (project id, dataset name)."""
        d, v = t.datasets, t.dataset_versions
        query = (
            sa.select(d.c.project_id, d.c.name, sa.func.max(v.c.version))
            .join(v, v.c.dataset_id == d.c.id)
            .where(v.c.deleted_at.is_(None))
            .group_by(d.c.project_id, d.c.name)
        )
        if project_id is not None:
            query = query.where(d.c.project_id == project_id)
        return {(int(p), str(n)): int(m) for p, n, m in self.conn.execute(query)}

    # queue --------------------------------------------------------------------------------
    def _queue_query(self) -> sa.Select[Any]:
        return (
            sa.select(_q, _p.c.name.label("pipeline"), _p.c.target, _proj.c.name.label("project"))
            .join(_p, _p.c.id == _q.c.pipeline_id)
            .join(_proj, _proj.c.id == _p.c.project_id)
        )

    def insert_queued(self, values: dict[str, Any]) -> None:
        """Add a ``PENDING`` pipeline run to the queue (its run row exists already)."""
        row = dict(values)
        row["params"] = _dump(row.get("params"))
        row["details"] = _dump(row.get("details"))
        self.conn.execute(sa.insert(_q).values(status="PENDING", **row))

    def has_pending(self) -> bool:
        """Whether any queued run waits for a worker (a cheap read before a claiming write)."""
        return self.conn.execute(sa.select(_q.c.run_id).where(_q.c.status == "PENDING").limit(1)).first() is not None

    def claim_next(self, worker_id: str, now: int) -> QueuedPipelineRun | None:
        """Atomically claim the oldest ``PENDING`` queued run for ``worker_id``; ``None`` when there is none."""
        oldest = sa.select(_q.c.run_id).where(_q.c.status == "PENDING").order_by(_q.c.enqueued_at, _q.c.run_id).limit(1)
        if self.conn.dialect.name == "postgresql":
            oldest = oldest.with_for_update(skip_locked=True)
        claimed = self.conn.execute(
            sa.update(_q)
            .where(_q.c.run_id == oldest.scalar_subquery(), _q.c.status == "PENDING")
            .values(status="RUNNING", worker_id=worker_id, claimed_at=now, heartbeat_at=now)
            .returning(_q.c.run_id)
        ).scalar()
        return None if claimed is None else self.get_queued(str(claimed))

    def get_queued(self, run_id: str) -> QueuedPipelineRun | None:
        """A queued run by its run id, or ``None``."""
        row = self.conn.execute(self._queue_query().where(_q.c.run_id == run_id)).first()
        return None if row is None else _queued(row)

    def heartbeat_claims(self, worker_id: str, run_ids: list[str], now: int) -> int:
        """Refresh the heartbeat of runs ``worker_id`` still holds; return how many it holds."""
        if not run_ids:
            return 0
        result = self.conn.execute(
            sa.update(_q)
            .where(_q.c.run_id.in_(run_ids), _q.c.worker_id == worker_id, _q.c.status == "RUNNING")
            .values(heartbeat_at=now)
        )
        return int(result.rowcount)

    def finish_queued(
        self, run_id: str, status: str, error: str | None, now: int, worker_id: str | None = None
    ) -> bool:
        """End a queued run (claimed by ``worker_id``, or pending when ``None``); return whether it changed."""
        query = sa.update(_q).where(_q.c.run_id == run_id)
        if worker_id is None:
            query = query.where(_q.c.status == "PENDING")
        else:
            query = query.where(_q.c.worker_id == worker_id, _q.c.status == "RUNNING")
        return bool(self.conn.execute(query.values(status=status, error=error, finished_at=now)).rowcount)

    def stale_claims(self, cutoff: int) -> list[QueuedPipelineRun]:
        """Claimed runs whose last heartbeat is older than ``cutoff``."""
        rows = self.conn.execute(
            self._queue_query().where(_q.c.status == "RUNNING", _q.c.heartbeat_at < cutoff).order_by(_q.c.claimed_at)
        )
        return [_queued(r) for r in rows]

    def fail_stale_claim(self, run_id: str, cutoff: int, error: str, now: int) -> bool:
        """Mark a claimed run FAILED if its heartbeat is still older than ``cutoff``; return whether it did."""
        result = self.conn.execute(
            sa.update(_q)
            .where(_q.c.run_id == run_id, _q.c.status == "RUNNING", _q.c.heartbeat_at < cutoff)
            .values(status="FAILED", error=error, finished_at=now)
        )
        return bool(result.rowcount)

    def list_queue(
        self, project_id: int | None = None, statuses: list[str] | None = None, limit: int = 100
    ) -> list[QueuedPipelineRun]:
        """Queued runs, newest first."""
        query = self._queue_query().order_by(_q.c.enqueued_at.desc(), _q.c.run_id.desc()).limit(limit)
        if project_id is not None:
            query = query.where(_p.c.project_id == project_id)
        if statuses:
            query = query.where(_q.c.status.in_(statuses))
        return [_queued(r) for r in self.conn.execute(query)]

    def fail_unfinished_runs(self, run_ids: list[str], error: str, now: int) -> list[str]:
        """Mark runs (and their nested step runs) that are still PENDING or RUNNING as FAILED; return their ids."""
        runs = t.runs
        ids = list(run_ids)
        ids += [str(r) for r in self.conn.execute(sa.select(runs.c.id).where(runs.c.parent_id.in_(run_ids))).scalars()]
        open_ids = [
            str(r)
            for r in self.conn.execute(
                sa.select(runs.c.id).where(runs.c.id.in_(ids), runs.c.status.in_(["PENDING", "RUNNING"]))
            ).scalars()
        ]
        if open_ids:
            self.conn.execute(
                sa.update(runs).where(runs.c.id.in_(open_ids)).values(status="FAILED", error=error, end_time=now)
            )
        return open_ids

    # workers ------------------------------------------------------------------------------
    def upsert_worker(self, worker_id: str, hostname: str, pid: int, now: int) -> None:
        """Record a worker's start."""
        stmt = upsert(self.conn, _w).values(id=worker_id, hostname=hostname, pid=pid, started_at=now, heartbeat_at=now)
        self.conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now}))

    def heartbeat_worker(self, worker_id: str, now: int, *, stopped: bool = False) -> None:
        """Record that a worker is alive (or, with ``stopped``, that it stopped)."""
        values: dict[str, Any] = {"heartbeat_at": now}
        if stopped:
            values["stopped_at"] = now
        self.conn.execute(sa.update(_w).where(_w.c.id == worker_id).values(**values))

    def list_workers(self, since: int | None = None) -> list[PipelineWorker]:
        """Workers (those heard from since ``since``, when given), newest heartbeat first."""
        query = sa.select(_w).order_by(_w.c.heartbeat_at.desc())
        if since is not None:
            query = query.where(_w.c.heartbeat_at >= since)
        return [
            PipelineWorker(
                id=r.id,
                hostname=r.hostname,
                pid=r.pid,
                started_at=_dt(r.started_at),
                heartbeat_at=_dt(r.heartbeat_at),
                stopped_at=ms_to_datetime(r.stopped_at),
            )
            for r in self.conn.execute(query)
        ]


def _schedule(r: Any) -> PipelineSchedule:
    return PipelineSchedule(
        project=r.project,
        pipeline=r.pipeline,
        target=r.target,
        cron=r.cron,
        timezone=r.timezone,
        params=_load(r.params),
        executor=r.executor,
        missed=r.missed,
        next_fire=_dt(r.next_fire),
        last_fire=ms_to_datetime(r.last_fire),
        enabled=bool(r.enabled),
        creator=r.creator,
        created_at=_dt(r.created_at),
        updated_at=_dt(r.updated_at),
    )


def _trigger(r: Any) -> PipelineTrigger:
    return PipelineTrigger(
        id=r.id,
        project=r.project,
        pipeline=r.pipeline,
        target=r.target,
        kind=r.kind,
        source=r.source,
        params=_load(r.params),
        executor=r.executor,
        last_seen=r.last_seen,
        enabled=bool(r.enabled),
        creator=r.creator,
        created_at=_dt(r.created_at),
    )


def _queued(r: Any) -> QueuedPipelineRun:
    return QueuedPipelineRun(
        run_id=r.run_id,
        project=r.project,
        pipeline=r.pipeline,
        target=r.target,
        params=_load(r.params),
        executor=r.executor,
        reason=r.reason,
        details=_load(r.details),
        status=r.status,
        enqueued_at=_dt(r.enqueued_at),
        worker_id=r.worker_id,
        claimed_at=ms_to_datetime(r.claimed_at),
        heartbeat_at=ms_to_datetime(r.heartbeat_at),
        finished_at=ms_to_datetime(r.finished_at),
        error=r.error,
    )
