"""Revision 0006 (scheduling) upgrades a 0005 database with data in it, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from modelyard.audit import Caller
from modelyard.pipelines._scheduling import SchedulingService
from modelyard.store.sql import HEAD_REVISION, SqlStore, current_revision, upgrade
from tests.store.conftest import insert_project_and_run, run_alembic

_TABLES = {"registered_pipelines", "pipeline_schedules", "pipeline_triggers", "pipeline_queue", "pipeline_workers"}
_RUN_ID = "0192f0c4a3b07c3e9d1f2a3b4c5d6e7f"


def _check_upgrade(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        run_alembic(engine, "upgrade", "0005")
        with engine.begin() as conn:
            insert_project_and_run(conn, _RUN_ID)
        assert not _TABLES & set(sa.inspect(engine).get_table_names())
        assert upgrade(engine) == "0005"
        assert current_revision(engine) == HEAD_REVISION
        assert _TABLES <= set(sa.inspect(engine).get_table_names())
        store = SqlStore.open(url)
        try:
            service = SchedulingService(store, Caller(user="test"))
            service.schedule("churn", "training", "my_project.pipelines:training", "0 3 * * *", now_ms=0)
            queued = service.enqueue("churn", "training", "my_project.pipelines:training")
            assert [s.pipeline for s in service.list_schedules("churn")] == ["training"]
            assert service.claim("w1") is not None and queued.status == "PENDING"
            with store.read() as tx:
                assert tx.get_run(_RUN_ID).name == "fit"  # old data is intact
        finally:
            store.close()
        run_alembic(engine, "downgrade", "0005")
        assert not _TABLES & set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM projects WHERE name = 'churn'")).scalar() == 1
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_upgrade_0005_to_0006_keeps_data_on_sqlite(tmp_path: Path) -> None:
    _check_upgrade(f"sqlite:///{tmp_path / 'old.db'}")


def test_upgrade_0005_to_0006_keeps_data_on_postgres(empty_postgres_database: str) -> None:
    _check_upgrade(empty_postgres_database)
