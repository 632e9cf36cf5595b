"""Executors: where step calls run (``thread``, ``process``, ``ray``).

- ``thread`` (default): a thread pool in this process; with one step ready and nothing running, the
  step runs on the engine's thread (no hand-off, the common case of a chain of small steps).
- ``process``: a pool of spawned processes; the step function and its inputs travel with cloudpickle
  (a clear error names the step when they cannot), its values come back the same way.
- ``ray``: each step is a Ray task with ``num_cpus``/``num_gpus`` from its ``resources``; inputs and
  outputs move through the blob store, so a task can run on any node that reaches it.

Whatever the executor, a step with a ``timeout`` runs each try in its own child process, stopped at
the limit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.errors import InvalidInputError
from modelyard.pipelines._child import Outcome, StepTask, run_pickled, run_ray_task

if TYPE_CHECKING:
    from modelyard.pipelines._dag import Node
    from modelyard.pipelines._engine import Engine

__all__ = ["Executor", "open_executor", "ray_options"]

_ray_lock = threading.Lock()


class Executor(Protocol):
    """Runs step tasks and reports each outcome to ``engine.completions``."""

    def prepare(self, node: Node, engine: Engine) -> Any:
        """Build the task of ``node`` (raise :class:`InvalidInputError` when it cannot run here)."""
        ...

    def remote(self, task: Any) -> bool:
        """Whether the task runs in another process (its step run's row is then written before it starts)."""
        ...

    def submit(self, name: str, task: Any, start: int) -> None:
        """Start the task; its outcome goes to ``engine.completions``."""
        ...

    def shutdown(self) -> None:
        """Release workers."""
        ...


def _failure(start: int, error: str) -> Outcome:
    import time

    return Outcome(False, [], error, None, 1, start, time.time_ns() // 1_000_000)


class ThreadExecutor:
    """Steps on a thread pool in this process."""

    def __init__(self, engine: Engine) -> None:
        """Create the pool lazily (a chain of steps never needs it)."""
        self.engine = engine
        self._pool: ThreadPoolExecutor | None = None

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="modelyard-step")
        return self._pool

    def prepare(self, node: Node, engine: Engine) -> Any:
        """Resolve the inputs to values."""
        args, kwargs = engine.resolve_values(node)
        return engine.make_task(node, args, kwargs)

    def _run(self, name: str, task: StepTask, start: int) -> None:
        try:
            outcome = self.engine.run_here(task)
        except KeyboardInterrupt:
            if threading.current_thread() is threading.main_thread():
                raise  # Ctrl-C during a step run inline: the engine ends the run KILLED
            outcome = _failure(start, "KeyboardInterrupt: interrupted")
        except BaseException as exc:  # noqa: BLE001 - reported as the step's failure
            outcome = _failure(start, f"{type(exc).__name__}: {exc}")
        self.engine.completions.put((name, outcome))

    def remote(self, task: Any) -> bool:
        """A step with a timeout runs in a child process."""
        return task.timeout is not None

    def submit(self, name: str, task: Any, start: int) -> None:
        """Run inline when it is the only work, else on the pool."""
        engine = self.engine
        if task.timeout is None and engine.running == 1 and not engine._ready:
            self._run(name, task, start)
            return
        self._threads().submit(self._run, name, task, start)

    def shutdown(self) -> None:
        """Wait for the pool's threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


class ProcessExecutor(ThreadExecutor):
    """Steps on a pool of spawned processes (timeouts still get their own child, from a thread)."""

    def __init__(self, engine: Engine) -> None:
        """Create the process pool lazily."""
        super().__init__(engine)
        self._processes: Any = None

    def prepare(self, node: Node, engine: Engine) -> Any:
        """Resolve the inputs and pickle the task (a clear error when it cannot be pickled)."""
        task = super().prepare(node, engine)
        if task.timeout is not None:
            return task
        import cloudpickle

        try:
            return bytes(cloudpickle.dumps(task))
        except Exception as exc:  # noqa: BLE001 - unpicklable function or input
            raise InvalidInputError(
                f"step {node.name!r} cannot run with executor='process': its function or inputs cannot be "
                f"pickled ({type(exc).__name__}: {exc}); use executor='thread' or pass picklable values."
            ) from None

    def remote(self, task: Any) -> bool:
        """Every step runs in another process."""
        return True

    def submit(self, name: str, task: Any, start: int) -> None:
        """Send the pickled task to the process pool."""
        if isinstance(task, StepTask):  # a step with a timeout: its own child, waited for on a thread
            self._threads().submit(self._run, name, task, start)
            return
        if self._processes is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._processes = ProcessPoolExecutor(
                max_workers=os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")
            )
        future = self._processes.submit(run_pickled, task)
        future.add_done_callback(lambda f: self._done(name, f, start))

    def _done(self, name: str, future: Future[bytes], start: int) -> None:
        import cloudpickle

        try:
            outcome: Outcome = cloudpickle.loads(future.result())
        except BaseException as exc:  # noqa: BLE001 - a dead worker fails the step
            outcome = _failure(start, f"the worker process failed: {type(exc).__name__}: {exc}")
        self.engine.completions.put((name, outcome))

    def shutdown(self) -> None:
        """Stop the pools."""
        super().shutdown()
        if self._processes is not None:
            self._processes.shutdown(wait=True, cancel_futures=True)


def ensure_ray(address: str | None) -> Any:
    """Import Ray and connect once: to ``address`` (``MODELYARD_RAY_ADDRESS``) or a new local instance."""
    try:
        import ray
    except ImportError:
        raise InvalidInputError("executor='ray' needs Ray: pip install 'modelyard[ray]' (or 'ray>=2.9').") from None
    with _ray_lock:
        if not ray.is_initialized():
            import sys

            if address:
                ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
            else:
                env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
                ray.init(
                    ignore_reinit_error=True,
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env={"env_vars": env},
                )
    return ray


def ray_options(resources: Mapping[str, float]) -> dict[str, Any]:
    """A step's ``resources`` as Ray task options.

    ``cpu`` -> ``num_cpus``, ``gpu`` -> ``num_gpus``, ``memory`` (bytes) -> ``memory`` (left out
    when 0, Ray's default of no reservation).
    """
    options: dict[str, Any] = {
        "num_cpus": float(resources.get("cpu", 1)),
        "num_gpus": float(resources.get("gpu", 0)),
    }
    memory = int(resources.get("memory", 0))
    if memory > 0:
        options["memory"] = memory
    return options


class RayExecutor:
    """Each step a Ray task; inputs and outputs through the blob store."""

    def __init__(self, engine: Engine) -> None:
        """Connect to Ray; the store's blobs must be reachable from the workers (a local or shared store)."""
        self.engine = engine
        location = getattr(engine.backend, "location", None)
        if location is None:
            raise InvalidInputError(
                "executor='ray' needs a store whose blobs the Ray workers can reach (a local directory, "
                "sqlite://, postgresql:// with a shared blob store); it cannot run against an http:// server."
            )
        self.blobs_url = location.blobs_url
        self.ray = ensure_ray(engine.client.settings.ray_address)
        self._remote = self.ray.remote(run_ray_task)
        self._threads = ThreadExecutor(engine)

    def prepare(self, node: Node, engine: Engine) -> Any:
        """Replace inputs by blob references and pickle the task."""
        import cloudpickle

        args, kwargs = engine.resolve_refs(node)
        task = engine.make_task(node, args, kwargs)
        try:
            payload = bytes(cloudpickle.dumps(task))
        except Exception as exc:  # noqa: BLE001 - unpicklable function or input
            raise InvalidInputError(
                f"step {node.name!r} cannot run with executor='ray': its function or inputs cannot be "
                f"pickled ({type(exc).__name__}: {exc})."
            ) from None
        return payload, ray_options(node.step.resources)

    def remote(self, task: Any) -> bool:
        """Every step runs in a Ray worker."""
        return True

    def submit(self, name: str, task: Any, start: int) -> None:
        """Submit the Ray task; its completion is posted from Ray's callback."""
        payload, options = task
        ref = self._remote.options(**options).remote(payload, self.blobs_url)
        future = ref.future()
        future.add_done_callback(lambda f: self._done(name, f, start))

    def _done(self, name: str, future: Future[bytes], start: int) -> None:
        import cloudpickle

        try:
            outcome: Outcome = cloudpickle.loads(future.result())
        except BaseException as exc:  # noqa: BLE001 - a lost task fails the step
            outcome = _failure(start, f"the Ray task failed: {type(exc).__name__}: {exc}")
        self.engine.completions.put((name, outcome))

    def shutdown(self) -> None:
        """Nothing to release: the Ray connection is kept for the next run."""


def open_executor(name: str, engine: Engine) -> Executor:
    """The executor called ``name``."""
    if name == "thread":
        return ThreadExecutor(engine)
    if name == "process":
        return ProcessExecutor(engine)
    if name == "ray":
        return RayExecutor(engine)
    raise InvalidInputError(f"executor {name!r} is unknown; use thread, process or ray.")
