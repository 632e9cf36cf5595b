"""Lineage graph and model cards: the same answers on every backend (SQLite, PostgreSQL, a real server)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelyard.client import Client
from modelyard.entities import ModelVersion
from modelyard.errors import InvalidInputError, ModelNotFoundError
from modelyard.registry import CARD_FIELDS, card, lineage, render_card, update_card

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


def _train(client: Client, iris: Any, *, name: str = "train", model: str = "iris") -> tuple[Any, ModelVersion]:
    """A dataset version used by a run that registers a model version: the smallest full chain."""
    X, y = iris
    train = client.data.add(X.assign(target=y), "iris-train")
    evaluation = client.data.add(X.assign(target=y).tail(50), "iris-eval")
    run = client.create_run(name)
    client.log_params(run.id, {"C": 0.5})
    client.log_input(run.id, train, role="train")
    client.log_input(run.id, evaluation, role="eval")
    client.log_metric(run.id, "accuracy", 0.96)
    client.flush()
    fitted = LogisticRegression(C=0.5, max_iter=1000).fit(X, y)
    version = client.log_model(run.id, fitted, model, input_example=X[:5], eval_data=(X, y))
    client.end_run(run.id)
    assert isinstance(version, ModelVersion)
    return run, version


def test_the_graph_walks_from_a_model_to_its_run_and_data(client: Client, iris: Any) -> None:
    run, version = _train(client, iris)
    graph = lineage(version, client=client)
    assert graph.root == f"model:{client.project}/iris@1"
    kinds = {n.kind: [m.label for m in graph.nodes if m.kind == n.kind] for n in graph.nodes}
    assert sorted(kinds["dataset_version"]) == ["iris-eval@1", "iris-train@1"]
    assert kinds["run"] == ["train"] and kinds["model_version"] == ["iris@1"]
    roles = {(graph.node(e.source).label, graph.node(e.target).label): e.role for e in graph.edges}
    assert roles == {("iris-train@1", "train"): "train", ("iris-eval@1", "train"): "eval", ("train", "iris@1"): "model"}
    # The same graph from a reference, an alias and the run's side.
    client.registry.set_alias("iris", "champion", 1)
    assert lineage("iris@champion", client=client).edges == graph.edges
    from_run = lineage(run.id, client=client)
    assert {n.label for n in from_run.nodes} == {n.label for n in graph.nodes}
    assert lineage(f"runs:/{run.id}/model", client=client).root == f"run:{run.id}"


def test_from_a_dataset_version_the_graph_goes_downstream_only(client: Client, iris: Any) -> None:
    _train(client, iris)
    # A second model trained on the same data; an unrelated dataset stays out.
    X, y = iris
    other = client.create_run("retrain")
    train = client.data.show("iris-train", version=1)
    client.log_input(other.id, train, role="train")
    client.log_model(other.id, LogisticRegression(max_iter=1000).fit(X, y), "iris-v2", input_example=X[:5])
    client.end_run(other.id)
    client.data.add(X.head(10), "unrelated")

    graph = lineage(train, client=client)
    labels = {n.label for n in graph.nodes}
    assert labels == {"iris-train@1", "train", "retrain", "iris@1", "iris-v2@1"}
    assert graph.upstream(graph.root) == []
    # By reference too (resolving @latest).
    again = lineage("iris-train@latest", kind="dataset_version", client=client)
    assert {n.label for n in again.nodes} == labels


def test_openlineage_events_name_the_run_its_inputs_and_outputs(client: Client, iris: Any) -> None:
    run, version = _train(client, iris)
    events = lineage(version, client=client).to_openlineage(namespace="acme")
    assert len(events) == 1
    event = json.loads(json.dumps(events[0]))  # plain JSON
    assert event["eventType"] == "COMPLETE"
    assert uuid.UUID(event["run"]["runId"]).hex == run.id
    assert event["job"] == {"namespace": "acme", "name": f"{client.project}/train"}
    assert event["schemaURL"].startswith("https://openlineage.io/spec/")
    assert event["producer"].startswith("https://")
    assert event["eventTime"].endswith("Z")
    inputs = {d["name"]: d["facets"]["version"]["datasetVersion"] for d in event["inputs"]}
    train = client.data.show("iris-train", version=1)
    assert inputs[f"{client.project}/datasets/iris-train"] == train.digest
    assert [d["name"] for d in event["outputs"]] == [f"{client.project}/models/iris"]
    assert event["outputs"][0]["facets"]["version"]["datasetVersion"] == "1"


def test_the_card_is_generated_from_what_the_platform_knows(client: Client, iris: Any) -> None:
    run, version = _train(client, iris)
    model_card = card("iris@1", client=client)
    assert not isinstance(model_card, str)
    details = model_card.model_details
    assert (details.name, details.version, details.flavor, details.uri) == ("iris", 1, "sklearn", "models:/iris/1")
    params = model_card.model_parameters
    assert params.source_run == run.id and params.params == {"C": "0.5"}
    assert [c["name"] for c in params.input_format] == list(iris[0].columns)
    assert [d.ref for d in params.training_data] == ["iris-train@1"]
    assert [d.ref for d in params.evaluation_data] == ["iris-eval@1"]
    assert params.training_data[0].num_rows == 150
    profiled = {c["name"]: c for c in params.training_data[0].columns}
    assert profiled["target"]["min"] == 0 and profiled["target"]["max"] == 2
    assert model_card.quantitative_analysis.performance_metrics == {"accuracy": pytest.approx(0.96)}
    assert set(model_card.quantitative_analysis.feature_importance) == set(iris[0].columns)
    assert model_card.lineage is not None and len(model_card.lineage.nodes) == 4


def test_card_fields_are_edited_escaped_and_rendered_in_three_formats(client: Client, iris: Any) -> None:
    _train(client, iris)
    edited = update_card("iris@1", client=client, overview=f"Flags {XSS}", limitations="Small | toy data")
    assert edited.model_details.overview == f"Flags {XSS}"
    assert edited.considerations.limitations == "Small | toy data"
    # Edits persist and merge; an empty string clears a field.
    update_card("iris@1", client=client, use_cases="Teaching", limitations="")
    again = card("iris@1", client=client)
    assert not isinstance(again, str)
    assert again.considerations.use_cases == "Teaching" and again.considerations.limitations == ""
    assert again.model_details.overview == f"Flags {XSS}"

    md = card("iris@1", format="md", client=client)
    assert isinstance(md, str) and md.startswith("# Model card: iris version 1")
    assert "Teaching" in md and "<img" not in md and "&lt;img" in md
    page = card("iris@1", format="html", client=client)
    assert isinstance(page, str) and "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    as_json = card("iris@1", format="json", client=client)
    assert isinstance(as_json, str) and json.loads(as_json)["model_details"]["overview"] == f"Flags {XSS}"
    # The edit is in the audit log.
    events = [e for e in client.backend.list_audit(project=client.project) if e.action == "model.card.update"]
    assert len(events) == 2


def test_bad_card_input_is_refused_and_changes_nothing(client: Client, iris: Any) -> None:
    _train(client, iris)
    with pytest.raises(InvalidInputError, match="Unknown model card field 'colour'.*overview"):
        update_card("iris@1", client=client, colour="blue")
    with pytest.raises(InvalidInputError, match="at least one"):
        update_card("iris@1", client=client)
    with pytest.raises(ModelNotFoundError):
        card("iris@9", client=client)
    with pytest.raises(InvalidInputError, match="md, html or json"):
        render_card(card("iris@1", client=client), "pdf")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        lineage(42, client=client)  # type: ignore[arg-type]
    untouched = card("iris@1", client=client)
    assert not isinstance(untouched, str)
    assert all(getattr(untouched.considerations, f, "") == "" for f in CARD_FIELDS)


def test_a_dataset_version_recorded_as_a_runs_output_points_from_that_run(client: Client, iris: Any) -> None:
    """Pipeline steps record what they produce in role ``output``: the graph then goes back past the data."""
    X, y = iris
    prepare = client.create_run("prepare")
    produced = client.data.add(X.assign(target=y), "prepared")
    client.log_input(prepare.id, produced, role="output")
    client.end_run(prepare.id)
    fit = client.create_run("fit")
    client.log_input(fit.id, produced, role="train")
    version = client.log_model(fit.id, LogisticRegression(max_iter=1000).fit(X, y), "iris", input_example=X[:3])
    client.end_run(fit.id)

    graph = lineage(version, client=client)
    flows = {(graph.node(e.source).label, graph.node(e.target).label, e.role) for e in graph.edges}
    assert flows == {("prepare", "prepared@1", "output"), ("prepared@1", "fit", "train"), ("fit", "iris@1", "model")}
    # From the producing run, the data and the model are downstream.
    down = lineage(prepare.id, client=client)
    assert {n.label for n in down.nodes} == {"prepare", "prepared@1", "fit", "iris@1"}
    assert down.upstream(down.root) == []
    event = next(e for e in down.to_openlineage() if e["job"]["name"].endswith("/prepare"))
    assert [d["name"] for d in event["outputs"]] == [f"{client.project}/datasets/prepared"] and event["inputs"] == []
