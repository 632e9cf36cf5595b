"""LocalBackend: the services in-process, over the SQL store and the blob store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.audit import Caller, local_caller
from modelyard.backend.base import Progress
from modelyard.blobs import BlobInfo, BlobStore
from modelyard.data._service import DatasetService
from modelyard.entities import (
    ApiToken,
    ArtifactInfo,
    AuditEvent,
    Dataset,
    DatasetDeletion,
    DatasetFile,
    DatasetVersion,
    GcReport,
    Membership,
    Metric,
    MetricBucket,
    Project,
    Role,
    Run,
    RunInput,
    RunPage,
    RunStatus,
    User,
)
from modelyard.settings import Settings, StoreLocation
from modelyard.store.sql import SqlStore
from modelyard.tracking._service import TrackingService
from modelyard.types import MetricPoint

if TYPE_CHECKING:
    from modelyard.accounts import AccountService

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
        caller = caller or local_caller(settings.user)
        self.tracking = TrackingService(self.store, self.blobs, caller)
        self._caller = caller
        self.datasets = DatasetService(self.store, self.blobs, caller)

    @cached_property
    def accounts(self) -> AccountService:
        """The account service, built on first use (argon2 is not imported by tracking work)."""
        from modelyard.accounts import AccountService

        return AccountService(self.store, self._caller)

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

    def list_run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run used."""
        return self.tracking.list_run_inputs(run_id)

    # datasets -----------------------------------------------------------------------------
    def list_datasets(self, project: str) -> list[Dataset]:
        """Datasets of a project."""
        return self.datasets.list_datasets(project)

    def list_dataset_versions(self, project: str, name: str, *, include_deleted: bool = False) -> list[DatasetVersion]:
        """Versions of a dataset, newest first."""
        return self.datasets.list_versions(project, name, include_deleted=include_deleted)

    def get_dataset_version(
        self, project: str, ref: str, *, files: bool = True, include_deleted: bool = False
    ) -> DatasetVersion:
        """The version a reference names."""
        return self.datasets.get_version(project, ref, files=files, include_deleted=include_deleted)

    def put_dataset_blobs(
        self,
        project: str,
        files: Sequence[tuple[Path, str | None]],
        *,
        link: bool = False,
        progress: Progress | None = None,
    ) -> list[tuple[BlobInfo, bool]]:
        """Store files as blobs in one pass each (hash while copying), or as protected hardlinks."""
        return self.datasets.put_files(files, link=link, progress=progress)

    def create_dataset_version(
        self, project: str, name: str, files: Sequence[DatasetFile], **kwargs: Any
    ) -> tuple[DatasetVersion, bool]:
        """Record a version whose blobs are stored."""
        return self.datasets.create_version(project, name, files, **kwargs)

    def delete_dataset(self, project: str, ref: str, *, purge: bool = False) -> DatasetDeletion:
        """Delete (or purge) a dataset or one version."""
        return self.datasets.delete(project, ref, purge=purge)

    def download_dataset(
        self,
        project: str,
        ref: str,
        dst: Path,
        *,
        include: str | Sequence[str] | None = None,
        link: bool = False,
        progress: Progress | None = None,
    ) -> tuple[DatasetVersion, list[DatasetFile]]:
        """Materialise a version's files from the blob store (copies or read-only hardlinks)."""
        return self.datasets.materialize(project, ref, dst, include=include, link=link, progress=progress)

    def log_run_input(self, run_id: str, project: str, ref: str, role: str = "input") -> RunInput:
        """Link a run to a dataset version."""
        return self.datasets.log_input(run_id, project, ref, role)

    def dataset_lineage(self, project: str, ref: str) -> list[RunInput]:
        """The runs that used a dataset version."""
        return self.datasets.lineage(project, ref)

    def list_audit(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first."""
        return self.tracking.list_audit(**filters)

    def gc(self, *, dry_run: bool = True, grace_seconds: int | None = None) -> GcReport:
        """Garbage-collect unreferenced blobs."""
        grace = self.settings.gc_grace_seconds if grace_seconds is None else grace_seconds
        return self.tracking.gc(dry_run=dry_run, grace_seconds=grace)

    # accounts -----------------------------------------------------------------------------
    def create_user(
        self, name: str, password: str | None = None, *, admin: bool = False, service_account: bool = False
    ) -> User:
        """Create a user or a service account."""
        return self.accounts.create_user(name, password, admin=admin, service_account=service_account)

    def list_users(self) -> list[User]:
        """Every user."""
        return self.accounts.list_users()

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        """Disable or enable a user."""
        return self.accounts.set_disabled(name, disabled)

    def set_user_admin(self, name: str, admin: bool) -> User:
        """Grant or take away global admin."""
        return self.accounts.set_admin(name, admin)

    def set_role(self, name: str, project: str, role: Role | str | None) -> Membership | None:
        """Give a user a role in a project; ``None`` removes it."""
        return self.accounts.set_role(name, project, role)

    def list_members(self, project: str) -> list[Membership]:
        """The users given a role in a project."""
        return self.accounts.list_members(project)

    def create_token(self, user_name: str, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
        """Create an API token; return it and its secret (shown once)."""
        return self.accounts.create_token(user_name, name, expires_in_days)

    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        """API tokens (never their secrets)."""
        return self.accounts.list_tokens(user_name)

    def revoke_token(self, token_id: int) -> ApiToken:
        """Revoke an API token."""
        return self.accounts.revoke_token(token_id)

    def close(self) -> None:
        """Release connections."""
        self.store.close()
