"""``modelyard demo``: a training pipeline whose steps, dataset version and champion land in the store, linked."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import Result

import modelyard as yard
from modelyard.client import Client
from modelyard.entities import PipelineRun, RunStatus
from modelyard.settings import Settings

Invoke = Callable[..., Result]
CANDIDATES = 8


@pytest.fixture
def demo_client(demo_store: str) -> Iterator[Client]:
    client = Client(demo_store, project="demo")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def pipeline_run(demo_client: Client) -> PipelineRun:
    runs = demo_client.backend.list_pipeline_runs("demo", "demo-training")
    assert len(runs) == 1
    found: PipelineRun = demo_client.backend.get_pipeline_run(runs[0].id)
    return found


def test_demo_runs_its_training_as_a_pipeline(demo_client: Client, pipeline_run: PipelineRun) -> None:
    assert pipeline_run.status == RunStatus.FINISHED
    names = sorted(s.name for s in pipeline_run.steps)
    candidates = ["train_candidate"] + [f"train_candidate_{i}" for i in range(2, CANDIDATES + 1)]
    assert names == sorted(["ingest", "validate", "evaluate", "register", *candidates])
    assert all(s.status == RunStatus.FINISHED for s in pipeline_run.steps)
    scores = []
    for name in candidates:
        run = demo_client.get_run(pipeline_run.step(name).run_id)  # each candidate is its own tracked step run
        assert run.parent_id == pipeline_run.id and run.status == RunStatus.FINISHED
        assert {"accuracy", "f1", "roc_auc", "val_loss"} <= run.metrics.keys()
        assert run.params["model"] in ("logreg", "random_forest") and run.tags["candidate"]
        scores.append(run.metrics["roc_auc"])
    evaluate = demo_client.get_run(pipeline_run.step("evaluate").run_id)
    assert evaluate.metrics["best_roc_auc"] == max(scores)
    assert demo_client.get_run(pipeline_run.id).metrics == {}  # the steps log to their own runs, not the pipeline run


def test_demo_stores_the_data_as_a_dataset_version(demo_client: Client, pipeline_run: PipelineRun) -> None:
    ref = pipeline_run.step("ingest").outputs[0].ref
    assert ref == "demo-training.ingest@1"
    version = demo_client.data.show(ref, project="demo")
    frame = demo_client.data.load(ref, project="demo")
    assert version.num_rows == len(frame) > 500 and "target" in frame.columns
    uses = {(demo_client.get_run(u.run_id).name, u.role) for u in demo_client.data.lineage(ref, project="demo")}
    assert ("ingest", "output") in uses and ("validate", "data") in uses and ("register", "data") in uses
    assert ("train_candidate_5", "data") in uses


def test_demo_registers_the_best_candidate_as_champion_with_lineage(
    demo_client: Client, pipeline_run: PipelineRun
) -> None:
    champion = demo_client.registry.get_version("breast-cancer@champion", project="demo")
    register = pipeline_run.step("register")
    assert champion.run_id == register.run_id and champion.version == 1
    best = demo_client.get_run(pipeline_run.step("evaluate").run_id).params["best_candidate"]
    assert demo_client.get_run(register.run_id).params["candidate"] == best
    graph = yard.lineage(champion, client=demo_client)
    dataset = "dataset:demo/demo-training.ingest@1"
    edges = {(e.source, e.target, e.role) for e in graph.edges}
    assert (dataset, f"run:{register.run_id}", "data") in edges
    assert (f"run:{register.run_id}", graph.root, "model") in edges
    assert (f"run:{pipeline_run.step('ingest').run_id}", dataset, "output") in edges
    model = demo_client.load_model("breast-cancer@champion", project="demo")
    frame = demo_client.data.load("demo-training.ingest@1", project="demo")
    predictions = model.predict(frame.drop(columns=["target"]).head(20))
    assert len(predictions) == 20 and set(predictions) <= {0, 1}


def test_demo_logs_artifacts_and_a_metric_series(
    invoke: Invoke, demo_store: str, list_runs: Callable[..., dict[str, Any]]
) -> None:
    run = next(r for r in list_runs(demo_store, "--project", "demo")["runs"] if r["params"].get("model") == "logreg")
    result = invoke("runs", "show", run["id"], "--uri", demo_store, "--json")
    assert result.exit_code == 0, result.output
    paths = {a["path"] for a in json.loads(result.stdout)["artifacts"]}
    assert paths == {"confusion_matrix.csv", "report.json"}

    client = Client(demo_store)
    try:
        history = client.get_metric_history(run["id"], "val_loss")
    finally:
        client.close()
    assert len(history) == 4
    assert [m.step for m in history] == sorted(m.step for m in history)


def test_demo_prints_the_best_runs_and_where_data_lives(demo_run: tuple[str, Any]) -> None:
    uri, proc = demo_run
    assert "Top 5 runs by ROC AUC" in proc.stdout
    assert "Champion: breast-cancer@champion = version 1" in proc.stdout
    assert "demo-training.ingest@1" in proc.stdout
    assert f"{uri}/modelyard.db" in proc.stdout
    assert f"{uri}/blobs" in proc.stdout
    assert f"modelyard models lineage breast-cancer@champion --project demo --uri {uri}" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_the_validate_step_refuses_bad_data(tmp_path: Path) -> None:
    from modelyard.cli import demo

    bad = pd.DataFrame({"mean radius": [14.0, -3.0, None] * 50, "target": [0, 1, 2] * 50})
    _, report = demo.check_data(bad)
    assert not report.ok
    assert {(f.column, f.check) for f in report.failures} >= {("mean radius", "range"), ("target", "range")}

    @yard.step
    def corrupt() -> pd.DataFrame:
        return bad

    validate = yard.step(name="validate")(demo._validate)

    @yard.step
    def train(report: dict[str, Any]) -> int:
        return 1

    @yard.pipeline
    def refused() -> Any:
        return train(validate(corrupt()))

    client = Client(str(tmp_path / "store"), settings=Settings(home=tmp_path / "home", project="p"))
    try:
        run = refused.run(client=client, raise_on_failure=False)
    finally:
        client.close()
    assert run.status == RunStatus.FAILED
    error = run.step("validate").error or ""
    assert "refused by validation" in error and "mean radius" in error and "target" in error
    assert run.step("train").status == RunStatus.SKIPPED


def test_demo_rejects_a_bad_project_name_before_training(
    invoke: Invoke, tmp_path: Path, one_line_error: Callable[..., None]
) -> None:
    result = invoke("demo", "--uri", str(tmp_path / "store"), "--project", "no spaces")
    assert result.exit_code == 2
    one_line_error(result.stderr, "no spaces")
