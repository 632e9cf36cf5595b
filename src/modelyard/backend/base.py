"""The Backend protocol: every service operation a client (fluent API, Client, CLI) can call.

``LocalBackend`` runs the services in-process; ``HttpBackend`` (server issue) calls the same
operations over REST. One call is one user action (create a run, log a batch, search), so over
HTTP it is one round trip, and invariants are enforced once, on the side that owns the data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from modelyard.blobs import BlobInfo
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
from modelyard.types import MetricPoint

__all__ = ["Backend", "Progress"]

Progress = Callable[[int], object]
"""Called with a number of bytes processed (hashing, copying, uploading, downloading)."""


class Backend(Protocol):
    """Operations shared by every backend; the contract tests run against each implementation."""

    uri: str

    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project."""
        ...

    def list_projects(self) -> list[Project]:
        """Every project, with run counts and last activity."""
        ...

    def create_run(
        self,
        *,
        run_id: str,
        project: str,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_id: str | None = None,
        start_time_ms: int | None = None,
        source: str | None = None,
        git_commit: str | None = None,
        status: RunStatus = RunStatus.RUNNING,
    ) -> Run:
        """Create a run (idempotent for a given id)."""
        ...

    def get_run(self, run_id: str) -> Run:
        """A run with params, latest metrics and tags."""
        ...

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | str | None = None,
        end_time_ms: int | None = None,
        error: str | None = None,
        name: str | None = None,
    ) -> Run:
        """Change status (ending the run), error or name."""
        ...

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
    ) -> bool:
        """Log metrics, params and tags atomically; ``False`` if ``batch_id`` was already applied."""
        ...

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag."""
        ...

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run and its descendants."""
        ...

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run and its descendants."""
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a series, by step."""
        ...

    def get_metric_buckets(self, run_id: str, key: str, max_buckets: int = 1000) -> list[MetricBucket]:
        """A downsampled series keeping each bucket's min and max."""
        ...

    def search_runs(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """One page of runs matching a filter."""
        ...

    def log_artifacts(self, run_id: str, files: Sequence[tuple[Path, str]]) -> list[ArtifactInfo]:
        """Upload local files as artifacts at the given artifact paths."""
        ...

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        """Artifacts of a run, optionally under a directory path."""
        ...

    def download_artifacts(self, run_id: str, path: str | None, dst: Path) -> Path:
        """Download artifacts into ``dst``, digest-verified; return the local path."""
        ...

    def list_run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run used, with their roles."""
        ...

    # datasets -----------------------------------------------------------------------------
    def list_datasets(self, project: str) -> list[Dataset]:
        """Datasets of a project that have a live version."""
        ...

    def list_dataset_versions(self, project: str, name: str, *, include_deleted: bool = False) -> list[DatasetVersion]:
        """Versions of a dataset, newest first, without file lists."""
        ...

    def get_dataset_version(
        self, project: str, ref: str, *, files: bool = True, include_deleted: bool = False
    ) -> DatasetVersion:
        """The version a reference (``name``, ``name@3``, ``name@latest``, ``name@sha:...``) names."""
        ...

    def put_dataset_blobs(
        self,
        project: str,
        files: Sequence[tuple[Path, str | None]],
        *,
        link: bool = False,
        progress: Progress | None = None,
    ) -> list[tuple[BlobInfo, bool]]:
        """Store local files (digest known or ``None``) as blobs, skipping those stored already.

        Returns each file's blob and whether the file became a hardlink to it (``link``, local stores).
        """
        ...

    def create_dataset_version(
        self,
        project: str,
        name: str,
        files: Sequence[DatasetFile],
        *,
        message: str = "",
        tags: Mapping[str, Any] | None = None,
        num_rows: int | None = None,
        num_columns: int | None = None,
        schema: Mapping[str, Any] | None = None,
        profile: Mapping[str, Any] | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Record a version whose blobs are stored; ``False`` when it equals the newest version."""
        ...

    def delete_dataset(self, project: str, ref: str, *, purge: bool = False) -> DatasetDeletion:
        """Delete a dataset (``name``) or a version; ``purge`` also erases the unreferenced blobs."""
        ...

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
        """Materialise a version's files (matching ``include``) under ``dst``, digest-verified."""
        ...

    def log_run_input(self, run_id: str, project: str, ref: str, role: str = "input") -> RunInput:
        """Link a run to a dataset version in a role (idempotent)."""
        ...

    def dataset_lineage(self, project: str, ref: str) -> list[RunInput]:
        """The runs that used a dataset version."""
        ...

    def list_audit(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first."""
        ...

    def gc(self, *, dry_run: bool = True, grace_seconds: int | None = None) -> GcReport:
        """Remove unreferenced blobs older than the grace period."""
        ...

    # accounts -----------------------------------------------------------------------------
    def create_user(
        self, name: str, password: str | None = None, *, admin: bool = False, service_account: bool = False
    ) -> User:
        """Create a user (a password) or a service account (API tokens only)."""
        ...

    def list_users(self) -> list[User]:
        """Every user, by name."""
        ...

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        """Disable (signing it out everywhere) or enable a user."""
        ...

    def set_user_admin(self, name: str, admin: bool) -> User:
        """Grant or take away global admin."""
        ...

    def set_role(self, name: str, project: str, role: Role | None) -> Membership | None:
        """Give a user a role in a project; ``None`` removes it."""
        ...

    def list_members(self, project: str) -> list[Membership]:
        """The users given a role in a project."""
        ...

    def create_token(self, user_name: str, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
        """Create an API token; return it and its secret (shown once)."""
        ...

    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        """API tokens (never their secrets) of one user or of everyone."""
        ...

    def revoke_token(self, token_id: int) -> ApiToken:
        """Revoke an API token."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
