"""One typed settings object, read once at the edge (from ``MODELYARD_*`` variables) and passed down.

Core code never reads ``os.environ``: it receives a :class:`Settings`. Every field is documented
in the README's configuration table (a test checks it).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "StoreLocation", "load_settings"]


class Settings(BaseSettings):
    """modelyard configuration; each field is read from ``MODELYARD_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MODELYARD_", extra="ignore")

    uri: str | None = Field(
        default=None,
        description="Where metadata lives: a directory, sqlite:///file.db or postgresql://... "
        "(default: MODELYARD_HOME).",
    )
    home: Path = Field(
        default=Path(".modelyard"),
        description="Directory of the embedded store: modelyard.db (SQLite) and blobs/.",
    )
    blobs: str | None = Field(
        default=None,
        description="Blob store URL: a directory, file://, s3://, gs:// or memory:// (default: <home>/blobs, "
        "or blobs/ beside a sqlite:/// database).",
    )
    project: str = Field(default="default", description="The current project.")
    user: str | None = Field(
        default=None, description="User name recorded on runs and audit events in embedded mode (default: OS user)."
    )
    sync_logging: bool = Field(
        default=False, description="Make every log_metric call durable before it returns (no buffering)."
    )
    flush_interval: float = Field(
        default=1.0, gt=0, description="Seconds between background flushes of buffered metrics."
    )
    system_metrics_interval: float = Field(
        default=5.0, gt=0, description="Seconds between system metric samples when log_system_metrics=True."
    )
    sqlite_busy_timeout: float = Field(
        default=60.0, gt=0, description="Seconds a SQLite writer waits for the database lock before failing."
    )
    gc_grace_seconds: int = Field(
        default=3600, ge=0, description="modelyard gc never removes blobs younger than this (uploads in flight)."
    )
    token: str | None = Field(
        default=None, description="API token the client sends to a modelyard server (http(s):// URIs)."
    )
    http_timeout: float = Field(default=60.0, gt=0, description="Seconds the HTTP client waits for a server reply.")
    http_retries: int = Field(
        default=5, ge=0, description="Retries of a request on connection errors, 429 and 503 (with backoff)."
    )
    auth: bool = Field(default=True, description="Server: require authentication (false only on a loopback address).")
    allowed_hosts: str = Field(
        default="localhost,127.0.0.1,::1,[::1],testserver",
        description="Server: comma-separated Host header allow-list (DNS-rebinding protection); '*' allows any.",
    )
    cors_origins: str = Field(
        default="", description="Server: comma-separated origins allowed by CORS (default: none)."
    )
    max_upload_bytes: int = Field(
        default=20 * 1024**3, gt=0, description="Server: largest artifact upload accepted (413 above it)."
    )
    max_body_bytes: int = Field(
        default=16 * 1024**2, gt=0, description="Server: largest JSON request body accepted (413 above it)."
    )
    max_concurrent_requests: int = Field(
        default=256, gt=0, description="Server: requests handled at once; beyond it, 503 with Retry-After."
    )
    model_environments: str = Field(
        default="staging,production",
        description="Comma-separated environments model versions are promoted to (with approval).",
    )
    model_approver_role: str = Field(
        default="admin",
        pattern="^(viewer|editor|admin)$",
        description="Project role needed to approve or reject model promotions and roll environments back.",
    )

    ray_address: str | None = Field(
        default=None,
        description="Ray cluster address for executor='ray' (ray://host:10001 or auto); default: start a local Ray.",
    )
    scheduler: bool = Field(
        default=True, description="Server: run the scheduler loop (cron schedules, dataset triggers, reaping)."
    )
    scheduler_interval: float = Field(
        default=5.0, gt=0, description="Server: seconds between scheduler passes over due schedules and triggers."
    )
    scheduler_misfire_grace: float = Field(
        default=60.0,
        ge=0,
        description="Seconds after its fire time a schedule still counts as on time; later, its missed-run "
        "policy applies (skip, or catch up once).",
    )
    local_workers: int = Field(
        default=1, ge=0, le=64, description="Server: local `modelyard worker` subprocesses it starts (0: none)."
    )
    worker_poll_interval: float = Field(
        default=2.0, gt=0, description="Worker: seconds between looks at the queue when it is empty."
    )
    heartbeat_interval: float = Field(
        default=10.0, gt=0, description="Worker: seconds between heartbeats of a worker and its running pipeline run."
    )
    heartbeat_timeout: float = Field(
        default=120.0,
        gt=0,
        description="A claimed pipeline run whose worker sent no heartbeat for this many seconds is marked FAILED.",
    )

    def location(self, uri: str | None = None) -> StoreLocation:
        """Resolve where metadata and blobs live for ``uri`` (default: :attr:`uri`, then :attr:`home`)."""
        return StoreLocation.resolve(uri or self.uri, self.home, self.blobs)


class StoreLocation:
    """Resolved locations of the metadata database and the blob store."""

    def __init__(self, db_url: str, blobs_url: str, home: Path | None) -> None:
        """Hold the SQLAlchemy URL, the blob store URL and the embedded home directory, if any."""
        self.db_url = db_url
        self.blobs_url = blobs_url
        self.home = home

    @property
    def is_sqlite(self) -> bool:
        """Whether metadata is in an embedded SQLite file."""
        return self.db_url.startswith("sqlite")

    @classmethod
    def resolve(cls, uri: str | None, home: Path, blobs: str | None) -> StoreLocation:
        """Resolve a store URI (a directory, ``sqlite:///...``, ``postgresql://...``)."""
        if uri and uri.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            db_url = "postgresql+psycopg://" + uri.split("://", 1)[1]
            return cls(db_url, blobs or str(home.expanduser().absolute() / "blobs"), None)
        if uri and uri.startswith("sqlite:///"):
            db_path = Path(uri.removeprefix("sqlite:///")).expanduser().absolute()
            return cls(f"sqlite:///{db_path}", blobs or str(db_path.parent / "blobs"), db_path.parent)
        if uri and "://" in uri and not uri.startswith("file://"):
            from modelyard.errors import InvalidInputError

            raise InvalidInputError(
                f"Store URI {uri!r} is not supported here: use a directory, sqlite:///path.db or "
                "postgresql://user@host/db (http(s):// servers arrive with the server)."
            )
        root = Path(uri.removeprefix("file://") if uri else home).expanduser().absolute()
        return cls(f"sqlite:///{root / 'modelyard.db'}", blobs or str(root / "blobs"), root)


def load_settings() -> Settings:
    """Read the ``MODELYARD_*`` settings; an invalid value is an input error naming the variable."""
    from pydantic import ValidationError

    from modelyard.errors import InvalidInputError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MODELYARD_{'_'.join(str(part) for part in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInputError(f"Invalid setting {problems}.") from None
