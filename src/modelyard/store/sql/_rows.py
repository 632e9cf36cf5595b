"""Shared helpers of the SQL store: clock, dialect-specific upserts, NaN handling, row -> entity."""

from __future__ import annotations

import math
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from modelyard.entities import Run, RunStatus, ms_to_datetime

__all__ = ["db_float", "now_ms", "py_float", "run_from_row", "upsert"]


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def upsert(conn: sa.Connection, table: sa.Table) -> Any:
    """Return the dialect's ``INSERT`` construct that supports ``ON CONFLICT`` for ``table``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def db_float(value: float) -> float | None:
    """Store NaN as NULL: SQLite cannot hold NaN, and NULL never matches a comparison."""
    return None if value != value else value


def py_float(value: float | None) -> float:
    """Read NULL back as NaN."""
    return math.nan if value is None else float(value)


def run_from_row(
    row: Any, project: str, params: dict[str, str], metrics: dict[str, float], tags: dict[str, str]
) -> Run:
    """Build a :class:`Run` from a ``runs`` row and its params, latest metrics and tags."""
    start = ms_to_datetime(row.start_time)
    assert start is not None
    # Rows come from our own schema: skip validation (it costs more than the query for a page of runs).
    return Run.model_construct(
        id=row.id,
        name=row.name,
        project=project,
        status=RunStatus(row.status),
        parent_id=row.parent_id,
        start_time=start,
        end_time=ms_to_datetime(row.end_time),
        user=row.user,
        source=row.source,
        git_commit=row.git_commit,
        error=row.error,
        deleted=row.deleted_at is not None,
        params=params,
        metrics=metrics,
        tags=tags,
    )
