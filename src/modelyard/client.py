"""The explicit client: every tracking operation, on a :class:`~modelyard.backend.base.Backend`.

The fluent functions (``yard.log_metric`` ...) are thin wrappers over one ``Client``; users can
also hold their own, for example to work against two stores at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.entities import (
    ArtifactInfo,
    AuditEvent,
    DatasetVersion,
    GcReport,
    Metric,
    MetricBucket,
    Project,
    Run,
    RunInput,
    RunPage,
    RunStatus,
)
from modelyard.errors import InvalidInputError, ProjectNotFoundError
from modelyard.ids import new_run_id
from modelyard.names import validate_artifact_path, validate_key, validate_name, validate_run_id
from modelyard.search import parse_filter, parse_order_by
from modelyard.settings import Settings, load_settings
from modelyard.tracking._buffer import MetricBuffer
from modelyard.tracking._source import detect_source

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.backend.base import Backend
    from modelyard.data._client import DataClient
    from modelyard.registry._client import RegistryClient

__all__ = ["Client"]


class Client:
    """Tracking client over a backend chosen by URI (a directory, sqlite:///, postgresql://)."""

    def __init__(
        self,
        uri: str | None = None,
        *,
        project: str | None = None,
        settings: Settings | None = None,
        synchronous: bool | None = None,
        backend: Backend | None = None,
    ) -> None:
        """Open the backend for ``uri`` (default: ``MODELYARD_URI``, then ``MODELYARD_HOME``).

        Args:
            uri: where metadata lives.
            project: default project for new runs and searches (default: ``MODELYARD_PROJECT``).
            settings: explicit settings (default: read from ``MODELYARD_*`` variables).
            synchronous: make each ``log_metric`` durable before it returns (default:
                ``MODELYARD_SYNC_LOGGING``); otherwise metrics are buffered and written in batches.
            backend: an already opened backend (``uri`` is then ignored).
        """
        self.settings = settings or load_settings()
        if backend is None:
            from modelyard.backend import open_backend

            backend = open_backend(uri, self.settings)
        self.backend = backend
        self.project = validate_name(project or self.settings.project, "project name")
        self.synchronous = self.settings.sync_logging if synchronous is None else synchronous
        self._buffer = MetricBuffer(self._write_batch, self.settings.flush_interval)
        self._valid_keys: set[str] = set()
        self._valid_runs: set[str] = set()
        self._data: DataClient | None = None
        self._registry: RegistryClient | None = None

    def _write_batch(self, run_id: str, points: Sequence[tuple[str, float, int, int]], batch_id: str) -> object:
        return self.backend.log_batch(run_id, points, batch_id=batch_id)

    # projects -----------------------------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project (names are unique)."""
        return self.backend.create_project(name, description)

    def list_projects(self) -> list[Project]:
        """Every project with run counts and last activity."""
        return self.backend.list_projects()

    # runs ---------------------------------------------------------------------------------
    def create_run(
        self,
        name: str | None = None,
        *,
        project: str | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Create a RUNNING run; the id is generated here (UUIDv7), so a retried create is idempotent."""
        source, commit = detect_source()
        return self.backend.create_run(
            run_id=run_id or new_run_id(),
            project=project or self.project,
            name=name,
            tags={k: str(v) for k, v in (tags or {}).items()},
            parent_id=parent_id,
            source=source,
            git_commit=commit,
        )

    def get_run(self, run_id: str) -> Run:
        """A run with its params, latest metric values and tags (buffered metrics flushed first)."""
        self._buffer.flush()
        return self.backend.get_run(run_id)

    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> Run:
        """Flush the run's metrics and end it with ``status`` (FINISHED, FAILED or KILLED)."""
        try:
            self._buffer.flush()
        finally:
            run = self.backend.update_run(run_id, status=status, error=error)
            self._buffer.forget(run_id)
        return run

    def set_run_name(self, run_id: str, name: str) -> Run:
        """Rename a run."""
        return self.backend.update_run(run_id, name=name)

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run and its nested runs (hidden from search; restorable)."""
        self.backend.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run and its nested runs."""
        self.backend.restore_run(run_id)

    # logging ------------------------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value: Any) -> None:
        """Log one param (immutable: re-logging the same value is fine, another value is an error)."""
        self.backend.log_batch(run_id, params={key: value})

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Log several params at once."""
        self.backend.log_batch(run_id, params=params)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        """Set a tag (tags are mutable)."""
        self.backend.log_batch(run_id, tags={key: value})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Set several tags at once."""
        self.backend.log_batch(run_id, tags=tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag."""
        self.backend.delete_tag(run_id, key)

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
        """Log one metric point (buffered unless the client is synchronous).

        NaN and +/-inf are stored and returned faithfully. ``timestamp`` is epoch milliseconds.
        """
        if key not in self._valid_keys:
            validate_key(key)
            self._valid_keys.add(key)
        if run_id not in self._valid_runs:
            validate_run_id(run_id)
            self._valid_runs.add(run_id)
        if type(value) is not float:
            value = _as_float(key, value)
        if type(step) is not int:
            step = _as_int(key, "step", step)
        ts = time.time_ns() // 1_000_000 if timestamp is None else _as_int(key, "timestamp", timestamp)
        if self.synchronous:
            self.backend.log_batch(run_id, [(key, value, ts, step)])
        else:
            self._buffer.add(run_id, key, value, ts, step)

    def log_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int = 0, timestamp: int | None = None
    ) -> None:
        """Log several metrics at the same step and time."""
        ts = time.time_ns() // 1_000_000 if timestamp is None else timestamp
        for key, value in metrics.items():
            self.log_metric(run_id, key, value, step=step, timestamp=ts)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric | tuple[str, float, int, int]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write metrics (``Metric`` or ``(key, value, timestamp_ms, step)``), params and tags at once."""
        points = [(m.key, m.value, m.timestamp, m.step) if isinstance(m, Metric) else m for m in metrics]
        self.backend.log_batch(run_id, points, params, tags)

    def flush(self, *, wait: bool = True) -> None:
        """Make every buffered metric durable now; ``wait=False`` only starts writing them in the background."""
        if wait:
            self._buffer.flush()
        else:
            self._buffer.flush_soon()

    # metrics ------------------------------------------------------------------------------
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a metric series, ordered by step."""
        self._buffer.flush()
        return self.backend.get_metric_history(run_id, key)

    def get_metric_buckets(self, run_id: str, key: str, max_buckets: int = 1000) -> list[MetricBucket]:
        """A downsampled series (at most ``max_buckets`` buckets) that keeps each bucket's min and max."""
        self._buffer.flush()
        return self.backend.get_metric_buckets(run_id, key, max_buckets)

    # search -------------------------------------------------------------------------------
    def search_runs(
        self,
        project: str | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """Search runs; returns a list that carries ``next_page_token`` (``None`` on the last page).

        Example: ``client.search_runs("churn", "metrics.accuracy > 0.9 and params.C = '1.0'",
        order_by=["metrics.accuracy desc"])``.
        """
        self._buffer.flush()
        try:
            return self.backend.search_runs(
                project or self.project, filter, order_by, limit, page_token, include_deleted
            )
        except ProjectNotFoundError:
            if (project or self.project) != self.settings.project:
                raise
            # The configured default project is created by its first run; until then it has none.
            parse_filter(filter)
            parse_order_by(order_by)
            return RunPage([], None)

    def search_runs_df(
        self,
        project: str | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> pd.DataFrame:
        """Every matching run as a pandas DataFrame (``params.*``, ``metrics.*``, ``tags.*`` columns)."""
        import pandas as pd

        records: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.search_runs(
                project, filter, order_by, limit=5000, page_token=token, include_deleted=include_deleted
            )
            for run in page:
                record: dict[str, Any] = {
                    "run_id": run.id,
                    "name": run.name,
                    "status": run.status.value,
                    "user": run.user,
                    "parent_id": run.parent_id,
                    "start_time": run.start_time,
                    "end_time": run.end_time,
                }
                record.update({f"params.{k}": v for k, v in run.params.items()})
                record.update({f"metrics.{k}": v for k, v in run.metrics.items()})
                record.update({f"tags.{k}": v for k, v in run.tags.items()})
                records.append(record)
            token = page.next_page_token
            if token is None:
                break
        columns = ["run_id", "name", "status", "user", "parent_id", "start_time", "end_time"]
        return pd.DataFrame.from_records(
            records, columns=columns + sorted({k for r in records for k in r} - set(columns))
        )

    # artifacts ----------------------------------------------------------------------------
    def log_artifact(self, run_id: str, local_path: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
        """Log a file (stored under its name) or a directory (which keeps its name), under ``artifact_path``."""
        path = Path(local_path)
        prefix = f"{validate_artifact_path(artifact_path, 'artifact_path')}/" if artifact_path else ""
        if path.is_dir():
            return self.log_artifacts(run_id, path, f"{prefix}{path.resolve().name}")
        if not path.is_file():
            raise InvalidInputError(f"Cannot log artifact {str(path)!r}: no such file or directory.")
        return self.backend.log_artifacts(run_id, [(path, f"{prefix}{path.name}")])

    def log_artifacts(self, run_id: str, local_dir: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
        """Log every file in a directory (recursively), under ``artifact_path`` when given."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidInputError(f"Cannot log artifacts from {str(root)!r}: not a directory.")
        prefix = f"{validate_artifact_path(artifact_path, 'artifact_path')}/" if artifact_path else ""
        files = sorted(p for p in root.rglob("*") if p.is_file())
        if not files:
            return []
        return self.backend.log_artifacts(run_id, [(p, prefix + p.relative_to(root).as_posix()) for p in files])

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        """Artifacts of a run as ``ArtifactInfo(path, size, digest)``, optionally under a directory."""
        return self.backend.list_artifacts(run_id, path)

    def download_artifacts(self, run_id: str, path: str | None = None, dst: str | Path = ".") -> Path:
        """Download a file or directory of artifacts into ``dst``, verified against their digests."""
        return self.backend.download_artifacts(run_id, path, Path(dst))

    # datasets and lineage -----------------------------------------------------------------
    @property
    def data(self) -> DataClient:
        """Dataset versions through this client: ``client.data.add("train.csv", name="churn-train")``."""
        if self._data is None:
            from modelyard.data._client import DataClient

            self._data = DataClient(self)
        return self._data

    def log_input(
        self, run_id: str, dataset: DatasetVersion | str, role: str = "input", *, project: str | None = None
    ) -> RunInput:
        """Record that a run used a dataset version (``DatasetVersion`` or a reference like ``churn@3``)."""
        if isinstance(dataset, DatasetVersion):
            return self.backend.log_run_input(run_id, project or dataset.project, dataset.ref, role)
        if not isinstance(dataset, str):
            raise InvalidInputError(f"dataset must be a DatasetVersion or a reference, got {type(dataset).__name__}.")
        return self.backend.log_run_input(run_id, project or self.project, dataset, role)

    def list_run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run used, with their roles."""
        return self.backend.list_run_inputs(run_id)

    # models -------------------------------------------------------------------------------
    @property
    def registry(self) -> RegistryClient:
        """The model registry through this client: ``client.registry.set_alias("churn", "champion", 3)``."""
        if self._registry is None:
            from modelyard.registry._client import RegistryClient

            self._registry = RegistryClient(self)
        return self._registry

    def log_model(self, run_id: str, model: Any, name: str, **kwargs: Any) -> Any:
        """Package ``model`` on a run and register the next version of ``name``.

        Keywords as :func:`modelyard.log_model` (``input_example``, ``signature``, ``requirements``,
        ``register``, ``eval_data``, ``target``, ``flavor``, ``description``, ``shap``).
        """
        return self.registry.log_model(run_id, model, name, **kwargs)

    def load_model(self, ref: Any, *, project: str | None = None, trust: bool = False) -> Any:
        """Load a model by reference (``models:/churn@champion``, ``churn@3``, ``runs:/<id>/model``)."""
        return self.registry.load(ref, project=project, trust=trust)

    # audit and maintenance ----------------------------------------------------------------
    def list_audit(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first; filters: actor, action, object_type, object_id, project, limit."""
        return self.backend.list_audit(**filters)

    def gc(self, *, dry_run: bool = True, grace_seconds: int | None = None) -> GcReport:
        """Remove blobs no live object references (older than the grace period)."""
        return self.backend.gc(dry_run=dry_run, grace_seconds=grace_seconds)

    def close(self) -> None:
        """Flush buffered metrics and release connections."""
        try:
            self._buffer.close()
        finally:
            self.backend.close()


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, bool) or isinstance(value, str):
        raise InvalidInputError(f"metric {key!r} value must be a number, got {type(value).__name__} {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"metric {key!r} value must be a number, got {type(value).__name__} {value!r}."
        ) from None


def _as_int(key: str, field: str, value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise InvalidInputError(f"metric {key!r} {field} must be an integer, got {value!r}.")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(f"metric {key!r} {field} must be an integer, got {value!r}.") from None
