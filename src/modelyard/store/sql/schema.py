"""Tables of the metadata store (SQLAlchemy Core). Alembic migrations own the real schema.

Times are epoch milliseconds (BIGINT), identical on SQLite and PostgreSQL. A NaN metric value
is stored as NULL (SQLite cannot store NaN); every reader turns NULL back into NaN.

Metric layout, planned for long series:
- ``metric_series`` has one row per (run, key): an integer series id, the latest value (searched
  and sorted by ``search_runs``) and the series length used to number new points;
- ``metrics`` holds every point as five numbers keyed by (series id, seq), where ``seq`` is the
  point's arrival index in its series (a clustered ``WITHOUT ROWID`` table on SQLite);
- ``metric_rollups`` holds min/max/sum/count per bucket of ``ROLLUP_SIZES[level]`` consecutive
  points, maintained at write time, so a downsampled view of a million-point series reads about a
  thousand rows instead of scanning every point.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "ROLLUP_SIZES",
    "api_tokens",
    "artifacts",
    "audit_events",
    "dataset_files",
    "dataset_versions",
    "datasets",
    "memberships",
    "metadata",
    "metric_batches",
    "metric_rollups",
    "metric_series",
    "metrics",
    "params",
    "projects",
    "run_inputs",
    "runs",
    "sessions",
    "signin_links",
    "tags",
    "users",
]

ROLLUP_SIZES = (32, 1024, 32768)
"""Points per rollup bucket, by level (0, 1, 2)."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

KEY = 250

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(KEY), nullable=False),
    Column("status", String(16), nullable=False),
    Column("parent_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("user", String(KEY), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("source", Text, nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("deleted_at", BigInteger, nullable=True),
    Index(None, "project_id", "start_time"),
    Index(None, "parent_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(KEY), primary_key=True),
    Column("value", Text, nullable=False),
    Column("value_num", Float, nullable=True),  # the value as a number, when it is one
    Index(None, "key", "value"),
    Index(None, "key", "value_num"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(KEY), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "value"),
)

metric_series = Table(
    "metric_series",
    metadata,
    # One row per (run, key): the series' id, its latest value (searched and sorted by
    # search_runs) and its length (used to number new points).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("key", String(KEY), nullable=False),
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    UniqueConstraint("run_id", "key"),
    Index(None, "key", "value"),
)

metrics = Table(
    "metrics",
    metadata,
    # Every point, clustered by (series, arrival index). No foreign key: rows are only written
    # by the store after it created the series row, and checking one per point costs throughput.
    Column("series_id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=True),
    sqlite_with_rowid=False,
)

metric_rollups = Table(
    "metric_rollups",
    metadata,
    Column("series_id", Integer, primary_key=True, autoincrement=False),
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("bucket", BigInteger, primary_key=True, autoincrement=False),
    Column("step_min", BigInteger, nullable=False),
    Column("step_max", BigInteger, nullable=False),
    Column("value_min", Float, nullable=True),
    Column("value_max", Float, nullable=True),
    Column("value_sum", Float, nullable=True),
    Column("value_count", BigInteger, nullable=False),  # non-NaN points
    Column("count", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

metric_batches = Table(
    "metric_batches",
    metadata,
    # Ids of applied log_batch calls: a retried batch is recognised and not applied twice.
    Column("batch_id", String(64), primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "digest"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(KEY), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(KEY), nullable=False),
    Column("project", String(128), nullable=True),
    Column("summary", Text, nullable=False, default="{}"),
    Column("request_id", String(64), nullable=True),
    Column("client_addr", String(64), nullable=True),
    Index(None, "time"),
    Index(None, "object_type", "object_id"),
    Index(None, "actor"),
)


# Accounts (revision 0002). Secrets are never stored: API tokens, session cookies and sign-in
# links are random 32-byte values kept as their SHA-256 hex digest (a fast hash is right for
# random secrets); passwords are argon2id hashes.

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=True),  # service accounts have none
    Column("is_admin", Boolean, nullable=False),
    Column("is_service_account", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_login_at", BigInteger, nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Index(None, "user_id"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("role", String(16), nullable=False),
    Index(None, "user_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Index(None, "user_id"),
)

signin_links = Table(
    "signin_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Index(None, "user_id"),
)


# Datasets (revision 0003). A version's files are blobs named by digest; the version's own digest
# is the BLAKE3 of its sorted manifest. Versions are numbered per dataset (never reused); a deleted
# version keeps its row (lineage stays readable), a purged one also loses its files and statistics.

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("num_files", Integer, nullable=False),
    Column("num_rows", BigInteger, nullable=True),
    Column("num_columns", Integer, nullable=True),
    Column("schema", Text, nullable=True),  # JSON
    Column("profile", Text, nullable=True),  # JSON
    Column("creator", String(KEY), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("parent_version", Integer, nullable=True),
    Column("message", Text, nullable=False, default=""),
    Column("tags", Text, nullable=False, default="{}"),  # JSON
    Column("deleted_at", BigInteger, nullable=True),
    Column("purged_at", BigInteger, nullable=True),
    UniqueConstraint("dataset_id", "version"),
    Index(None, "digest"),
)

dataset_files = Table(
    "dataset_files",
    metadata,
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index(None, "digest"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "dataset_version_id"),
)
