"""Inside a step the step run is the active run; lineage links step outputs to step runs and their inputs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import modelyard as yard
from modelyard.client import Client
from modelyard.entities import PipelineRun, RunStatus
from modelyard.settings import Settings
from tests.pipelines import example_pipelines as ex


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Client]:
    c = Client(str(tmp_path / "store"), settings=Settings(home=tmp_path / "home", project="p"))
    try:
        yield c
    finally:
        c.close()


def _reader(client: Client) -> Client:
    """A second client on the same store: it sees only what the first one wrote (no buffer of its own)."""
    backend = client.backend
    uri = backend.uri if getattr(backend, "location", None) is None else None
    if uri is None:
        return Client(backend=type(backend)(backend.location, client.settings), settings=client.settings)
    return Client(uri, settings=client.settings, project=client.project)


def _check_logged(reader: Client, run: PipelineRun, step: str, label: str, rounds: int) -> dict[str, str]:
    step_run = run.step(step)
    assert step_run.status == RunStatus.FINISHED
    tracked = reader.get_run(step_run.run_id)
    assert tracked.parent_id == run.id
    assert tracked.params["what"] == label and tracked.params["n_rounds"] == str(rounds)
    history = reader.get_metric_history(step_run.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(i, 1.0 / (i + 1)) for i in range(rounds)]
    paths = [a.path for a in reader.list_artifacts(step_run.run_id, "notes")]
    assert paths == [f"notes/modelyard-step-{step_run.run_id}.txt"]
    return tracked.tags


def test_a_step_logs_to_its_own_step_run_on_every_backend(client: Client) -> None:
    run = ex.logging_steps.run(params={"rounds": 3}, client=client)
    assert run.status == RunStatus.FINISHED
    reader = _reader(client)
    try:
        plain = _check_logged(reader, run, "logged", "plain", 3)
        child = _check_logged(reader, run, "logged_with_timeout", "timeout", 3)
        # The plain step ran in this process; the one with a timeout in its own child process.
        assert plain["pid"] == str(os.getpid()) and child["pid"] != str(os.getpid())
        quiet = reader.get_run(run.step("quiet").run_id)
        assert quiet.metrics == {} and "what" not in quiet.params
        pipeline_run = reader.get_run(run.id)  # nothing leaks to the pipeline run
        assert pipeline_run.metrics == {} and set(pipeline_run.params) == {"rounds"}
    finally:
        reader.close()


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_parallel_steps_each_log_to_their_own_run(local: Client, executor: str) -> None:
    run = ex.parallel_logging.run(params={"rounds": 2}, client=local, executor=executor)
    assert run.status == RunStatus.FINISHED and run.output("add") == 12
    labels = {}
    for step in run.steps:
        if step.name.startswith("logged"):
            tracked = local.get_run(step.run_id)
            labels[step.params["label"]] = tracked.params["what"]
            assert [m.value for m in local.get_metric_history(step.run_id, "loss")] == [1.0, 0.5]
            if executor == "process":
                assert tracked.tags["pid"] != str(os.getpid())
    assert labels == {"left": "left", "right": "right"}


def test_the_callers_active_run_is_restored_and_gets_nothing(fluent: Client) -> None:
    with yard.start_run("caller") as caller:
        run = ex.logging_steps.run(params={"rounds": 2})
        assert yard.active_run() is not None and yard.active_run().id == caller.id  # type: ignore[union-attr]
        yard.log_metric("after", 1.0)
    assert run.status == RunStatus.FINISHED
    assert fluent.get_run(run.step("logged").run_id).params["what"] == "plain"
    after = fluent.get_run(caller.id)
    assert after.metrics == {"after": 1.0} and after.params == {}
    assert fluent.get_metric_history(caller.id, "loss") == []
    assert yard.active_run() is None


def test_what_a_failing_step_logged_is_kept(local: Client) -> None:
    @yard.step
    def explode(x: int) -> int:
        yard.log_metric("progress", 0.5)
        yard.log_param("stage", "before the error")
        raise ValueError("boom")

    @yard.pipeline
    def exploding() -> Any:
        return explode(1)

    run = exploding.run(client=local, raise_on_failure=False)
    assert run.status == RunStatus.FAILED
    step = run.step("explode")
    assert step.status == RunStatus.FAILED and "boom" in (step.error or "")
    tracked = local.get_run(step.run_id)
    assert tracked.metrics == {"progress": 0.5} and tracked.params["stage"] == "before the error"


def test_lineage_links_a_dataset_output_its_consumer_and_the_model(local: Client) -> None:
    run = ex.lineage_chain.run(params={"n": 40}, client=local)
    assert run.status == RunStatus.FINISHED
    dataset_ref = run.step("make_df").outputs[0].ref
    model_ref = run.step("train").outputs[0].ref
    assert dataset_ref is not None and model_ref is not None and model_ref.startswith("models:/")
    graph = yard.lineage(model_ref, client=local)
    train_run, make_run = run.step("train").run_id, run.step("make_df").run_id
    edges = {(e.source, e.target, e.role) for e in graph.edges}
    dataset_node = f"dataset:{local.project}/{dataset_ref}"
    assert (dataset_node, f"run:{train_run}", "table") in edges  # dataset version -> train step run
    assert (f"run:{train_run}", graph.root, "model") in edges  # train step run -> model version
    assert (f"run:{make_run}", dataset_node, "output") in edges  # producing step -> dataset version
    # From the dataset's side: made by make_df, used by train.
    inputs = {(i.dataset, i.version, i.role) for i in local.list_run_inputs(train_run)}
    name, _, version = dataset_ref.rpartition("@")
    assert inputs == {(name, int(version), "table")}


def test_a_dataset_version_passed_in_is_recorded_as_an_input(local: Client) -> None:
    version = local.data.add(pd.DataFrame({"a": [1, 2, 3]}), "raw-numbers")

    @yard.step
    def count(table: Any, extra: list[Any]) -> int:
        return int(table.num_rows) + len(extra)

    @yard.pipeline
    def counting() -> Any:
        return count(version, [version])

    run = counting.run(client=local)
    assert run.output("count") == 4
    inputs = {(i.dataset, i.version, i.role) for i in local.list_run_inputs(run.step("count").run_id)}
    assert inputs == {("raw-numbers", version.version, "table"), ("raw-numbers", version.version, "extra")}
