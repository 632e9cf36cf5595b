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
    "model_aliases",
    "model_environments",
    "model_version_files",
    "model_versions",
    "params",
    "pipeline_queue",
    "pipeline_runs",
    "pipeline_schedules",
    "pipeline_triggers",
    "pipeline_workers",
    "project_blobs",
    "projects",
    "promotion_requests",
    "registered_models",
    "registered_pipelines",
    "run_inputs",
    "runs",
    "sessions",
    "signin_links",
    "step_cache",
    "step_outputs",
    "step_runs",
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


# Blobs a project proved it holds by uploading their bytes through the server (revision 0007): a
# version or step output recorded over the API may only reference those, or blobs the project's
# objects already reference — never a blob known by digest alone (it may be another project's data).
project_blobs = Table(
    "project_blobs",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)


# Model registry (revision 0004). A registered model's ``name_key`` is its name NFC-normalised and
# case-folded, unique per project, so ``Churn`` and ``churn`` name one model. A version's files are
# blobs (the run's ``model/`` artifacts); its ``digest`` is the package digest. Alias and environment
# history lives in the audit log (``model.alias.*`` / ``model.environment.*`` events).

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("name_key", String(128), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", Text, nullable=False, default="{}"),  # JSON
    Column("owner", String(KEY), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name_key"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("artifact_path", String(1024), nullable=True),
    Column("digest", String(64), nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("signature", Text, nullable=True),  # JSON
    Column("metrics", Text, nullable=False, default="{}"),  # JSON: the run's metrics at registration
    Column("importance", Text, nullable=True),  # JSON: permutation importance
    Column("card", Text, nullable=True),  # JSON: the model card's edited free-text fields
    Column("requirements", Text, nullable=False, default="[]"),  # JSON
    Column("status", String(16), nullable=False),
    Column("unsafe_format", Boolean, nullable=False, default=False),
    Column("trusted", Boolean, nullable=False, default=False),  # registered by an authenticated writer
    Column("description", Text, nullable=False, default=""),
    Column("created_by", String(KEY), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("model_id", "version"),
    Index(None, "run_id"),
    Index(None, "digest"),
)

model_version_files = Table(
    "model_version_files",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index(None, "digest"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("updated_by", String(KEY), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "version_id"),
)

model_environments = Table(
    "model_environments",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id"), primary_key=True),
    Column("environment", String(64), primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("updated_by", String(KEY), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "version_id"),
)

promotion_requests = Table(
    "promotion_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("requested_by", String(KEY), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("decided_by", String(KEY), nullable=True),
    Column("decided_at", BigInteger, nullable=True),
    Column("decision_reason", Text, nullable=True),
    Index(None, "model_id", "state"),
)


# Scheduling (revision 0006). Pipelines are registered by import path so any worker can load them.
# The scheduler only inserts PENDING pipeline runs into ``pipeline_queue``; workers claim them
# (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and heartbeat while they run.

registered_pipelines = Table(
    "registered_pipelines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("target", String(512), nullable=False),  # import path "package.module:attribute"
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name"),
)

pipeline_schedules = Table(
    "pipeline_schedules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline_id", Integer, ForeignKey("registered_pipelines.id"), nullable=False, unique=True),
    Column("cron", String(128), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("params", Text, nullable=False, default="{}"),  # JSON
    Column("executor", String(16), nullable=False),
    Column("missed", String(16), nullable=False),  # "skip" | "catch_up_once"
    Column("next_fire", BigInteger, nullable=False),  # epoch ms (UTC); advanced by compare-and-set
    Column("last_fire", BigInteger, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("creator", String(KEY), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "enabled", "next_fire"),
)

pipeline_triggers = Table(
    "pipeline_triggers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline_id", Integer, ForeignKey("registered_pipelines.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # "dataset" | "alert"
    Column("source", String(128), nullable=False),  # dataset name or alert name
    Column("params", Text, nullable=False, default="{}"),  # JSON
    Column("executor", String(16), nullable=False),
    Column("last_seen", Integer, nullable=True),  # dataset triggers: newest version already handled
    Column("enabled", Boolean, nullable=False),
    Column("creator", String(KEY), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("pipeline_id", "kind", "source"),
    Index(None, "kind", "source"),
)

pipeline_queue = Table(
    "pipeline_queue",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("pipeline_id", Integer, ForeignKey("registered_pipelines.id"), nullable=False),
    Column("params", Text, nullable=False, default="{}"),  # JSON
    Column("executor", String(16), nullable=False),
    Column("reason", String(16), nullable=False),  # "schedule" | "dataset" | "alert" | "manual"
    Column("details", Text, nullable=False, default="{}"),  # JSON: fire time, dataset version, alert
    Column("status", String(16), nullable=False),  # PENDING -> RUNNING (claimed) -> FINISHED | FAILED | KILLED
    Column("enqueued_at", BigInteger, nullable=False),
    Column("worker_id", String(128), nullable=True),
    Column("claimed_at", BigInteger, nullable=True),
    Column("heartbeat_at", BigInteger, nullable=True),
    Column("finished_at", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Index(None, "status", "enqueued_at"),
    Index(None, "pipeline_id"),
)

pipeline_workers = Table(
    "pipeline_workers",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
    Column("stopped_at", BigInteger, nullable=True),
)


# Pipelines (revision 0005). A pipeline run and each of its step runs are rows of ``runs`` (status,
# times, error, params); these tables add what resume, the cache and the API need. A step run's
# outputs are inline JSON or references (blob digest, dataset version, model version); the cache
# maps a step's cache key to the step run whose outputs it reuses.

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("pipeline", String(128), nullable=False),
    Column("target", Text, nullable=True),  # import path, "module:attribute"
    Column("params", Text, nullable=False, default="{}"),  # JSON
    Column("executor", String(16), nullable=False, default="thread"),
    Column("dag", Text, nullable=False, default="{}"),  # JSON
    Column("cancel_requested", BigInteger, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "project_id", "pipeline"),
)

step_runs = Table(
    "step_runs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("pipeline_run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("step", String(KEY), nullable=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("attempt", Integer, nullable=False, default=1),
    Column("cache_key", String(64), nullable=True),
    Column("cached_from", String(32), nullable=True),
    Column("logs", Text, nullable=True),
    Index(None, "pipeline_run_id"),
)

step_outputs = Table(
    "step_outputs",
    metadata,
    Column("step_run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("type", String(KEY), nullable=False),
    Column("value", Text, nullable=True),  # JSON, inline outputs
    Column("digest", String(64), nullable=True),
    Column("ref", String(KEY), nullable=True),
    Column("size", BigInteger, nullable=False, default=0),
    Column("warning", Text, nullable=True),
    Index(None, "digest"),
)

step_cache = Table(
    "step_cache",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("cache_key", String(64), primary_key=True),
    Column("step", String(KEY), nullable=False),
    Column("step_run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
)
