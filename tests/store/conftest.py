"""Shared by the migration tests: a PostgreSQL database of their own, and Alembic commands to a revision."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from modelyard.store.sql.engine import _MIGRATIONS


def run_alembic(engine: sa.Engine, action: str, revision: str) -> None:
    """``alembic upgrade|downgrade REVISION`` on ``engine`` (to set up an older schema with data in it)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, action)(config, revision)


def insert_project_and_run(conn: sa.Connection, run_id: str) -> None:
    """Project ``churn`` with one FINISHED run ``fit``: rows a later revision must keep."""
    conn.execute(sa.text("INSERT INTO projects (name, description, created_at) VALUES ('churn', '', 1)"))
    conn.execute(
        sa.text(
            'INSERT INTO runs (id, project_id, name, status, "user", start_time) '
            "VALUES (:id, (SELECT id FROM projects WHERE name = 'churn'), 'fit', 'FINISHED', 'ann', 1)"
        ),
        {"id": run_id},
    )


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
