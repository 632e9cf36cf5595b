"""Registered models, model versions and their files, aliases, environments and promotion requests in SQL.

Version numbers are ``max + 1`` chosen inside the write transaction while the model is locked (as
for datasets): SQLite writers hold the database lock (``BEGIN IMMEDIATE``), PostgreSQL writers lock
the model's row with ``SELECT ... FOR UPDATE``, so concurrent registrations get 1..N exactly.
Alias and environment history is read from the audit log (``model.alias.*``, ``model.environment.*``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from modelyard.entities import (
    AliasChange,
    ModelFile,
    ModelVersion,
    ModelVersionStatus,
    PromotionRequest,
    PromotionState,
    RegisteredModel,
    ms_to_datetime,
)
from modelyard.store.sql import schema as t
from modelyard.store.sql._rows import now_ms, upsert

__all__ = ["ModelRows"]

_m, _v, _f = t.registered_models, t.model_versions, t.model_version_files
_a, _e, _p = t.model_aliases, t.model_environments, t.promotion_requests
_CHUNK = 500
HISTORY_ACTIONS = ("model.alias.set", "model.alias.delete", "model.environment.set", "model.environment.delete")


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class ModelRows:
    """Operations on the model registry's rows within one transaction."""

    conn: sa.Connection

    # models -------------------------------------------------------------------------------
    def model_row(self, project_id: int, name_key: str) -> Any:
        """The ``registered_models`` row of a model by its normalised name, or ``None``."""
        return self.conn.execute(sa.select(_m).where(_m.c.project_id == project_id, _m.c.name_key == name_key)).first()

    def lock_model(self, project_id: int, name: str, name_key: str, owner: str) -> tuple[Any, bool]:
        """Create model ``name`` if needed and lock it for this transaction; return its row and whether it is new.

        Writers of one model queue here, so the version number chosen next is never taken twice.
        """
        stamp = now_ms()
        stmt = upsert(self.conn, _m).values(
            project_id=project_id,
            name=name,
            name_key=name_key,
            description="",
            tags="{}",
            owner=owner,
            created_at=stamp,
            updated_at=stamp,
        )
        insert = stmt.on_conflict_do_nothing(index_elements=["project_id", "name_key"]).returning(_m.c.id)
        created = self.conn.execute(insert).first() is not None  # a conflict returns no row
        query = sa.select(_m).where(_m.c.project_id == project_id, _m.c.name_key == name_key)
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        return self.conn.execute(query).one(), created

    def update_model(self, model_id: int, **values: Any) -> None:
        """Update columns of a registered model (``tags`` as a mapping); stamps ``updated_at``."""
        if "tags" in values:
            values["tags"] = _dump(dict(values["tags"]))
        self.conn.execute(sa.update(_m).where(_m.c.id == model_id).values(updated_at=now_ms(), **values))

    def model_rows(self, project_id: int) -> list[Any]:
        """Every registered model of a project, by name."""
        return list(self.conn.execute(sa.select(_m).where(_m.c.project_id == project_id).order_by(_m.c.name_key)))

    def model_entities(self, rows: Sequence[Any], project: str) -> list[RegisteredModel]:
        """Build :class:`RegisteredModel` entities with latest version, aliases and environments."""
        ids = [r.id for r in rows]
        latest: dict[int, int] = {}
        aliases: dict[int, dict[str, int]] = defaultdict(dict)
        environments: dict[int, dict[str, int]] = defaultdict(dict)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for model_id, number in self.conn.execute(
                sa.select(_v.c.model_id, sa.func.max(_v.c.version))
                .where(_v.c.model_id.in_(chunk))
                .group_by(_v.c.model_id)
            ):
                latest[model_id] = int(number)
            for table, column, out in ((_a, _a.c.alias, aliases), (_e, _e.c.environment, environments)):
                query = (
                    sa.select(table.c.model_id, column, _v.c.version)
                    .join(_v, _v.c.id == table.c.version_id)
                    .where(table.c.model_id.in_(chunk))
                )
                for model_id, key, number in self.conn.execute(query):
                    out[model_id][key] = int(number)
        return [
            RegisteredModel(
                name=r.name,
                project=project,
                description=r.description,
                tags=_json(r.tags) or {},
                owner=r.owner,
                created_at=ms_to_datetime(r.created_at),
                updated_at=ms_to_datetime(r.updated_at),
                latest_version=latest.get(r.id, 0),
                aliases=dict(sorted(aliases[r.id].items())),
                environments=dict(sorted(environments[r.id].items())),
            )
            for r in rows
        ]

    # versions -----------------------------------------------------------------------------
    def max_model_version(self, model_id: int) -> int:
        """The highest version number of a model, 0 if none."""
        found = self.conn.execute(sa.select(sa.func.max(_v.c.version)).where(_v.c.model_id == model_id)).scalar()
        return int(found or 0)

    def insert_model_version(self, values: Mapping[str, Any], files: Sequence[ModelFile]) -> int:
        """Insert a version row and its file manifest; return the row id."""
        row = dict(values)
        row["signature"] = None if row.get("signature") is None else _dump(row["signature"])
        # importance keeps its order (features by decreasing importance)
        row["importance"] = None if row.get("importance") is None else json.dumps(row["importance"])
        row["metrics"] = _dump({k: (None if v != v else v) for k, v in dict(row.get("metrics") or {}).items()})
        row["requirements"] = _dump(list(row.get("requirements") or []))
        version_id = int(self.conn.execute(sa.insert(_v).values(**row).returning(_v.c.id)).scalar_one())
        if files:
            self.conn.execute(
                sa.insert(_f),
                [{"version_id": version_id, "path": f.path, "digest": f.digest, "size": f.size} for f in files],
            )
        return version_id

    def model_version_row(self, model_id: int, version: int | None = None, *, ready_only: bool = False) -> Any:
        """A version row (``None``: the newest, READY ones only with ``ready_only``), or ``None``."""
        query = sa.select(_v).where(_v.c.model_id == model_id)
        if ready_only:
            query = query.where(_v.c.status == ModelVersionStatus.READY.value)
        if version is None:
            query = query.order_by(_v.c.version.desc()).limit(1)
        else:
            query = query.where(_v.c.version == version)
        return self.conn.execute(query).first()

    def model_version_rows(self, model_id: int) -> list[Any]:
        """Every version row of a model, newest first."""
        return list(self.conn.execute(sa.select(_v).where(_v.c.model_id == model_id).order_by(_v.c.version.desc())))

    def model_version_rows_of_run(self, run_id: str) -> list[Any]:
        """Version rows registered from a run, with their model's name and project."""
        query = (
            sa.select(_v, _m.c.name.label("model_name"), t.projects.c.name.label("project_name"))
            .join(_m, _m.c.id == _v.c.model_id)
            .join(t.projects, t.projects.c.id == _m.c.project_id)
            .where(_v.c.run_id == run_id)
            .order_by(_m.c.name_key, _v.c.version)
        )
        return list(self.conn.execute(query))

    def update_model_version(self, version_id: int, **values: Any) -> None:
        """Update columns of a version; stamps ``updated_at``."""
        self.conn.execute(sa.update(_v).where(_v.c.id == version_id).values(updated_at=now_ms(), **values))

    def model_version_files(self, version_id: int) -> list[ModelFile]:
        """The package files of a version, by path."""
        rows = self.conn.execute(
            sa.select(_f.c.path, _f.c.size, _f.c.digest).where(_f.c.version_id == version_id).order_by(_f.c.path)
        )
        return [ModelFile.model_construct(path=p, size=s, digest=d) for p, s, d in rows]

    def model_version_entities(
        self, rows: Sequence[Any], name: str, project: str, *, files: bool = False
    ) -> list[ModelVersion]:
        """Build :class:`ModelVersion` entities (with aliases and environments; files when ``files``)."""
        ids = [r.id for r in rows]
        aliases: dict[int, list[str]] = defaultdict(list)
        environments: dict[int, list[str]] = defaultdict(list)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for version_id, alias in self.conn.execute(
                sa.select(_a.c.version_id, _a.c.alias).where(_a.c.version_id.in_(chunk)).order_by(_a.c.alias)
            ):
                aliases[version_id].append(alias)
            for version_id, env in self.conn.execute(
                sa.select(_e.c.version_id, _e.c.environment)
                .where(_e.c.version_id.in_(chunk))
                .order_by(_e.c.environment)
            ):
                environments[version_id].append(env)
        return [
            ModelVersion(
                name=name,
                project=project,
                version=r.version,
                digest=r.digest,
                flavor=r.flavor,
                signature=_json(r.signature),
                run_id=r.run_id,
                aliases=aliases[r.id],
                environments=environments[r.id],
                status=ModelVersionStatus(r.status),
                unsafe_format=bool(r.unsafe_format),
                trusted=bool(r.trusted),
                metrics={k: (float("nan") if v is None else float(v)) for k, v in (_json(r.metrics) or {}).items()},
                importance=_json(r.importance),
                requirements=_json(r.requirements) or [],
                description=r.description,
                files=self.model_version_files(r.id) if files else [],
                created_by=r.created_by,
                created_at=ms_to_datetime(r.created_at),
            )
            for r in rows
        ]

    # aliases and environments -------------------------------------------------------------
    def _pointer_table(self, kind: str) -> tuple[sa.Table, sa.Column[Any]]:
        return (_a, _a.c.alias) if kind == "alias" else (_e, _e.c.environment)

    def pointer_version(self, model_id: int, kind: str, key: str) -> Any:
        """The version row an alias or environment points to, or ``None``."""
        table, column = self._pointer_table(kind)
        query = (
            sa.select(_v).join(table, table.c.version_id == _v.c.id).where(table.c.model_id == model_id, column == key)
        )
        return self.conn.execute(query).first()

    def set_pointer(self, model_id: int, kind: str, key: str, version_id: int, user: str) -> None:
        """Point an alias or environment at a version (moved atomically if it pointed elsewhere)."""
        table, column = self._pointer_table(kind)
        stmt = upsert(self.conn, table).values(
            {
                "model_id": model_id,
                column.name: key,
                "version_id": version_id,
                "updated_by": user,
                "updated_at": now_ms(),
            }
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["model_id", column.name],
            set_={"version_id": version_id, "updated_by": user, "updated_at": now_ms()},
        )
        self.conn.execute(stmt)

    def delete_pointer(self, model_id: int, kind: str, key: str) -> bool:
        """Remove an alias or environment; return whether it existed."""
        table, column = self._pointer_table(kind)
        result = self.conn.execute(sa.delete(table).where(table.c.model_id == model_id, column == key))
        return bool(result.rowcount)

    def pointers_of_version(self, version_id: int) -> list[tuple[str, str]]:
        """``(kind, name)`` of every alias and environment pointing at a version."""
        found = [
            ("alias", a)
            for a in self.conn.execute(sa.select(_a.c.alias).where(_a.c.version_id == version_id)).scalars()
        ]
        found += [
            ("environment", e)
            for e in self.conn.execute(sa.select(_e.c.environment).where(_e.c.version_id == version_id)).scalars()
        ]
        return found

    # promotion requests -------------------------------------------------------------------
    def insert_promotion(self, values: Mapping[str, Any]) -> int:
        """Insert a promotion request; return its id."""
        return int(self.conn.execute(sa.insert(_p).values(**values).returning(_p.c.id)).scalar_one())

    def promotion_row(self, request_id: int) -> Any:
        """A promotion request with its model's name, project and version number, or ``None``."""
        return self.conn.execute(self._promotion_query().where(_p.c.id == request_id)).first()

    def promotion_rows(self, project_id: int, model_id: int | None = None, state: str | None = None) -> list[Any]:
        """Promotion requests of a project (or one model), newest first."""
        query = self._promotion_query().where(_m.c.project_id == project_id).order_by(_p.c.id.desc())
        if model_id is not None:
            query = query.where(_p.c.model_id == model_id)
        if state is not None:
            query = query.where(_p.c.state == state)
        return list(self.conn.execute(query))

    def _promotion_query(self) -> sa.Select[Any]:
        return (
            sa.select(
                _p,
                _m.c.name.label("model_name"),
                _m.c.project_id,
                t.projects.c.name.label("project_name"),
                _v.c.version,
            )
            .join(_m, _m.c.id == _p.c.model_id)
            .join(_v, _v.c.id == _p.c.version_id)
            .join(t.projects, t.projects.c.id == _m.c.project_id)
        )

    def decide_promotion_row(self, request_id: int, state: PromotionState, user: str, reason: str) -> bool:
        """Move a PENDING request to ``state``; ``False`` if it was no longer pending."""
        result = self.conn.execute(
            sa.update(_p)
            .where(_p.c.id == request_id, _p.c.state == PromotionState.PENDING.value)
            .values(state=state.value, decided_by=user, decided_at=now_ms(), decision_reason=reason)
        )
        return bool(result.rowcount)

    @staticmethod
    def promotion_entity(row: Any) -> PromotionRequest:
        """Build a :class:`PromotionRequest` from a row of :meth:`promotion_row`."""
        return PromotionRequest(
            id=row.id,
            project=row.project_name,
            name=row.model_name,
            version=row.version,
            environment=row.environment,
            state=PromotionState(row.state),
            requested_by=row.requested_by,
            requested_at=ms_to_datetime(row.requested_at),
            reason=row.reason,
            decided_by=row.decided_by,
            decided_at=ms_to_datetime(row.decided_at),
            decision_reason=row.decision_reason,
        )

    # history ------------------------------------------------------------------------------
    def pointer_history(
        self, project: str, name: str, *, target: str | None = None, until_ms: int | None = None
    ) -> list[AliasChange]:
        """Alias and environment moves of a model from the audit log, oldest first.

        ``target`` keeps one alias or environment; ``until_ms`` keeps changes made at or before it.
        """
        ev = t.audit_events
        query = (
            sa.select(ev)
            .where(
                ev.c.object_type == "model",
                ev.c.object_id == name,
                ev.c.project == project,
                ev.c.action.in_(HISTORY_ACTIONS),
            )
            .order_by(ev.c.id)
        )
        if until_ms is not None:
            query = query.where(ev.c.time <= until_ms)
        changes = []
        for r in self.conn.execute(query):
            summary = json.loads(r.summary)
            kind = "alias" if r.action.startswith("model.alias") else "environment"
            key = str(summary.get(kind, ""))
            if target is not None and key != target:
                continue
            changes.append(
                AliasChange(
                    time=ms_to_datetime(r.time),
                    actor=r.actor,
                    kind=kind,
                    target=key,
                    version=summary.get("version"),
                    previous=summary.get("previous"),
                    reason=str(summary.get("reason") or ""),
                    event_id=r.id,
                )
            )
        return changes

    # blobs --------------------------------------------------------------------------------
    def model_digests_in_use(self, digests: Iterable[str]) -> set[str]:
        """Those of ``digests`` that some model version's files reference."""
        wanted = sorted(set(digests))
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            found.update(self.conn.execute(sa.select(_f.c.digest).where(_f.c.digest.in_(chunk))).scalars())
        return found
