"""``modelyard models``: ls, show, versions, alias, promote, approve, reject, promotions, archive, restore,
download, history, rollback — over a store filled through the Python API."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import Result

from modelyard.client import Client
from modelyard.settings import Settings
from tests.conftest import ServerProcess

Invoke = Callable[..., Result]


@pytest.fixture
def uri(tmp_path: Path) -> str:
    """A store with two versions of ``churn`` in project ``risk``."""
    store = str(tmp_path / "store")
    X, y = load_iris(return_X_y=True, as_frame=True)
    client = Client(store, project="risk", settings=Settings(home=tmp_path / "home", project="risk"))
    try:
        for C in (1.0, 0.2):
            run = client.create_run("fit")
            client.log_metric(run.id, "accuracy", 0.9 + C / 100)
            client.log_model(run.id, LogisticRegression(C=C, max_iter=1000).fit(X, y), "churn", input_example=X[:3])
            client.end_run(run.id)
    finally:
        client.close()
    return store


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def _json(result: Result) -> Any:
    return json.loads(_ok(result).stdout)


def test_listing_and_showing(invoke: Invoke, uri: str) -> None:
    models = _json(invoke("models", "ls", "--uri", uri, "--project", "risk", "--json"))
    assert [(m["name"], m["latest_version"]) for m in models] == [("churn", 2)]
    assert "churn" in _ok(invoke("models", "ls", "--uri", uri, "-p", "risk")).stdout
    assert "No registered models in project 'other'" in _ok(invoke("models", "ls", "--uri", uri, "-p", "other")).stdout
    assert _json(invoke("models", "ls", "--uri", uri, "-p", "other", "--json")) == []
    versions = _json(invoke("models", "versions", "churn", "--uri", uri, "-p", "risk", "--json"))
    assert [v["version"] for v in versions] == [2, 1]
    shown = _json(invoke("models", "show", "churn@1", "--uri", uri, "-p", "risk", "--json"))
    assert (
        shown["version"] == 1 and shown["flavor"] == "sklearn" and "model.yaml" in {f["path"] for f in shown["files"]}
    )
    text = _ok(invoke("models", "show", "models:/churn/2", "--uri", uri, "-p", "risk")).stdout
    assert "churn@2" in text and "model.yaml" in text
    model = _json(invoke("models", "show", "churn", "--uri", uri, "-p", "risk", "--json"))
    assert [v["version"] for v in model["versions"]] == [2, 1]


def test_alias_promotion_approval_history_and_rollback(invoke: Invoke, uri: str) -> None:
    base = ("--uri", uri, "-p", "risk")
    assert "version 1" in _ok(invoke("models", "alias", "churn@1", "champion", *base)).stdout
    _ok(invoke("models", "alias", "churn@2", "champion", *base))
    request = _json(invoke("models", "promote", "churn@champion", "production", "--reason", "better", *base, "--json"))
    assert request["state"] == "PENDING" and request["version"] == 2
    pending = _json(invoke("models", "promotions", "churn", "--state", "pending", *base, "--json"))
    assert [p["id"] for p in pending] == [request["id"]]
    assert "APPROVED" in _ok(invoke("models", "approve", str(request["id"]), "-r", "ok", *base)).stdout
    second = _json(invoke("models", "promote", "churn@1", "production", *base, "--json"))
    rejected = _json(invoke("models", "reject", str(second["id"]), "--reason", "older", *base, "--json"))
    assert rejected["state"] == "REJECTED" and rejected["decision_reason"] == "older"
    model = _json(invoke("models", "show", "churn", *base, "--json"))
    assert model["aliases"] == {"champion": 2} and model["environments"] == {"production": 2}
    moves = _json(invoke("models", "history", "churn", *base, "--json"))
    assert [(m["target"], m["version"]) for m in moves] == [("champion", 1), ("champion", 2), ("production", 2)]
    held = _json(invoke("models", "history", "churn", "--target", "champion", "--at", "2000-01-01", *base, "--json"))
    assert held["version"] is None
    assert "version 1" in _ok(invoke("models", "rollback", "churn", "champion", *base)).stdout
    _ok(invoke("models", "alias", "churn", "champion", "--delete", *base))
    assert _json(invoke("models", "show", "churn", *base, "--json"))["aliases"] == {}


def test_archive_restore_and_download(invoke: Invoke, uri: str, tmp_path: Path) -> None:
    base = ("--uri", uri, "-p", "risk")
    assert "ARCHIVED" in _ok(invoke("models", "archive", "churn@2", *base)).stdout
    assert _json(invoke("models", "show", "churn@latest", *base, "--json"))["version"] == 1
    assert "READY" in _ok(invoke("models", "restore", "churn@2", *base)).stdout
    out = tmp_path / "pkg"
    assert "churn@2" in _ok(invoke("models", "download", "churn", "-o", str(out), *base)).stdout
    assert (out / "model.yaml").is_file()


def test_errors_are_one_line_with_exit_status_2(
    run_cli: Callable[..., subprocess.CompletedProcess[str]], uri: str, one_line_error: Callable[..., None]
) -> None:
    for args, fragments in (
        (("show", "ghost"), ("ghost", "models ls")),
        (("show", "churn@9"), ("no version 9",)),
        (("alias", "churn@1", "3"), ("integers",)),
        (("alias", "churn@1", "latest"), ("reserved",)),
        (("promote", "churn@1", "moon"), ("moon", "not configured")),
        (("reject", "1"), ("--reason",)),
        (("archive", "a/b"), ("model name",)),
        (("history", "churn", "--at", "yesterday"), ("ISO 8601",)),
    ):
        proc = run_cli("models", *args, "--uri", uri, "-p", "risk")
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        if args[0] != "reject":
            one_line_error(proc.stderr, *fragments)
        else:
            assert "--reason" in proc.stderr


def test_every_command_against_a_real_server(invoke: Invoke, http_server: ServerProcess, tmp_path: Path) -> None:
    project = f"cli{tmp_path.name[-8:].replace('_', '')}".lower()
    X, y = load_iris(return_X_y=True, as_frame=True)
    settings = Settings(home=tmp_path / "home", blobs=str(http_server.blobs), project=project)
    client = Client(http_server.url, project=project, settings=settings)
    try:
        for C in (1.0, 0.2):
            run = client.create_run("fit")
            model = LogisticRegression(C=C, max_iter=1000).fit(X, y)
            client.log_model(run.id, model, "churn", input_example=X[:3], eval_data=(X, y), shap=False)
            client.end_run(run.id)
    finally:
        client.close()
    env = {"MODELYARD_HOME": str(tmp_path / "cli-home")}
    base = ("--uri", http_server.url, "--project", project)

    def ok(*args: str) -> Result:
        return _ok(invoke("models", *args, *base, env=env))

    assert [m["name"] for m in json.loads(ok("ls", "--json").stdout)] == ["churn"]
    assert [v["version"] for v in json.loads(ok("versions", "churn", "--json").stdout)] == [2, 1]
    shown = ok("show", "churn@2").stdout
    assert "churn@2" in shown and "importance" in shown and "petal" in shown
    ok("alias", "churn@2", "champion")
    request = json.loads(ok("promote", "churn@champion", "production", "-r", "better", "--json").stdout)
    assert f"--project {project}" in ok("promote", "churn@1", "staging").stdout  # the hint names the project
    assert "APPROVED" in ok("approve", str(request["id"]), "-r", "ok").stdout
    pending = json.loads(ok("promotions", "churn", "--state", "pending", "--json").stdout)
    assert [(p["version"], p["environment"]) for p in pending] == [(1, "staging")]
    assert "REJECTED" in ok("reject", str(pending[0]["id"]), "-r", "not now").stdout
    moves = json.loads(ok("history", "churn", "--json").stdout)
    assert [(m["target"], m["version"]) for m in moves] == [("champion", 2), ("production", 2)]
    assert "ARCHIVED" in ok("archive", "churn@1").stdout and "READY" in ok("restore", "churn@1").stdout
    assert "2 files" in ok("download", "churn@champion", "-o", str(tmp_path / "pkg")).stdout
    assert (tmp_path / "pkg" / "model.yaml").is_file()
    assert "# Model card: churn version 2" in ok("card", "churn@2", "--format", "md").stdout
    assert json.loads(ok("card", "churn@2", "--format", "json").stdout)["model_details"]["version"] == 2
    assert "made from" in ok("lineage", "churn@champion").stdout
    missing = invoke("models", "show", "churn@9", *base, env=env)
    assert missing.exit_code == 2 and "no version 9" in missing.output and "Traceback" not in missing.output
