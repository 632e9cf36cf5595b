"""``modelyard pipelines``: run (live progress), resume, ls, runs, show, cancel; exit codes; bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from modelyard.cli import app

TARGET = "tests.pipelines.example_pipelines"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for name in list(os.environ):
        if name.startswith("MODELYARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELYARD_PROJECT", "cli")
    monkeypatch.chdir(ROOT)  # the example pipelines import from here
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, ["pipelines", *args])

    return invoke


def test_run_show_ls_runs(cli: Any) -> None:
    result = cli("run", f"{TARGET}:numbers", "-p", "n=5", "-p", "label=cli")
    assert result.exit_code == 0, result.output
    assert "FINISHED" in result.output and "summarize" in result.output
    listed = json.loads(cli("runs", "--json").stdout)["runs"]
    assert [r["pipeline"] for r in listed] == ["numbers"] and listed[0]["params"] == {"n": 5, "label": "cli"}
    run_id = listed[0]["id"]
    shown = cli("show", run_id)
    assert shown.exit_code == 0 and "halves" in shown.output and "FINISHED" in shown.output
    data = json.loads(cli("show", run_id, "--json").stdout)
    assert {n["name"] for n in data["dag"]["nodes"]} == {"make", "scale", "halves", "summarize"}
    assert {s["status"] for s in data["steps"]} == {"FINISHED"}
    pipelines = json.loads(cli("ls", "--json").stdout)["pipelines"]
    assert pipelines[0]["name"] == "numbers" and pipelines[0]["last_run_id"] == run_id


def test_a_failed_run_exits_1_and_resume_finishes_it(cli: Any, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    result = cli("run", f"{TARGET}:gated", "-p", f"marker={marker}")
    assert result.exit_code == 1
    assert "fail_unless" in result.output
    run_id = json.loads(cli("runs", "--json").stdout)["runs"][0]["id"]
    marker.write_text("ok")
    resumed = cli("resume", run_id, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "FINISHED"
    assert cli("resume", run_id).exit_code == 2  # a finished run cannot be resumed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", f"{TARGET}:numbers", "-p", "n=$(id)"], "parameter 'n' must be int, got '$(id)'"),
        (["run", f"{TARGET}:numbers", "-p", "n"], "KEY=VALUE"),
        (["run", f"{TARGET}:numbers", "-p", "z=1"], "no parameter 'z'"),
        (["run", f"{TARGET}:nothing"], "has no attribute 'nothing'"),
        (["run", "not_a_module_abc:p"], "cannot be imported"),
        (["run", f"{TARGET}:numbers", "--executor", "dask"], "executor 'dask' is unknown"),
        (["show", "0" * 32], "No pipeline run"),
        (["cancel", "zz"], "run id"),
    ],
)
def test_bad_input_exits_2_with_a_message(cli: Any, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_shell_like_value_is_only_data(cli: Any, tmp_path: Path) -> None:
    witness = tmp_path / "pwned"
    value = f"; touch {witness} $(touch {witness})"
    result = cli("run", f"{TARGET}:numbers", "-p", "n=2", "-p", f"label={value}", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["label"] == value
    assert not witness.exists()


def test_cancel_a_queued_run(cli: Any) -> None:
    from modelyard.client import Client
    from modelyard.ids import new_run_id

    client = Client()
    run_id = new_run_id()
    client.backend.create_pipeline_run(run_id=run_id, project="cli", pipeline="numbers", target=f"{TARGET}:numbers")
    client.close()
    result = cli("cancel", run_id, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "KILLED"
    assert cli("cancel", run_id).exit_code == 2


def test_refusals_print_only_their_error_and_resume_shows_reused_steps(cli: Any, tmp_path: Path) -> None:
    refused = cli("run", f"{TARGET}:numbers", "--executor", "dask")
    assert refused.exit_code == 2 and "PENDING" not in refused.output  # nothing drawn before the refusal
    marker = tmp_path / "marker"
    assert cli("run", f"{TARGET}:gated", "-p", f"marker={marker}").exit_code == 1
    run_id = json.loads(cli("runs", "--json").stdout)["runs"][0]["id"]
    marker.write_text("ok")
    resumed = cli("resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    lines = {line.split()[1]: line.split()[0] for line in resumed.output.splitlines() if len(line.split()) == 2}
    assert lines == {"add": "FINISHED", "fail_unless": "FINISHED", "add_2": "FINISHED"}
    again = cli("resume", run_id)
    assert again.exit_code == 2 and "only a FAILED or KILLED run" in again.output
    assert "PENDING" not in again.output and "add_2" not in again.output


def test_schedule_names_its_zone_and_unschedule_has_json(cli: Any) -> None:
    scheduled = cli("schedule", f"{TARGET}:numbers", "--cron", "0 3 * * *", "--timezone", "Europe/Paris")
    assert scheduled.exit_code == 0, scheduled.output
    assert "03:00:00 Europe/Paris" in scheduled.output
    removed = cli("unschedule", "numbers", "--json")
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout)["cron"] == "0 3 * * *"
    assert cli("unschedule", "numbers").exit_code == 2
