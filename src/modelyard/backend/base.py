"""The Backend protocol: every service operation a client (fluent API, Client, CLI) can call.

``LocalBackend`` runs the services in-process; ``HttpBackend`` (server issue) calls the same
operations over REST. One call is one user action (create a run, log a batch, search), so over
HTTP it is one round trip, and invariants are enforced once, on the side that owns the data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.blobs import BlobInfo
from modelyard.entities import (
    AliasChange,
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
    ModelVersion,
    PipelineInfo,
    PipelineRun,
    PipelineSchedule,
    PipelineTrigger,
    Project,
    PromotionRequest,
    QueuedPipelineRun,
    RegisteredModel,
    Role,
    Run,
    RunInput,
    RunPage,
    RunStatus,
    StepOutputRef,
    User,
)
from modelyard.types import MetricPoint

if TYPE_CHECKING:
    from modelyard.registry._cards import ModelCard
    from modelyard.registry._lineage import LineageGraph

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

    def restore_dataset(self, project: str, ref: str) -> list[DatasetVersion]:
        """Undo the deletion of a version (``name@3``) or of a dataset's deleted versions (``name``)."""
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

    # models -------------------------------------------------------------------------------
    def log_model_package(
        self,
        run_id: str,
        files: Sequence[tuple[Path, str]],
        *,
        known: Mapping[str, tuple[str, int]] | None = None,
        register: str | None = None,
        artifact_path: str = "model",
        importance: Mapping[str, Mapping[str, float]] | None = None,
        description: str = "",
    ) -> tuple[list[ArtifactInfo], ModelVersion | None]:
        """Store a package's (temporary) files as artifacts of a run; given ``register``, register them.

        ``files`` are (local file, artifact path) pairs; ``known`` maps artifact paths to the
        (digest, size) the caller computed while writing them. With ``register`` (a model name) the
        package at ``artifact_path`` becomes the next version of that model in the run's project
        (one transaction where the backend owns the store). Returns the artifacts and the version.
        """
        ...

    def register_model_version(
        self,
        project: str,
        name: str,
        run_id: str,
        artifact_path: str = "model",
        *,
        importance: Mapping[str, Mapping[str, float]] | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register the package a run holds at ``artifact_path`` as the next version of ``name``."""
        ...

    def list_models(self, project: str) -> list[RegisteredModel]:
        """Registered models of a project."""
        ...

    def get_model(self, project: str, name: str) -> RegisteredModel:
        """A registered model with its aliases and environments."""
        ...

    def update_model(
        self, project: str, name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> RegisteredModel:
        """Change a model's description or tags."""
        ...

    def list_model_versions(self, project: str, name: str) -> list[ModelVersion]:
        """Versions of a model, newest first, without file lists."""
        ...

    def get_model_version(self, project: str, ref: str) -> ModelVersion:
        """The version a reference (``churn@3``, ``churn@champion``, ``models:/churn/3`` ...) names, with files."""
        ...

    def model_versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The model versions registered from a run (lineage)."""
        ...

    def set_model_alias(self, project: str, name: str, alias: str, version: int) -> ModelVersion:
        """Point an alias at a version, moving it atomically."""
        ...

    def delete_model_alias(self, project: str, name: str, alias: str) -> None:
        """Remove an alias."""
        ...

    def request_promotion(self, project: str, ref: str, environment: str, reason: str = "") -> PromotionRequest:
        """Ask for a version to enter an environment."""
        ...

    def decide_promotion(self, project: str, request_id: int, *, approve: bool, reason: str = "") -> PromotionRequest:
        """Approve or reject a pending promotion (the approver role)."""
        ...

    def list_promotions(
        self, project: str, name: str | None = None, state: str | None = None
    ) -> list[PromotionRequest]:
        """Promotion requests, newest first."""
        ...

    def set_model_version_archived(self, project: str, ref: str, archived: bool) -> ModelVersion:
        """Archive or restore a version."""
        ...

    def model_history(
        self, project: str, name: str, target: str | None = None, until_ms: int | None = None
    ) -> list[AliasChange]:
        """Alias and environment moves of a model, oldest first (from the audit log)."""
        ...

    def rollback_model(
        self, project: str, name: str, target: str, at_ms: int | None = None, reason: str = ""
    ) -> ModelVersion:
        """Move an alias or environment back to the version it held at ``at_ms`` (or its previous one)."""
        ...

    def download_model(self, project: str, ref: str, dst: Path) -> ModelVersion:
        """Write a version's package files under ``dst``, each verified."""
        ...

    def list_audit(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first."""
        ...

    def gc(self, *, dry_run: bool = True, grace_seconds: int | None = None) -> GcReport:
        """Remove unreferenced blobs older than the grace period."""
        ...

    # pipelines ----------------------------------------------------------------------------
    def create_pipeline_run(
        self,
        *,
        run_id: str,
        project: str,
        pipeline: str,
        target: str | None = None,
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
        status: RunStatus | str = RunStatus.PENDING,
        dag: Mapping[str, Any] | None = None,
    ) -> PipelineRun:
        """Create a pipeline run (``PENDING`` for the queue, or ``RUNNING``); idempotent for a given id."""
        ...

    def start_pipeline_run(self, run_id: str, *, dag: Mapping[str, Any], executor: str) -> PipelineRun:
        """Mark a queued, failed or cancelled-before-start pipeline run ``RUNNING`` with its DAG."""
        ...

    def record_pipeline_steps(
        self, run_id: str, records: Sequence[Mapping[str, Any]], *, finish: Mapping[str, Any] | None = None
    ) -> bool:
        """Write a batch of step records (and optionally the final status); return whether a cancel was asked."""
        ...

    def cancel_pipeline_run(self, run_id: str) -> PipelineRun:
        """Ask a pipeline run to stop (a queued run ends ``KILLED`` at once)."""
        ...

    def get_pipeline_run(self, run_id: str) -> PipelineRun:
        """A pipeline run with its DAG and step runs."""
        ...

    def list_pipeline_runs(
        self, project: str, pipeline: str | None = None, *, status: str | None = None, limit: int = 100
    ) -> list[PipelineRun]:
        """Pipeline runs of a project, newest first."""
        ...

    def list_pipelines(self, project: str) -> list[PipelineInfo]:
        """Pipelines with runs in a project."""
        ...

    def lookup_step_cache(self, project: str, cache_keys: Sequence[str]) -> dict[str, tuple[str, list[StepOutputRef]]]:
        """Live step-cache entries: key -> (step run id, outputs)."""
        ...

    def put_step_output_blob(self, project: str, data: bytes) -> tuple[str, int]:
        """Store a step output's bytes; return digest and size (durable after ``sync_step_output_blobs``)."""
        ...

    def sync_step_output_blobs(self) -> None:
        """Make the step-output blobs written so far durable."""
        ...

    def read_step_output_blob(self, project: str, step_run_id: str | None, digest: str) -> bytes:
        """The bytes of a blob output of a step run."""
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

    # pipeline schedules, triggers and the queue -------------------------------------------
    def schedule_pipeline(
        self,
        project: str,
        pipeline: str,
        target: str,
        cron: str,
        *,
        timezone: str = "UTC",
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
        missed: str = "skip",
    ) -> PipelineSchedule:
        """Schedule a pipeline (registered by import path) on a cron expression; replaces its schedule."""
        ...

    def unschedule_pipeline(self, project: str, pipeline: str) -> PipelineSchedule:
        """Remove a pipeline's schedule; return it as it was."""
        ...

    def list_pipeline_schedules(self, project: str) -> list[PipelineSchedule]:
        """Schedules of a project."""
        ...

    def add_pipeline_trigger(
        self,
        project: str,
        pipeline: str,
        target: str,
        kind: str,
        source: str,
        *,
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
    ) -> PipelineTrigger:
        """Enqueue a pipeline on each new version of dataset ``source``, or each firing of alert ``source``."""
        ...

    def remove_pipeline_trigger(self, project: str, pipeline: str, kind: str, source: str) -> None:
        """Remove a trigger."""
        ...

    def list_pipeline_triggers(self, project: str) -> list[PipelineTrigger]:
        """Triggers of a project."""
        ...

    def enqueue_pipeline_run(
        self,
        project: str,
        pipeline: str,
        target: str,
        *,
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
    ) -> QueuedPipelineRun:
        """Put a manual run of a pipeline in the queue, for a worker."""
        ...

    def list_pipeline_queue(self, project: str, status: str | None = None, limit: int = 100) -> list[QueuedPipelineRun]:
        """Queued pipeline runs of a project, newest first."""
        ...

    # lineage and model cards -----------------------------------------------------------------
    def lineage(self, kind: str, project: str, ref: str) -> LineageGraph:
        """Ancestors and descendants of a dataset version, run or model version."""
        ...

    def model_card(self, project: str, ref: str) -> ModelCard:
        """The card of a model version."""
        ...

    def update_model_card(self, project: str, ref: str, fields: Mapping[str, str]) -> ModelCard:
        """Set free-text fields of a model version's card."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
