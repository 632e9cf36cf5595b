"""Opening the metadata database: engine, SQLite pragmas, and schema migrations.

SQLite (embedded default) runs in WAL mode with ``synchronous=FULL`` (a commit is durable when it
returns), a busy timeout and foreign keys on; write transactions start with ``BEGIN IMMEDIATE`` so
concurrent writers queue on the lock instead of failing with a deadlock. Its schema is migrated
automatically on first use, under a file lock so two processes opening an empty database at the
same moment both succeed. PostgreSQL is migrated by ``modelyard db upgrade`` (or automatically
when the database is empty); an outdated schema raises :class:`SchemaOutdatedError`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from modelyard.errors import SchemaOutdatedError, StoreError

__all__ = ["HEAD_REVISION", "create_engine", "current_revision", "upgrade"]

HEAD_REVISION = "0007"
"""The newest Alembic revision; a test checks it equals Alembic's head."""

_MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(db_url: str, *, busy_timeout: float = 60.0, auto_upgrade: bool = True) -> Engine:
    """Create the engine for ``db_url`` and make sure its schema is current.

    Raises:
        StoreError: the database cannot be opened (for example an unwritable directory).
        SchemaOutdatedError: a PostgreSQL schema is older than this version and not empty.
    """
    if db_url.startswith("sqlite"):
        engine = _sqlite_engine(db_url, busy_timeout)
    else:
        engine = _server_engine(db_url)
    if auto_upgrade:
        try:
            _ensure_schema(engine)
        except BaseException:
            engine.dispose()
            raise
    return engine


def _sqlite_engine(db_url: str, busy_timeout: float) -> Engine:
    path = Path(db_url.removeprefix("sqlite:///"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise StoreError(
            f"Cannot write the modelyard store at {path.parent}: {exc.strerror or exc}. "
            "Set MODELYARD_HOME (or the store URI) to a writable directory."
        ) from None
    engine = sa.create_engine(
        db_url,
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
        # One connection per thread, reused: SQLite connections are cheap but pragmas are not free.
        poolclass=sa.pool.QueuePool,
        pool_size=8,
        max_overflow=32,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")  # `like` is case-sensitive, as on PostgreSQL
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("modelyard_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _server_engine(db_url: str) -> Engine:
    try:
        return sa.create_engine(db_url, pool_pre_ping=True, pool_size=8, max_overflow=16)
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"The PostgreSQL driver is not installed ({exc.name}): pip install 'modelyard[postgres]'."
        ) from None


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision stored in the database, or ``None`` for an empty database."""
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.OperationalError as exc:
        raise StoreError(f"Cannot open the metadata database {engine.url!r}: {exc.orig}") from None


def upgrade(engine: Engine) -> str | None:
    """Migrate the schema to :data:`HEAD_REVISION`; return the revision it had before.

    On SQLite the migration runs under a file lock beside the database, on PostgreSQL under an
    advisory lock, so concurrent upgrades (two processes opening an empty store) are safe.
    """
    if engine.dialect.name == "sqlite":
        from filelock import FileLock

        with FileLock((engine.url.database or "") + ".migrate.lock", timeout=120):
            return _upgrade(engine)
    return _upgrade(engine)


def _upgrade(engine: Engine) -> str | None:
    before = current_revision(engine)
    if before == HEAD_REVISION:
        return before
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Serialise concurrent upgrades (several servers starting at once).
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7166029)"))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return before


def _ensure_schema(engine: Engine) -> None:
    revision = current_revision(engine)
    if revision == HEAD_REVISION:
        return
    if revision is not None and revision.isdigit() and int(revision) > int(HEAD_REVISION):
        raise StoreError(
            f"The database schema is at revision {revision}, newer than this modelyard knows ({HEAD_REVISION}): "
            "upgrade modelyard (pip install -U modelyard)."
        )
    if engine.dialect.name == "sqlite" or revision is None:
        upgrade(engine)
        return
    raise SchemaOutdatedError(
        f"The database schema is at revision {revision} but this modelyard needs {HEAD_REVISION}: "
        "run `modelyard db upgrade` (back up the database first)."
    )
