"""Pipeline runs, step runs, step outputs and the step cache in SQL (revision 0005).

A pipeline run and its step runs are ``runs`` rows (status, times, error, params, nested with
``parent_id``); the tables here add the DAG, the outputs and the cache. Step runs arrive in
batches (the engine's group commit), so every write here is a bulk statement.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from modelyard.entities import PipelineInfo, PipelineRun, RunStatus, StepOutputRef, StepRun, ms_to_datetime
from modelyard.errors import PipelineNotFoundError
from modelyard.store.sql import schema as t
from modelyard.store.sql._rows import now_ms, upsert

__all__ = ["PipelineRows"]

_PIPELINE_RUN = (
    sa.select(
        t.pipeline_runs,
        t.runs.c.status,
        t.runs.c.start_time,
        t.runs.c.end_time,
        t.runs.c.error,
        t.runs.c.deleted_at,
        t.projects.c.name.label("project"),
    )
    .join(t.runs, t.runs.c.id == t.pipeline_runs.c.run_id)
    .join(t.projects, t.projects.c.id == t.pipeline_runs.c.project_id)
)

# One round trip per lookup: the entry, its live step run and its outputs.
_CACHE_LOOKUP = (
    sa.select(
        t.step_cache.c.cache_key,
        t.step_cache.c.step_run_id,
        t.step_outputs.c.idx,
        t.step_outputs.c.kind,
        t.step_outputs.c.type,
        t.step_outputs.c.value,
        t.step_outputs.c.digest,
        t.step_outputs.c.ref,
        t.step_outputs.c.size,
        t.step_outputs.c.warning,
    )
    .join(t.projects, t.projects.c.id == t.step_cache.c.project_id)
    .join(t.runs, t.runs.c.id == t.step_cache.c.step_run_id)
    .outerjoin(t.step_outputs, t.step_outputs.c.step_run_id == t.step_cache.c.step_run_id)
    .where(
        t.projects.c.name == sa.bindparam("project"),
        t.step_cache.c.cache_key.in_(sa.bindparam("keys", expanding=True)),
        t.runs.c.deleted_at.is_(None),
        sa.or_(t.step_cache.c.expires_at.is_(None), t.step_cache.c.expires_at > sa.bindparam("now")),
    )
    .order_by(t.step_cache.c.cache_key, t.step_outputs.c.idx)
)

_UPDATE_RUN = (
    sa.update(t.runs)
    .where(t.runs.c.id == sa.bindparam("b_id"))
    .values(status=sa.bindparam("b_status"), end_time=sa.bindparam("b_end"), error=sa.bindparam("b_error"))
)


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class PipelineRows:
    """Operations on pipeline runs, step runs, outputs and the cache within one transaction."""

    conn: sa.Connection

    # pipeline runs ------------------------------------------------------------------------
    def insert_pipeline_run(self, values: Mapping[str, Any]) -> None:
        """Insert the ``pipeline_runs`` row of a run whose ``runs`` row exists."""
        self.conn.execute(sa.insert(t.pipeline_runs).values(**values, updated_at=now_ms()))

    def update_pipeline_run(self, run_id: str, **values: Any) -> None:
        """Update columns of a pipeline run (``dag``, ``executor``, ``cancel_requested``)."""
        self.conn.execute(
            sa.update(t.pipeline_runs).where(t.pipeline_runs.c.run_id == run_id).values(**values, updated_at=now_ms())
        )

    def pipeline_run_row(self, run_id: str) -> Any:
        """The pipeline run's row with its status, times and project; raise when there is none."""
        row = self.conn.execute(_PIPELINE_RUN.where(t.pipeline_runs.c.run_id == run_id)).first()
        if row is None:
            raise PipelineNotFoundError(
                f"No pipeline run with id {run_id!r}; list them with `modelyard pipelines runs`."
            )
        return row

    def cancel_requested(self, run_id: str) -> bool:
        """Whether someone asked to cancel this pipeline run."""
        value = self.conn.execute(
            sa.select(t.pipeline_runs.c.cancel_requested).where(t.pipeline_runs.c.run_id == run_id)
        ).scalar()
        return value is not None

    def get_pipeline_run(self, run_id: str, *, steps: bool = True) -> PipelineRun:
        """The pipeline run with (optionally) the latest step run of every step that started."""
        row = self.pipeline_run_row(run_id)
        run = _pipeline_run(row)
        if steps:
            run.steps = self.step_runs(run_id)
        return run

    def list_pipeline_runs(
        self, project_id: int, pipeline: str | None, limit: int, status: str | None = None
    ) -> list[PipelineRun]:
        """Pipeline runs of a project (optionally of one pipeline or status), newest first, without steps."""
        query = _PIPELINE_RUN.where(t.pipeline_runs.c.project_id == project_id, t.runs.c.deleted_at.is_(None))
        if pipeline is not None:
            query = query.where(t.pipeline_runs.c.pipeline == pipeline)
        if status is not None:
            query = query.where(t.runs.c.status == status)
        rows = self.conn.execute(query.order_by(t.runs.c.start_time.desc(), t.runs.c.id.desc()).limit(limit))
        return [_pipeline_run(r) for r in rows]

    def list_pipelines(self, project_id: int) -> list[PipelineInfo]:
        """Every pipeline with a run in the project, with its latest run."""
        latest: dict[str, Any] = {}
        counts: dict[str, int] = {}
        query = _PIPELINE_RUN.where(t.pipeline_runs.c.project_id == project_id, t.runs.c.deleted_at.is_(None))
        for r in self.conn.execute(query.order_by(t.runs.c.start_time, t.runs.c.id)):
            latest[r.pipeline] = r
            counts[r.pipeline] = counts.get(r.pipeline, 0) + 1
        return [
            PipelineInfo(
                name=name,
                project=r.project,
                target=r.target,
                run_count=counts[name],
                last_run_id=r.run_id,
                last_status=RunStatus(r.status),
                last_start_time=ms_to_datetime(r.start_time),
            )
            for name, r in sorted(latest.items())
        ]

    # step runs ----------------------------------------------------------------------------
    def step_runs(self, pipeline_run_id: str) -> list[StepRun]:
        """The latest step run of each step of a pipeline run (highest generation), in start order."""
        rows = self.conn.execute(
            sa.select(t.step_runs, t.runs.c.status, t.runs.c.start_time, t.runs.c.end_time, t.runs.c.error)
            .join(t.runs, t.runs.c.id == t.step_runs.c.run_id)
            .where(t.step_runs.c.pipeline_run_id == pipeline_run_id)
            .order_by(t.step_runs.c.generation, t.runs.c.start_time, t.runs.c.id)
        ).all()
        latest: dict[str, Any] = {}
        for r in rows:
            latest[r.step] = r
        ids = [r.run_id for r in latest.values()]
        outputs = self.step_outputs(ids)
        params: dict[str, dict[str, str]] = {}
        for chunk in _chunks(ids, 500):
            for run_id, key, value in self.conn.execute(
                sa.select(t.params.c.run_id, t.params.c.key, t.params.c.value).where(t.params.c.run_id.in_(chunk))
            ):
                params.setdefault(run_id, {})[key] = value
        return [
            StepRun.model_construct(
                run_id=r.run_id,
                name=r.step,
                status=RunStatus(r.status),
                attempt=r.attempt,
                generation=r.generation,
                cache_key=r.cache_key,
                cached_from=r.cached_from,
                start_time=ms_to_datetime(r.start_time),
                end_time=ms_to_datetime(r.end_time),
                error=r.error,
                logs=r.logs,
                params=params.get(r.run_id, {}),
                outputs=outputs.get(r.run_id, []),
            )
            for r in latest.values()
        ]

    def step_outputs(self, step_run_ids: Sequence[str]) -> dict[str, list[StepOutputRef]]:
        """The outputs of step runs, by step run id, in output order."""
        out: dict[str, list[StepOutputRef]] = {}
        for chunk in _chunks(list(step_run_ids), 500):
            rows = self.conn.execute(
                sa.select(t.step_outputs)
                .where(t.step_outputs.c.step_run_id.in_(chunk))
                .order_by(t.step_outputs.c.step_run_id, t.step_outputs.c.idx)
            )
            for r in rows:
                out.setdefault(r.step_run_id, []).append(
                    StepOutputRef.model_construct(
                        index=r.idx,
                        kind=r.kind,
                        type=r.type,
                        value=None if r.value is None else json.loads(r.value),
                        digest=r.digest,
                        ref=r.ref,
                        size=r.size,
                        warning=r.warning,
                    )
                )
        return out

    def write_step_runs(
        self, pipeline_run_id: str, project_id: int, user: str, records: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert or update a batch of step runs: their ``runs`` rows, params, outputs and cache entries."""
        if not records:
            return
        ids = [r["run_id"] for r in records]
        existing: set[str] = set()
        for chunk in _chunks(ids, 500):
            existing.update(self.conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id.in_(chunk))).scalars())
        new = [r for r in records if r["run_id"] not in existing]
        if new:
            self.conn.execute(
                sa.insert(t.runs),
                [
                    {
                        "id": r["run_id"],
                        "project_id": project_id,
                        "name": r["name"],
                        "status": r["status"],
                        "parent_id": pipeline_run_id,
                        "user": user,
                        "start_time": r["start_time"],
                        "end_time": r.get("end_time"),
                        "source": None,
                        "git_commit": None,
                        "error": r.get("error"),
                        "deleted_at": None,
                    }
                    for r in new
                ],
            )
            param_rows = [
                {"run_id": r["run_id"], "key": k, "value": v, "value_num": _as_number(v)}
                for r in new
                for k, v in (r.get("params") or {}).items()
            ]
            if param_rows:
                self.conn.execute(sa.insert(t.params), param_rows)
        old = [r for r in records if r["run_id"] in existing]
        if old:
            self.conn.execute(
                _UPDATE_RUN,
                [
                    {
                        "b_id": r["run_id"],
                        "b_status": r["status"],
                        "b_end": r.get("end_time"),
                        "b_error": r.get("error"),
                    }
                    for r in old
                ],
            )
            for chunk in _chunks([r["run_id"] for r in old], 500):
                self.conn.execute(sa.delete(t.step_runs).where(t.step_runs.c.run_id.in_(chunk)))
                self.conn.execute(sa.delete(t.step_outputs).where(t.step_outputs.c.step_run_id.in_(chunk)))
        self.conn.execute(
            sa.insert(t.step_runs),
            [
                {
                    "run_id": r["run_id"],
                    "pipeline_run_id": pipeline_run_id,
                    "step": r["name"],
                    "generation": r.get("generation", 0),
                    "attempt": r.get("attempt", 1),
                    "cache_key": r.get("cache_key"),
                    "cached_from": r.get("cached_from"),
                    "logs": r.get("logs"),
                }
                for r in records
            ],
        )
        output_rows = [
            {
                "step_run_id": r["run_id"],
                "idx": o["index"],
                "kind": o["kind"],
                "type": o["type"],
                "value": None if o.get("value") is None else json.dumps(o["value"]),
                "digest": o.get("digest"),
                "ref": o.get("ref"),
                "size": o.get("size", 0),
                "warning": o.get("warning"),
            }
            for r in records
            for o in r.get("outputs") or ()
        ]
        if output_rows:
            self.conn.execute(sa.insert(t.step_outputs), output_rows)
        self._link_datasets(project_id, records)
        cache_rows = [
            {
                "project_id": project_id,
                "cache_key": r["cache_key"],
                "step": r["name"],
                "step_run_id": r["run_id"],
                "created_at": r.get("end_time") or now_ms(),
                "expires_at": r.get("cache_expires_at"),
            }
            for r in records
            if r.get("cache_store") and r.get("cache_key") and r["status"] == RunStatus.FINISHED.value
        ]
        if cache_rows:
            stmt = upsert(self.conn, t.step_cache)
            stmt = stmt.on_conflict_do_update(
                index_elements=["project_id", "cache_key"],
                set_={
                    "step": stmt.excluded.step,
                    "step_run_id": stmt.excluded.step_run_id,
                    "created_at": stmt.excluded.created_at,
                    "expires_at": stmt.excluded.expires_at,
                },
            )
            self.conn.execute(stmt, cache_rows)

    def _link_datasets(self, project_id: int, records: Sequence[Mapping[str, Any]]) -> None:
        """Lineage: link step runs to the dataset versions they read (``input``) and wrote (``output``)."""
        wanted = [
            (r["run_id"], link["ref"], link.get("role", "input"))
            for r in records
            for link in r.get("inputs") or ()
            if isinstance(link, Mapping) and isinstance(link.get("ref"), str) and "@" in link["ref"]
        ]
        if not wanted:
            return
        rows = []
        for run_id, ref, role in wanted:
            name, _, version = ref.rpartition("@")
            if not version.isdigit():
                continue
            version_id = self.conn.execute(
                sa.select(t.dataset_versions.c.id)
                .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
                .where(
                    t.datasets.c.project_id == project_id,
                    t.datasets.c.name == name,
                    t.dataset_versions.c.version == int(version),
                )
            ).scalar()
            if version_id is not None:
                rows.append({"run_id": run_id, "dataset_version_id": version_id, "role": role, "created_at": now_ms()})
        if rows:
            stmt = upsert(self.conn, t.run_inputs).on_conflict_do_nothing()
            self.conn.execute(stmt, rows)

    # cache --------------------------------------------------------------------------------
    def cache_lookup(
        self, project: str, cache_keys: Sequence[str], now: int
    ) -> dict[str, tuple[str, list[StepOutputRef]]]:
        """Live cache entries for ``cache_keys``: key -> (step run id, its outputs), in one query per 500 keys."""
        found: dict[str, tuple[str, list[StepOutputRef]]] = {}
        for chunk in _chunks(list(cache_keys), 500):
            rows = self.conn.execute(_CACHE_LOOKUP, {"project": project, "keys": list(chunk), "now": now})
            for r in rows:
                entry = found.setdefault(r.cache_key, (r.step_run_id, []))
                if r.idx is not None:
                    entry[1].append(
                        StepOutputRef.model_construct(
                            index=r.idx,
                            kind=r.kind,
                            type=r.type,
                            value=None if r.value is None else json.loads(r.value),
                            digest=r.digest,
                            ref=r.ref,
                            size=r.size,
                            warning=r.warning,
                        )
                    )
        return found

    def step_output_digests(self) -> set[str]:
        """Every blob digest a step output references (kept by garbage collection)."""
        query = sa.select(t.step_outputs.c.digest).where(
            t.step_outputs.c.digest.is_not(None), t.step_outputs.c.kind != "inline"
        )
        return set(self.conn.execute(query).scalars())


def _as_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _pipeline_run(row: Any) -> PipelineRun:
    return PipelineRun.model_construct(
        id=row.run_id,
        project=row.project,
        pipeline=row.pipeline,
        target=row.target,
        params=json.loads(row.params),
        status=RunStatus(row.status),
        executor=row.executor,
        start_time=ms_to_datetime(row.start_time),
        end_time=ms_to_datetime(row.end_time),
        error=row.error,
        cancel_requested=row.cancel_requested is not None,
        dag=json.loads(row.dag),
        steps=[],
    )
