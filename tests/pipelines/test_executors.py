"""Executors: the same outputs under thread, process and Ray; 1,000 fanned-out steps; unpicklable input."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import modelyard as yard
from modelyard.client import Client
from modelyard.entities import RunStatus
from modelyard.settings import Settings
from tests.pipelines import example_pipelines as ex


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Client]:
    c = Client(str(tmp_path / "store"), settings=Settings(home=tmp_path / "home", project="p"))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray instance for the module's Ray tests (starting Ray takes seconds)."""
    ray = pytest.importorskip("ray")
    from modelyard.pipelines._executors import ensure_ray

    ensure_ray(None)
    try:
        yield
    finally:
        ray.shutdown()


def _outputs(client: Client, executor: str) -> tuple[Any, Any, Any]:
    numbers = ex.numbers.run(params={"n": 7, "label": executor}, client=client, executor=executor, no_cache=True)
    tables = ex.tables.run(params={"n": 4}, client=client, executor=executor)
    assert numbers.status == tables.status == RunStatus.FINISHED
    return numbers.output("summarize"), numbers.output("halves"), tables.output("frame")


def test_thread_process_and_ray_produce_the_same_outputs(local: Client, ray_session: None) -> None:
    reference = _outputs(local, "thread")
    for executor in ("process", "ray"):
        summary, halves, frame = _outputs(local, executor)
        assert {**summary, "label": "thread"} == reference[0]
        assert halves == reference[1]
        pd.testing.assert_frame_equal(frame, reference[2])


def test_ray_maps_resources_and_reports_failures(local: Client, ray_session: None) -> None:
    @yard.step(resources={"cpu": 0.5, "memory": 64 * 2**20})
    def half_cpu(x: int) -> dict[str, Any]:
        import ray

        # what Ray actually reserved for this task
        return {"value": x * 3, "assigned": ray.get_runtime_context().get_assigned_resources()}

    @yard.step
    def broken(x: dict[str, Any]) -> int:
        raise KeyError("missing")

    @yard.pipeline
    def on_ray() -> Any:
        return broken(half_cpu(2))

    run = on_ray.run(client=local, executor="ray", raise_on_failure=False)
    assert run.step("half_cpu").status == RunStatus.FINISHED
    output = run.output("half_cpu")
    assert output["value"] == 6
    assert output["assigned"]["CPU"] == 0.5 and output["assigned"]["memory"] == 64 * 2**20
    assert "GPU" not in output["assigned"]
    assert run.step("broken").status == RunStatus.FAILED and "KeyError" in (run.step("broken").error or "")


def test_a_step_with_a_timeout_is_stopped_on_ray_too(local: Client, ray_session: None) -> None:
    @yard.step(timeout=1)
    def stuck() -> int:
        import time

        time.sleep(60)
        return 1

    @yard.pipeline
    def stuck_on_ray() -> Any:
        return stuck()

    run = stuck_on_ray.run(client=local, executor="ray", raise_on_failure=False)
    assert run.status == RunStatus.FAILED
    assert "timed out after 1 s" in (run.step("stuck").error or "")


def test_ray_options_map_every_resource() -> None:
    from modelyard.pipelines._executors import ray_options

    assert ray_options({"cpu": 2, "gpu": 1, "memory": 2**30}) == {"num_cpus": 2.0, "num_gpus": 1.0, "memory": 2**30}
    assert ray_options({"cpu": 1.0, "gpu": 0.0}) == {"num_cpus": 1.0, "num_gpus": 0.0}


def test_modelyard_ray_address_connects_to_a_running_ray(tmp_path: Path, ray_session: None) -> None:
    """A second process given MODELYARD_RAY_ADDRESS runs its steps on this Ray, not a new local one."""
    import os
    import subprocess
    import sys

    import ray

    address = ray.get_runtime_context().gcs_address
    script = textwrap.dedent(
        f"""
        import modelyard as yard
        from modelyard.client import Client

        @yard.step
        def where() -> str:
            import ray
            return ray.get_runtime_context().gcs_address

        @yard.pipeline
        def located():
            return where()

        client = Client({str(tmp_path / "store")!r})
        print("GCS", located.run(client=client, executor="ray").output("where"))
        client.close()
        """
    )
    env = {**os.environ, "MODELYARD_RAY_ADDRESS": address, "MODELYARD_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"GCS {address}" in done.stdout


def test_a_step_on_ray_logs_to_its_step_run(local: Client, ray_session: None) -> None:
    run = ex.logging_steps.run(params={"rounds": 2}, client=local, executor="ray")
    assert run.status == RunStatus.FINISHED and run.output("quiet") == 3
    for step, label in (("logged", "plain"), ("logged_with_timeout", "timeout")):
        step_run = run.step(step)
        tracked = local.get_run(step_run.run_id)
        assert tracked.params["what"] == label and tracked.parent_id == run.id
        assert [m.value for m in local.get_metric_history(step_run.run_id, "loss")] == [1.0, 0.5]
        assert [a.path for a in local.list_artifacts(step_run.run_id, "notes")] == [
            f"notes/modelyard-step-{step_run.run_id}.txt"
        ]
    assert local.get_run(run.id).metrics == {}


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_a_thousand_fanned_out_steps_complete(local: Client, executor: str) -> None:
    run = ex.fan_out.run(params={"width": 1000}, client=local, executor=executor)
    assert run.status == RunStatus.FINISHED
    assert run.output("total") == sum(i * i for i in range(1000))
    assert len(run.steps) == 1001 and all(s.status == RunStatus.FINISHED for s in run.steps)


def test_the_process_executor_names_an_unpicklable_input(local: Client) -> None:
    @yard.step
    def uses_lock(lock: Any) -> int:
        return 1

    @yard.pipeline
    def unpicklable() -> Any:
        return uses_lock(threading.Lock())

    run = unpicklable.run(client=local, executor="process", raise_on_failure=False)
    assert run.status == RunStatus.FAILED
    error = run.step("uses_lock").error or ""
    assert "cannot run with executor='process'" in error and "pickled" in error


def test_an_unknown_executor_is_refused(local: Client) -> None:
    from modelyard.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="executor 'dask' is unknown"):
        ex.numbers.run(client=local, executor="dask")
