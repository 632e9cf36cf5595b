"""The fluent API: active runs, statuses, nesting, threads, exit, signals, fork, buffering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import modelyard as yard
from modelyard.client import Client
from modelyard.errors import InvalidInputError


def test_with_block_finishes_the_run(fluent: Client) -> None:
    with yard.start_run(name="ok", tags={"team": "risk"}) as run:
        yard.log_params({"C": 1.0, "penalty": "l2"})
        yard.log_metric("loss", 0.31, step=1)
        yard.log_metrics({"accuracy": 0.91, "f1": 0.88})
        yard.set_tags({"stage": "exp"})
        yard.set_tag("extra", 1)
        assert yard.active_run() is run
    assert yard.active_run() is None
    got = fluent.get_run(run.id)
    assert got.status == "FINISHED" and run.status == "FINISHED"
    assert got.params == {"C": "1.0", "penalty": "l2"}
    assert got.metrics == {"loss": 0.31, "accuracy": 0.91, "f1": 0.88}
    assert got.tags == {"team": "risk", "stage": "exp", "extra": "1"}
    assert got.source and got.end_time is not None


def test_exception_fails_the_run_and_records_the_error(fluent: Client) -> None:
    with pytest.raises(ValueError), yard.start_run() as run:
        raise ValueError("bad data")
    got = fluent.get_run(run.id)
    assert got.status == "FAILED"
    assert got.error and "ValueError: bad data" in got.error


def test_keyboard_interrupt_kills_the_run(fluent: Client) -> None:
    with pytest.raises(KeyboardInterrupt), yard.start_run() as run:
        raise KeyboardInterrupt
    assert fluent.get_run(run.id).status == "KILLED"


def test_runs_nest_under_the_active_run(fluent: Client) -> None:
    with yard.start_run(name="a") as a:
        with yard.start_run(name="b") as b:
            with yard.start_run(name="c") as c:
                assert yard.active_run() is c
            assert yard.active_run() is b
        top = yard.start_run(name="top", parent=None)
        yard.end_run()
    assert fluent.get_run(b.id).parent_id == a.id
    assert fluent.get_run(c.id).parent_id == b.id
    assert fluent.get_run(top.id).parent_id is None


def test_run_without_with_and_end_run(fluent: Client) -> None:
    run = yard.start_run(name="script")
    yard.log_metric("m", 1.0)
    yard.end_run()
    assert fluent.get_run(run.id).status == "FINISHED"
    yard.end_run()  # no active run: a no-op


def test_ending_a_parent_ends_open_children(fluent: Client) -> None:
    parent = yard.start_run(name="p")
    child = yard.start_run(name="c")
    with pytest.raises(ValueError), parent:
        raise ValueError("boom")
    assert fluent.get_run(child.id).status == "FAILED"
    assert yard.active_run() is None


def test_logging_without_an_active_run_is_a_clear_error(fluent: Client) -> None:
    with pytest.raises(InvalidInputError, match="start_run"):
        yard.log_metric("m", 1.0)
    with pytest.raises(InvalidInputError, match="start_run"):
        yard.log_param("p", 1)


def test_the_active_run_stack_is_per_thread(fluent: Client) -> None:
    seen: dict[str, object] = {}
    with yard.start_run(name="main") as main_run:

        def worker() -> None:
            seen["before"] = yard.active_run()
            with yard.start_run(name="thread", parent=None) as r:
                yard.log_metric("t", 1.0)
                seen["inside"] = r.id

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert yard.active_run() is main_run
    assert seen["before"] is None
    assert fluent.get_run(str(seen["inside"])).metrics == {"t": 1.0}


def test_background_flush_writes_within_about_a_second(fluent: Client) -> None:
    with yard.start_run() as run:
        yard.log_metric("m", 1.0)
        other = Client(fluent.settings.location(yard.tracking._fluent._uri).home.as_posix())  # type: ignore[union-attr]
        deadline = time.time() + 5
        while time.time() < deadline and not other.backend.get_metric_history(run.id, "m"):
            time.sleep(0.1)
        assert other.backend.get_metric_history(run.id, "m"), "metric not flushed by the background thread"
        other.close()


def test_set_uri_and_set_project(tmp_path: Path, fluent: Client) -> None:
    yard.set_uri(str(tmp_path / "elsewhere"))
    yard.set_project("churn")
    with yard.start_run() as run:
        pass
    assert run.project == "churn"
    assert (tmp_path / "elsewhere" / "modelyard.db").exists()
    with pytest.raises(InvalidInputError):
        yard.set_project("bad name")


def _run_script(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    full_env = {**os.environ, "MODELYARD_HOME": str(tmp_path / "home"), **env}
    return subprocess.run([sys.executable, str(script)], env=full_env, capture_output=True, text=True, timeout=60)


def _client(tmp_path: Path) -> Client:
    return Client(str(tmp_path / "home"))


def test_open_run_is_finished_at_interpreter_exit_with_every_point(tmp_path: Path) -> None:
    result = _run_script(
        tmp_path,
        """
        import modelyard as yard
        run = yard.start_run(name="exit")
        for i in range(5000):
            yard.log_metric("m", float(i), step=i)
        print(run.id)
        """,
    )
    assert result.returncode == 0, result.stderr
    client = _client(tmp_path)
    run = client.get_run(result.stdout.strip())
    assert run.status == "FINISHED"
    assert len(client.get_metric_history(run.id, "m")) == 5000


def test_sigterm_kills_the_run_and_keeps_its_points(tmp_path: Path) -> None:
    script = tmp_path / "term.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            import modelyard as yard
            with yard.start_run(name="long") as run:
                for i in range(100):
                    yard.log_metric("m", float(i), step=i)
                print(run.id, flush=True)
                time.sleep(60)
            """
        )
    )
    env = {**os.environ, "MODELYARD_HOME": str(tmp_path / "home")}
    with subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    client = _client(tmp_path)
    run = client.get_run(run_id)
    assert run.status == "KILLED"
    assert len(client.get_metric_history(run_id, "m")) == 100


def test_synchronous_logging_is_durable_before_return(tmp_path: Path) -> None:
    result = _run_script(
        tmp_path,
        """
        import os
        import modelyard as yard
        run = yard.start_run(name="sync")
        yard.log_metric("m", 1.0)
        print(run.id, flush=True)
        os._exit(0)  # no atexit, no flush: only what was already durable survives
        """,
        MODELYARD_SYNC_LOGGING="1",
    )
    assert result.returncode == 0, result.stderr
    client = _client(tmp_path)
    assert len(client.get_metric_history(result.stdout.strip(), "m")) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_gets_its_own_empty_buffer(tmp_path: Path) -> None:
    result = _run_script(
        tmp_path,
        """
        import os
        import modelyard as yard
        with yard.start_run(name="forked") as run:
            for i in range(1000):
                yard.log_metric("parent", float(i), step=i)  # still buffered at fork time
            pid = os.fork()
            if pid == 0:
                for i in range(500):
                    yard.log_metric("child", float(i), step=i)
                yard.flush()
                os._exit(0)
            os.waitpid(pid, 0)
        print(run.id)
        """,
    )
    assert result.returncode == 0, result.stderr
    client = _client(tmp_path)
    run_id = result.stdout.strip()
    assert len(client.get_metric_history(run_id, "parent")) == 1000  # not written twice
    assert len(client.get_metric_history(run_id, "child")) == 500
    assert client.get_run(run_id).status == "FINISHED"
