"""Fixtures for the account tests: a LocalBackend over each SQL store, with a fast password hasher.

The account service runs beside the store, so these tests use the two SQL stores; the server's
tests cover the same operations over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from modelyard.accounts import AccountService
from modelyard.audit import Caller
from modelyard.backend.local import LocalBackend
from modelyard.settings import Settings

# Cheap argon2id parameters: the tests check behaviour, not hashing cost.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
CALLER = Caller(user="tester", request_id="req-1", client_addr="127.0.0.1")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An embedded SQLite store, or the session's PostgreSQL database (emptied)."""
    if request.param == "sqlite":
        return str(tmp_path / "store")
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


def _empty_postgres(url: str) -> None:
    import sqlalchemy as sa

    from modelyard.store.sql.schema import metadata

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table("users"):
                names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def open_backend(store_uri: str, settings: Settings) -> Iterator[Callable[[], LocalBackend]]:
    """Open more backends on the same store (each with its own engine, like separate servers)."""
    opened: list[LocalBackend] = []

    def _open() -> LocalBackend:
        backend = LocalBackend(settings.location(store_uri), settings, CALLER)
        backend.accounts = AccountService(backend.store, CALLER, hasher=FAST_HASHER)
        opened.append(backend)
        return backend

    yield _open
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(open_backend: Callable[[], LocalBackend]) -> LocalBackend:
    """A local backend over the store under test."""
    return open_backend()


@pytest.fixture
def accounts(backend: LocalBackend) -> AccountService:
    """The account service of ``backend``."""
    return backend.accounts


@pytest.fixture
def sql(backend: LocalBackend) -> Callable[..., Any]:
    """Run one SQL statement on the store (to age rows, or look at what is stored)."""
    import sqlalchemy as sa

    def _sql(statement: str, **params: Any) -> Any:
        with backend.store.engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return result.fetchall() if result.returns_rows else None

    return _sql
