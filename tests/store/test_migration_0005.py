"""Revision 0005 (pipelines) upgrades a 0004 database with data in it, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from modelyard.audit import Caller
from modelyard.blobs import BlobStore
from modelyard.entities import RunStatus
from modelyard.pipelines._service import PipelineService
from modelyard.store.sql import HEAD_REVISION, SqlStore, current_revision, upgrade
from tests.store.conftest import insert_project_and_run, run_alembic

_PIPELINE_TABLES = {"pipeline_runs", "step_runs", "step_outputs", "step_cache"}
_RUN_ID = "0192f0c4a3b07c3e9d1f2a3b4c5d6e7f"
_PIPELINE_RUN = "0192f0c4a3b07c3e9d1f2a3b4c5d6e80"
_STEP_RUN = "0192f0c4a3b07c3e9d1f2a3b4c5d6e81"


def _check_upgrade(url: str, blobs: BlobStore) -> None:
    engine = sa.create_engine(url)
    try:
        run_alembic(engine, "upgrade", "0004")
        with engine.begin() as conn:
            insert_project_and_run(conn, _RUN_ID)
        assert not _PIPELINE_TABLES & set(sa.inspect(engine).get_table_names())
        assert upgrade(engine) == "0004"
        assert current_revision(engine) == HEAD_REVISION
        assert _PIPELINE_TABLES <= set(sa.inspect(engine).get_table_names())
        store = SqlStore.open(url)
        try:
            service = PipelineService(store, blobs, Caller(user="test"))
            service.create_pipeline_run(
                run_id=_PIPELINE_RUN, project="churn", pipeline="training", params={"C": 0.5}, status="RUNNING"
            )
            record = {
                "run_id": _STEP_RUN,
                "name": "fit",
                "status": "FINISHED",
                "start_time": 2,
                "end_time": 3,
                "outputs": [{"index": 0, "kind": "inline", "type": "builtins.int", "value": 4, "digest": "d"}],
                "cache_key": "k" * 64,
                "cache_store": True,
            }
            service.record_steps(_PIPELINE_RUN, [record], finish={"status": "FINISHED"})
            run = service.get_pipeline_run(_PIPELINE_RUN)
            assert run.status == RunStatus.FINISHED and run.params == {"C": 0.5}
            assert [(s.name, s.outputs[0].value) for s in run.steps] == [("fit", 4)]
            assert set(service.cache_lookup("churn", ["k" * 64])) == {"k" * 64}
        finally:
            store.close()
        run_alembic(engine, "downgrade", "0004")
        assert not _PIPELINE_TABLES & set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:  # the runs (the old one, and the pipeline's) are kept
            assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 3
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_upgrade_0004_to_0005_keeps_data_on_sqlite(tmp_path: Path) -> None:
    _check_upgrade(f"sqlite:///{tmp_path / 'old.db'}", BlobStore(str(tmp_path / "blobs")))


def test_upgrade_0004_to_0005_keeps_data_on_postgres(empty_postgres_database: str, tmp_path: Path) -> None:
    _check_upgrade(empty_postgres_database, BlobStore(str(tmp_path / "blobs")))
