"""``modelyard data remote|push|pull|diff`` through a Typer app that registers them."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from modelyard.cli._app import LazyGroup
from modelyard.cli._data_transfer import register
from modelyard.client import Client
from modelyard.settings import Settings

Invoke = Callable[..., Result]


def _app() -> typer.Typer:
    """The real ``data`` group when it registers these commands, else a root app built around them."""
    try:
        data_module = importlib.import_module("modelyard.cli.data")
    except ImportError:
        data_module = None
    if data_module is not None:
        names = {c.name for c in getattr(data_module.app, "registered_commands", [])}
        if {"push", "pull", "diff"} <= names:
            from modelyard.cli import app

            return app
    root = typer.Typer(cls=LazyGroup, add_completion=False)
    data = typer.Typer(no_args_is_help=True, add_completion=False)
    register(data)
    root.add_typer(data, name="data")
    return root


@pytest.fixture
def cli() -> Invoke:
    runner = CliRunner()
    app = _app()

    def _invoke(*args: str) -> Result:
        return runner.invoke(app, ["data", *args], env={"COLUMNS": "200"})

    return _invoke


def _store(root: Path, src: Path) -> None:
    client = Client(str(root), settings=Settings(home=root, project="p"))
    try:
        src.mkdir()
        (src / "a.txt").write_text("alpha")
        (src / "b.txt").write_text("beta")
        client.data.add(src, name="files")
        (src / "b.txt").write_text("beta, changed")
        (src / "c.txt").write_text("gamma")
        client.data.add(src, name="files")
        client.data.add(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]}), name="table")
        client.data.add(pd.DataFrame({"x": [1.0, 2.0, 3.0, 10.0], "z": [1, 2, 3, 4]}), name="table")
    finally:
        client.close()


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_remote_add_list_remove(cli: Invoke, tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    added = cli("remote", "add", "backup", str(tmp_path / "remote"), "--uri", uri)
    assert added.exit_code == 0, added.output
    assert "backup" in added.stdout and "default" in added.stdout
    assert cli("remote", "add", "cloud", "memory://bucket", "--uri", uri).exit_code == 0
    listed = _json(cli("remote", "list", "--uri", uri, "--json"))
    assert listed == [
        {"name": "backup", "url": str(tmp_path / "remote"), "default": True},
        {"name": "cloud", "url": "memory://bucket", "default": False},
    ]
    table = cli("remote", "list", "--uri", uri)
    assert "backup" in table.stdout and "memory://bucket" in table.stdout
    assert cli("remote", "remove", "cloud", "--uri", uri).exit_code == 0
    assert [r["name"] for r in _json(cli("remote", "list", "--uri", uri, "--json"))] == ["backup"]


def test_remote_errors_are_one_line(cli: Invoke, tmp_path: Path, one_line_error: Callable[..., None]) -> None:
    uri = str(tmp_path / "store")
    missing = cli("remote", "remove", "nope", "--uri", uri)
    assert missing.exit_code == 2
    one_line_error(missing.stderr, "nope")
    assert cli("remote", "add", "r", str(tmp_path / "x"), "--uri", uri).exit_code == 0
    twice = cli("remote", "add", "r", str(tmp_path / "y"), "--uri", uri)
    assert twice.exit_code == 2
    one_line_error(twice.stderr, "already exists")
    no_remote = cli("push", "--uri", str(tmp_path / "other"))
    assert no_remote.exit_code == 2
    one_line_error(no_remote.stderr, "No remote is configured")


def test_push_and_pull(cli: Invoke, tmp_path: Path) -> None:
    a, b, remote = str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "remote")
    _store(Path(a), tmp_path / "src")
    for uri in (a, b):
        assert cli("remote", "add", "r", remote, "--uri", uri).exit_code == 0
    pushed = _json(cli("push", "--all-versions", "--uri", a, "--project", "p", "--json"))
    assert pushed["direction"] == "push" and pushed["remote"] == "r"
    assert sorted((v["name"], v["version"], v["status"]) for v in pushed["versions"]) == [
        ("files", 1, "pushed"),
        ("files", 2, "pushed"),
        ("table", 1, "pushed"),
        ("table", 2, "pushed"),
    ]
    again = cli("push", "files", "--uri", a, "--project", "p")
    assert again.exit_code == 0, again.output
    assert "files@2" in again.stdout and "up-to-date" in again.stdout
    pulled = _json(cli("pull", "files@1", "--uri", b, "--project", "p", "--json", "--jobs", "2"))
    assert [(v["name"], v["version"], v["status"]) for v in pulled["versions"]] == [("files", 1, "pulled")]
    table = cli("pull", "--all-versions", "--uri", b, "--project", "p")
    assert table.exit_code == 0, table.output
    assert "files@2" in table.stdout and "table@2" in table.stdout and "pulled" in table.stdout
    assert "files@1" in table.stdout and "present" in table.stdout


def test_push_in_server_mode_says_the_server_is_the_remote(
    cli: Invoke, http_server: Any, one_line_error: Callable[..., None]
) -> None:
    result = cli("push", "files", "--uri", http_server.url)
    assert result.exit_code == 2
    one_line_error(result.stderr, "server is the remote")


def test_diff(cli: Invoke, tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    _store(Path(uri), tmp_path / "src")
    data = _json(cli("diff", "files@1", "files@2", "--uri", uri, "--project", "p", "--json"))
    assert {(f["path"], f["status"]) for f in data["files"]} == {("b.txt", "changed"), ("c.txt", "added")}
    assert data["unchanged"] == 1 and data["table"] is None
    shown = cli("diff", "files@1", "files@2", "--uri", uri, "--project", "p")
    assert shown.exit_code == 0, shown.output
    assert "changed" in shown.stdout and "c.txt" in shown.stdout and "1 unchanged" in shown.stdout

    tables = _json(cli("diff", "table@1", "table@2", "--uri", uri, "--project", "p", "--json"))
    assert (tables["table"]["old_rows"], tables["table"]["new_rows"], tables["table"]["rows_delta"]) == (3, 4, 1)
    rendered = cli("diff", "table@1", "table@2", "--uri", uri, "--project", "p")
    assert rendered.exit_code == 0, rendered.output
    assert "rows" in rendered.stdout
    if tables["table"]["columns"]:  # schemas are stored
        assert {(c["column"], c["change"]) for c in tables["table"]["columns"]} == {("y", "removed"), ("z", "added")}
        assert "Schema" in rendered.stdout and "Column statistics" in rendered.stdout
    same = cli("diff", "files@2", "files@latest", "--uri", uri, "--project", "p")
    assert same.exit_code == 0 and "Identical" in same.stdout


def test_diff_unknown_version(cli: Invoke, tmp_path: Path, one_line_error: Callable[..., None]) -> None:
    uri = str(tmp_path / "store")
    _store(Path(uri), tmp_path / "src")
    result = cli("diff", "files@1", "files@9", "--uri", uri, "--project", "p")
    assert result.exit_code == 2
    one_line_error(result.stderr, "no version 9")


def test_help_lists_the_commands(cli: Invoke) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for name in ("remote", "push", "pull", "diff"):
        assert name in result.stdout
    assert all(name in cli("remote", "--help").stdout for name in ("add", "list", "remove"))
