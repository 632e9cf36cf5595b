"""``modelyard worker`` processes claim and execute queued runs: each exactly once, dead ones reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.audit import Caller
from modelyard.client import Client
from modelyard.errors import InvalidPipelineError, PipelineNotFoundError
from modelyard.pipelines import enqueue_pipeline, schedule_pipeline, trigger_pipeline
from modelyard.pipelines._scheduling import SchedulingService
from modelyard.settings import Settings
from tests.conftest import _truncate_postgres

PIPELINES = textwrap.dedent(
    """
    import os
    import time

    import modelyard as yard


    @yard.step
    def record(n: int, marker: str) -> int:
        # one file per execution: a run executed twice would leave two
        with open(os.path.join(marker, f"{n}-{os.getpid()}"), "w"):
            pass
        return n * 2


    @yard.step
    def nap(seconds: float) -> float:
        time.sleep(seconds)
        return seconds


    @yard.step
    def explode(n: int) -> int:
        raise RuntimeError(f"bad input {n}")


    @yard.pipeline(schedule="0 3 * * *")
    def training(n: int = 1, marker: str = "."):
        return record(n, marker)


    @yard.pipeline
    def slow(seconds: float = 60.0):
        return nap(seconds)


    @yard.pipeline
    def broken(n: int = 1):
        return explode(n)
    """
)


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of pipelines in ``tmp_path`` (the working directory, as for a user's project)."""
    name = f"wpipes_{os.getpid()}_{tmp_path.name[-12:].replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(PIPELINES)
    (tmp_path / "marks").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield name
    finally:
        sys.modules.pop(name, None)


@pytest.fixture
def project_dir(tmp_path: Path, module: str) -> Path:
    return tmp_path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store")
    url: str = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def client(store_uri: str, tmp_path: Path) -> Iterator[Client]:
    c = Client(store_uri, project="churn", settings=Settings(home=tmp_path / "home", blobs=str(tmp_path / "blobs")))
    try:
        yield c
    finally:
        c.close()


def _worker(store_uri: str, root: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    full_env.update(
        MODELYARD_HOME=str(root / "home"), MODELYARD_BLOBS=str(root / "blobs"), MODELYARD_PROJECT="churn", **env
    )
    return subprocess.Popen(
        [sys.executable, "-m", "modelyard", "worker", "--uri", store_uri, "--poll-interval", "0.1", *args],
        cwd=root,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_worker_processes_run_each_queued_run_exactly_once(
    project_dir: Path, module: str, store_uri: str, client: Client
) -> None:
    target = f"{module}:training"
    marks = project_dir / "marks"
    queued = [enqueue_pipeline(target, params={"n": i, "marker": str(marks)}, client=client).run_id for i in range(8)]
    broken = enqueue_pipeline(f"{module}:broken", client=client).run_id
    workers = [_worker(store_uri, project_dir, "--once") for _ in range(2)]
    for proc in workers:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    executed = sorted(int(p.name.split("-")[0]) for p in marks.iterdir())
    assert executed == list(range(8))  # each run's step ran once, in one worker, never twice
    queue = {q.run_id: q for q in client.backend.list_pipeline_queue("churn", limit=100)}
    assert all(queue[r].status == "FINISHED" for r in queued), {r: queue[r].error for r in queued}
    assert queue[broken].status == "FAILED"
    for run_id in queued:
        run = client.backend.get_pipeline_run(run_id)
        assert run.status == "FINISHED" and run.params["n"] == queued.index(run_id)
    assert client.backend.get_pipeline_run(broken).status == "FAILED"
    claims = [e for e in client.list_audit(action="pipeline_run.claim", limit=1000)]
    assert len(claims) == 9 == len({e.summary["run_id"] for e in claims})


def test_a_worker_runs_with_the_queued_executor_or_its_own(
    project_dir: Path, module: str, store_uri: str, client: Client
) -> None:
    target = f"{module}:training"
    marks = str(project_dir / "marks")
    in_processes = enqueue_pipeline(target, params={"n": 1, "marker": marks}, executor="process", client=client)
    worker = _worker(store_uri, project_dir, "--once")
    out, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, out
    run = client.backend.get_pipeline_run(in_processes.run_id)
    assert run.status == "FINISHED" and run.executor == "process"
    # the step ran in a pool process, not in the worker itself
    [(mark, worker_pid)] = [p.name.split("-") for p in (project_dir / "marks").iterdir()]
    assert mark == "1" and int(worker_pid) != worker.pid
    overridden = enqueue_pipeline(target, params={"n": 2, "marker": marks}, executor="process", client=client)
    worker = _worker(store_uri, project_dir, "--once", "--executor", "thread")
    out, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, out
    run = client.backend.get_pipeline_run(overridden.run_id)
    assert run.status == "FINISHED" and run.executor == "thread"
    assert (project_dir / "marks" / f"2-{worker.pid}").exists()  # ran inside the worker process


def test_a_queued_run_with_bad_params_or_a_gone_module_ends_failed_by_name(
    project_dir: Path, module: str, store_uri: str, client: Client
) -> None:
    # queued by a raw API call that skipped the client's checks (the server cannot import user code)
    bad_type = client.backend.enqueue_pipeline_run("churn", "training", f"{module}:training", params={"n": "lots"})
    gone = client.backend.enqueue_pipeline_run("churn", "vanished", "gone_module_xyz:vanished", params={})
    worker = _worker(store_uri, project_dir, "--once")
    out, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, out
    queue = {q.run_id: q for q in client.backend.list_pipeline_queue("churn", limit=10)}
    assert queue[bad_type.run_id].status == "FAILED" and "'n' must be int" in (queue[bad_type.run_id].error or "")
    assert queue[gone.run_id].status == "FAILED" and "gone_module_xyz" in (queue[gone.run_id].error or "")
    for queued in (bad_type, gone):
        assert client.backend.get_pipeline_run(queued.run_id).status == "FAILED"
    assert not any((project_dir / "marks").iterdir())  # no step ran


def test_a_worker_that_dies_mid_run_leaves_the_run_failed_after_the_timeout(
    project_dir: Path, module: str, store_uri: str, client: Client
) -> None:
    run_id = enqueue_pipeline(f"{module}:slow", params={"seconds": 120}, client=client).run_id
    proc = _worker(store_uri, project_dir, MODELYARD_HEARTBEAT_INTERVAL="0.2")
    try:
        deadline = time.time() + 60
        while client.backend.get_pipeline_run(run_id).status != "RUNNING":
            assert time.time() < deadline and proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.1)
        service = SchedulingService(client.backend.store, Caller(user="scheduler"))  # type: ignore[attr-defined]
        time.sleep(1.0)
        assert service.reap(0.8) == []  # alive: it heartbeats every 0.2 s
        os.kill(proc.pid, signal.SIGKILL)  # dies mid-run, without a word
        proc.wait(30)
        time.sleep(1.0)
        assert service.reap(0.8) == [run_id]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
    run = client.backend.get_pipeline_run(run_id)
    assert run.status == "FAILED" and "stopped sending heartbeats" in (run.error or "")
    [queued] = client.backend.list_pipeline_queue("churn")
    assert queued.status == "FAILED"


def test_bad_input_is_refused_before_anything_is_stored(module: str, client: Client) -> None:
    target = f"{module}:training"
    with pytest.raises(InvalidPipelineError, match="parameter 'n' must be int"):
        schedule_pipeline(target, params={"n": "many"}, client=client)
    with pytest.raises(PipelineNotFoundError, match="cannot be imported"):
        schedule_pipeline("no_such_module_here:training", cron="0 3 * * *", client=client)
    with pytest.raises(PipelineNotFoundError, match="no attribute"):
        trigger_pipeline(f"{module}:nothing", on_dataset="train", client=client)
    assert client.backend.list_pipeline_schedules("churn") == []
    assert client.backend.list_pipeline_triggers("churn") == []
    # the pipeline's own schedule= is the default cron; params are typed by its annotations
    sched = schedule_pipeline(target, params={"n": "3"}, timezone="Europe/Berlin", client=client)
    assert (sched.cron, sched.params, sched.timezone, sched.pipeline) == (
        "0 3 * * *",
        {"n": 3},
        "Europe/Berlin",
        "training",
    )


def test_cli_schedule_trigger_and_queue(project_dir: Path, module: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(MODELYARD_HOME=str(tmp_path / "cli-home"), MODELYARD_PROJECT="churn")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelyard", "pipelines", *args],
            cwd=project_dir, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    target = f"{module}:training"
    bad = cli("schedule", target, "--cron", "0 25 * * *")
    assert bad.returncode == 2 and "not a valid cron expression" in bad.stderr + bad.stdout
    bad = cli("schedule", target, "--timezone", "Nowhere/City")
    assert bad.returncode == 2 and "unknown" in bad.stderr + bad.stdout
    bad = cli("schedule", target, "-p", "n=lots")
    assert bad.returncode == 2 and "'n' must be int" in bad.stderr + bad.stdout
    ok = cli("schedule", target, "--cron", "*/10 * * * *", "-p", "marker=$(id); rm -rf /", "--missed", "catch-up")
    assert ok.returncode == 0, ok.stderr
    listed = cli("schedules", "--json")
    assert listed.returncode == 0, listed.stderr
    import json

    [sched] = json.loads(listed.stdout)
    assert sched["params"] == {"marker": "$(id); rm -rf /"} and sched["missed"] == "catch_up_once"
    assert cli("trigger", target, "--on-dataset", "train").returncode == 0
    assert json.loads(cli("triggers", "--json").stdout)[0]["source"] == "train"
    queued = cli("trigger", target, "--json")
    assert queued.returncode == 0, queued.stderr
    assert json.loads(cli("queue", "--json").stdout)[0]["run_id"] == json.loads(queued.stdout)["run_id"]
    assert cli("unschedule", "training").returncode == 0
    assert json.loads(cli("schedules", "--json").stdout) == []
    gone = cli("unschedule", "training")
    assert gone.returncode == 2 and "has no schedule" in gone.stderr + gone.stdout
