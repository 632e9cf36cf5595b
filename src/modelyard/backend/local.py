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
from modelyard.settings import Settings, StoreLocation
from modelyard.store.sql import SqlStore
from modelyard.tracking._service import TrackingService
from modelyard.types import MetricPoint

if TYPE_CHECKING:
    from modelyard.accounts import AccountService
    from modelyard.pipelines._scheduling import SchedulingService
    from modelyard.pipelines._service import PipelineService
    from modelyard.registry._cards import ModelCard, ModelCardService
    from modelyard.registry._lineage import LineageGraph
    from modelyard.registry._service import RegistryService

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
    def registry(self) -> RegistryService:
        """The registry service, with the configured environments (embedded: the caller has every role)."""
        from modelyard.registry._service import RegistryService

        return RegistryService(
            self.store,
            self.blobs,
            self._caller,
            environments=[e.strip() for e in self.settings.model_environments.split(",") if e.strip()],
            approver_role=self.settings.model_approver_role,
        )

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

    def restore_dataset(self, project: str, ref: str) -> list[DatasetVersion]:
        """Undo the deletion of a version or of a dataset's deleted versions."""
        return self.datasets.restore(project, ref)

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
        """Hardlink a package's files into the blob store as run artifacts and register them, in one commit."""
        return self.registry.log_package(
            run_id,
            files,
            known=known,
            register=register,
            artifact_path=artifact_path,
            importance=importance,
            description=description,
        )

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
        """Register a run's package as the next version of a model."""
        return self.registry.register_version(
            project, name, run_id=run_id, artifact_path=artifact_path, importance=importance, description=description
        )

    def list_models(self, project: str) -> list[RegisteredModel]:
        """Registered models of a project."""
        return self.registry.list_models(project)

    def get_model(self, project: str, name: str) -> RegisteredModel:
        """A registered model."""
        return self.registry.get_model(project, name)

    def update_model(
        self, project: str, name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> RegisteredModel:
        """Change a model's description or tags."""
        return self.registry.update_model(project, name, description=description, tags=tags)

    def list_model_versions(self, project: str, name: str) -> list[ModelVersion]:
        """Versions of a model, newest first."""
        return self.registry.list_versions(project, name)

    def get_model_version(self, project: str, ref: str) -> ModelVersion:
        """The version a reference names, with its files."""
        return self.registry.get_version(project, ref)

    def model_versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The model versions registered from a run."""
        return self.registry.versions_of_run(run_id)

    def set_model_alias(self, project: str, name: str, alias: str, version: int) -> ModelVersion:
        """Point an alias at a version."""
        return self.registry.set_alias(project, name, alias, version)

    def delete_model_alias(self, project: str, name: str, alias: str) -> None:
        """Remove an alias."""
        self.registry.delete_alias(project, name, alias)

    def request_promotion(self, project: str, ref: str, environment: str, reason: str = "") -> PromotionRequest:
        """Ask for a version to enter an environment."""
        return self.registry.request_promotion(project, ref, environment, reason)

    def decide_promotion(self, project: str, request_id: int, *, approve: bool, reason: str = "") -> PromotionRequest:
        """Approve or reject a pending promotion."""
        return self.registry.decide_promotion(project, request_id, approve=approve, reason=reason)

    def list_promotions(
        self, project: str, name: str | None = None, state: str | None = None
    ) -> list[PromotionRequest]:
        """Promotion requests, newest first."""
        return self.registry.list_promotions(project, name, state)

    def set_model_version_archived(self, project: str, ref: str, archived: bool) -> ModelVersion:
        """Archive or restore a version."""
        return self.registry.set_archived(project, ref, archived)

    def model_history(
        self, project: str, name: str, target: str | None = None, until_ms: int | None = None
    ) -> list[AliasChange]:
        """Alias and environment moves, oldest first."""
        return self.registry.history(project, name, target=target, until_ms=until_ms)

    def rollback_model(
        self, project: str, name: str, target: str, at_ms: int | None = None, reason: str = ""
    ) -> ModelVersion:
        """Move an alias or environment back."""
        return self.registry.rollback(project, name, target, at_ms=at_ms, reason=reason)

    def download_model(self, project: str, ref: str, dst: Path) -> ModelVersion:
        """Write a version's package files under ``dst``, verified."""
        return self.registry.materialize(project, ref, dst)

    # pipelines ----------------------------------------------------------------------------
    @cached_property
    def pipelines(self) -> PipelineService:
        """The pipeline service, built on first use."""
        from modelyard.pipelines._service import PipelineService

        return PipelineService(self.store, self.blobs, self._caller)

    def create_pipeline_run(self, **kwargs: Any) -> PipelineRun:
        """Create a pipeline run (idempotent for a given id)."""
        return self.pipelines.create_pipeline_run(**kwargs)

    def start_pipeline_run(self, run_id: str, *, dag: Mapping[str, Any], executor: str) -> PipelineRun:
        """Mark a pipeline run ``RUNNING`` with its DAG."""
        return self.pipelines.start_pipeline_run(run_id, dag=dag, executor=executor)

    def record_pipeline_steps(
        self, run_id: str, records: Sequence[Mapping[str, Any]], *, finish: Mapping[str, Any] | None = None
    ) -> bool:
        """Write a batch of step records (one transaction)."""
        return self.pipelines.record_steps(run_id, records, finish=finish)

    def cancel_pipeline_run(self, run_id: str) -> PipelineRun:
        """Ask a pipeline run to stop."""
        return self.pipelines.request_cancel(run_id)

    def get_pipeline_run(self, run_id: str) -> PipelineRun:
        """A pipeline run with its DAG and step runs."""
        return self.pipelines.get_pipeline_run(run_id)

    def list_pipeline_runs(
        self, project: str, pipeline: str | None = None, *, status: str | None = None, limit: int = 100
    ) -> list[PipelineRun]:
        """Pipeline runs of a project, newest first."""
        return self.pipelines.list_pipeline_runs(project, pipeline, status=status, limit=limit)

    def list_pipelines(self, project: str) -> list[PipelineInfo]:
        """Pipelines with runs in a project."""
        return self.pipelines.list_pipelines(project)

    def lookup_step_cache(self, project: str, cache_keys: Sequence[str]) -> dict[str, tuple[str, list[StepOutputRef]]]:
        """Live step-cache entries."""
        return self.pipelines.cache_lookup(project, cache_keys)

    def put_step_output_blob(self, project: str, data: bytes) -> tuple[str, int]:
        """Store a step output's bytes (fsync deferred to ``sync_step_output_blobs``)."""
        return self.pipelines.put_output_blob(data)

    def sync_step_output_blobs(self) -> None:
        """Make the step-output blobs written so far durable."""
        self.pipelines.sync_blobs()

    def read_step_output_blob(self, project: str, step_run_id: str | None, digest: str) -> bytes:
        """The bytes of a blob output (in-process: the caller already holds the store)."""
        return self.blobs.read_bytes(digest)

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

    @cached_property
    def scheduling(self) -> SchedulingService:
        """The scheduling service (schedules, triggers, queue), built on first use."""
        from modelyard.pipelines._scheduling import SchedulingService

        return SchedulingService(self.store, self._caller)

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
        return self.scheduling.schedule(
            project, pipeline, target, cron, timezone=timezone, params=params, executor=executor, missed=missed
        )

    def unschedule_pipeline(self, project: str, pipeline: str) -> PipelineSchedule:
        """Remove a pipeline's schedule; return it as it was."""
        return self.scheduling.unschedule(project, pipeline)

    def list_pipeline_schedules(self, project: str) -> list[PipelineSchedule]:
        """Schedules of a project."""
        return self.scheduling.list_schedules(project)

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
        return self.scheduling.add_trigger(project, pipeline, target, kind, source, params=params, executor=executor)

    def remove_pipeline_trigger(self, project: str, pipeline: str, kind: str, source: str) -> None:
        """Remove a trigger."""
        self.scheduling.remove_trigger(project, pipeline, kind, source)

    def list_pipeline_triggers(self, project: str) -> list[PipelineTrigger]:
        """Triggers of a project."""
        return self.scheduling.list_triggers(project)

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
        return self.scheduling.enqueue(project, pipeline, target, params=params, executor=executor)

    def list_pipeline_queue(self, project: str, status: str | None = None, limit: int = 100) -> list[QueuedPipelineRun]:
        """Queued pipeline runs of a project, newest first."""
        return self.scheduling.list_queue(project, status, limit)

    # lineage and model cards -----------------------------------------------------------------
    @cached_property
    def cards(self) -> ModelCardService:
        """Model cards over the registry, tracking and dataset services."""
        from modelyard.registry._cards import ModelCardService

        return ModelCardService(self.registry, self.tracking, self.datasets)

    def lineage(self, kind: str, project: str, ref: str) -> LineageGraph:
        """Ancestors and descendants of a dataset version, run or model version."""
        from modelyard.registry._lineage import ServiceLineageSource, build_lineage, check_kind

        source = ServiceLineageSource(self.tracking, self.datasets, self.registry)
        return build_lineage(source, check_kind(kind), project, ref)

    def model_card(self, project: str, ref: str) -> ModelCard:
        """The card of a model version."""
        return self.cards.card(project, ref)

    def update_model_card(self, project: str, ref: str, fields: Mapping[str, str]) -> ModelCard:
        """Set free-text fields of a model version's card."""
        return self.cards.update(project, ref, fields)

    def close(self) -> None:
        """Release connections."""
        self.store.close()
