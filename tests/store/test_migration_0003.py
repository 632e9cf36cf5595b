"""Revision 0003 (datasets) upgrades a 0002 database with data in it, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from modelyard.audit import Caller
from modelyard.blobs import BlobStore
from modelyard.data import DatasetService
from modelyard.entities import DatasetFile
from modelyard.store.sql import HEAD_REVISION, SqlStore, current_revision, upgrade
from tests.store.conftest import insert_project_and_run, run_alembic

_DATASET_TABLES = {"datasets", "dataset_versions", "dataset_files", "run_inputs"}
_RUN_ID = "0192f0c4a3b07c3e9d1f2a3b4c5d6e7f"


def _check_upgrade(url: str, blobs: BlobStore) -> None:
    engine = sa.create_engine(url)
    try:
        run_alembic(engine, "upgrade", "0002")
        with engine.begin() as conn:
            insert_project_and_run(conn, _RUN_ID)
        assert not _DATASET_TABLES & set(sa.inspect(engine).get_table_names())
        assert upgrade(engine) == "0002"
        assert current_revision(engine) == HEAD_REVISION
        assert _DATASET_TABLES <= set(sa.inspect(engine).get_table_names())
        store = SqlStore.open(url)
        try:
            service = DatasetService(store, blobs, Caller(user="test"))
            info = blobs.put_bytes(b"a,b\n1,2\n")
            dv, created = service.create_version("churn", "train", [DatasetFile(path="t.csv", **info._asdict())])
            assert created and dv.version == 1
            service.log_input(_RUN_ID, "churn", "train@1", "train")
            assert [u.run_id for u in service.lineage("churn", "train")] == [_RUN_ID]
        finally:
            store.close()
        run_alembic(engine, "downgrade", "0002")
        assert not _DATASET_TABLES & set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_upgrade_0002_to_0003_keeps_data_on_sqlite(tmp_path: Path) -> None:
    _check_upgrade(f"sqlite:///{tmp_path / 'old.db'}", BlobStore(str(tmp_path / "blobs")))


def test_upgrade_0002_to_0003_keeps_data_on_postgres(empty_postgres_database: str, tmp_path: Path) -> None:
    _check_upgrade(empty_postgres_database, BlobStore(str(tmp_path / "blobs")))
