"""The fluent API (``yard.start_run``, ``yard.log_metric`` ...): thin wrappers over one Client.

The active-run stack is per thread. A run started with ``with`` ends FINISHED, FAILED (error
recorded) or KILLED (KeyboardInterrupt or SIGTERM); one started without ``with`` ends with
``end_run()``, or FINISHED at a normal interpreter exit.
"""

from __future__ import annotations

import atexit
import copy
import os
import signal
import threading
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from pydantic import PrivateAttr

from modelyard.entities import ArtifactInfo, DatasetVersion, Run, RunInput, RunStatus
from modelyard.errors import InvalidInputError
from modelyard.names import validate_name

if TYPE_CHECKING:
    from modelyard.client import Client

__all__ = [
    "ActiveRun",
    "activate_run",
    "active_run",
    "end_run",
    "flush",
    "get_client",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_project",
    "set_tag",
    "set_tags",
    "set_uri",
    "start_run",
]

_lock = threading.RLock()
_client: Client | None = None
_uri: str | None = None
_project: str | None = None
_local = threading.local()
_open_runs: dict[str, ActiveRun] = {}  # every open run in every thread, for exit and SIGTERM
_sigterm_installed = False
_ACTIVE: Any = object()
_template: ActiveRun | None = None  # copied by activate_run


class ActiveRun(Run):
    """A run started by :func:`start_run`; a context manager that ends the run on exit."""

    _client: Any = PrivateAttr()  # the Client that created the run
    _monitor: Any = PrivateAttr(default=None)
    _pid: int = PrivateAttr(default_factory=os.getpid)
    _on_use: Any = PrivateAttr(default=None)  # called once before the run is first used (activate_run)

    def __enter__(self) -> ActiveRun:
        """Return the run itself."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """End the run: FINISHED, FAILED with the error, or KILLED on KeyboardInterrupt."""
        if exc_type is None:
            _end(self, RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            _end(self, RunStatus.KILLED, "KeyboardInterrupt")
        else:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            _end(self, RunStatus.FAILED, text)


def set_uri(uri: str | None) -> None:
    """Point the fluent API at a store: a directory, ``sqlite:///x.db`` or ``postgresql://...``."""
    global _client, _uri
    with _lock:
        if _client is not None:
            _client.flush()
        _uri = uri
        _client = None


def set_project(name: str) -> None:
    """Set the current project (default ``"default"`` or ``MODELYARD_PROJECT``)."""
    global _project
    validate_name(name, "project name")
    with _lock:
        _project = name
        if _client is not None:
            _client.project = name


def get_client() -> Client:
    """The client the fluent API uses (created on first use)."""
    global _client
    client = getattr(_local, "step_client", None) or _client  # inside a pipeline step: the pipeline's client
    if client is None:
        with _lock:
            if _client is None:
                from modelyard.client import Client  # modelyard.client imports this package

                _client = Client(_uri, project=_project)
            client = _client
    return client


def _stack() -> list[ActiveRun]:
    stack: list[ActiveRun] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def active_run() -> ActiveRun | None:
    """The innermost run started in this thread and not yet ended, or ``None``."""
    stack = _stack()
    if not stack:
        return None
    run = stack[-1]
    if run._on_use is not None:
        _first_use(run)
    return run


class _FirstUse:
    """Stands in ``_local.top`` for an activated run until its first metric, then steps aside."""

    __slots__ = ("run",)

    def __init__(self, run: ActiveRun) -> None:
        self.run = run

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
        _first_use(self.run)
        self.run._client.log_metric(run_id, key, value, step, timestamp)


def _first_use(run: ActiveRun) -> None:
    hook, run._on_use = run._on_use, None
    top = getattr(_local, "top", None)
    if top is not None and isinstance(top[0], _FirstUse) and top[0].run is run:
        _local.top = (run._client, run.id)
    if hook is not None:
        hook()


def activate_run(
    client: Any,
    run_id: str,
    *,
    name: str,
    project: str,
    parent_id: str | None = None,
    on_first_use: Callable[[], object] | None = None,
) -> Callable[[], None]:
    """Make an existing run this thread's active run, without a store round trip (a pipeline step's run).

    Inside, ``yard.log_metric``, ``yard.log_params``, ``yard.log_artifact``, ``yard.log_input`` and
    ``yard.log_model`` log to ``run_id`` through ``client``, and :func:`get_client` returns ``client``
    on this thread. The run is not ended here (its owner ends it) and is never ended at exit.

    Args:
        client: the client that logs (a :class:`~modelyard.client.Client`, or one built on first use).
        run_id: the run to log to.
        name: the run's name (for :func:`active_run`).
        project: the run's project.
        parent_id: the run's parent.
        on_first_use: called once, on this thread, before the first fluent call uses the run (for
            example to make sure the run's row is written).

    Returns:
        A function that restores the previous active run (and drops any run left open above it).
    """
    stack = _stack()
    depth = len(stack)
    previous_top = getattr(_local, "top", None)
    previous_client = getattr(_local, "step_client", None)
    global _template
    if _template is None:  # building a model costs ~40 us; a shallow copy of a template ~4 us
        _template = ActiveRun.model_construct(
            id=run_id, name=name, project=project, status=RunStatus.RUNNING, start_time=datetime.now(UTC), user=""
        )
    run = copy.copy(_template)
    run.__dict__.update(
        id=run_id, name=name, project=project, parent_id=parent_id, start_time=datetime.now(UTC), params={}, metrics={}
    )
    run.__dict__["tags"] = {}
    assert run.__pydantic_private__ is not None
    run.__pydantic_private__.update(_client=client, _on_use=on_first_use, _pid=os.getpid())
    stack.append(run)
    _local.top = (_FirstUse(run), run_id) if on_first_use is not None else (client, run_id)
    _local.step_client = client

    def restore() -> None:
        del stack[depth:]
        _local.top = previous_top
        _local.step_client = previous_client

    return restore


def start_run(
    name: str | None = None,
    *,
    tags: Mapping[str, Any] | None = None,
    parent: Run | str | None = _ACTIVE,
    log_system_metrics: bool = False,
    project: str | None = None,
) -> ActiveRun:
    """Start a run and make it this thread's active run.

    Args:
        name: run name (default: a random ``adjective-animal-N``).
        tags: initial tags.
        parent: parent run or run id; by default the active run, so runs started inside a
            ``with start_run()`` block nest under it. ``None`` starts a top-level run.
        log_system_metrics: sample CPU, memory, disk, network (and GPU) as ``system/*`` metrics.
        project: project of the run (default: the current project).
    """
    client = get_client()
    if parent is _ACTIVE:
        parent = active_run()
    parent_id = parent.id if isinstance(parent, Run) else parent
    run = client.create_run(name, project=project, tags=tags, parent_id=parent_id)
    active = ActiveRun.model_validate(run.model_dump())
    active._client = client
    _stack().append(active)
    _local.top = (client, active.id)
    with _lock:
        _open_runs[active.id] = active
    _install_sigterm_handler()
    if log_system_metrics:
        from modelyard.tracking._system_metrics import SystemMetricsMonitor

        try:
            active._monitor = SystemMetricsMonitor(client, active.id, client.settings.system_metrics_interval)
            active._monitor.start()
        except BaseException:
            _end(active, RunStatus.FAILED, "could not start system metrics")
            raise
    return active


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End this thread's active run (flushing its metrics); no-op without one."""
    run = active_run()
    if run is not None:
        _end(run, RunStatus(status))


def _end(run: ActiveRun, status: RunStatus, error: str | None = None) -> None:
    stack = _stack()
    if run in stack:
        # End nested runs still open above this one first.
        while stack and stack[-1] is not run:
            _end(stack[-1], status, error)
        stack.pop()
        _local.top = (stack[-1]._client, stack[-1].id) if stack else None
    with _lock:
        if _open_runs.pop(run.id, None) is None:
            return
    if run._monitor is not None:
        run._monitor.stop()
    ended = run._client.end_run(run.id, status, error)
    run.status = ended.status
    run.end_time = ended.end_time


def _no_active_run() -> InvalidInputError:
    return InvalidInputError("No active run: start one with `with yard.start_run():` first.")


def _current() -> ActiveRun:
    run = active_run()
    if run is None:
        raise _no_active_run()
    return run


def log_param(key: str, value: Any) -> None:
    """Log a param on the active run."""
    run = _current()
    run._client.log_param(run.id, key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log params on the active run."""
    run = _current()
    run._client.log_params(run.id, params)


def log_metric(key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
    """Log a metric point on the active run (buffered; see :func:`flush`)."""
    # A hot path (100,000+ calls per second): read the active client and run id from one tuple.
    top: tuple[Client, str] | None = getattr(_local, "top", None)
    if top is None:
        raise _no_active_run()
    top[0].log_metric(top[1], key, value, step, timestamp)


def log_metrics(metrics: Mapping[str, float], step: int = 0, timestamp: int | None = None) -> None:
    """Log several metrics on the active run at one step."""
    run = _current()
    run._client.log_metrics(run.id, metrics, step, timestamp)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run."""
    run = _current()
    run._client.set_tag(run.id, key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags on the active run."""
    run = _current()
    run._client.set_tags(run.id, tags)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
    """Log a file (stored under its name) or a directory (keeps its name) on the active run."""
    run = _current()
    infos: list[ArtifactInfo] = run._client.log_artifact(run.id, local_path, artifact_path)
    return infos


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
    """Log a directory's contents on the active run, under ``artifact_path`` when given."""
    run = _current()
    infos: list[ArtifactInfo] = run._client.log_artifacts(run.id, local_dir, artifact_path)
    return infos


def log_input(dataset: DatasetVersion | str, role: str = "input") -> RunInput:
    """Record that the active run used a dataset version (``yard.log_input(dv, role="train")``)."""
    run = _current()
    found: RunInput = run._client.log_input(run.id, dataset, role)
    return found


def flush() -> None:
    """Make every buffered metric durable now."""
    if _client is not None:
        _client.flush()


def _end_all(status: RunStatus, error: str | None = None) -> None:
    with _lock:
        # A forked child keeps logging into its parent's runs but never ends them.
        runs = [r for r in _open_runs.values() if r._pid == os.getpid()]
    for run in reversed(runs):  # children were started after their parents
        try:
            _end(run, status, error)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


@atexit.register
def _at_exit() -> None:
    _end_all(RunStatus.FINISHED)
    if _client is not None:
        try:
            _client.flush()
        except Exception:  # noqa: BLE001 - nothing left to report to
            pass


def _install_sigterm_handler() -> None:
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    _sigterm_installed = True
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # the program handles SIGTERM itself

    def _on_sigterm(signum: int, frame: FrameType | None) -> None:
        _end_all(RunStatus.KILLED, "SIGTERM")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, _on_sigterm)
