"""``@pipeline``, loading pipelines by import path, running and resuming them."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any, overload

from modelyard.entities import PipelineRun, RunStatus
from modelyard.errors import (
    InvalidInputError,
    InvalidPipelineError,
    ModelyardError,
    PipelineFailedError,
    PipelineNotFoundError,
)
from modelyard.names import validate_name
from modelyard.pipelines._dag import Dag, trace
from modelyard.pipelines._params import ParamSpec

__all__ = ["Pipeline", "load_output", "load_pipeline", "pipeline", "resume_pipeline", "run_pipeline"]

EXECUTORS = ("thread", "process", "ray")


class Pipeline:
    """A pipeline: a function whose step calls form a DAG, with typed parameters."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, schedule: str | None = None) -> None:
        """Wrap ``fn``; see :func:`pipeline`."""
        if not callable(fn):
            raise InvalidPipelineError(f"@pipeline decorates a function, not {type(fn).__name__}.")
        self.fn = fn
        self.name = validate_name(name or fn.__name__, "pipeline name")
        self.schedule = schedule
        self.params = ParamSpec(self.name, fn)
        module, qualname = getattr(fn, "__module__", ""), getattr(fn, "__qualname__", "")
        self.target: str | None = None
        if module and module != "__main__" and "<locals>" not in qualname:
            self.target = f"{module}:{qualname}"
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        if self.params.all_defaulted:
            self.trace()  # invalid graphs are refused where the pipeline is defined

    def __repr__(self) -> str:
        """Name the pipeline and where it is loaded from."""
        return f"<pipeline {self.name!r} ({self.target or 'not importable'})>"

    def __call__(self, **params: Any) -> PipelineRun:
        """Run the pipeline with ``params`` (the same as ``run(params=...)``)."""
        return self.run(params=params)

    def trace(self, params: Mapping[str, Any] | None = None) -> Dag:
        """Validate ``params`` and build the DAG (no step runs)."""
        return trace(self.name, self.fn, self.params.coerce(params))

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        executor: str = "thread",
        raise_on_failure: bool = True,
        no_cache: bool = False,
        client: Any = None,
        project: str | None = None,
        pipeline_run_id: str | None = None,
        progress: Callable[[str, str], object] | None = None,
    ) -> PipelineRun:
        """Run the pipeline and return its :class:`~modelyard.entities.PipelineRun`.

        Args:
            params: parameter values (validated and coerced by the function's annotations).
            executor: ``thread`` (default), ``process`` or ``ray``.
            raise_on_failure: raise :class:`PipelineFailedError` when a step fails (else return the
                ``FAILED`` run).
            no_cache: run every step even when a cached result exists.
            client: the :class:`~modelyard.Client` to record into (default: the fluent API's).
            project: the project (default: the client's).
            pipeline_run_id: execute this already created ``PENDING`` run (a queued run) instead of
                creating one; its stored params are used when ``params`` is ``None``.
            progress: called with ``(step name, status)`` on every step change.

        Raises:
            InvalidPipelineError: bad parameters or graph (nothing was run or stored).
            PipelineFailedError: a step failed (``raise_on_failure``); ``.run`` is the run.
        """
        from modelyard.ids import new_run_id

        if executor not in EXECUTORS:
            raise InvalidInputError(f"executor {executor!r} is unknown; use one of {', '.join(EXECUTORS)}.")
        client = _client(client)
        backend = client.backend
        if pipeline_run_id is not None:
            existing = backend.get_pipeline_run(pipeline_run_id)
            if existing.status != RunStatus.PENDING:
                raise InvalidInputError(
                    f"pipeline run {pipeline_run_id} is {existing.status.value}, not PENDING; "
                    f"use `modelyard pipelines resume {pipeline_run_id}` for a failed run."
                )
            values = self.params.coerce(existing.params if params is None else params)
            dag = trace(self.name, self.fn, values)
            project = existing.project
            run = backend.start_pipeline_run(pipeline_run_id, dag=dag.to_json(), executor=executor)
        else:
            values = self.params.coerce(params)
            dag = trace(self.name, self.fn, values)
            project = validate_name(project or client.project, "project name")
            created = backend.create_pipeline_run(
                run_id=new_run_id(),
                project=project,
                pipeline=self.name,
                target=self.target,
                params=_jsonable(values),
                executor=executor,
                status=RunStatus.RUNNING,
                dag=dag.to_json(),
            )
            run = created
        return _execute(client, run, dag, executor, no_cache, None, progress, raise_on_failure)

    def resume(
        self,
        run_id: str,
        *,
        executor: str | None = None,
        raise_on_failure: bool = True,
        client: Any = None,
        progress: Callable[[str, str], object] | None = None,
        force: bool = False,
    ) -> PipelineRun:
        """Re-run a failed (or cancelled) run from its failed steps, reusing the outputs of finished ones.

        ``force`` also resumes a run still marked ``RUNNING`` whose process died (a crash): the steps
        whose results reached the store are reused, the others run again.
        """
        client = _client(client)
        backend = client.backend
        previous = backend.get_pipeline_run(run_id)
        if previous.pipeline != self.name:
            raise InvalidInputError(f"pipeline run {run_id} is a run of {previous.pipeline!r}, not {self.name!r}.")
        if previous.status == RunStatus.RUNNING and force:
            backend.record_pipeline_steps(
                run_id, [], finish={"status": "FAILED", "error": "abandoned: its process stopped; resumed"}
            )
        elif previous.status == RunStatus.RUNNING:
            raise InvalidInputError(
                f"pipeline run {run_id} is RUNNING; if the process running it died, resume it with force=True "
                "(`modelyard pipelines resume --force`)."
            )
        elif previous.status in (RunStatus.FINISHED, RunStatus.PENDING):
            raise InvalidInputError(
                f"pipeline run {run_id} is {previous.status.value}: only a FAILED or KILLED run can be resumed."
            )
        executor = executor or previous.executor
        if executor not in EXECUTORS:
            raise InvalidInputError(f"executor {executor!r} is unknown; use one of {', '.join(EXECUTORS)}.")
        dag = trace(self.name, self.fn, self.params.coerce(previous.params))
        run = backend.start_pipeline_run(run_id, dag=dag.to_json(), executor=executor)
        return _execute(client, run, dag, executor, False, previous.steps, progress, raise_on_failure)


def _execute(
    client: Any,
    run: PipelineRun,
    dag: Dag,
    executor: str,
    no_cache: bool,
    previous: Any,
    progress: Callable[[str, str], object] | None,
    raise_on_failure: bool,
) -> PipelineRun:
    from modelyard.pipelines._engine import Engine

    engine = Engine(
        client=client, run=run, dag=dag, executor=executor, no_cache=no_cache, previous=previous, progress=progress
    )
    status, failed_step, error = engine.execute()
    result = engine.result()
    if status == RunStatus.FAILED and raise_on_failure:
        raise PipelineFailedError(
            f"pipeline {run.pipeline!r} (run {run.id}) failed: {error}; "
            f"see `modelyard pipelines show {run.id}`, fix it and `modelyard pipelines resume {run.id}`.",
            run=result,
            step=failed_step,
        )
    return result


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    import json

    out = {}
    for key, value in values.items():
        try:
            json.dumps(value)
            out[key] = value
        except (TypeError, ValueError):
            out[key] = repr(value)
    return out


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from modelyard.tracking import get_client

    return get_client()


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None, schedule: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(fn: Callable[..., Any] | None = None, /, *, name: str | None = None, schedule: str | None = None) -> Any:
    """Make a function a pipeline; usable as ``@pipeline`` or ``@pipeline(name=..., schedule=...)``.

    The function's parameters (with annotations and defaults) are the pipeline's parameters; its
    body calls steps, which builds the DAG. ``schedule`` is a cron expression used by the scheduler.

    Example::

        @yard.pipeline
        def training(n: int = 100, C: float = 1.0):
            data = load(n)
            return evaluate(train(data, C), data)
    """
    if fn is not None:
        return Pipeline(fn, name=name, schedule=schedule)

    def decorate(func: Callable[..., Any]) -> Pipeline:
        return Pipeline(func, name=name, schedule=schedule)

    return decorate


def load_pipeline(target: str) -> Pipeline:
    """The pipeline at an import path ``package.module:attribute`` (the current directory is importable).

    Raises:
        PipelineNotFoundError: the module or attribute does not exist, or is not a pipeline.
    """
    if not isinstance(target, str) or ":" not in target:
        raise PipelineNotFoundError(
            f"pipeline target {target!r} must be an import path like my_project.pipelines:training."
        )
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute or not all(part.isidentifier() for part in module_name.split(".")):
        raise PipelineNotFoundError(f"pipeline target {target!r} is not module.path:attribute.")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = (
            "run from the directory that contains it (it is importable from there) or install its package"
            if exc.name is not None and module_name.split(".")[0] == exc.name.split(".")[0]
            else "install it where the pipeline runs"
        )
        raise PipelineNotFoundError(f"pipeline {target!r}: module {exc.name!r} cannot be imported; {hint}.") from None
    except ModelyardError as exc:
        raise InvalidPipelineError(f"pipeline {target!r}: importing {module_name} failed: {exc}") from exc
    except Exception as exc:
        raise PipelineNotFoundError(
            f"pipeline {target!r}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from exc
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise PipelineNotFoundError(f"pipeline {target!r}: {module_name} has no attribute {attribute!r}.")
        value = getattr(value, part)
    if not isinstance(value, Pipeline):
        raise PipelineNotFoundError(
            f"{target!r} is a {type(value).__name__}, not a pipeline; decorate it with @modelyard.pipeline."
        )
    return value


def run_pipeline(
    target: str | Pipeline,
    params: Mapping[str, Any] | None = None,
    *,
    executor: str = "thread",
    pipeline_run_id: str | None = None,
    client: Any = None,
    raise_on_failure: bool = True,
    no_cache: bool = False,
    progress: Callable[[str, str], object] | None = None,
) -> PipelineRun:
    """Load a pipeline by import path and run it (or execute the queued run ``pipeline_run_id``)."""
    found = target if isinstance(target, Pipeline) else load_pipeline(target)
    return found.run(
        params,
        executor=executor,
        pipeline_run_id=pipeline_run_id,
        client=client,
        raise_on_failure=raise_on_failure,
        no_cache=no_cache,
        progress=progress,
    )


def resume_pipeline(
    run_id: str,
    *,
    executor: str | None = None,
    client: Any = None,
    raise_on_failure: bool = True,
    progress: Callable[[str, str], object] | None = None,
    force: bool = False,
) -> PipelineRun:
    """Resume a failed pipeline run, loading its pipeline from the import path stored with it."""
    client = _client(client)
    previous = client.backend.get_pipeline_run(run_id)
    if not previous.target:
        raise InvalidInputError(
            f"pipeline run {run_id} has no import path (its pipeline was defined in a script or a function); "
            "call .resume(run_id) on the pipeline object instead."
        )
    return load_pipeline(previous.target).resume(
        run_id, executor=executor, client=client, raise_on_failure=raise_on_failure, progress=progress, force=force
    )


def load_output(run: PipelineRun | str, step: str, *, client: Any = None) -> Any:
    """Read a step's stored output(s) from a pipeline run (a tuple for a step with several outputs)."""
    from modelyard.pipelines._engine import _Sink
    from modelyard.pipelines._materialize import decode_output

    client = _client(client)
    found: PipelineRun = client.backend.get_pipeline_run(run) if isinstance(run, str) else run
    step_run = found.step(step)
    if step_run.status not in (RunStatus.FINISHED, RunStatus.CACHED):
        raise InvalidInputError(f"step {step!r} of run {found.id} is {step_run.status.value}; it has no outputs.")
    sink = _Sink(client.backend, found.project)
    source = step_run.cached_from or step_run.run_id
    values = [
        decode_output(
            o.model_dump(),
            source,
            sink,
            load_dataset=lambda ref: client.data.load(ref, project=found.project),
            load_model=lambda ref: getattr(client.load_model(ref, project=found.project), "raw", None),
        )
        for o in step_run.outputs
    ]
    return values[0] if len(values) == 1 else tuple(values)
