"""``modelyard projects``: create and list."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Invoke = Callable[..., Result]


def test_create_and_list(tmp_path: Path, invoke: Invoke, one_line_error: Callable[..., None]) -> None:
    uri = str(tmp_path / "store")
    result = invoke("projects", "create", "churn", "--description", "Churn [v2] models", "--uri", uri)
    assert result.exit_code == 0, result.output
    assert "churn" in result.stdout

    result = invoke("projects", "list", "--uri", uri, "--json")
    assert result.exit_code == 0, result.output
    projects = {p["name"]: p for p in json.loads(result.stdout)["projects"]}
    assert projects["churn"]["description"] == "Churn [v2] models"
    assert projects["churn"]["run_count"] == 0

    table = invoke("projects", "list", "--uri", uri)
    assert table.exit_code == 0
    assert "churn" in table.stdout and "Churn [v2]" in table.stdout

    again = invoke("projects", "create", "churn", "--uri", uri)
    assert again.exit_code == 2
    one_line_error(again.stderr, "churn")


def test_create_json_and_invalid_name(tmp_path: Path, invoke: Invoke, one_line_error: Callable[..., None]) -> None:
    uri = str(tmp_path / "store")
    result = invoke("projects", "create", "fraud", "--uri", uri, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "fraud"
    bad = invoke("projects", "create", "bad name", "--uri", uri)
    assert bad.exit_code == 2
    one_line_error(bad.stderr, "bad name")


def test_default_store_is_modelyard_home(tmp_path: Path, invoke: Invoke) -> None:
    home = tmp_path / "home"
    assert invoke("projects", "create", "x", env={"MODELYARD_HOME": str(home)}).exit_code == 0
    assert (home / "modelyard.db").exists()
    listed = invoke("projects", "list", "--json", "--uri", str(home))
    assert [p["name"] for p in json.loads(listed.stdout)["projects"]] == ["x"]


def test_empty_list(tmp_path: Path, invoke: Invoke) -> None:
    result = invoke("projects", "list", "--uri", str(tmp_path / "store"))
    assert result.exit_code == 0
    assert "No projects" in result.stdout
