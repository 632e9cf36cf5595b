"""LocalBackend: the services in-process, over the SQL store and the blob store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelyard.audit import Caller, local_caller
from modelyard.blobs import BlobStore
from modelyard.entities import (
    ArtifactInfo,
    AuditEvent,
    GcReport,
    Metric,
    MetricBucket,
    Project,
    Run,
    RunPage,
    RunStatus,
)
from modelyard.settings import Settings, StoreLocation
from modelyard.store.sql import SqlStore
from modelyard.tracking._service import TrackingService
from modelyard.types import MetricPoint

__all__ = ["LocalBackend"]


class LocalBackend:
    """Runs every operation in this process, against an embedded SQLite or a PostgreSQL store."""

    def __init__(self, location: StoreLocation, settings: Settings, caller: Caller | None = None) -> None:
        """Open the stores at ``location`` (migrating an embedded SQLite store on first use)."""
        self.uri = location.db_url
        self.location = location
        self.settings = settings
        self.store = SqlStore.open(location.db_url, busy_timeout=settings.sqlite_busy_timeout)
        self.blobs = BlobStore(location.blobs_url)
        self.tracking = TrackingService(self.store, self.blobs, caller or local_caller(settings.user))

    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project."""
        return self.tracking.create_project(name, description)

    def list_projects(self) -> list[Project]:
        """Every project."""
        return self.tracking.list_projects()

    def create_run(self, **kwargs: Any) -> Run:
        """Create a run (idempotent for a given id)."""
        return self.tracking.create_run(**kwargs)

    def get_run(self, run_id: str) -> Run:
        """A run."""
        return self.tracking.get_run(run_id)

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | str | None = None,
        end_time_ms: int | None = None,
        error: str | None = None,
        name: str | None = None,
    ) -> Run:
        """Change status, error or name."""
        return self.tracking.update_run(run_id, status=status, end_time_ms=end_time_ms, error=error, name=name)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
    ) -> bool:
        """Log metrics, params and tags atomically."""
        return self.tracking.log_batch(run_id, metrics, params, tags, batch_id)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag."""
        self.tracking.delete_tag(run_id, key)

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""
        self.tracking.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        """Restore a run."""
        self.tracking.restore_run(run_id)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a series."""
        return self.tracking.get_metric_history(run_id, key)

    def get_metric_buckets(self, run_id: str, key: str, max_buckets: int = 1000) -> list[MetricBucket]:
        """A downsampled series."""
        return self.tracking.get_metric_buckets(run_id, key, max_buckets)

    def search_runs(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """One page of runs."""
        return self.tracking.search_runs(project, filter, order_by, limit, page_token, include_deleted)

    def log_artifacts(self, run_id: str, files: Sequence[tuple[Path, str]]) -> list[ArtifactInfo]:
        """Store files as artifacts."""
        return self.tracking.log_artifacts(run_id, files)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        """Artifacts of a run."""
        return self.tracking.list_artifacts(run_id, path)

    def download_artifacts(self, run_id: str, path: str | None, dst: Path) -> Path:
        """Download artifacts, digest-verified."""
        return self.tracking.download_artifacts(run_id, path, dst)

    def list_audit(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first."""
        return self.tracking.list_audit(**filters)

    def gc(self, *, dry_run: bool = True, grace_seconds: int | None = None) -> GcReport:
        """Garbage-collect unreferenced blobs."""
        grace = self.settings.gc_grace_seconds if grace_seconds is None else grace_seconds
        return self.tracking.gc(dry_run=dry_run, grace_seconds=grace)

    def close(self) -> None:
        """Release connections."""
        self.store.close()
