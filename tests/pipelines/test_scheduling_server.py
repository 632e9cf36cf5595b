"""End to end: ``modelyard server`` runs the scheduler and a local worker; clients use the REST API."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.client import Client
from modelyard.entities import QueuedPipelineRun
from modelyard.errors import InvalidInputError, ScheduleNotFoundError
from modelyard.pipelines import enqueue_pipeline, schedule_pipeline, trigger_pipeline
from modelyard.settings import Settings
from tests.conftest import ServerProcess

PIPELINES = textwrap.dedent(
    """
    import modelyard as yard


    @yard.step
    def double(n: int) -> int:
        return n * 2


    @yard.pipeline
    def nightly(n: int = 1):
        return double(n)
    """
)


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"srvpipes_{os.getpid()}"
    (tmp_path / f"{name}.py").write_text(PIPELINES)
    monkeypatch.chdir(tmp_path)  # the server's local worker inherits it and imports the module from here
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name


@pytest.fixture
def server(tmp_path: Path, module: str) -> Iterator[ServerProcess]:
    env = {"MODELYARD_SCHEDULER_INTERVAL": "0.2", "MODELYARD_WORKER_POLL_INTERVAL": "0.2"}
    proc = ServerProcess(tmp_path / "srv", "--no-auth", env=env)
    try:
        yield proc
    finally:
        proc.stop()


def _wait_for(client: Client, predicate: object, timeout: float = 90) -> list[QueuedPipelineRun]:
    deadline = time.time() + timeout
    while True:
        queue = client.backend.list_pipeline_queue("churn", limit=100)
        if predicate(queue):  # type: ignore[operator]
            return queue
        assert time.time() < deadline, f"timed out; queue: {queue}"
        time.sleep(0.2)


def test_server_schedules_triggers_and_runs_pipelines_through_its_local_worker(
    server: ServerProcess, module: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "client-home", blobs=str(server.blobs))
    client = Client(server.url, project="churn", settings=settings)
    try:
        target = f"{module}:nightly"
        # a manual run: queued over HTTP, executed by the server's local worker
        queued = enqueue_pipeline(target, params={"n": 4}, client=client)
        assert queued.status == "PENDING" and queued.reason == "manual"
        done = _wait_for(client, lambda q: q and q[0].status == "FINISHED")
        assert done[0].worker_id
        run = client.backend.get_pipeline_run(queued.run_id)
        assert run.status == "FINISHED" and run.params == {"n": 4}
        # a dataset trigger: the server's scheduler sees the new version and enqueues a run
        (tmp_path / "train.csv").write_text("a,b\n1,2\n")
        client.data.add(tmp_path / "train.csv", "train")
        trigger = trigger_pipeline(target, on_dataset="train", params={"n": 7}, client=client)
        assert trigger.last_seen == 1
        (tmp_path / "train.csv").write_text("a,b\n1,2\n3,4\n")
        client.data.add(tmp_path / "train.csv", "train")
        queue = _wait_for(client, lambda q: len(q) == 2 and q[0].status == "FINISHED")
        assert queue[0].reason == "dataset" and queue[0].details["ref"] == "train@2"
        assert client.backend.get_pipeline_run(queue[0].run_id).params == {"n": 7}
        # schedules over HTTP: stored, listed, removed; bad input refused with nothing stored
        sched = schedule_pipeline(target, "30 4 * * 1-5", timezone="America/New_York", client=client)
        assert [s.cron for s in client.backend.list_pipeline_schedules("churn")] == [sched.cron]
        with pytest.raises(InvalidInputError, match="not a valid cron"):
            client.backend.schedule_pipeline("churn", "nightly", target, "every day")
        client.backend.unschedule_pipeline("churn", "nightly")
        with pytest.raises(ScheduleNotFoundError):
            client.backend.unschedule_pipeline("churn", "nightly")
        client.backend.remove_pipeline_trigger("churn", "nightly", "dataset", "train")
        assert client.backend.list_pipeline_triggers("churn") == []
    finally:
        client.close()


def test_local_workers_off_leaves_runs_queued_for_an_outside_worker(module: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    server = ServerProcess(tmp_path / "srv0", "--no-auth", "--local-workers", "0", env={"MODELYARD_SCHEDULER": "false"})
    try:
        client = Client(server.url, project="churn", settings=Settings(home=tmp_path / "h", blobs=str(server.blobs)))
        try:
            queued = enqueue_pipeline(f"{module}:nightly", params={"n": 2}, client=client)
            time.sleep(1.5)
            [still] = client.backend.list_pipeline_queue("churn")
            assert (still.run_id, still.status) == (queued.run_id, "PENDING")  # nobody runs it
            env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
            env["MODELYARD_BLOBS"] = str(server.blobs)
            done = subprocess.run(
                [sys.executable, "-m", "modelyard", "worker", "--once", "--uri", str(server.root / "store")],
                env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert "Ran 1 pipeline run(s)" in done.stderr
            [finished] = client.backend.list_pipeline_queue("churn")
            assert finished.status == "FINISHED"
            assert client.backend.get_pipeline_run(queued.run_id).status == "FINISHED"
        finally:
            client.close()
    finally:
        server.stop()
    assert "modelyard worker" not in server.output()
