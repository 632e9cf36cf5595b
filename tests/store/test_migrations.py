"""Schema migrations: automatic on SQLite (also under a race), explicit and checked on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from modelyard.client import Client
from modelyard.errors import SchemaOutdatedError, StoreError
from modelyard.settings import Settings
from modelyard.store.sql import HEAD_REVISION, SqlStore, current_revision, upgrade
from modelyard.store.sql.engine import _MIGRATIONS, create_engine


def test_head_revision_constant_matches_alembic() -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_migrations_match_the_table_definitions(tmp_path: Path) -> None:
    """Autogenerate finds nothing to add: the migrations create exactly the schema in schema.py."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from modelyard.store.sql.schema import metadata

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_two_processes_opening_an_empty_store_both_succeed(tmp_path: Path) -> None:
    code = "import sys; from modelyard.client import Client; c = Client(sys.argv[1]); c.create_run('r'); c.close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "store")], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    client = Client(str(tmp_path / "store"))
    assert len(client.search_runs(project="default")) == 2
    client.close()


def test_unwritable_home_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="MODELYARD_HOME"):
        Client(settings=Settings(home=blocker / "home"))


def test_postgres_empty_database_is_migrated_automatically(postgres_url: str) -> None:
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    assert current_revision(engine) == HEAD_REVISION
    engine.dispose()


def test_postgres_outdated_schema_names_the_upgrade_command(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0000'"))
    try:
        with pytest.raises(SchemaOutdatedError, match="modelyard db upgrade"):
            SqlStore.open(url)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": HEAD_REVISION})
        engine.dispose()
