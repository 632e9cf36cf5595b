"""The Backend protocol: every service operation a client (fluent API, Client, CLI) can call.

``LocalBackend`` runs the services in-process; ``HttpBackend`` (server issue) calls the same
operations over REST. One call is one user action (create a run, log a batch, search), so over
HTTP it is one round trip, and invariants are enforced once, on the side that owns the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from modelyard.entities import (
    ApiToken,
    ArtifactInfo,
    AuditEvent,
    GcReport,
    Membership,
    Metric,
    MetricBucket,
    Project,
    Role,
    Run,
    RunPage,
    RunStatus,
    User,
)
from modelyard.types import MetricPoint

__all__ = ["Backend"]


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
