"""Revision 0002 (accounts) upgrades a 0001 database with data in it, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from modelyard.accounts import AccountService
from modelyard.audit import Caller
from modelyard.entities import Role
from modelyard.store.sql import HEAD_REVISION, SqlStore, current_revision, upgrade
from modelyard.store.sql.engine import _MIGRATIONS

_ACCOUNT_TABLES = {"users", "api_tokens", "memberships", "sessions", "signin_links"}
_RUN_ID = "0192f0c4a3b07c3e9d1f2a3b4c5d6e7f"


def _alembic(engine: sa.Engine, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, action)(config, revision)


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
        _alembic(engine, "upgrade", "0001")
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
        _alembic(engine, "downgrade", "0001")
        assert not _ACCOUNT_TABLES & set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_upgrade_0001_to_0002_keeps_data_on_sqlite(tmp_path: Path) -> None:
    _check_upgrade(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.fixture
def empty_postgres_database(postgres_url: str) -> Iterator[str]:
    """A database of its own (created beside the session's, dropped after the test)."""
    import psycopg

    name = f"modelyard_migrate_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(postgres_url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def test_upgrade_0001_to_0002_keeps_data_on_postgres(empty_postgres_database: str) -> None:
    _check_upgrade(empty_postgres_database)
