"""Projects, runs, params, tags and audit events in SQL."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from modelyard.entities import AuditEvent, Project, Run, ms_to_datetime
from modelyard.errors import (
    ConflictError,
    ParamConflictError,
    ProjectNotFoundError,
    RunNotFoundError,
)
from modelyard.store.sql import schema as t
from modelyard.store.sql._rows import now_ms, py_float, run_from_row, upsert

__all__ = ["RunRows"]


def _as_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


# Typed NULLs, so PostgreSQL can match the columns of the UNION below.
_NO_NUMBER = sa.cast(sa.null(), sa.Float)
_NO_TEXT = sa.cast(sa.null(), sa.Text)


# Statements built once: building SQLAlchemy constructs per call costs more than running them.
_RUN_ROW = (
    sa.select(t.runs, t.projects.c.name.label("project"))
    .join(t.projects, t.projects.c.id == t.runs.c.project_id)
    .where(t.runs.c.id == sa.bindparam("run_id"))
)
_IDS: sa.BindParameter[str] = sa.bindparam("ids", expanding=True)
# Params, tags and latest metric values of a set of runs in one round trip.
_RUN_VALUES = sa.union_all(
    sa.select(sa.literal("p"), t.params.c.run_id, t.params.c.key, t.params.c.value, _NO_NUMBER).where(
        t.params.c.run_id.in_(_IDS)
    ),
    sa.select(sa.literal("t"), t.tags.c.run_id, t.tags.c.key, t.tags.c.value, _NO_NUMBER).where(
        t.tags.c.run_id.in_(_IDS)
    ),
    sa.select(
        sa.literal("m"), t.metric_series.c.run_id, t.metric_series.c.key, _NO_TEXT, t.metric_series.c.value
    ).where(t.metric_series.c.run_id.in_(_IDS)),
)


class RunRows:
    """Operations on projects, runs, params, tags and audit events within one transaction."""

    conn: sa.Connection

    # projects -----------------------------------------------------------------------------
    def project_id(self, name: str, *, create: bool = False) -> int:
        """Return the id of project ``name``; create it when ``create`` (returns -1 if new and not created)."""
        pid = self.conn.execute(sa.select(t.projects.c.id).where(t.projects.c.name == name)).scalar()
        if pid is not None:
            return int(pid)
        if not create:
            raise ProjectNotFoundError(
                f"No project named {name!r}: create it with `modelyard projects create {name}` or start a run in it."
            )
        stmt = upsert(self.conn, t.projects).values(name=name, description="", created_at=now_ms())
        self.conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        return int(self.conn.execute(sa.select(t.projects.c.id).where(t.projects.c.name == name)).scalar_one())

    def project_exists(self, name: str) -> bool:
        """Whether a project named ``name`` exists."""
        return self.conn.execute(sa.select(t.projects.c.id).where(t.projects.c.name == name)).first() is not None

    def insert_project(self, name: str, description: str) -> Project:
        """Create a project; raise :class:`ConflictError` if the name is taken."""
        if self.project_exists(name):
            raise ConflictError(f"A project named {name!r} already exists; choose another name.")
        created = now_ms()
        self.conn.execute(sa.insert(t.projects).values(name=name, description=description, created_at=created))
        return Project(name=name, description=description, created_at=ms_to_datetime(created))

    def list_projects(self) -> list[Project]:
        """Return every project with its number of live runs and the time of its last run start."""
        counts = (
            sa.select(
                t.runs.c.project_id,
                sa.func.count().label("n"),
                sa.func.max(t.runs.c.start_time).label("last"),
            )
            .where(t.runs.c.deleted_at.is_(None))
            .group_by(t.runs.c.project_id)
            .subquery()
        )
        rows = self.conn.execute(
            sa.select(t.projects, counts.c.n, counts.c.last)
            .outerjoin(counts, counts.c.project_id == t.projects.c.id)
            .order_by(t.projects.c.name)
        )
        return [
            Project(
                name=r.name,
                description=r.description,
                created_at=ms_to_datetime(r.created_at),
                run_count=int(r.n or 0),
                last_activity=ms_to_datetime(r.last),
            )
            for r in rows
        ]

    # runs ---------------------------------------------------------------------------------
    def run_row(self, run_id: str) -> Any:
        """Return the ``runs`` row joined with its project name; raise if missing."""
        row = self.conn.execute(_RUN_ROW, {"run_id": run_id}).first()
        if row is None:
            raise RunNotFoundError(f"No run with id {run_id!r}; list runs with `modelyard runs list`.")
        return row

    def insert_run(self, values: Mapping[str, Any]) -> None:
        """Insert a run row."""
        self.conn.execute(sa.insert(t.runs).values(**values))

    def update_run(self, run_id: str, **values: Any) -> None:
        """Update columns of a run."""
        self.conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(**values))

    def get_runs(self, rows: Iterable[Any]) -> list[Run]:
        """Build full :class:`Run` entities for ``runs`` rows (which carry a ``project`` column)."""
        rows = list(rows)
        if not rows:
            return []
        ids = [r.id for r in rows]
        params: dict[str, dict[str, str]] = defaultdict(dict)
        metrics: dict[str, dict[str, float]] = defaultdict(dict)
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        for chunk in _chunks(ids, 500):
            for kind, run_id, key, text, number in self.conn.execute(_RUN_VALUES, {"ids": chunk}):
                if kind == "p":
                    params[run_id][key] = text
                elif kind == "t":
                    tags[run_id][key] = text
                else:
                    metrics[run_id][key] = py_float(number)
        return [run_from_row(r, r.project, params[r.id], metrics[r.id], tags[r.id]) for r in rows]

    def get_run(self, run_id: str) -> Run:
        """Return the run with its params, latest metrics and tags."""
        return self.get_runs([self.run_row(run_id)])[0]

    def child_run_ids(self, run_id: str) -> list[str]:
        """Ids of the direct children of a run."""
        return list(self.conn.execute(sa.select(t.runs.c.id).where(t.runs.c.parent_id == run_id)).scalars())

    # params and tags ----------------------------------------------------------------------
    def insert_params(self, run_id: str, values: Mapping[str, str]) -> dict[str, str]:
        """Insert params; return those that were new. Raise if one exists with a different value."""
        if not values:
            return {}
        existing: dict[str, str] = {}
        for chunk in _chunks(list(values), 500):
            rows = self.conn.execute(
                sa.select(t.params.c.key, t.params.c.value).where(
                    t.params.c.run_id == run_id, t.params.c.key.in_(chunk)
                )
            )
            existing.update((key, value) for key, value in rows)
        for key, old in existing.items():
            if old != values[key]:
                raise ParamConflictError(
                    f"Param {key!r} of run {run_id} is already {old!r}; it cannot change to {values[key]!r}. "
                    "Params are immutable: log the new value in a new run, or under another key."
                )
        new = {k: v for k, v in values.items() if k not in existing}
        if new:
            self.conn.execute(
                sa.insert(t.params),
                [{"run_id": run_id, "key": k, "value": v, "value_num": _as_number(v)} for k, v in new.items()],
            )
        return new

    def upsert_tags(self, run_id: str, values: Mapping[str, str]) -> None:
        """Set tags, replacing existing values."""
        if not values:
            return
        stmt = upsert(self.conn, t.tags)
        stmt = stmt.on_conflict_do_update(index_elements=["run_id", "key"], set_={"value": stmt.excluded.value})
        self.conn.execute(stmt, [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()])

    def delete_tag(self, run_id: str, key: str) -> bool:
        """Delete a tag; return whether it existed."""
        result = self.conn.execute(sa.delete(t.tags).where(t.tags.c.run_id == run_id, t.tags.c.key == key))
        return bool(result.rowcount)

    # audit --------------------------------------------------------------------------------
    def append_audit(
        self,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        project: str | None,
        summary: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        client_addr: str | None = None,
    ) -> None:
        """Append one audit event (never updated or deleted)."""
        self.conn.execute(
            sa.insert(t.audit_events).values(
                time=now_ms(),
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                project=project,
                summary=json.dumps(dict(summary or {}), default=str, sort_keys=True),
                request_id=request_id,
                client_addr=client_addr,
            )
        )

    def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        project: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Return audit events, newest first, filtered; ``before_id`` pages backwards."""
        a = t.audit_events
        query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
        for column, value in (
            (a.c.actor, actor),
            (a.c.action, action),
            (a.c.object_type, object_type),
            (a.c.object_id, object_id),
            (a.c.project, project),
        ):
            if value is not None:
                query = query.where(column == value)
        if since_ms is not None:
            query = query.where(a.c.time >= since_ms)
        if until_ms is not None:
            query = query.where(a.c.time < until_ms)
        if before_id is not None:
            query = query.where(a.c.id < before_id)
        return [
            AuditEvent(
                id=r.id,
                time=ms_to_datetime(r.time),
                actor=r.actor,
                action=r.action,
                object_type=r.object_type,
                object_id=r.object_id,
                project=r.project,
                summary=json.loads(r.summary),
                request_id=r.request_id,
                client_addr=r.client_addr,
            )
            for r in self.conn.execute(query)
        ]


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
