"""SQL metadata store (SQLAlchemy 2; SQLite and PostgreSQL; Alembic migrations).

The only package that imports SQLAlchemy. Services use :class:`SqlStore` transactions.
"""

from __future__ import annotations

from modelyard.store.sql.engine import HEAD_REVISION, current_revision, upgrade
from modelyard.store.sql.store import SqlStore, StoreTx

__all__ = ["HEAD_REVISION", "SqlStore", "StoreTx", "current_revision", "upgrade"]
