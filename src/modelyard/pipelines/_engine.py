"""The engine: runs a traced DAG on an executor, recording every step run.

One thread (the caller's) owns the scheduling state: it starts the steps whose inputs are ready,
receives completions from the executor, stores outputs, and hands step records to the
:class:`~modelyard.pipelines._recorder.StepRecorder` (group commit). When a step fails for good, no
new step starts; running steps finish; the steps never started are ``SKIPPED`` (``KILLED`` after a
cancel).
"""

from __future__ import annotations

import inspect
import os
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from modelyard.entities import DatasetVersion, PipelineRun, RunStatus, StepRun
from modelyard.errors import ModelyardError
from modelyard.names import value_text
from modelyard.pipelines import _capture
from modelyard.pipelines._cache import cache_key, dependency_digest
from modelyard.pipelines._child import Outcome, RefArg, StepTask, run_task
from modelyard.pipelines._dag import Dag, Node, map_handles
from modelyard.pipelines._executors import Executor, open_executor
from modelyard.pipelines._materialize import decode_output, encode_output
from modelyard.pipelines._recorder import StepRecorder
from modelyard.pipelines._step import StepOutput
from modelyard.pipelines._tracking import spec_of
from modelyard.tracking._fluent import activate_run

__all__ = ["Engine", "ProgressCallback"]

ProgressCallback = Callable[[str, str], object]
"""Called with ``(step name, status)`` whenever a step changes state."""

_DONE = (RunStatus.FINISHED, RunStatus.CACHED)
_id_lock = threading.Lock()
_id_state = {"ms": 0, "counter": 0}
_rng = random.Random(os.urandom(32))


def _new_id() -> str:
    """A UUIDv7 run id like :func:`modelyard.ids.new_run_id`, with random bits from a seeded generator.

    ``os.urandom`` per id costs more than a whole trivial step on some systems; 62 random bits from
    a generator seeded once from ``os.urandom`` (plus the millisecond and a counter) are as unique.
    """
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _id_state["ms"]:
            ms = _id_state["ms"]
            _id_state["counter"] += 1
            if _id_state["counter"] > 0xFFF:
                ms += 1
                _id_state["counter"] = 0
        else:
            _id_state["counter"] = 0
        _id_state["ms"] = ms
        value = (ms & 0xFFFFFFFFFFFF) << 80 | 0x7 << 76 | _id_state["counter"] << 64
        value |= (0b10 << 62) | _rng.getrandbits(62)
    return f"{value:032x}"


_signatures: dict[Any, inspect.Signature | None] = {}


def _now() -> int:
    return time.time_ns() // 1_000_000


class _Sink:
    def __init__(self, backend: Any, project: str) -> None:
        self.backend = backend
        self.project = project

    def put(self, data: bytes) -> tuple[str, int]:
        result: tuple[str, int] = self.backend.put_step_output_blob(self.project, data)
        return result

    def get(self, step_run_id: str | None, digest: str) -> bytes:
        data: bytes = self.backend.read_step_output_blob(self.project, step_run_id, digest)
        return data


class _State:
    __slots__ = ("blob_run", "cache_key", "refs", "run_id", "status", "values")

    def __init__(self) -> None:
        self.status = RunStatus.PENDING
        self.run_id: str | None = None
        self.refs: list[dict[str, Any]] | None = None
        self.values: list[Any] | None = None
        self.blob_run: str | None = None
        self.cache_key: str | None = None


class Engine:
    """Executes one pipeline run (a new run, a queued one, or a resumed one)."""

    def __init__(
        self,
        *,
        client: Any,
        run: PipelineRun,
        dag: Dag,
        executor: str,
        no_cache: bool = False,
        previous: list[StepRun] | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Prepare to execute ``dag`` as pipeline run ``run`` (``previous``: step runs to reuse on resume)."""
        self.client = client
        self.backend = client.backend
        self.run = run
        self.project = run.project
        self.dag = dag
        self.executor_name = executor
        self.no_cache = no_cache
        self.progress = progress
        self.sink = _Sink(self.backend, self.project)
        self.states = {name: _State() for name in dag.nodes}
        self.downstream = dag.downstream()
        self.generation = 0
        self.failed: str | None = None
        self.failed_error: str | None = None
        self.cancelled = threading.Event()
        self.running = 0
        self.completions: queue.SimpleQueue[tuple[str, Outcome]] = queue.SimpleQueue()
        self.records: dict[str, dict[str, Any]] = {}
        self._params: dict[str, dict[str, str]] = {}
        self._links: dict[str, list[tuple[str, Any]]] = {}
        self.reused: dict[str, StepRun] = {}
        self.final: tuple[RunStatus, str | None, int] | None = None
        self._outbox: list[tuple[str, Any, int]] = []  # tasks for other processes, sent once their rows are written
        for step_run in previous or ():
            self.generation = max(self.generation, step_run.generation + 1)
            node = dag.nodes.get(step_run.name)
            state = self.states.get(step_run.name)
            if node is None or state is None or step_run.status not in _DONE or len(step_run.outputs) != node.outputs:
                continue
            state.status = step_run.status
            state.run_id = step_run.run_id
            state.refs = [o.model_dump() for o in step_run.outputs]
            state.blob_run = step_run.run_id
            self.reused[step_run.name] = step_run

    # helpers ------------------------------------------------------------------------------
    def _notify(self, name: str, status: RunStatus) -> None:
        if self.progress is not None:
            self.progress(name, status.value)

    def _values(self, name: str) -> list[Any]:
        state = self.states[name]
        if state.values is None:
            assert state.refs is not None
            state.values = [
                decode_output(
                    ref, state.blob_run, self.sink, load_dataset=self._load_dataset, load_model=self._load_model
                )
                for ref in state.refs
            ]
        return state.values

    def _load_dataset(self, ref: str) -> Any:
        return self.client.data.load(ref, project=self.project)

    def _load_model(self, ref: str) -> Any:
        loaded = self.client.load_model(ref, project=self.project)
        return getattr(loaded, "raw", loaded)  # the fitted model itself, as the step returned it

    def _add_model(self, run_id: str, model: Any, name: str) -> tuple[str, str]:
        self.recorder.flush()  # the step run's row (written by its RUNNING record) must exist
        version = self.client.log_model(run_id, model, name)
        return f"models:/{version.name}/{version.version}", str(version.digest)

    def _add_dataset(self, frame: Any, name: str) -> tuple[str, str]:
        version = self.client.data.add(frame, name=name, project=self.project)
        return f"{version.name}@{version.version}", version.digest

    def _record(self, name: str, state: _State, status: RunStatus, **fields: Any) -> None:
        node = self.dag.nodes[name]
        record: dict[str, Any] = {
            "run_id": state.run_id,
            "name": name,
            "status": status.value,
            "generation": self.generation,
            "start_time": fields.pop("start_time", None) or _now(),
            **fields,
        }
        if status.is_terminal and "end_time" not in record:
            record["end_time"] = _now()
        if "params" not in record:
            params = self._params.get(name)
            if params is None:
                params, self._links[name] = _describe(node)
                self._params[name] = params
            record["params"] = params
        self.records[name] = record
        self.recorder.add(record)

    def _dataset_inputs(self, node: Node) -> list[dict[str, str]]:
        """Lineage: the dataset versions the step receives, each in the role of its parameter's name.

        A materialised DataFrame output of an upstream step, or a ``DatasetVersion`` passed in; the
        role is ``"input"`` where the parameter cannot be told (a function without a signature).
        """
        links = self._links.get(node.name)
        if links is None:
            self._params[node.name], links = _describe(node)
            self._links[node.name] = links
        if not links:
            return []
        out: list[dict[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for role, item in links:
            if isinstance(item, StepOutput):
                refs = self.states[item.node].refs or ()
                output = refs[item.index] if item.index < len(refs) else {}
                if output.get("kind") != "dataset" or not output.get("ref"):
                    continue
                ref = str(output["ref"])
            elif item.project != self.project:
                continue  # lineage links datasets of the pipeline's project
            else:
                ref = item.ref
            if (ref, role) not in seen:
                seen.add((ref, role))
                out.append({"ref": ref, "role": role})
        return out

    # running ------------------------------------------------------------------------------
    def execute(self) -> tuple[RunStatus, str | None, str | None]:
        """Run the DAG to the end; return the final status, the failed step and its error."""
        self.recorder = StepRecorder(self.backend, self.run.id)
        pool: Executor | None = None
        try:
            pool = open_executor(self.executor_name, self)
            with _capture.installed():
                self._loop(pool)
            status = RunStatus.FINISHED
            error = None
            if self.failed is not None:
                status = RunStatus.FAILED
                error = f"step {self.failed!r} failed: {self.failed_error}"
            elif self.cancelled.is_set():
                status = RunStatus.KILLED
                error = "cancelled"
            self._close_unstarted(status)
            self.recorder.finish(status.value, error)
            self.final = (status, error, _now())
            return status, self.failed, error
        except KeyboardInterrupt:
            self.cancelled.set()
            self._interrupted()
            raise
        except BaseException:
            self.cancelled.set()
            self.recorder.close()
            raise
        finally:
            if pool is not None:
                pool.shutdown()

    def _loop(self, pool: Executor) -> None:
        nodes = self.dag.nodes
        waiting = {
            name: sum(1 for up in node.upstream if self.states[up].status not in _DONE) for name, node in nodes.items()
        }
        ready = deque(name for name in nodes if waiting[name] == 0 and self.states[name].status not in _DONE)
        self._waiting = waiting
        self._ready = ready
        while True:
            if self.recorder.cancel_requested and not self.cancelled.is_set():
                self.cancelled.set()
            while ready and self.failed is None and not self.cancelled.is_set():
                self._start(ready.popleft(), pool)
            if self._outbox:
                self._send(pool)
            if self.running == 0:
                break
            try:
                name, outcome = self.completions.get(timeout=0.25)
            except queue.Empty:
                continue
            self.running -= 1
            self._complete(name, outcome)

    def _release(self, name: str) -> None:
        for child in self.downstream[name]:
            self._waiting[child] -= 1
            if self._waiting[child] == 0:
                self._ready.append(child)

    def _start(self, name: str, pool: Executor) -> None:
        node = self.dag.nodes[name]
        state = self.states[name]
        state.run_id = _new_id()
        step = node.step
        if step.cache and not self.no_cache:
            try:
                key = self._cache_key(node)
            except ModelyardError as exc:
                self._fail(name, state, _now(), f"{type(exc).__name__}: {exc}", 1, None)
                return
            state.cache_key = key
            hit = self.backend.lookup_step_cache(self.project, [key]).get(key)
            if hit is not None:
                source_run, outputs = hit
                if len(outputs) == node.outputs:
                    state.status = RunStatus.CACHED
                    state.refs = [o.model_dump() for o in outputs]
                    state.blob_run = source_run
                    self._record(
                        name,
                        state,
                        RunStatus.CACHED,
                        cache_key=key,
                        cached_from=source_run,
                        outputs=state.refs,
                        inputs=self._dataset_inputs(node),
                    )
                    self._notify(name, RunStatus.CACHED)
                    self._release(name)
                    return
        start = _now()
        state.status = RunStatus.RUNNING
        self._notify(name, RunStatus.RUNNING)
        try:
            task = pool.prepare(node, self)
        except ModelyardError as exc:
            self._fail(name, state, start, str(exc), 1, None)
            return
        self._record(name, state, RunStatus.RUNNING, start_time=start)
        self.running += 1
        if pool.remote(task):
            self._outbox.append((name, task, start))
        else:
            pool.submit(name, task, start)

    def _send(self, pool: Executor) -> None:
        """Write the step runs' rows (one batch), then submit the tasks that run in other processes.

        A step that logs from a child process logs to its step run through the store, so the row
        must exist first; one flush covers every step started in the same round (a fan-out).
        """
        try:
            self.recorder.flush()
        except ModelyardError:
            pass  # retried with the next batch; a step that logs before then fails with a clear error
        outbox, self._outbox = self._outbox, []
        for name, task, start in outbox:
            pool.submit(name, task, start)

    def resolve_values(self, node: Node) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The node's arguments with each input handle replaced by its value."""

        def value(handle: StepOutput) -> Any:
            return self._values(handle.node)[handle.index]

        return map_handles(node.args, value), map_handles(node.kwargs, value)

    def resolve_refs(self, node: Node) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The node's arguments with each input handle replaced by a reference into the blob store."""

        def ref(handle: StepOutput) -> Any:
            state = self.states[handle.node]
            assert state.refs is not None
            output = state.refs[handle.index]
            if output["kind"] == "dataset":  # workers read Parquet blobs, not dataset versions
                return self._values(handle.node)[handle.index]
            return RefArg(output)

        return map_handles(node.args, ref), map_handles(node.kwargs, ref)

    def make_task(self, node: Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StepTask:
        """A task for ``node`` with resolved arguments."""
        step = node.step
        tracking = spec_of(self.client, str(self.states[node.name].run_id), node.name, self.project, self.run.id)
        return StepTask(
            node.name, step.fn, args, kwargs, step.outputs, step.retries, step.retry_delay, step.timeout, tracking
        )

    def run_here(self, task: StepTask) -> Outcome:
        """Run a task on this thread (thread executor), storing its outputs.

        The step run is this thread's active run while the step runs (a step with a timeout
        activates it in its child process instead).
        """
        if task.timeout is not None:
            outcome = run_task(task, self.cancelled, _capture.capture_step, _capture.joined)
        else:
            used: list[bool] = []

            def first_use() -> None:  # the step logs: its row must be in the store first
                used.append(True)
                self.recorder.flush()

            spec = task.tracking
            restore = activate_run(
                self.client,
                spec.run_id,
                name=spec.name,
                project=spec.project,
                parent_id=spec.parent_id,
                on_first_use=first_use,
            )
            try:
                outcome = run_task(task, self.cancelled, _capture.capture_step, _capture.joined)
            finally:
                restore()
            if used:
                try:
                    self.client.flush()  # its metrics are written before its FINISHED record
                except Exception as exc:  # noqa: BLE001 - fails this step
                    outcome.ok = False
                    outcome.values = []
                    outcome.error = f"what step {task.name!r} logged could not be written: {type(exc).__name__}: {exc}"
        if outcome.ok:
            self.store_outputs(task.name, outcome)
        return outcome

    def store_outputs(self, name: str, outcome: Outcome) -> None:
        """Encode an outcome's values with the materialisers (an output that cannot be stored fails the step)."""
        refs = []
        run_id = str(self.states[name].run_id)
        for index, value in enumerate(outcome.values):
            try:
                dataset = f"{self.dag.pipeline}.{name}" + (f".{index}" if len(outcome.values) > 1 else "")
                refs.append(
                    encode_output(
                        value,
                        index,
                        self.sink,
                        dataset_name=dataset,
                        add_dataset=self._add_dataset,
                        add_model=lambda model, model_name: self._add_model(run_id, model, model_name),
                    )
                )
            except Exception as exc:  # noqa: BLE001 - fails this step only
                outcome.ok = False
                outcome.error = (
                    f"output {index} of step {name!r} ({type(value).__module__}.{type(value).__qualname__}) "
                    f"could not be stored: {type(exc).__name__}: {exc}"
                )
                return
        outcome.refs = refs

    def _complete(self, name: str, outcome: Outcome) -> None:
        state = self.states[name]
        node = self.dag.nodes[name]
        if outcome.ok and outcome.refs is None:
            self.store_outputs(name, outcome)
        if not outcome.ok:
            self._fail(name, state, outcome.start_time, outcome.error or "failed", outcome.attempt, outcome.logs)
            return
        state.status = RunStatus.FINISHED
        state.refs = outcome.refs
        state.values = outcome.values if outcome.values else None
        state.blob_run = state.run_id
        step = node.step
        expires = None
        if step.cache_expiration is not None:
            expires = outcome.end_time + int(step.cache_expiration * 1000)
        self._record(
            name,
            state,
            RunStatus.FINISHED,
            start_time=outcome.start_time,
            end_time=outcome.end_time,
            attempt=outcome.attempt,
            logs=outcome.logs,
            outputs=outcome.refs,
            cache_key=state.cache_key,
            cache_store=bool(step.cache and state.cache_key),
            cache_expires_at=expires,
            inputs=self._dataset_inputs(node)
            + [{"ref": r["ref"], "role": "output"} for r in outcome.refs or () if r.get("kind") == "dataset"],
        )
        self._notify(name, RunStatus.FINISHED)
        self._release(name)

    def _fail(self, name: str, state: _State, start: int, error: str, attempt: int, logs: str | None) -> None:
        state.status = RunStatus.FAILED
        if self.failed is None:
            self.failed = name
            self.failed_error = error.strip().splitlines()[0] if error.strip() else "failed"
        self._record(
            name,
            state,
            RunStatus.FAILED,
            start_time=start,
            error=error,
            attempt=attempt,
            logs=logs,
            cache_key=state.cache_key,
        )
        self._notify(name, RunStatus.FAILED)
        try:
            self.recorder.flush()  # a failure is written at once
        except ModelyardError:
            pass  # written with the final status instead

    def _interrupted(self) -> None:
        """Ctrl-C in the calling process: end the run ``KILLED`` (its unfinished steps too), not ``RUNNING``."""
        error = "interrupted (KeyboardInterrupt)"
        try:
            for name, state in self.states.items():
                if state.status == RunStatus.RUNNING:
                    state.status = RunStatus.KILLED
                    start = (self.records.get(name) or {}).get("start_time")
                    self._record(name, state, RunStatus.KILLED, start_time=start, error=error)
            self._close_unstarted(RunStatus.KILLED)
            self.recorder.finish(RunStatus.KILLED.value, error)
            self.final = (RunStatus.KILLED, error, _now())
        except BaseException:  # noqa: BLE001 - a second interrupt or a store error: `resume --force` recovers
            self.recorder.close()

    def _close_unstarted(self, final: RunStatus) -> None:
        for name, state in self.states.items():
            if state.status != RunStatus.PENDING:
                continue
            status = RunStatus.KILLED if final == RunStatus.KILLED else RunStatus.SKIPPED
            state.status = status
            state.run_id = _new_id()
            error = "cancelled" if status == RunStatus.KILLED else f"not run: step {self.failed!r} failed"
            self._record(name, state, status, error=error)
            self._notify(name, status)

    def _cache_key(self, node: Node) -> str:
        digests: list[str] = []

        def placeholder(handle: StepOutput) -> str:
            state = self.states[handle.node]
            assert state.refs is not None
            digest = state.refs[handle.index].get("digest") or ""
            digests.append(digest)
            return f"<input:{digest}>"

        arguments = [map_handles(node.args, placeholder), map_handles(node.kwargs, placeholder)]
        deps = [dependency_digest(d, self._dataset_digest) for d in node.step.depends_on]
        return cache_key(node.step, arguments, digests, deps)

    def _dataset_digest(self, ref: str) -> str:
        return str(self.client.data.show(ref, project=self.project).digest)

    def result(self) -> PipelineRun:
        """The finished run as written to the store, built from what this engine recorded (no read back)."""
        from modelyard.entities import StepOutputRef, ms_to_datetime

        assert self.final is not None
        status, error, end = self.final
        steps: list[StepRun] = []
        for name in self.dag.nodes:
            record = self.records.get(name)
            if record is None:
                if name in self.reused:
                    steps.append(self.reused[name])
                continue
            steps.append(
                StepRun.model_construct(
                    run_id=record["run_id"],
                    name=name,
                    status=RunStatus(record["status"]),
                    attempt=record.get("attempt", 1),
                    generation=record["generation"],
                    cache_key=record.get("cache_key"),
                    cached_from=record.get("cached_from"),
                    start_time=ms_to_datetime(record["start_time"]),
                    end_time=ms_to_datetime(record.get("end_time")),
                    error=record.get("error"),
                    logs=record.get("logs"),
                    params=record.get("params") or {},
                    outputs=[StepOutputRef.model_construct(**o) for o in record.get("outputs") or ()],
                )
            )
        run = self.run.model_copy(update={"status": status, "error": error, "steps": steps})
        run.end_time = ms_to_datetime(end)
        run._values.update(self.values_for_run())
        return run

    def values_for_run(self) -> dict[str, Any]:
        """Every step's value(s) that this process holds or can read cheaply (for ``PipelineRun.output``)."""
        out: dict[str, Any] = {}
        for name, state in self.states.items():
            if state.status not in _DONE:
                continue
            try:
                values = self._values(name)
            except Exception:  # noqa: BLE001 - a value that cannot be read back is left out
                continue
            out[name] = values[0] if len(values) == 1 else tuple(values)
        return out


def _describe(node: Node) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    """The step run's params (its arguments as text) and lineage candidates: (parameter, handle or dataset version)."""
    fn = node.step.fn
    if fn not in _signatures:
        try:
            _signatures[fn] = inspect.signature(fn)
        except (TypeError, ValueError):
            _signatures[fn] = None
    signature = _signatures[fn]
    bound = None
    if signature is not None:
        try:
            bound = signature.bind_partial(*node.args, **node.kwargs)
        except TypeError:
            bound = None
    if bound is None:
        links: list[tuple[str, Any]] = []
        for value in (*node.args, *node.kwargs.values()):
            _collect(value, "input", links)
        return {}, links
    out = {}
    links = []
    for key, value in bound.arguments.items():
        if isinstance(value, StepOutput):
            out[key] = f"<output {value.index} of step {value.node}>"
            links.append((key, value))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value_text(value)[:500]
        else:
            _collect(value, key, links)
            out[key] = value_text(map_handles(value, lambda h: f"<output {h.index} of step {h.node}>"))[:500]
    return out, links


def _collect(value: Any, role: str, links: list[tuple[str, Any]]) -> None:
    """Handles and dataset versions inside ``value`` (lists, tuples, dicts), in ``role``."""
    if isinstance(value, (StepOutput, DatasetVersion)):
        links.append((role, value))
        return
    kind = type(value)
    if kind is list or kind is tuple:
        for item in value:
            _collect(item, role, links)
    elif kind is dict:
        for item in value.values():
            _collect(item, role, links)
