"""``modelyard models card`` and ``modelyard models lineage`` over a store filled through the Python API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import Result

from modelyard.client import Client
from modelyard.settings import Settings

Invoke = Callable[..., Result]


@pytest.fixture
def uri(tmp_path: Path) -> str:
    """Project ``risk``: dataset ``churn-train@1`` -> run ``fit`` -> model ``churn@1``."""
    store = str(tmp_path / "store")
    X, y = load_iris(return_X_y=True, as_frame=True)
    client = Client(store, project="risk", settings=Settings(home=tmp_path / "home", project="risk"))
    try:
        data = client.data.add(X.assign(target=y), "churn-train")
        run = client.create_run("fit")
        client.log_input(run.id, data, role="train")
        client.log_metric(run.id, "accuracy", 0.97)
        client.log_model(run.id, LogisticRegression(max_iter=1000).fit(X, y), "churn", input_example=X[:3])
        client.end_run(run.id)
    finally:
        client.close()
    return store


def test_card_prints_markdown_and_edits_fields(invoke: Invoke, uri: str, tmp_path: Path) -> None:
    args = ("--uri", uri, "--project", "risk")
    result = invoke("models", "card", "churn@1", *args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Model card: churn version 1") and "churn-train@1" in result.stdout
    edited = invoke("models", "card", "churn@1", *args, "--set", "overview=Scores churn risk", "--format", "json")
    assert edited.exit_code == 0, edited.output
    assert json.loads(edited.stdout)["model_details"]["overview"] == "Scores churn risk"
    out = tmp_path / "card.html"
    written = invoke("models", "card", "churn@1", *args, "--format", "html", "--out", str(out))
    assert written.exit_code == 0 and "Scores churn risk" in out.read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--set", "colour=blue"), "Unknown model card field 'colour'"),
        (("--set", "overview"), "FIELD=TEXT"),
        (("--format", "pdf"), "md, html or json"),
    ],
)
def test_bad_card_options_exit_2_with_one_line(invoke: Invoke, uri: str, extra: tuple[str, ...], message: str) -> None:
    result = invoke("models", "card", "churn@1", "--uri", uri, "--project", "risk", *extra)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_lineage_prints_a_tree_json_and_openlineage(invoke: Invoke, uri: str) -> None:
    args = ("--uri", uri, "--project", "risk")
    tree = invoke("models", "lineage", "churn@1", *args)
    assert tree.exit_code == 0, tree.output
    lines = tree.stdout.splitlines()
    assert "churn@1" in lines[0]
    assert any("run fit" in line for line in lines) and any("dataset churn-train@1" in line for line in lines)
    graph = json.loads(invoke("models", "lineage", "churn@1", *args, "--json").stdout)
    assert graph["root"] == "model:risk/churn@1" and len(graph["nodes"]) == 3
    events = json.loads(invoke("models", "lineage", "churn@1", *args, "--openlineage").stdout)
    assert len(events) == 1 and uuid.UUID(events[0]["run"]["runId"])
    assert events[0]["inputs"][0]["name"] == "risk/datasets/churn-train"
    missing = invoke("models", "lineage", "churn@5", *args)
    assert missing.exit_code == 2 and "no version 5" in missing.output
