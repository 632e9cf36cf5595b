"""``modelyard audit list``, and the CLI pointed at a real server (auth on, token in MODELYARD_TOKEN)."""

from __future__ import annotations

import json
from pathlib import Path

from modelyard.client import Client
from tests.cli.conftest import Invoke
from tests.conftest import ServerProcess


def test_audit_list_filters_and_pages(invoke: Invoke, tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    client = Client(uri, project="audited", synchronous=True)
    run = client.create_run("r")
    client.log_params(run.id, {"a": 1})
    client.end_run(run.id)
    client.close()
    result = invoke("audit", "list", "--uri", uri, "--object-id", run.id, "--json")
    assert result.exit_code == 0, result.output
    actions = [e["action"] for e in json.loads(result.stdout)["events"]]
    assert actions == ["run.update", "run.log", "run.create"]
    first = json.loads(invoke("audit", "list", "--uri", uri, "--limit", "1", "--json").stdout)["events"]
    older = invoke("audit", "list", "--uri", uri, "--before-id", str(first[0]["id"]), "--json")
    assert all(e["id"] < first[0]["id"] for e in json.loads(older.stdout)["events"])
    table = invoke("audit", "list", "--uri", uri, "--action", "run.create")
    assert table.exit_code == 0 and "run.create" in table.stdout


def test_cli_against_a_server_with_a_token(invoke: Invoke, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "srv")
    try:
        token = server.output().split("API token: ")[1].split()[0]
        env = {"MODELYARD_URI": server.url, "MODELYARD_TOKEN": token}
        assert invoke("projects", "create", "remote", env=env).exit_code == 0
        listed = invoke("projects", "list", "--json", env=env)
        assert [p["name"] for p in json.loads(listed.stdout)["projects"]] == ["remote"]
        assert invoke("users", "create", "ci", "--service-account", env=env).exit_code == 0
        created = invoke("tokens", "create", "--user", "ci", "--name", "gh", "--json", env=env)
        assert created.exit_code == 0, created.output
        events = json.loads(invoke("audit", "list", "--json", env=env).stdout)["events"]
        assert {"project.create", "user.create", "token.create"} <= {e["action"] for e in events}
        denied = invoke("projects", "list", env={"MODELYARD_URI": server.url, "MODELYARD_TOKEN": "myd_bad"})
        assert denied.exit_code == 2 and "Traceback" not in denied.output
    finally:
        server.stop()
