"""``modelyard demo``: the sweep lands in the store as nested runs with params, metrics and artifacts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import Result

Invoke = Callable[..., Result]


def test_demo_tracks_a_nested_sweep(demo_store: str, list_runs: Callable[..., dict[str, Any]]) -> None:
    runs = list_runs(demo_store, "--project", "demo")["runs"]
    assert len(runs) >= 9
    parents = [r for r in runs if r["name"] == "demo-sweep"]
    assert len(parents) == 1
    children = [r for r in runs if r["parent_id"] == parents[0]["id"]]
    assert len(children) == 8
    for run in children:
        assert run["status"] == "FINISHED"
        assert {"accuracy", "f1", "roc_auc", "val_loss"} <= run["metrics"].keys()
        assert run["params"]["model"] in ("logreg", "random_forest")
        assert len(run["id"]) == 32
    assert parents[0]["metrics"]["best_roc_auc"] == max(r["metrics"]["roc_auc"] for r in children)


def test_demo_logs_artifacts_and_a_metric_series(
    invoke: Invoke, demo_store: str, list_runs: Callable[..., dict[str, Any]]
) -> None:
    run = next(r for r in list_runs(demo_store, "--project", "demo")["runs"] if r["params"].get("model") == "logreg")
    result = invoke("runs", "show", run["id"], "--uri", demo_store, "--json")
    assert result.exit_code == 0, result.output
    paths = {a["path"] for a in json.loads(result.stdout)["artifacts"]}
    assert paths == {"confusion_matrix.csv", "report.json"}

    from modelyard.client import Client

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
    assert f"{uri}/modelyard.db" in proc.stdout
    assert f"{uri}/blobs" in proc.stdout
    assert f"modelyard runs list --project demo --uri {uri}" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_demo_rejects_a_bad_project_name_before_training(
    invoke: Invoke, tmp_path: Path, one_line_error: Callable[..., None]
) -> None:
    result = invoke("demo", "--uri", str(tmp_path / "store"), "--project", "no spaces")
    assert result.exit_code == 2
    one_line_error(result.stderr, "no spaces")
