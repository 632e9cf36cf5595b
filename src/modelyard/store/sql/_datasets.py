"""Datasets, their numbered versions, version manifests (path -> blob digest) and run inputs in SQL.

Version numbers are ``max + 1`` chosen inside the write transaction while the dataset is locked:
SQLite writers already hold the database lock (``BEGIN IMMEDIATE``), PostgreSQL writers lock the
dataset's row with ``SELECT ... FOR UPDATE``, so concurrent adds of one dataset get 1..N exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from modelyard.entities import Dataset, DatasetFile, DatasetVersion, RunInput, ms_to_datetime
from modelyard.store.sql import schema as t
from modelyard.store.sql._rows import now_ms, upsert

__all__ = ["DatasetRows"]

_d, _v, _f, _i = t.datasets, t.dataset_versions, t.dataset_files, t.run_inputs
_CHUNK = 500

_VERSION_COLUMNS = (
    _v.c.id,
    _v.c.dataset_id,
    _v.c.version,
    _v.c.digest,
    _v.c.size,
    _v.c.num_files,
    _v.c.num_rows,
    _v.c.num_columns,
    _v.c.schema,
    _v.c.profile,
    _v.c.creator,
    _v.c.created_at,
    _v.c.parent_version,
    _v.c.message,
    _v.c.tags,
    _v.c.deleted_at,
    _v.c.purged_at,
)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class DatasetRows:
    """Operations on datasets, versions, their files and run inputs within one transaction."""

    conn: sa.Connection

    # datasets -----------------------------------------------------------------------------
    def dataset_id(self, project_id: int, name: str) -> int | None:
        """The id of dataset ``name`` in a project, or ``None``."""
        found = self.conn.execute(sa.select(_d.c.id).where(_d.c.project_id == project_id, _d.c.name == name)).scalar()
        return None if found is None else int(found)

    def lock_dataset(self, project_id: int, name: str) -> int:
        """Create dataset ``name`` if needed and lock it for this transaction; return its id.

        Writers of one dataset queue here, so the version number chosen next is never taken twice.
        """
        stamp = now_ms()
        stmt = upsert(self.conn, _d).values(project_id=project_id, name=name, created_at=stamp, updated_at=stamp)
        self.conn.execute(stmt.on_conflict_do_nothing(index_elements=["project_id", "name"]))
        query = sa.select(_d.c.id).where(_d.c.project_id == project_id, _d.c.name == name)
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        return int(self.conn.execute(query).scalar_one())

    def touch_dataset(self, dataset_id: int) -> None:
        """Record a change of the dataset (its ``updated_at``)."""
        self.conn.execute(sa.update(_d).where(_d.c.id == dataset_id).values(updated_at=now_ms()))

    def list_datasets(self, project_id: int, project: str) -> list[Dataset]:
        """Datasets of a project that have a live version, by name, with their newest live version."""
        latest = (
            sa.select(_v.c.dataset_id, sa.func.max(_v.c.version).label("latest"))
            .where(_v.c.deleted_at.is_(None))
            .group_by(_v.c.dataset_id)
            .subquery()
        )
        rows = self.conn.execute(
            sa.select(_d.c.name, _d.c.created_at, _d.c.updated_at, latest.c.latest)
            .join(latest, latest.c.dataset_id == _d.c.id)
            .where(_d.c.project_id == project_id)
            .order_by(_d.c.name)
        )
        return [
            Dataset(
                name=r.name,
                project=project,
                latest_version=int(r.latest),
                created_at=ms_to_datetime(r.created_at),
                updated_at=ms_to_datetime(r.updated_at),
            )
            for r in rows
        ]

    # versions -----------------------------------------------------------------------------
    def max_version(self, dataset_id: int) -> int:
        """The highest version number ever given in the dataset (deleted ones included), 0 if none."""
        found = self.conn.execute(sa.select(sa.func.max(_v.c.version)).where(_v.c.dataset_id == dataset_id)).scalar()
        return int(found or 0)

    def version_row(self, dataset_id: int, version: int | None = None) -> Any:
        """The row of a version (``None``: the newest live version), or ``None``."""
        query = sa.select(*_VERSION_COLUMNS).where(_v.c.dataset_id == dataset_id)
        if version is None:
            query = query.where(_v.c.deleted_at.is_(None)).order_by(_v.c.version.desc()).limit(1)
        else:
            query = query.where(_v.c.version == version)
        return self.conn.execute(query).first()

    def version_rows_by_digest(self, dataset_id: int, prefix: str) -> list[Any]:
        """Live versions whose digest starts with ``prefix`` (lowercase hex), newest first."""
        return list(
            self.conn.execute(
                sa.select(*_VERSION_COLUMNS)
                .where(_v.c.dataset_id == dataset_id, _v.c.deleted_at.is_(None), _v.c.digest.like(prefix + "%"))
                .order_by(_v.c.version.desc())
                .limit(50)
            )
        )

    def version_rows(self, dataset_id: int, *, include_deleted: bool = False) -> list[Any]:
        """Every version of a dataset, newest first."""
        query = sa.select(*_VERSION_COLUMNS).where(_v.c.dataset_id == dataset_id).order_by(_v.c.version.desc())
        if not include_deleted:
            query = query.where(_v.c.deleted_at.is_(None))
        return list(self.conn.execute(query))

    def insert_version(self, values: Mapping[str, Any], files: Sequence[DatasetFile]) -> int:
        """Insert a version row and its manifest; return the row id."""
        row = dict(values)
        for key in ("schema", "profile"):
            row[key] = None if row.get(key) is None else json.dumps(row[key], sort_keys=True, default=str)
        row["tags"] = json.dumps(dict(row.get("tags") or {}), sort_keys=True)
        version_id = int(self.conn.execute(sa.insert(_v).values(**row).returning(_v.c.id)).scalar_one())
        # The manifest rows go straight to the driver's executemany: SQLAlchemy's per-row parameter
        # processing would cost more than the insert itself for a version of many files.
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        insert = f"INSERT INTO {_f.name} (version_id, path, digest, size) VALUES ({mark}, {mark}, {mark}, {mark})"
        for start in range(0, len(files), 10_000):
            rows = [(version_id, f.path, f.digest, f.size) for f in files[start : start + 10_000]]
            self.conn.exec_driver_sql(insert, rows)
        return version_id

    def version_files(self, version_id: int) -> list[DatasetFile]:
        """The manifest of a version, by path."""
        rows = self.conn.execute(
            sa.select(_f.c.path, _f.c.size, _f.c.digest).where(_f.c.version_id == version_id).order_by(_f.c.path)
        )
        return [DatasetFile.model_construct(path=p, size=s, digest=d) for p, s, d in rows]

    def version_file(self, version_id: int, path: str) -> DatasetFile | None:
        """One file of a version's manifest, or ``None``."""
        row = self.conn.execute(
            sa.select(_f.c.path, _f.c.size, _f.c.digest).where(_f.c.version_id == version_id, _f.c.path == path)
        ).first()
        return None if row is None else DatasetFile.model_construct(path=row.path, size=row.size, digest=row.digest)

    def mark_versions_deleted(self, version_ids: Sequence[int], stamp: int) -> None:
        """Soft-delete versions (their rows and files stay: lineage, restorable blobs)."""
        for start in range(0, len(version_ids), _CHUNK):
            chunk = list(version_ids[start : start + _CHUNK])
            self.conn.execute(
                sa.update(_v).where(_v.c.id.in_(chunk), _v.c.deleted_at.is_(None)).values(deleted_at=stamp)
            )

    def restore_versions(self, version_ids: Sequence[int]) -> None:
        """Undo the soft deletion of versions (purged ones stay deleted: their files are gone)."""
        for start in range(0, len(version_ids), _CHUNK):
            chunk = list(version_ids[start : start + _CHUNK])
            self.conn.execute(sa.update(_v).where(_v.c.id.in_(chunk), _v.c.purged_at.is_(None)).values(deleted_at=None))

    def purge_versions(self, version_ids: Sequence[int], stamp: int) -> set[str]:
        """Erase the files, schema and profile of versions (rows stay as tombstones for lineage).

        Returns the digests their manifests referenced.
        """
        digests: set[str] = set()
        for start in range(0, len(version_ids), _CHUNK):
            chunk = list(version_ids[start : start + _CHUNK])
            digests.update(self.conn.execute(sa.select(_f.c.digest).where(_f.c.version_id.in_(chunk))).scalars())
            self.conn.execute(sa.delete(_f).where(_f.c.version_id.in_(chunk)))
            self.conn.execute(
                sa.update(_v)
                .where(_v.c.id.in_(chunk))
                .values(
                    schema=None,
                    profile=None,
                    deleted_at=sa.func.coalesce(_v.c.deleted_at, stamp),
                    purged_at=stamp,
                )
            )
        return digests

    def digests_in_use(self, digests: Iterable[str]) -> set[str]:
        """Those of ``digests`` that some dataset file or artifact still references."""
        wanted = sorted(set(digests))
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            found.update(self.conn.execute(sa.select(_f.c.digest).where(_f.c.digest.in_(chunk))).scalars())
            found.update(
                self.conn.execute(sa.select(t.artifacts.c.digest).where(t.artifacts.c.digest.in_(chunk))).scalars()
            )
        return found

    def grant_blobs(self, project_id: int, digests: Iterable[str]) -> None:
        """Record that the project uploaded these blobs' bytes (see ``project_blobs``)."""
        rows = [{"project_id": project_id, "digest": d, "created_at": now_ms()} for d in sorted(set(digests))]
        if rows:
            table = t.project_blobs
            self.conn.execute(upsert(self.conn, table).on_conflict_do_nothing(), rows)

    def digests_in_project(self, project_id: int, digests: Iterable[str]) -> set[str]:
        """Those of ``digests`` the project may reference: uploaded to it, or used by its objects.

        Its objects: files of its dataset versions, artifacts and step outputs of its runs.
        """
        wanted = sorted(set(digests))
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            found.update(
                self.conn.execute(
                    sa.select(_f.c.digest)
                    .join(_v, _v.c.id == _f.c.version_id)
                    .join(_d, _d.c.id == _v.c.dataset_id)
                    .where(_f.c.digest.in_(chunk), _d.c.project_id == project_id)
                ).scalars()
            )
            found.update(
                self.conn.execute(
                    sa.select(t.project_blobs.c.digest).where(
                        t.project_blobs.c.digest.in_(chunk), t.project_blobs.c.project_id == project_id
                    )
                ).scalars()
            )
            found.update(
                self.conn.execute(
                    sa.select(t.artifacts.c.digest)
                    .join(t.runs, t.runs.c.id == t.artifacts.c.run_id)
                    .where(t.artifacts.c.digest.in_(chunk), t.runs.c.project_id == project_id)
                ).scalars()
            )
            found.update(
                self.conn.execute(
                    sa.select(t.step_outputs.c.digest)
                    .join(t.runs, t.runs.c.id == t.step_outputs.c.step_run_id)
                    .where(t.step_outputs.c.digest.in_(chunk), t.runs.c.project_id == project_id)
                ).scalars()
            )
        return found

    def version_entity(
        self, row: Any, name: str, project: str, *, files: bool = True, manifest: Sequence[DatasetFile] | None = None
    ) -> DatasetVersion:
        """Build a :class:`DatasetVersion` from a version row (with its manifest when ``files``).

        ``manifest``, when the caller holds it (it just inserted it), is used instead of reading it back.
        """
        if not files:
            listed: list[DatasetFile] = []
        else:
            listed = list(manifest) if manifest is not None else self.version_files(row.id)
        return DatasetVersion(
            name=name,
            project=project,
            version=row.version,
            digest=row.digest,
            files=listed,
            num_files=row.num_files,
            size=row.size,
            num_rows=row.num_rows,
            num_columns=row.num_columns,
            schema_=_json(row.schema),
            profile=_json(row.profile),
            created_at=ms_to_datetime(row.created_at),
            creator=row.creator,
            parent_version=row.parent_version,
            message=row.message,
            tags=_json(row.tags) or {},
            deleted=row.deleted_at is not None,
            purged=row.purged_at is not None,
        )

    # run inputs (lineage) -----------------------------------------------------------------
    def insert_run_input(self, run_id: str, version_id: int, role: str) -> bool:
        """Link a run to a dataset version in a role; return whether the link is new."""
        stmt = upsert(self.conn, _i).values(
            run_id=run_id, dataset_version_id=version_id, role=role, created_at=now_ms()
        )
        result = self.conn.execute(stmt.on_conflict_do_nothing(index_elements=["run_id", "dataset_version_id", "role"]))
        return bool(result.rowcount)

    def _inputs(self, where: Any) -> list[RunInput]:
        rows = self.conn.execute(
            sa.select(
                _i.c.run_id,
                _i.c.role,
                _i.c.created_at,
                t.runs.c.name.label("run_name"),
                _v.c.version,
                _v.c.digest,
                _v.c.deleted_at,
                _d.c.name.label("dataset"),
                t.projects.c.name.label("project"),
            )
            .join(t.runs, t.runs.c.id == _i.c.run_id)
            .join(_v, _v.c.id == _i.c.dataset_version_id)
            .join(_d, _d.c.id == _v.c.dataset_id)
            .join(t.projects, t.projects.c.id == _d.c.project_id)
            .where(where)
            .order_by(_i.c.created_at, _i.c.run_id, _d.c.name, _v.c.version, _i.c.role)
        )
        return [
            RunInput(
                run_id=r.run_id,
                run_name=r.run_name,
                project=r.project,
                dataset=r.dataset,
                version=r.version,
                digest=r.digest,
                role=r.role,
                created_at=ms_to_datetime(r.created_at),
                deleted=r.deleted_at is not None,
            )
            for r in rows
        ]

    def run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run used."""
        return self._inputs(_i.c.run_id == run_id)

    def version_uses(self, version_id: int) -> list[RunInput]:
        """The runs that used a dataset version (live runs only)."""
        return self._inputs(sa.and_(_i.c.dataset_version_id == version_id, t.runs.c.deleted_at.is_(None)))
