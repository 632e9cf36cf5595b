"""The SQL metadata store: transactions over SQLite or PostgreSQL."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelyard.errors import StoreError
from modelyard.store.sql._accounts import AccountRows
from modelyard.store.sql._artifacts import ArtifactRows
from modelyard.store.sql._datasets import DatasetRows
from modelyard.store.sql._metrics import MetricRows
from modelyard.store.sql._models import ModelRows
from modelyard.store.sql._pipelines import PipelineRows
from modelyard.store.sql._runs import RunRows
from modelyard.store.sql._scheduling import SchedulingRows
from modelyard.store.sql._search import SearchRows
from modelyard.store.sql.engine import create_engine

__all__ = ["SqlStore", "StoreTx"]

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Connections inherited from the parent must not be used (or closed) by the child.
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


class StoreTx(
    RunRows, MetricRows, ArtifactRows, SearchRows, AccountRows, DatasetRows, ModelRows, PipelineRows, SchedulingRows
):
    """Every store operation, bound to one connection inside one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        """Bind the operations to ``conn``."""
        self.conn = conn


class SqlStore:
    """Metadata store over a SQLAlchemy engine; hands out transactions to the services."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose schema is current."""
        self.engine = engine
        _engines.add(engine)

    @classmethod
    def open(cls, db_url: str, *, busy_timeout: float = 60.0) -> SqlStore:
        """Open (and on first use migrate) the database at ``db_url``."""
        return cls(create_engine(db_url, busy_timeout=busy_timeout))

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[StoreTx]:
        """A write transaction: committed when the block ends, rolled back on any error."""
        try:
            with self.engine.connect().execution_options(modelyard_write=True) as conn, conn.begin():
                yield StoreTx(conn)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"The metadata store could not complete a write: {exc.orig}") from None

    @contextmanager
    def read(self) -> Iterator[StoreTx]:
        """A read-only transaction (a consistent snapshot)."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield StoreTx(conn)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"The metadata store could not be read: {exc.orig}") from None

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()
