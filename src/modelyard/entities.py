"""Domain objects returned to users and shared by services, REST schemas and the client.

These pydantic models are the only representation of an entity outside ``store/sql`` (where the
rows live). Importing this module imports pydantic, so :mod:`modelyard` imports it lazily.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_serializer

__all__ = [
    "AliasChange",
    "ApiToken",
    "ArtifactInfo",
    "AuditEvent",
    "Dataset",
    "DatasetDeletion",
    "DatasetFile",
    "DatasetVersion",
    "GcReport",
    "Membership",
    "Metric",
    "MetricBucket",
    "ModelFile",
    "ModelVersion",
    "ModelVersionStatus",
    "Page",
    "PipelineInfo",
    "PipelineRun",
    "PipelineSchedule",
    "PipelineTrigger",
    "PipelineWorker",
    "Project",
    "PromotionRequest",
    "PromotionState",
    "QueuedPipelineRun",
    "RegisteredModel",
    "Role",
    "Run",
    "RunInput",
    "RunPage",
    "RunStatus",
    "StepOutputRef",
    "StepRun",
    "User",
    "ValidationFailure",
    "ValidationReport",
    "ms_to_datetime",
]


def ms_to_datetime(ms: int | None) -> datetime | None:
    """Convert epoch milliseconds to an aware UTC datetime (``None`` stays ``None``)."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


class RunStatus(StrEnum):
    """Status of a run; a ``StrEnum``, so ``run.status == "FINISHED"`` holds."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    PENDING = "PENDING"
    CACHED = "CACHED"
    SKIPPED = "SKIPPED"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended."""
        return self not in (RunStatus.RUNNING, RunStatus.PENDING)


class Role(StrEnum):
    """A user's role in a project; each role allows everything the roles below it allow.

    ``viewer`` reads, ``editor`` also writes runs and artifacts, ``admin`` also manages the
    project, its members and deletions. A global admin has ``admin`` in every project.
    """

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the order viewer < editor < admin."""
        return _ROLE_ORDER.index(self.value)

    def allows(self, needed: Role | str) -> bool:
        """Whether this role may do what ``needed`` may (``Role.EDITOR.allows(Role.VIEWER)`` holds)."""
        return self.rank >= Role(needed).rank


_ROLE_ORDER = ("viewer", "editor", "admin")


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid")


class Project(_Entity):
    """A project: the unit that owns runs, datasets, models and pipelines, and of access."""

    name: str
    description: str = ""
    created_at: datetime
    run_count: int = 0
    last_activity: datetime | None = None
    """Start time of the project's newest run."""


class Run(_Entity):
    """A tracked run with its params, latest metric values and tags."""

    id: str
    name: str
    project: str
    status: RunStatus
    parent_id: str | None = None
    start_time: datetime
    end_time: datetime | None = None
    user: str
    source: str | None = None
    """Entry point that started the run (script path or module)."""
    git_commit: str | None = None
    error: str | None = None
    """The error that failed the run, when it failed."""
    deleted: bool = False
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    """Latest value per key (highest step, then newest timestamp)."""
    tags: dict[str, str] = Field(default_factory=dict)

    @field_serializer("metrics")
    def _metrics_json(self, metrics: dict[str, float]) -> dict[str, float | str]:
        return {k: _float_json(v) for k, v in metrics.items()}


def _float_json(value: float) -> float | str:
    # JSON has no NaN/Infinity: serialise them as strings so they survive a round trip.
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


class Metric(_Entity):
    """One point of a metric series."""

    key: str
    value: float
    step: int
    timestamp: int
    """Epoch milliseconds."""

    @field_serializer("value")
    def _value_json(self, value: float) -> float | str:
        return _float_json(value)


class MetricBucket(_Entity):
    """A downsampled stretch of a metric series: min and max survive, so spikes stay visible."""

    step_min: int
    step_max: int
    value_min: float | None
    value_max: float | None
    value_avg: float | None
    count: int


class ArtifactInfo(_Entity):
    """A file logged to a run."""

    path: str
    size: int
    digest: str


class AuditEvent(_Entity):
    """One append-only audit log entry: who did what to which object, when."""

    id: int
    time: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    project: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None
    client_addr: str | None = None


class GcReport(_Entity):
    """What a garbage collection removed, or would remove in a dry run."""

    dry_run: bool
    blobs_removed: int
    bytes_removed: int
    blobs_kept_recent: int
    """Unreferenced blobs younger than the grace period, left for uploads in flight."""


class User(_Entity):
    """A person or a service account (for CI) that signs in to a server.

    The password hash never leaves the store; ``has_password`` says whether one is set.
    """

    id: int
    name: str
    is_admin: bool = False
    """A global admin: ``admin`` in every project, and manages users."""
    is_service_account: bool = False
    """Authenticates with API tokens only (no password, no web sessions)."""
    disabled: bool = False
    """A disabled user cannot sign in; its tokens stop working until it is enabled again."""
    has_password: bool = False
    created_at: datetime
    last_login_at: datetime | None = None


class ApiToken(_Entity):
    """An API token's metadata; the secret is shown once, at creation, and only its hash is stored."""

    id: int
    user: str
    name: str
    prefix: str
    """The first characters of the secret, to recognise a token without revealing it."""
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    """Updated at most once a minute."""
    revoked_at: datetime | None = None

    def is_active(self, now: datetime | None = None) -> bool:
        """Whether the token is neither revoked nor expired at ``now`` (default: the current time)."""
        now = now or datetime.now(tz=UTC)
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Membership(_Entity):
    """A user's role in one project."""

    project: str
    user: str
    role: Role


class DatasetFile(_Entity):
    """One file of a dataset version: its relative path, size and BLAKE3 digest."""

    path: str
    size: int
    digest: str


class DatasetVersion(_Entity):
    """An immutable, content-addressed version of a dataset.

    ``digest`` is the BLAKE3 digest of the sorted manifest (``path``, ``digest``, ``size`` of every
    file), so two versions with the same files have the same digest. ``schema`` and ``profile``
    are set for tabular data (a single CSV, Parquet or JSON-lines file, or a DataFrame).
    """

    name: str
    project: str
    version: int
    digest: str
    files: list[DatasetFile] = Field(default_factory=list)
    """The manifest, by path (empty when a listing leaves the files out: see ``num_files``)."""
    num_files: int = 0
    size: int = 0
    """Total bytes of the files."""
    num_rows: int | None = None
    num_columns: int | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    profile: dict[str, Any] | None = None
    created_at: datetime
    creator: str
    parent_version: int | None = None
    message: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    deleted: bool = False
    """Deleted versions keep their metadata for lineage; ``get`` refuses them."""
    purged: bool = False
    """Purged versions also lost their files, schema and profile (erased data)."""

    model_config = ConfigDict(frozen=False, extra="forbid", populate_by_name=True, serialize_by_alias=True)

    @property
    def ref(self) -> str:
        """The reference of this version, ``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def schema(self) -> dict[str, Any] | None:  # type: ignore[override]  # noqa: D102 - see the field
        return self.schema_


class RunInput(_Entity):
    """A dataset version a run used, and in which role (``train``, ``eval``, ...): lineage."""

    run_id: str
    run_name: str | None = None
    project: str
    """The dataset's project."""
    dataset: str
    version: int
    digest: str
    role: str
    created_at: datetime
    deleted: bool = False
    """The dataset version was deleted (or purged) since; the link is kept for lineage."""

    @property
    def ref(self) -> str:
        """The reference of the dataset version, ``name@version``."""
        return f"{self.dataset}@{self.version}"


class Dataset(_Entity):
    """A named dataset of a project and its newest version number."""

    name: str
    project: str
    latest_version: int
    created_at: datetime
    updated_at: datetime


class DatasetDeletion(_Entity):
    """What deleting (or purging) a dataset or one of its versions did."""

    name: str
    project: str
    versions: list[int]
    purged: bool
    blobs_removed: int = 0
    """Blobs no other object referenced, deleted by a purge."""
    bytes_removed: int = 0


class ValidationFailure(_Entity):
    """One failed check of a column (or of the table when ``column`` is ``None``)."""

    column: str | None
    check: str
    """missing_column, extra_column, type, range, category, null_rate, duplicate, length, pattern."""
    severity: str = "error"
    """``error`` fails validation; ``warning`` is reported only."""
    count: int = 0
    examples: list[Any] = Field(default_factory=list)
    """A few offending values (never for PII columns)."""
    message: str = ""


class ValidationReport(_Entity):
    """The result of validating data against a schema."""

    ok: bool
    failures: list[ValidationFailure] = Field(default_factory=list)
    num_rows: int = 0


T = TypeVar("T")


class Page(list[T], Generic[T]):
    """A page of results: a list that also carries ``next_page_token`` (``None`` on the last page)."""

    def __init__(self, items: list[T] | None = None, next_page_token: str | None = None) -> None:
        """Create a page from its items and the token of the next page."""
        super().__init__(items or [])
        self.next_page_token = next_page_token


class RunPage(Page[Run]):
    """A page of runs returned by ``search_runs``."""


class ModelVersionStatus(StrEnum):
    """Status of a model version: ``READY`` to use, or ``ARCHIVED`` (kept, but not ``@latest``)."""

    READY = "READY"
    ARCHIVED = "ARCHIVED"


class PromotionState(StrEnum):
    """State of a promotion request."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class ModelFile(_Entity):
    """One file of a model package: its path inside the package, size and BLAKE3 digest."""

    path: str
    size: int
    digest: str


class RegisteredModel(_Entity):
    """A named model of a project; its versions are numbered 1, 2, ... as they are registered."""

    name: str
    project: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    owner: str
    """The user who registered the first version."""
    created_at: datetime
    updated_at: datetime
    latest_version: int = 0
    """The newest version number (archived ones included), 0 when none."""
    aliases: dict[str, int] = Field(default_factory=dict)
    """Alias -> version number (``champion``, ``challenger``, ...)."""
    environments: dict[str, int] = Field(default_factory=dict)
    """Environment -> version number (``staging``, ``production``, ...)."""


class ModelVersion(_Entity):
    """One registered version of a model.

    It knows what it is (package digest, flavor, signature, files), what made it (run, metrics
    snapshot) and where it may run (aliases, environments).
    """

    name: str
    project: str
    version: int
    digest: str
    """The package digest: BLAKE3 over the package's file manifest."""
    flavor: str
    signature: dict[str, Any] | None = None
    run_id: str | None = None
    aliases: list[str] = Field(default_factory=list)
    environments: list[str] = Field(default_factory=list)
    status: ModelVersionStatus = ModelVersionStatus.READY
    unsafe_format: bool = False
    """The package needs pickle to load (see the trust rule of ``yard.models.load``)."""
    trusted: bool = False
    """Registered by an authenticated user with write access (embedded: the store's owner): a package
    that needs pickle loads from the registry only when this holds (else ``trust=True``)."""
    metrics: dict[str, float] = Field(default_factory=dict)
    """The run's latest metric values when the version was registered."""
    importance: dict[str, dict[str, float]] | None = None
    """Permutation feature importance (``eval_data=`` of ``log_model``): feature -> mean, std (and
    ``shap``, the mean absolute SHAP value, when the ``shap`` extra is installed)."""
    requirements: list[str] = Field(default_factory=list)
    description: str = ""
    files: list[ModelFile] = Field(default_factory=list)
    created_by: str
    created_at: datetime

    @property
    def uri(self) -> str:
        """``models:/name/version``."""
        return f"models:/{self.name}/{self.version}"

    @property
    def ref(self) -> str:
        """The reference of this version, ``name@version``."""
        return f"{self.name}@{self.version}"

    @field_serializer("metrics")
    def _metrics_json(self, metrics: dict[str, float]) -> dict[str, float | str]:
        return {k: _float_json(v) for k, v in metrics.items()}


class PromotionRequest(_Entity):
    """A request to move a model version into an environment, approved or rejected by an approver."""

    id: int
    project: str
    name: str
    version: int
    environment: str
    state: PromotionState
    requested_by: str
    requested_at: datetime
    reason: str = ""
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None


class AliasChange(_Entity):
    """One move of an alias or environment, read from the audit log (``modelyard models history``)."""

    time: datetime
    actor: str
    kind: str
    """``alias`` or ``environment``."""
    target: str
    """The alias or environment name."""
    version: int | None
    """The version it points to after the change (``None``: removed)."""
    previous: int | None = None
    reason: str = ""
    event_id: int


# Pipelines (pipelines issue) ------------------------------------------------------------------


class StepOutputRef(_Entity):
    """Where one output of a step run is stored (by its materialiser)."""

    index: int
    kind: str
    """``inline`` (JSON in the store), ``npy``, ``pickle``, ``dataset``, ``model`` or a user materialiser's name."""
    type: str
    """The Python type of the value (``module.qualname``)."""
    value: Any = None
    """The value itself for ``inline`` outputs."""
    digest: str | None = None
    """The content digest: of the blob (``npy``, ``pickle``, ...) or of the inline JSON."""
    ref: str | None = None
    """A dataset version (``name@3``) or model version reference, for those kinds."""
    size: int = 0
    warning: str | None = None
    """Why this output was stored the way it was (for example pickled because no materialiser fits)."""


class StepRun(_Entity):
    """One step of a pipeline run: a tracked run nested under the pipeline run."""

    run_id: str
    name: str
    status: RunStatus
    attempt: int = 1
    """How many times the step ran in this try (1 plus its retries)."""
    generation: int = 0
    """0 for the first execution of the pipeline run, then +1 per resume."""
    cache_key: str | None = None
    cached_from: str | None = None
    """For a ``CACHED`` step, the step run whose outputs were reused."""
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: str | None = None
    logs: str | None = None
    """Captured stdout, stderr and logging records (truncated to a limit)."""
    params: dict[str, str] = Field(default_factory=dict)
    outputs: list[StepOutputRef] = Field(default_factory=list)


class PipelineRun(_Entity):
    """A run of a pipeline: its parameters, status, DAG and step runs."""

    id: str
    project: str
    pipeline: str
    target: str | None = None
    """The import path (``my_project.pipelines:training``) a worker or ``resume`` loads it from."""
    params: dict[str, Any] = Field(default_factory=dict)
    status: RunStatus
    executor: str = "thread"
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: str | None = None
    cancel_requested: bool = False
    dag: dict[str, Any] = Field(default_factory=dict)
    """``{"nodes": [{"name", "step", "upstream", "outputs", ...}], "edges": [[from, to], ...]}``."""
    steps: list[StepRun] = Field(default_factory=list)
    """The latest step run of each step that started (a step not listed is still ``PENDING``)."""
    _values: dict[str, Any] = PrivateAttr(default_factory=dict)

    def step(self, name: str) -> StepRun:
        """The step run of the step called ``name`` (``KeyError`` when it never started)."""
        for step_run in self.steps:
            if step_run.name == name:
                return step_run
        raise KeyError(f"pipeline run {self.id} has no step run named {name!r}; steps: {[s.name for s in self.steps]}")

    def output(self, name: str) -> Any:
        """The value a step returned in this process (a tuple for a step with several outputs).

        Values are kept for runs executed here; load stored outputs of other runs with
        :func:`modelyard.pipelines.load_output`.
        """
        if name not in self._values:
            raise KeyError(
                f"no value of step {name!r} is held by this PipelineRun; "
                "use modelyard.pipelines.load_output(run, step) to read it from the store."
            )
        return self._values[name]


class PipelineInfo(_Entity):
    """A pipeline known to a project (it has runs), with its latest run."""

    name: str
    project: str
    target: str | None = None
    run_count: int = 0
    last_run_id: str | None = None
    last_status: RunStatus | None = None
    last_start_time: datetime | None = None


class PipelineSchedule(_Entity):
    """A cron schedule of a registered pipeline: the scheduler enqueues a pipeline run at each fire time."""

    project: str
    pipeline: str
    target: str
    """Import path of the pipeline (``package.module:attribute``), loaded by the worker."""
    cron: str
    timezone: str
    params: dict[str, Any] = Field(default_factory=dict)
    executor: str = "thread"
    missed: str = "skip"
    """Missed-run policy: ``skip`` or ``catch_up_once``."""
    next_fire: datetime
    last_fire: datetime | None = None
    enabled: bool = True
    creator: str
    created_at: datetime
    updated_at: datetime


class PipelineTrigger(_Entity):
    """An event that enqueues a pipeline run: a new version of a dataset, or a monitoring alert."""

    id: int
    project: str
    pipeline: str
    target: str
    kind: str
    """``dataset`` or ``alert``."""
    source: str
    """The dataset name or the alert name."""
    params: dict[str, Any] = Field(default_factory=dict)
    executor: str = "thread"
    last_seen: int | None = None
    """Dataset triggers: the newest version already handled."""
    enabled: bool = True
    creator: str
    created_at: datetime


class QueuedPipelineRun(_Entity):
    """A pipeline run in the queue: ``PENDING`` until a worker claims it, then ``RUNNING`` and ended."""

    run_id: str
    project: str
    pipeline: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    executor: str = "thread"
    reason: str
    """What enqueued it: ``schedule``, ``dataset``, ``alert`` or ``manual``."""
    details: dict[str, Any] = Field(default_factory=dict)
    status: str
    enqueued_at: datetime
    worker_id: str | None = None
    claimed_at: datetime | None = None
    heartbeat_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


class PipelineWorker(_Entity):
    """A ``modelyard worker`` process as its heartbeats describe it."""

    id: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None = None
