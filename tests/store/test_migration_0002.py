"""Revision 0002 (accounts) upgrades a 0001 database with data in it, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from modelyard.accounts import AccountService
from modelyard.audit import Caller
from modelyard.entities import Role
from modelyard.store.sql import HEAD_REVISION, SqlStore, current_revision, upgrade
from tests.store.conftest import run_alembic

_ACCOUNT_TABLES = {"users", "api_tokens", "memberships", "sessions", "signin_links"}
_RUN_ID = "0192f0c4a3b07c3e9d1f2a3b4c5d6e7f"


def _fill_0001(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO projects (name, description, created_at) VALUES ('churn', 'kept', 1700000000000)")
        )
        conn.execute(
            sa.text(
                'INSERT INTO runs (id, project_id, name, status, "user", start_time) '
                "VALUES (:id, (SELECT id FROM projects WHERE name = 'churn'), 'baseline', 'FINISHED', 'ann', 1)"
            ),
            {"id": _RUN_ID},
        )
        conn.execute(sa.text("INSERT INTO params (run_id, key, value) VALUES (:id, 'C', '1.0')"), {"id": _RUN_ID})


def _check_upgrade(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        run_alembic(engine, "upgrade", "0001")
        _fill_0001(engine)
        assert not _ACCOUNT_TABLES & set(sa.inspect(engine).get_table_names())
        assert upgrade(engine) == "0001"
        assert current_revision(engine) == HEAD_REVISION
        assert _ACCOUNT_TABLES <= set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM runs WHERE id = :id"), {"id": _RUN_ID}).scalar() == "baseline"
            assert conn.execute(sa.text("SELECT value FROM params")).scalar() == "1.0"
        # The old data works with the new tables: a role on the existing project.
        store = SqlStore.open(url)
        try:
            with store.read() as tx:
                assert tx.get_run(_RUN_ID).params == {"C": "1.0"}
            accounts = AccountService(store, Caller(user="test"))
            user = accounts.create_user("ci", service_account=True)
            accounts.set_role("ci", "churn", Role.EDITOR)
            assert accounts.role_for(user, "churn") == Role.EDITOR
        finally:
            store.close()
        # Downgrading removes the account tables and nothing else; upgrading again works.
        run_alembic(engine, "downgrade", "0001")
        assert not _ACCOUNT_TABLES & set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_upgrade_0001_to_0002_keeps_data_on_sqlite(tmp_path: Path) -> None:
    _check_upgrade(f"sqlite:///{tmp_path / 'old.db'}")


def test_upgrade_0001_to_0002_keeps_data_on_postgres(empty_postgres_database: str) -> None:
    _check_upgrade(empty_postgres_database)
