"""``modelyard runs``: list (filter, order, pages), show, compare, delete and restore."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from modelyard.client import Client

Invoke = Callable[..., Result]
ListRuns = Callable[..., dict[str, Any]]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A store with project ``p``: a parent run with two children, and one more top-level run."""
    uri = str(tmp_path / "store")
    client = Client(uri, project="p", synchronous=True)
    try:
        parent = client.create_run("sweep")
        ids = {"sweep": parent.id}
        for name, c, acc in (("small-c", "0.1", 0.8), ("large-c", "1.0", 0.9)):
            run = client.create_run(name, parent_id=parent.id)
            client.log_params(run.id, {"C": c, "solver": "lbfgs"})
            client.log_metric(run.id, "accuracy", acc)
            client.log_metric(run.id, "loss", 1 - acc)
            client.end_run(run.id)
            ids[name] = run.id
        client.end_run(parent.id)
        other = client.create_run("broken")
        client.end_run(other.id, "FAILED", error="ValueError: [bad] input")
        ids["broken"] = other.id
    finally:
        client.close()
    yield uri, ids


def test_list_json_has_full_runs(store: tuple[str, dict[str, str]], list_runs: ListRuns) -> None:
    uri, ids = store
    data = list_runs(uri, "--project", "p")
    assert {r["id"] for r in data["runs"]} == set(ids.values())
    assert data["next_page_token"] is None
    run = next(r for r in data["runs"] if r["name"] == "large-c")
    assert run["params"] == {"C": "1.0", "solver": "lbfgs"}
    assert run["metrics"] == {"accuracy": 0.9, "loss": pytest.approx(0.1)}


def test_list_uses_modelyard_project(store: tuple[str, dict[str, str]], invoke: Invoke) -> None:
    uri, ids = store
    result = invoke("runs", "list", "--uri", uri, "--json", env={"MODELYARD_PROJECT": "p"})
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["runs"]) == len(ids)


def test_list_filters_and_orders(store: tuple[str, dict[str, str]], list_runs: ListRuns) -> None:
    uri, _ = store
    data = list_runs(uri, "-p", "p", "--filter", "metrics.accuracy > 0.5", "--order-by", "metrics.accuracy desc")
    assert [r["name"] for r in data["runs"]] == ["large-c", "small-c"]
    data = list_runs(uri, "-p", "p", "--filter", "params.C = '0.1'")
    assert [r["name"] for r in data["runs"]] == ["small-c"]
    data = list_runs(uri, "-p", "p", "--order-by", "params.C", "--order-by", "name asc")
    assert [r["name"] for r in data["runs"]][:2] == ["small-c", "large-c"]


def test_list_pages(store: tuple[str, dict[str, str]], list_runs: ListRuns, invoke: Invoke) -> None:
    uri, ids = store
    first = list_runs(uri, "-p", "p", "--limit", "2")
    assert len(first["runs"]) == 2
    token = first["next_page_token"]
    assert token
    second = list_runs(uri, "-p", "p", "--limit", "2", "--page-token", token)
    assert {r["id"] for r in first["runs"] + second["runs"]} == set(ids.values())
    assert second["next_page_token"] is None
    table = invoke("runs", "list", "--uri", uri, "-p", "p", "--limit", "2")
    assert table.exit_code == 0
    assert token in table.stderr


def test_list_table_shows_full_ids_and_status(store: tuple[str, dict[str, str]], invoke: Invoke) -> None:
    uri, ids = store
    result = invoke("runs", "list", "--uri", uri, "-p", "p", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name, run_id in ids.items():
        assert name in result.stdout
        assert run_id in result.stdout
    assert "FAILED" in result.stdout
    assert "accuracy" in result.stdout  # a metric column fits in 200 columns


def test_list_empty_project(tmp_path: Path, invoke: Invoke) -> None:
    uri = str(tmp_path / "store")
    assert invoke("projects", "create", "empty", "--uri", uri).exit_code == 0
    result = invoke("runs", "list", "--uri", uri, "-p", "empty")
    assert result.exit_code == 0
    assert "No runs in project 'empty'" in result.stdout


def test_malformed_filter_exits_2_with_one_line(
    store: tuple[str, dict[str, str]], invoke: Invoke, one_line_error: Callable[..., None]
) -> None:
    uri, _ = store
    result = invoke("runs", "list", "--uri", uri, "-p", "p", "--filter", "metrics.accuracy >> 1")
    assert result.exit_code == 2
    one_line_error(result.stderr, "position")
    assert result.stdout == ""
    result = invoke("runs", "list", "--uri", uri, "-p", "p", "--order-by", "bogus")
    assert result.exit_code == 2
    one_line_error(result.stderr, "bogus")


def test_show_json(store: tuple[str, dict[str, str]], invoke: Invoke, tmp_path: Path) -> None:
    uri, ids = store
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello")
    client = Client(uri)
    try:
        client.log_artifact(ids["small-c"], artifact)
    finally:
        client.close()
    result = invoke("runs", "show", ids["small-c"], "--uri", uri, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["id"] == ids["small-c"]
    assert data["parent_id"] == ids["sweep"]
    assert data["params"] == {"C": "0.1", "solver": "lbfgs"}
    assert data["metrics"]["accuracy"] == 0.8
    assert [a["path"] for a in data["artifacts"]] == ["notes.txt"]
    assert data["artifacts"][0]["size"] == 5


def test_show_table(store: tuple[str, dict[str, str]], invoke: Invoke) -> None:
    uri, ids = store
    result = invoke("runs", "show", ids["broken"], "--uri", uri)
    assert result.exit_code == 0, result.output
    assert ids["broken"] in result.stdout
    assert "FAILED" in result.stdout
    assert "ValueError: [bad] input" in result.stdout  # the error, not read as markup
    result = invoke("runs", "show", ids["large-c"], "--uri", uri)
    assert "solver" in result.stdout and "lbfgs" in result.stdout
    assert "accuracy" in result.stdout


@pytest.mark.parametrize("run_id", ["0" * 32, "not-a-run-id"])
def test_unknown_run_id_exits_2(
    store: tuple[str, dict[str, str]], invoke: Invoke, one_line_error: Callable[..., None], run_id: str
) -> None:
    uri, _ = store
    for command in ("show", "delete", "restore"):
        result = invoke("runs", command, run_id, "--uri", uri)
        assert result.exit_code == 2, result.output
        one_line_error(result.stderr, run_id)


def test_compare(store: tuple[str, dict[str, str]], invoke: Invoke) -> None:
    uri, ids = store
    result = invoke("runs", "compare", ids["small-c"], ids["large-c"], "--uri", uri, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["id"] for r in data["runs"]] == [ids["small-c"], ids["large-c"]]
    assert data["params"]["C"] == ["0.1", "1.0"]
    assert data["metrics"]["accuracy"] == [0.8, 0.9]
    assert data["differences"] == {"params": ["C"], "metrics": ["accuracy", "loss"]}

    table = invoke("runs", "compare", ids["small-c"], ids["large-c"], ids["broken"], "--uri", uri)
    assert table.exit_code == 0, table.output
    for text in ("small-c", "large-c", "broken", "solver", "accuracy"):
        assert text in table.stdout


def test_compare_unknown_run_exits_2(store: tuple[str, dict[str, str]], invoke: Invoke) -> None:
    uri, ids = store
    result = invoke("runs", "compare", ids["small-c"], "f" * 32, "--uri", uri)
    assert result.exit_code == 2
    assert "f" * 32 in result.stderr


def test_delete_and_restore_round_trip(store: tuple[str, dict[str, str]], invoke: Invoke, list_runs: ListRuns) -> None:
    uri, ids = store
    result = invoke("runs", "delete", ids["sweep"], "--uri", uri)
    assert result.exit_code == 0, result.output
    assert {r["name"] for r in list_runs(uri, "-p", "p")["runs"]} == {"broken"}
    everything = list_runs(uri, "-p", "p", "--include-deleted")["runs"]
    assert {r["name"]: r["deleted"] for r in everything} == {
        "sweep": True,
        "small-c": True,
        "large-c": True,
        "broken": False,
    }
    assert len(list_runs(uri, "-p", "p", "--all")["runs"]) == 4
    result = invoke("runs", "show", ids["small-c"], "--uri", uri, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["deleted"] is True

    result = invoke("runs", "restore", ids["sweep"], "--uri", uri)
    assert result.exit_code == 0, result.output
    assert {r["name"] for r in list_runs(uri, "-p", "p")["runs"]} == set(ids)
