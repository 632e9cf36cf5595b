"""Running pipelines against every backend: tracked runs, outputs, lineage, cache, failure, resume, queue, cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelyard.client import Client
from modelyard.entities import RunStatus
from modelyard.errors import ConflictError, InvalidPipelineError, PipelineFailedError
from modelyard.ids import new_run_id
from modelyard.pipelines import load_output, resume_pipeline, run_pipeline
from tests.pipelines import example_pipelines as ex


def test_a_run_is_tracked_with_nested_step_runs(client: Client) -> None:
    run = ex.numbers.run(params={"n": 6, "label": "lbl"}, client=client)
    assert run.status == RunStatus.FINISHED and run.pipeline == "numbers"
    assert run.project == client.project
    assert run.params == {"n": 6, "label": "lbl"}
    assert run.target == "tests.pipelines.example_pipelines:numbers"
    assert {s.name: s.status for s in run.steps} == dict.fromkeys(["make", "scale", "halves", "summarize"], "FINISHED")
    assert run.output("summarize") == {"label": "lbl", "even": 12, "odd": 18, "n": 1}
    assert run.output("halves") == ([0, 4, 8], [2, 6, 10])
    edges = {tuple(e) for e in run.dag["edges"]}
    assert {("make", "scale"), ("scale", "halves"), ("halves", "summarize"), ("scale", "summarize")} <= edges
    # the pipeline run and each step run are tracked runs, the steps nested under the pipeline run
    pipeline_run = client.get_run(run.id)
    assert pipeline_run.params == {"n": "6", "label": "lbl"}
    assert pipeline_run.status == "FINISHED"
    for step_run in run.steps:
        tracked = client.get_run(step_run.run_id)
        assert tracked.parent_id == run.id and tracked.name == step_run.name and tracked.status == "FINISHED"
        assert step_run.start_time is not None and step_run.end_time is not None
    assert client.get_run(run.step("make").run_id).params == {"n": "6"}
    make_logs = run.step("make").logs or ""
    assert "making 6" in make_logs and "WARNING example: made 6 values" in make_logs
    assert "stderr of make 6" in make_logs  # stdout, stderr and logging records are all captured
    # the values read back from the store equal what ran
    again = client.backend.get_pipeline_run(run.id)
    assert load_output(again, "halves", client=client) == ([0, 4, 8], [2, 6, 10])
    assert [p.name for p in client.backend.list_pipelines(client.project)] == ["numbers"]
    assert [r.id for r in client.backend.list_pipeline_runs(client.project, "numbers")] == [run.id]


def test_a_failed_step_stops_the_dag_and_resume_reuses_finished_steps(client: Client, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with pytest.raises(PipelineFailedError) as info:
        ex.gated.run(params={"marker": str(marker)}, client=client)
    error = info.value
    assert error.step == "fail_unless"
    assert "fail_unless" in str(error) and "marker" in str(error)
    failed = error.run
    assert failed.status == RunStatus.FAILED
    statuses = {s.name: s.status for s in failed.steps}
    assert statuses == {"add": "FINISHED", "fail_unless": "FAILED", "add_2": "SKIPPED"}
    step_error = failed.step("fail_unless").error or ""
    assert "RuntimeError" in step_error and "Traceback" in step_error
    assert client.get_run(failed.id).status == "FAILED"

    marker.write_text("ok")
    resumed = resume_pipeline(failed.id, client=client)
    assert resumed.id == failed.id and resumed.status == RunStatus.FINISHED
    assert resumed.step("add").run_id == failed.step("add").run_id  # reused, not re-run
    assert resumed.step("add").generation == 0
    assert resumed.step("fail_unless").generation == 1 and resumed.step("add_2").generation == 1
    assert resumed.output("add_2") == 13


def test_raise_on_failure_false_returns_the_failed_run(client: Client, tmp_path: Path) -> None:
    run = ex.gated.run(params={"marker": str(tmp_path / "absent")}, client=client, raise_on_failure=False)
    assert run.status == RunStatus.FAILED
    assert run.error is not None and "fail_unless" in run.error


def test_outputs_are_materialised_by_type_with_lineage(client: Client) -> None:
    run = ex.tables.run(params={"n": 5}, client=client)
    kinds = {s.name: [o.kind for o in s.outputs] for s in run.steps}
    assert kinds == {"array": ["npy"], "frame": ["dataset"], "column_sum": ["inline"]}
    ref = run.step("frame").outputs[0].ref
    assert ref is not None and ref.startswith("tables.frame@")
    expected = pd.DataFrame({"v": np.arange(5) / 2, "sq": (np.arange(5) / 2) ** 2})
    pd.testing.assert_frame_equal(client.data.load(ref), expected)
    pd.testing.assert_frame_equal(load_output(run.id, "frame", client=client), expected)
    np.testing.assert_array_equal(load_output(run.id, "array", client=client), np.arange(5) / 2)
    assert run.output("column_sum") == float(expected["sq"].sum())
    lineage = {(u.run_id, u.role) for u in client.data.lineage(ref)}
    assert (run.step("frame").run_id, "output") in lineage
    assert (run.step("column_sum").run_id, "df") in lineage  # the role: the parameter it came in by


def test_cached_steps_are_reused_until_their_inputs_change(client: Client) -> None:
    first = ex.numbers.run(params={"n": 4}, client=client)
    assert first.step("scale").status == RunStatus.FINISHED
    second = ex.numbers.run(params={"n": 4}, client=client)
    scale = second.step("scale")
    assert scale.status == RunStatus.CACHED and scale.cached_from == first.step("scale").run_id
    assert scale.cache_key == first.step("scale").cache_key
    assert second.step("make").status == RunStatus.FINISHED  # not cached: cache is opt-in
    assert second.output("summarize") == first.output("summarize")
    assert ex.numbers.run(params={"n": 4}, client=client, no_cache=True).step("scale").status == "FINISHED"
    assert ex.numbers.run(params={"n": 5}, client=client).step("scale").status == "FINISHED"


def test_a_queued_run_is_executed_in_place(client: Client) -> None:
    run_id = new_run_id()
    queued = client.backend.create_pipeline_run(
        run_id=run_id,
        project=client.project,
        pipeline="numbers",
        target="tests.pipelines.example_pipelines:numbers",
        params={"n": 3, "label": "q"},
    )
    assert queued.status == RunStatus.PENDING
    done = run_pipeline("tests.pipelines.example_pipelines:numbers", pipeline_run_id=run_id, client=client)
    assert done.id == run_id and done.status == RunStatus.FINISHED
    assert done.output("summarize")["label"] == "q"


def test_cancelling_a_queued_run_kills_it(client: Client) -> None:
    run_id = new_run_id()
    client.backend.create_pipeline_run(run_id=run_id, project=client.project, pipeline="numbers", params={})
    cancelled = client.backend.cancel_pipeline_run(run_id)
    assert cancelled.status == RunStatus.KILLED and cancelled.cancel_requested
    with pytest.raises(ConflictError, match="already ended"):
        client.backend.cancel_pipeline_run(run_id)


def test_bad_parameters_are_refused_before_anything_is_stored(client: Client) -> None:
    ex.numbers.run(params={"n": 1}, client=client)
    before = client.backend.list_pipeline_runs(client.project)
    with pytest.raises(InvalidPipelineError, match="parameter 'n' must be int"):
        ex.numbers.run(params={"n": "$(id)"}, client=client)
    with pytest.raises(InvalidPipelineError, match="no parameter 'm'"):
        ex.numbers.run(params={"m": 1}, client=client)
    assert client.backend.list_pipeline_runs(client.project) == before


def test_a_shell_like_parameter_is_stored_as_data(client: Client, tmp_path: Path) -> None:
    value = "; rm -rf / $(id)"
    run = ex.numbers.run(params={"n": 2, "label": value}, client=client)
    assert run.output("summarize")["label"] == value
    assert client.backend.get_pipeline_run(run.id).params["label"] == value


def test_a_fitted_model_becomes_a_registered_model_version(client: Client) -> None:
    run = ex.modelling.run(params={"n": 60}, client=client)
    (output,) = run.step("fit").outputs
    assert output.kind == "model" and output.ref == "models:/modelling.fit/1"
    assert [o.kind for o in run.step("training_data").outputs] == ["npy", "npy"]
    stored = load_output(run.id, "fit", client=client)
    x, y = run.output("training_data")
    assert float(stored.score(x, y)) == run.output("accuracy")
