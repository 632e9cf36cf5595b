"""What runs a step outside the engine's thread: the retry loop, child processes and Ray tasks.

Kept light (no pydantic, no SQLAlchemy at import) because spawned children and Ray workers import
it before running a step.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Outcome", "RefArg", "StepTask", "run_in_child", "run_pickled", "run_ray_task", "run_task"]


@dataclass
class StepTask:
    """A step call ready to run: the function, resolved arguments and how to retry."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outputs: int = 1
    retries: int = 0
    retry_delay: float = 1.0
    timeout: float | None = None
    tracking: Any = None
    """The step run to activate while the step runs in another process (a ``StepTracking``)."""


@dataclass
class Outcome:
    """What running a step gave: its values (or error), captured logs, tries and times."""

    ok: bool
    values: list[Any] = field(default_factory=list)
    error: str | None = None
    logs: str | None = None
    attempt: int = 1
    start_time: int = 0
    end_time: int = 0
    refs: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class RefArg:
    """An input passed to a Ray task by reference: read from the blob store on the worker."""

    ref: dict[str, Any]


def _now() -> int:
    return time.time_ns() // 1_000_000


def split_outputs(name: str, value: Any, outputs: int) -> list[Any]:
    """The list of a step's outputs (checking a multi-output step returned as many)."""
    if outputs == 1:
        return [value]
    if not isinstance(value, (tuple, list)) or len(value) != outputs:
        got = (
            f"{type(value).__name__} of length {len(value)}"
            if isinstance(value, (tuple, list))
            else type(value).__name__
        )
        raise TypeError(f"step {name!r} declares {outputs} outputs but returned {got}; return a tuple of {outputs}.")
    return list(value)


def _error_text(name: str, exc: BaseException) -> str:
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{type(exc).__name__}: {exc}\n\n{trace}"


def run_task(
    task: StepTask,
    cancelled: threading.Event | None = None,
    capture: Callable[[], Any] | None = None,
    joined: Callable[[list[str]], str | None] | None = None,
) -> Outcome:
    """Run a step with its retries (exponential backoff); never raises."""
    start = _now()
    attempt = 0
    logs: list[str] = []
    while True:
        attempt += 1
        error: str | None
        try:
            if task.timeout is not None:
                values, child_logs = run_in_child(task)
                if child_logs:
                    logs.append(child_logs)
            elif capture is not None:
                with capture() as buffer:
                    try:
                        values = split_outputs(task.name, task.fn(*task.args, **task.kwargs), task.outputs)
                    finally:
                        logs.extend(buffer)
            else:
                values = split_outputs(task.name, task.fn(*task.args, **task.kwargs), task.outputs)
            text = joined(logs) if joined is not None else ("".join(logs) or None)
            return Outcome(True, values, None, text, attempt, start, _now())
        except Exception as exc:  # noqa: BLE001 - a step's error fails the step, not the engine
            error = exc.args[0] if isinstance(exc, _ChildError) else _error_text(task.name, exc)
        if attempt > task.retries or (cancelled is not None and cancelled.is_set()):
            text = joined(logs) if joined is not None else ("".join(logs) or None)
            return Outcome(False, [], error, text, attempt, start, _now())
        logs.append(f"[modelyard] try {attempt} failed: {error.splitlines()[0]}; retrying\n")
        delay = task.retry_delay * (2 ** (attempt - 1))
        if cancelled is not None:
            cancelled.wait(delay)
        else:
            time.sleep(delay)


class _ChildError(Exception):
    """The step failed (or timed out) in its child process; args[0] is the full error text."""


def _child_main(conn: Any, payload: bytes | StepTask) -> None:
    import cloudpickle

    out = io.StringIO()
    sys.stdout = sys.stderr = out
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        from modelyard.pipelines._tracking import tracked_in_child

        task: StepTask = cloudpickle.loads(payload) if isinstance(payload, bytes) else payload
        with tracked_in_child(task.tracking) as flush:
            try:
                values = split_outputs(task.name, task.fn(*task.args, **task.kwargs), task.outputs)
            finally:
                flush()  # what the step logged is written before its outcome is reported
        result = ("ok", cloudpickle.dumps(values), out.getvalue())
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        result = ("error", _error_text("", exc), out.getvalue())
    try:
        conn.send(result)
    except Exception as exc:  # noqa: BLE001 - unpicklable result
        conn.send(("error", f"the step's result could not be sent back: {exc}", out.getvalue()))
    conn.close()


def run_in_child(task: StepTask) -> tuple[list[Any], str | None]:
    """Run one try of ``task`` in a child process, stopping it at ``task.timeout``.

    Where ``fork`` exists the child is a fork (the step needs no pickling and a script needs no
    ``if __name__ == "__main__"`` guard); elsewhere it is spawned and gets the pickled task.
    """
    import cloudpickle

    one_try = StepTask(task.name, task.fn, task.args, task.kwargs, task.outputs, tracking=task.tracking)
    payload: bytes | StepTask = one_try
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    if method == "spawn":
        try:
            payload = cloudpickle.dumps(one_try)
        except Exception as exc:  # noqa: BLE001 - unpicklable function or input
            raise _ChildError(
                f"step {task.name!r} has a timeout, so it runs in a child process, and its function or inputs "
                f"cannot be pickled: {type(exc).__name__}: {exc}"
            ) from None
    ctx: Any = multiprocessing.get_context(method)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child, payload), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(task.timeout):
            proc.terminate()
            proc.join(2)
            if proc.is_alive():
                proc.kill()
            raise _ChildError(f"TimeoutError: step {task.name!r} timed out after {task.timeout:g} s and was stopped.")
        try:
            status, data, logs = parent.recv()
        except EOFError:
            proc.join(5)
            raise _ChildError(f"step {task.name!r}: its child process died (exit code {proc.exitcode}).") from None
    finally:
        parent.close()
        proc.join(5)
    if status != "ok":
        raise _ChildError(data)
    return cloudpickle.loads(data), logs or None


def run_pickled(payload: bytes) -> bytes:
    """Process-pool entry point: run a pickled :class:`StepTask` with retries; return the pickled outcome."""
    import cloudpickle

    from modelyard.pipelines._tracking import tracked_in_child

    task: StepTask = cloudpickle.loads(payload)
    out = io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    try:
        with tracked_in_child(None if task.timeout is not None else task.tracking) as flush:
            outcome = run_task(task)
            try:
                flush()  # what the step logged is written before its outcome is reported
            except Exception as exc:  # noqa: BLE001 - fails the step
                outcome.ok = False
                outcome.values = []
                outcome.error = f"what the step logged could not be written: {type(exc).__name__}: {exc}"
    finally:
        sys.stdout, sys.stderr = old
    captured = out.getvalue()
    if captured:
        outcome.logs = (outcome.logs or "") + captured
    try:
        return bytes(cloudpickle.dumps(outcome))
    except Exception as exc:  # noqa: BLE001 - an unpicklable output
        return bytes(
            cloudpickle.dumps(
                Outcome(
                    False,
                    [],
                    f"step {task.name!r} returned a value that cannot be pickled back: {exc}",
                    None,
                    outcome.attempt,
                    outcome.start_time,
                    outcome.end_time,
                )
            )
        )


class _StoreSink:
    def __init__(self, blobs_url: str) -> None:
        from modelyard.blobs import BlobStore

        self.store = BlobStore(blobs_url)

    def put(self, data: bytes) -> tuple[str, int]:
        info = self.store.put_bytes(data, sync=False)
        return info.digest, info.size

    def get(self, step_run_id: str | None, digest: str) -> bytes:
        return self.store.read_bytes(digest)


def _resolve_refs(value: Any, sink: _StoreSink) -> Any:
    from modelyard.pipelines._materialize import decode_output

    if isinstance(value, RefArg):
        return decode_output(value.ref, None, sink)
    kind = type(value)
    if kind is list:
        return [_resolve_refs(v, sink) for v in value]
    if kind is tuple:
        return tuple(_resolve_refs(v, sink) for v in value)
    if kind is dict:
        return {k: _resolve_refs(v, sink) for k, v in value.items()}
    return value


def run_ray_task(payload: bytes, blobs_url: str) -> bytes:
    """Ray task body: read inputs from the blob store, run the step, store its outputs there."""
    import cloudpickle

    from modelyard.pipelines._materialize import encode_output

    task: StepTask = cloudpickle.loads(payload)
    sink = _StoreSink(blobs_url)
    try:
        task.args = _resolve_refs(task.args, sink)
        task.kwargs = _resolve_refs(task.kwargs, sink)
    except Exception as exc:  # noqa: BLE001 - an input could not be read
        return bytes(
            cloudpickle.dumps(Outcome(False, [], f"reading the inputs failed: {exc}", None, 1, _now(), _now()))
        )
    outcome = run_pickled(cloudpickle.dumps(task))
    result: Outcome = cloudpickle.loads(outcome)
    if result.ok:
        try:
            result.refs = [encode_output(v, i, sink) for i, v in enumerate(result.values)]
            sink.store.sync()
        except Exception as exc:  # noqa: BLE001 - an output that cannot be stored fails the step
            result = Outcome(
                False,
                [],
                f"an output could not be stored: {exc}",
                result.logs,
                result.attempt,
                result.start_time,
                result.end_time,
            )
        result.values = []
    return bytes(cloudpickle.dumps(result))
