"""``modelyard data``: add, ls, versions, show, get, rm, lineage, schema, profile, validate; inputs in ``runs show``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from modelyard.client import Client
from modelyard.settings import Settings

Invoke = Callable[..., Result]
OLD = time.time() - 3600


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return str(tmp_path / "store")


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "churn.csv"
    path.write_text("age,plan\n31,a\n45,b\n27,a\n52,b\n")
    os.utime(path, (OLD, OLD))
    return path


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def _json(result: Result) -> Any:
    return json.loads(_ok(result).stdout)


@pytest.mark.parametrize(
    "command", ["add", "ls", "versions", "show", "get", "rm", "restore", "lineage", "schema", "profile", "validate"]
)
def test_help(invoke: Invoke, command: str) -> None:
    result = _ok(invoke("data", command, "--help"))
    assert "Usage: modelyard data" in result.output


def test_root_help_lists_data(invoke: Invoke) -> None:
    assert "data" in _ok(invoke("--help")).output


def test_add_then_unchanged_then_new_version(invoke: Invoke, uri: str, table: Path) -> None:
    first = _ok(invoke("data", "add", str(table), "--name", "churn", "-m", "first", "--tag", "team=risk", "--uri", uri))
    assert "Added churn@1" in first.stdout and "4 rows x 2 columns" in first.stdout
    again = _ok(invoke("data", "add", str(table), "--name", "churn", "--uri", uri))
    assert again.stdout.strip() == "unchanged: churn@1"
    table.write_text("age,plan\n31,a\n")
    data = _json(invoke("data", "add", str(table), "--name", "churn", "--uri", uri, "--json"))
    assert (data["version"], data["parent_version"], data["created"], data["num_rows"]) == (2, 1, True, 1)
    listing = _json(invoke("data", "ls", "--uri", uri, "--json"))
    assert [(d["name"], d["latest_version"]) for d in listing] == [("churn", 2)]
    versions = _json(invoke("data", "versions", "churn", "--uri", uri, "--json"))
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["message"] == "first" and versions[1]["tags"] == {"team": "risk"}
    shown = _json(invoke("data", "show", "churn@1", "--uri", uri, "--json"))
    assert [f["path"] for f in shown["files"]] == ["churn.csv"]
    assert "churn@1" in _ok(invoke("data", "show", f"churn@sha:{shown['digest'][:8]}", "--uri", uri)).stdout
    assert "churn" in _ok(invoke("data", "ls", "--uri", uri)).stdout
    assert "first" in _ok(invoke("data", "versions", "churn", "--uri", uri)).stdout


def test_projects_and_listings(invoke: Invoke, uri: str, table: Path) -> None:
    _ok(invoke("data", "add", str(table), "--name", "churn", "--project", "p1", "--uri", uri))
    assert _json(invoke("data", "ls", "--uri", uri, "--json", "-p", "p1"))[0]["project"] == "p1"
    assert _json(invoke("data", "ls", "--uri", uri, "--json")) == []
    assert "No datasets" in _ok(invoke("data", "ls", "--uri", uri)).stdout


def test_get_with_include_and_link(invoke: Invoke, uri: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "train").mkdir(parents=True)
    (src / "train" / "a.csv").write_text("x\n1\n")
    (src / "readme.txt").write_text("hi")
    _ok(invoke("data", "add", str(src), "--name", "files", "--uri", uri))
    out = tmp_path / "out"
    _ok(invoke("data", "get", "files", "--path", str(out), "--include", "*.csv", "--uri", uri))
    assert [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()] == ["train/a.csv"]
    linked = tmp_path / "linked"
    _ok(invoke("data", "get", "files@1", "--path", str(linked), "--link", "--uri", uri))
    assert (linked / "readme.txt").stat().st_mode & 0o222 == 0


def test_add_link_protects_the_files(invoke: Invoke, uri: str, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(10_000))
    result = _ok(invoke("data", "add", str(big), "--name", "big", "--link", "--uri", uri))
    assert "1 linked" in result.stdout
    assert big.stat().st_mode & 0o222 == 0 and big.stat().st_nlink == 2


def test_rm_and_purge(invoke: Invoke, uri: str, table: Path, tmp_path: Path) -> None:
    _ok(invoke("data", "add", str(table), "--name", "churn", "--uri", uri))
    deleted = _json(invoke("data", "rm", "churn@1", "--uri", uri, "--json"))
    assert deleted == {
        "name": "churn",
        "project": "default",
        "versions": [1],
        "purged": False,
        "blobs_removed": 0,
        "bytes_removed": 0,
    }
    assert _json(invoke("data", "ls", "--uri", uri, "--json")) == []
    purged = _ok(invoke("data", "rm", "churn", "--purge", "--uri", uri))
    assert "Purged churn version(s) 1; 1 blobs" in purged.stdout
    assert not [p for p in (Path(uri) / "blobs" / "objects").rglob("*") if p.is_file() and p.parent.name != "tmp"]


def test_lineage_and_runs_show_inputs(invoke: Invoke, uri: str, table: Path) -> None:
    client = Client(uri, synchronous=True)
    try:
        dv = client.data.add(table, "churn")
        run = client.create_run("fit")
        client.log_input(run.id, dv, role="train")
        client.end_run(run.id)
    finally:
        client.close()
    uses = _json(invoke("data", "lineage", "churn@1", "--uri", uri, "--json"))
    assert [(u["run_id"], u["role"]) for u in uses] == [(run.id, "train")]
    assert run.id in _ok(invoke("data", "lineage", "churn", "--uri", uri)).stdout
    shown = _json(invoke("runs", "show", run.id, "--uri", uri, "--json"))
    assert [(i["dataset"], i["version"], i["role"]) for i in shown["inputs"]] == [("churn", 1, "train")]
    text = _ok(invoke("runs", "show", run.id, "--uri", uri)).stdout
    assert "inputs" in text and "churn@1" in text


def test_schema_profile_and_validate(invoke: Invoke, uri: str, table: Path, tmp_path: Path) -> None:
    _ok(invoke("data", "add", str(table), "--name", "churn", "--uri", uri))
    text = _ok(invoke("data", "schema", "churn", "--uri", uri)).stdout
    assert "name: age" in text and "name: plan" in text
    schema_file = tmp_path / "schema.yaml"
    _ok(invoke("data", "schema", "churn", "--output", str(schema_file), "--uri", uri))
    profile = _json(invoke("data", "profile", "churn", "--uri", uri, "--json"))
    assert set(profile["columns"]) == {"age", "plan"}
    assert "age" in _ok(invoke("data", "profile", "churn", "--uri", uri)).stdout
    report = _json(invoke("data", "validate", "churn", "--schema", str(schema_file), "--uri", uri, "--json"))
    assert report["ok"] is True
    # tighten the schema: the data no longer passes, and exit status 1 says so
    schema_file.write_text(schema_file.read_text().replace("max: 52", "max: 40"))
    failed = invoke("data", "validate", "churn", "--schema", str(schema_file), "--uri", uri)
    assert failed.exit_code == 1, failed.output
    assert "age" in failed.stdout and "invalid" in failed.stdout
    # validation attached to add refuses the data before it becomes a version
    table.write_text("age,plan\n99,a\n")
    refused = invoke("data", "add", str(table), "--name", "churn", "--validate", str(schema_file), "--uri", uri)
    assert refused.exit_code == 1, refused.output
    assert "nothing was stored" in refused.stderr
    assert [v["version"] for v in _json(invoke("data", "versions", "churn", "--uri", uri, "--json"))] == [1]


def test_errors_are_one_line_and_exit_2(
    invoke: Invoke, uri: str, table: Path, tmp_path: Path, one_line_error: Callable[..., None]
) -> None:
    cases = [
        (["data", "add", str(tmp_path / "missing.csv"), "--name", "x"], "no such file"),
        (["data", "add", str(table), "--name", "a/b"], "dataset name"),
        (["data", "show", "nope"], "nope"),
        (["data", "add", str(table), "--name", "x", "--tag", "novalue"], "KEY=VALUE"),
        (["data", "show", "churn@x"], "churn@x"),
        (["data", "schema", "files"], "no schema"),
    ]
    (tmp_path / "plain.txt").write_text("text")
    _ok(invoke("data", "add", str(tmp_path / "plain.txt"), "--name", "files", "--uri", uri))
    for args, fragment in cases:
        result = invoke(*args, "--uri", uri)
        assert result.exit_code == 2, (args, result.output)
        if "--tag" not in args:
            one_line_error(result.stderr, fragment)
        else:
            assert fragment in result.output


def test_restore_undoes_rm(invoke: Invoke, uri: str, table: Path) -> None:
    _ok(invoke("data", "add", str(table), "--name", "churn", "--uri", uri))
    _ok(invoke("data", "rm", "churn@1", "--uri", uri))
    restored = _ok(invoke("data", "restore", "churn@1", "--uri", uri))
    assert restored.stdout.strip() == "Restored churn version(s) 1."
    assert [d["name"] for d in _json(invoke("data", "ls", "--uri", uri, "--json"))] == ["churn"]
    again = invoke("data", "restore", "churn@1", "--uri", uri)
    assert again.exit_code != 0 and "churn@1 is not deleted" in again.output
    _ok(invoke("data", "rm", "churn", "--uri", uri))
    listed = _json(invoke("data", "restore", "churn", "--uri", uri, "--json"))
    assert [(v["name"], v["version"], v["deleted"]) for v in listed] == [("churn", 1, False)]


def test_readding_an_unchanged_directory_answers_without_opening_the_store(
    run_python: Callable[[str], Any], uri: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / f"part-{i}.bin").write_bytes(os.urandom(100 + i))
        os.utime(src / f"part-{i}.bin", (OLD, OLD))
    home = tmp_path / "home"
    client = Client(uri, settings=Settings(home=home))
    try:
        client.data.add(src, "parts")
    finally:
        client.close()
    code = f"""
import os, sys
os.environ["MODELYARD_HOME"] = {str(home)!r}
sys.argv = ["modelyard", "data", "add", {str(src)!r}, "--name", "parts", "--uri", {uri!r}]
from modelyard.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("heavy:", sorted(m for m in ("sqlalchemy", "pandas", "pyarrow", "modelyard.entities") if m in sys.modules))
"""
    out = run_python(code).stdout
    assert "unchanged: parts@1" in out and "heavy: []" in out
    (src / "part-3.bin").write_bytes(b"changed")  # a file the cache does not know: the ordinary path
    out = run_python(code.replace("assert not exc.code", "assert True")).stdout
    assert "Added parts@2" in out
