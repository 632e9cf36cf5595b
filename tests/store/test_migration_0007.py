"""Revision 0007 (project blobs) upgrades a 0006 database with data in it, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from modelyard.store.sql import HEAD_REVISION, SqlStore, current_revision, upgrade
from tests.store.conftest import run_alembic

_DIGEST = "ab" * 32


def _check_upgrade(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        run_alembic(engine, "upgrade", "0006")
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO projects (name, description, created_at) VALUES ('churn', '', 1)"))
        assert "project_blobs" not in sa.inspect(engine).get_table_names()
        assert upgrade(engine) == "0006"
        assert current_revision(engine) == HEAD_REVISION
        store = SqlStore.open(url)
        try:
            with store.write() as tx:
                project_id = tx.project_id("churn")
                assert tx.digests_in_project(project_id, [_DIGEST]) == set()
                tx.grant_blobs(project_id, [_DIGEST, _DIGEST])  # idempotent
                tx.grant_blobs(project_id, [_DIGEST])
            with store.read() as tx:
                assert tx.digests_in_project(tx.project_id("churn"), [_DIGEST, "cd" * 32]) == {_DIGEST}
        finally:
            store.close()
        run_alembic(engine, "downgrade", "0006")
        assert "project_blobs" not in sa.inspect(engine).get_table_names()
        with engine.connect() as conn:  # the project is kept
            assert conn.execute(sa.text("SELECT count(*) FROM projects")).scalar() == 1
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_upgrade_0006_to_0007_keeps_data_on_sqlite(tmp_path: Path) -> None:
    _check_upgrade(f"sqlite:///{tmp_path / 'old.db'}")


def test_upgrade_0006_to_0007_keeps_data_on_postgres(empty_postgres_database: str) -> None:
    _check_upgrade(empty_postgres_database)
