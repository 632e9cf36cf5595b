"""Retries, timeouts, outputs that cannot be stored, materialisers, cache keys, crash recovery, parallelism."""

from __future__ import annotations

import importlib
import linecache
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import modelyard as yard
from modelyard.client import Client
from modelyard.entities import RunStatus
from modelyard.errors import InvalidPipelineError
from modelyard.pipelines import load_output, register_materializer
from modelyard.pipelines._cache import code_digest
from modelyard.settings import Settings
from tests.pipelines import example_pipelines as ex

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Client]:
    c = Client(str(tmp_path / "store"), settings=Settings(home=tmp_path / "home", project="p"))
    try:
        yield c
    finally:
        c.close()


def test_retries_back_off_exponentially_and_count_attempts(local: Client) -> None:
    tries: list[float] = []

    @yard.step(retries=2, retry_delay=0.1)
    def flaky() -> int:
        tries.append(time.monotonic())
        if len(tries) < 3:
            raise ValueError(f"try {len(tries)}")
        return len(tries)

    @yard.pipeline
    def retrying() -> Any:
        return flaky()

    run = retrying.run(client=local)
    step = run.step("flaky")
    assert step.status == RunStatus.FINISHED and step.attempt == 3 and run.output("flaky") == 3
    assert tries[1] - tries[0] >= 0.09 and tries[2] - tries[1] >= 0.19  # 0.1 s, then 0.2 s
    assert "try 1 failed: ValueError: try 1; retrying" in (step.logs or "")


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_a_step_that_times_out_is_stopped_and_fails(local: Client, executor: str) -> None:
    @yard.step(timeout=1)
    def sleepy() -> int:
        time.sleep(30)
        return 1

    @yard.step
    def after(x: int) -> int:
        return x

    @yard.pipeline
    def timing() -> Any:
        return after(sleepy())

    start = time.monotonic()
    run = timing.run(client=local, raise_on_failure=False, executor=executor)
    assert time.monotonic() - start < 15
    assert run.status == RunStatus.FAILED
    assert "timed out after 1 s" in (run.step("sleepy").error or "")
    assert run.step("after").status == RunStatus.SKIPPED


def test_a_timeout_step_that_finishes_returns_its_value(local: Client) -> None:
    run = ex.numbers.run(params={"n": 3}, client=local)  # warm: imports
    assert run.status == "FINISHED"

    @yard.pipeline
    def quick() -> Any:
        return ex.add(1, 2)

    quick_step = yard.step(timeout=60, name="add_t")(ex.add.fn)

    @yard.pipeline
    def quick_timeout() -> Any:
        return quick_step(2, 3)

    assert quick_timeout.run(client=local).output("add_t") == 5


def test_an_output_that_cannot_be_stored_fails_its_step(local: Client) -> None:
    @yard.step
    def fine() -> int:
        return 7

    @yard.step
    def locky(x: int) -> Any:
        return threading.Lock()

    @yard.pipeline
    def storing() -> Any:
        return locky(fine())

    run = storing.run(client=local, raise_on_failure=False)
    assert run.status == RunStatus.FAILED
    error = run.step("locky").error or ""
    assert "output 0 of step 'locky' (_thread.lock) could not be stored" in error
    assert "register_materializer" in error
    assert load_output(run.id, "fine", client=local) == 7  # what was stored is intact


class Vocabulary:
    def __init__(self, words: list[str]) -> None:
        self.words = words


class Opaque:
    def __init__(self, value: int) -> None:
        self.value = value


def test_custom_materialisers_and_pickled_outputs(local: Client) -> None:
    register_materializer(
        Vocabulary, lambda v: "\n".join(v.words).encode(), lambda b: Vocabulary(b.decode().split("\n")), name="vocab"
    )

    @yard.step
    def vocab() -> Vocabulary:
        return Vocabulary(["a", "b"])

    @yard.step
    def opaque() -> Opaque:
        return Opaque(3)

    @yard.pipeline
    def custom() -> Any:
        return [vocab(), opaque()]

    run = custom.run(client=local)
    assert run.step("vocab").outputs[0].kind == "vocab"
    assert load_output(run.id, "vocab", client=local).words == ["a", "b"]
    pickled = run.step("opaque").outputs[0]
    assert pickled.kind == "pickle" and "cloudpickle" in (pickled.warning or "")
    assert load_output(run.id, "opaque", client=local).value == 3


def test_the_cache_key_follows_the_local_functions_a_step_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "cachemod_xyz.py"
    source = """
        import modelyard as yard

        def deeper(x):
            return x * {m}

        def helper(x):
            return deeper(x) + {n}

        @yard.step(cache=True)
        def uses(x):
            return helper(x)
    """
    module.write_text(textwrap.dedent(source.format(n=1, m=1)))
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("cachemod_xyz")
    digests = [code_digest(mod.uses.fn)]
    for n, m in ((2, 1), (2, 3)):  # edit the helper, then the function the helper calls
        module.write_text(textwrap.dedent(source.format(n=n, m=m)))
        linecache.checkcache()
        mod = importlib.reload(mod)
        digests.append(code_digest(mod.uses.fn))
    assert len(set(digests)) == 3  # each edit, direct or transitive, changes the key
    sys.modules.pop("cachemod_xyz", None)


def test_cache_expiration_and_declared_dependencies(local: Client, tmp_path: Path) -> None:
    config = tmp_path / "config.txt"
    config.write_text("v1")

    @yard.step(cache=True, depends_on=[str(config)])
    def configured(x: int) -> int:
        return x

    @yard.step(cache=True, cache_expiration=0.2)
    def short_lived(x: int) -> int:
        return x

    @yard.pipeline
    def cached() -> Any:
        return [configured(1), short_lived(2)]

    cached.run(client=local)
    second = cached.run(client=local)
    assert second.step("configured").status == "CACHED" and second.step("short_lived").status == "CACHED"
    config.write_text("v2")
    time.sleep(0.3)
    third = cached.run(client=local)
    assert third.step("configured").status == "FINISHED" and third.step("short_lived").status == "FINISHED"


def test_dataset_versions_and_package_versions_are_declared_dependencies(
    local: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib import metadata

    (tmp_path / "a.csv").write_text("x\n1\n")
    local.data.add(tmp_path / "a.csv", "reference")

    @yard.step(cache=True, depends_on=["reference@latest", "package:scikit-learn"])
    def pinned(x: int) -> int:
        return x

    @yard.pipeline
    def versioned() -> Any:
        return pinned(1)

    assert versioned.run(client=local).step("pinned").status == "FINISHED"
    assert versioned.run(client=local).step("pinned").status == "CACHED"
    (tmp_path / "a.csv").write_text("x\n2\n")
    local.data.add(tmp_path / "a.csv", "reference")  # a new dataset version: the key changes
    assert versioned.run(client=local).step("pinned").status == "FINISHED"
    assert versioned.run(client=local).step("pinned").status == "CACHED"
    real_version = metadata.version

    def upgraded(name: str) -> str:  # an upgraded scikit-learn: the key changes
        return "99.0" if name == "scikit-learn" else real_version(name)

    monkeypatch.setattr(metadata, "version", upgraded)
    assert versioned.run(client=local).step("pinned").status == "FINISHED"


def test_a_bad_declared_dependency_fails_its_step_by_name(local: Client, tmp_path: Path) -> None:
    @yard.step(cache=True, depends_on=["package:no-such-distribution-xyz"])
    def needs_missing(x: int) -> int:
        return x

    @yard.step(cache=True, depends_on=[str(tmp_path / "absent.txt")])
    def needs_file(x: int) -> int:
        return x

    @yard.pipeline
    def broken_deps() -> Any:
        return [needs_missing(1), needs_file(2)]

    run = broken_deps.run(client=local, raise_on_failure=False)
    assert run.status == "FAILED"
    errors = " ".join(s.error or "" for s in run.steps if s.status == "FAILED")
    assert "no-such-distribution-xyz" in errors or "absent.txt" in errors  # the first failure stops the rest
    with pytest.raises(InvalidPipelineError, match="depends_on"):
        yard.step(depends_on=[42])(needs_file.fn)


def test_independent_steps_run_in_parallel(local: Client) -> None:
    @yard.step
    def nap(i: int) -> int:
        time.sleep(0.4)
        return i

    @yard.pipeline
    def naps() -> Any:
        return [nap(i) for i in range(4)]

    start = time.monotonic()
    run = naps.run(client=local)
    assert time.monotonic() - start < 1.2
    assert sorted(run.output(n) for n in ("nap", "nap_2", "nap_3", "nap_4")) == [0, 1, 2, 3]


def test_ctrl_c_ends_the_run_killed_and_it_resumes(tmp_path: Path) -> None:
    store, flag = tmp_path / "store", tmp_path / "hold"
    flag.touch()
    code = (
        "import sys; from modelyard.client import Client; from tests.pipelines import example_pipelines as ex; "
        "c = Client(sys.argv[1], project='p'); ex.interruptible.run(params={'flag': sys.argv[2]}, client=c)"
    )
    env = {"MODELYARD_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(store), str(flag)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not all(Path(f"{flag}.started-{i}").exists() for i in (0, 1)):  # both steps run, in parallel
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    time.sleep(0.5)
    flag.unlink()  # let the step threads end
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "KeyboardInterrupt" in stderr
    client = Client(str(store), settings=Settings(home=tmp_path / "home", project="p"))
    try:
        (interrupted,) = client.backend.list_pipeline_runs("p")
        stored = client.backend.get_pipeline_run(interrupted.id)
        assert stored.status == RunStatus.KILLED and "interrupted" in (stored.error or "")  # not left RUNNING
        assert {s.status for s in stored.steps} == {RunStatus.KILLED}
        resumed = ex.interruptible.resume(interrupted.id, client=client)
        assert resumed.status == RunStatus.FINISHED and resumed.output("wait_for_2") == 1
    finally:
        client.close()


def test_a_crashed_run_resumes_from_what_reached_the_store(tmp_path: Path) -> None:
    store, marker = tmp_path / "store", tmp_path / "marker"
    code = (
        "import sys; from modelyard.client import Client; from tests.pipelines import example_pipelines as ex; "
        "c = Client(sys.argv[1], project='p'); ex.crashing.run(params={'marker': sys.argv[2]}, client=c)"
    )
    env = {"MODELYARD_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(store), str(marker)], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == 3, proc.stderr.decode()
    client = Client(str(store), settings=Settings(home=tmp_path / "home", project="p"))
    try:
        (crashed,) = client.backend.list_pipeline_runs("p")
        assert crashed.status == RunStatus.RUNNING  # the process died before it could say otherwise
        stored = client.backend.get_pipeline_run(crashed.id)
        finished = [s.name for s in stored.steps if s.status == RunStatus.FINISHED]
        assert finished[:3] == ["slow_chain_step", "slow_chain_step_2", "slow_chain_step_3"]
        marker.write_text("go")
        resumed = ex.crashing.resume(crashed.id, client=client, force=True)
        assert resumed.status == RunStatus.FINISHED
        assert resumed.output("slow_chain_step_5") == 5
        reused = [s.name for s in resumed.steps if s.generation == 0]
        assert reused == finished
    finally:
        client.close()


def test_cancelling_a_running_pipeline_stops_it_before_its_next_step(local: Client) -> None:
    @yard.step
    def long(x: int) -> int:
        time.sleep(1.0)
        return x

    @yard.step
    def next_one(x: int) -> int:
        return x + 1

    @yard.pipeline
    def cancellable() -> Any:
        return next_one(long(1))

    def cancel_when_running() -> None:
        for _ in range(100):
            running = local.backend.list_pipeline_runs("p", "cancellable", status="RUNNING")
            if running:
                local.backend.cancel_pipeline_run(running[0].id)
                return
            time.sleep(0.05)

    local.create_project("p")
    canceller = threading.Thread(target=cancel_when_running)
    canceller.start()
    run = cancellable.run(client=local, raise_on_failure=False)
    canceller.join()
    assert run.status == RunStatus.KILLED and run.error == "cancelled"
    assert run.step("long").status == RunStatus.FINISHED
    assert run.step("next_one").status == RunStatus.KILLED
    stored = local.backend.get_pipeline_run(run.id)
    assert stored.status == RunStatus.KILLED and stored.cancel_requested
    # a cancelled run can be resumed: what finished is reused, the killed step runs
    resumed = cancellable.resume(run.id, client=local)
    assert resumed.status == RunStatus.FINISHED and resumed.output("next_one") == 2
    assert resumed.step("long").run_id == run.step("long").run_id
    assert not local.backend.get_pipeline_run(run.id).cancel_requested
