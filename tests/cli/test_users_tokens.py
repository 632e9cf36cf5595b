"""``modelyard users`` and ``modelyard tokens``: accounts managed from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from modelyard.accounts import AccountService
from modelyard.audit import Caller
from modelyard.cli import app
from modelyard.client import Client
from modelyard.store.sql import SqlStore

Invoke = Callable[..., Result]


@pytest.fixture
def uri(tmp_path: Path) -> str:
    """An embedded store with project ``p``."""
    uri = str(tmp_path / "store")
    client = Client(uri, project="p")
    client.create_project("p")
    client.close()
    return uri


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _accounts(uri: str) -> AccountService:
    return AccountService(SqlStore.open(f"sqlite:///{uri}/modelyard.db"), Caller(user="test"))


def test_create_asks_for_the_password_twice_hidden(uri: str) -> None:
    result = CliRunner().invoke(app, ["users", "create", "alice", "--uri", uri], input="correct horse\ncorrect horse\n")
    assert result.exit_code == 0, result.output
    assert "Created user alice." in result.stdout
    assert "correct horse" not in result.output  # hidden input is not echoed
    assert _accounts(uri).authenticate_password("alice", "correct horse").name == "alice"


def test_users_create_list_disable_enable(uri: str, invoke: Invoke) -> None:
    assert _json(invoke("users", "create", "root", "--password", "long enough", "--admin", "--uri", uri, "--json"))[
        "is_admin"
    ]
    result = invoke("users", "create", "ci", "--service-account", "--uri", uri)
    assert result.exit_code == 0 and "service account ci" in result.stdout
    users = _json(invoke("users", "list", "--uri", uri, "--json"))["users"]
    assert [(u["name"], u["is_admin"], u["is_service_account"]) for u in users] == [
        ("ci", False, True),
        ("root", True, False),
    ]
    assert all("password_hash" not in u for u in users)
    table = invoke("users", "list", "--uri", uri)
    assert table.exit_code == 0 and "service account" in table.stdout
    assert _json(invoke("users", "disable", "ci", "--uri", uri, "--json"))["disabled"] is True
    assert "Enabled ci" in invoke("users", "enable", "ci", "--uri", uri).stdout
    assert _json(invoke("users", "set-admin", "ci", "--uri", uri, "--json"))["is_admin"] is True
    assert "no longer" in invoke("users", "set-admin", "ci", "--remove", "--uri", uri).stdout


def test_set_role_and_members(uri: str, invoke: Invoke) -> None:
    invoke("users", "create", "alice", "--password", "long enough", "--uri", uri)
    result = invoke("users", "set-role", "alice", "--project", "p", "--role", "editor", "--uri", uri)
    assert result.exit_code == 0 and "alice is editor in project p" in result.stdout
    assert _json(invoke("users", "members", "-p", "p", "--uri", uri, "--json")) == {
        "members": [{"project": "p", "user": "alice", "role": "editor"}]
    }
    assert _json(invoke("users", "set-role", "alice", "-p", "p", "--role", "none", "--uri", uri, "--json")) is None
    assert _json(invoke("users", "members", "-p", "p", "--uri", uri, "--json")) == {"members": []}


def test_tokens_create_list_revoke(uri: str, invoke: Invoke) -> None:
    invoke("users", "create", "ci", "--service-account", "--uri", uri)
    result = invoke("tokens", "create", "--user", "ci", "--name", "github", "--uri", uri)
    assert result.exit_code == 0, result.output
    secret = next(line for line in result.stdout.splitlines() if line.startswith("myd_"))
    assert "will not be shown again" in result.stderr
    created = _json(
        invoke("tokens", "create", "-u", "ci", "-n", "nightly", "--expires-days", "7", "--uri", uri, "--json")
    )
    assert created["secret"].startswith("myd_") and created["token"]["expires_at"]
    assert _accounts(uri).authenticate_token(secret).name == "ci"

    listed = invoke("tokens", "list", "--uri", uri, "--json")
    tokens = _json(listed)["tokens"]
    assert [(t["name"], t["user"]) for t in tokens] == [("github", "ci"), ("nightly", "ci")]
    assert tokens[0]["prefix"] == secret[:8] and tokens[0]["last_used_at"]
    table = invoke("tokens", "list", "--user", "ci", "--uri", uri)
    for output in (listed.output, table.output):
        assert secret not in output and created["secret"] not in output
    assert secret[:8] in table.stdout and "active" in table.stdout

    revoked = _json(invoke("tokens", "revoke", str(tokens[0]["id"]), "--uri", uri, "--json"))
    assert revoked["revoked_at"]
    assert "revoked" in invoke("tokens", "list", "--uri", uri).stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["users", "create", "bob", "--password", "short"], ["too short"]),
        (["users", "create", "bad name", "--password", "long enough"], ["user name"]),
        (["users", "create", "ci", "--service-account", "--password", "long enough"], ["API tokens only"]),
        (["users", "disable", "nobody"], ["No user named 'nobody'"]),
        (["users", "set-role", "nobody", "-p", "p", "--role", "viewer"], ["nobody"]),
        (["users", "set-role", "root", "-p", "nope", "--role", "viewer"], ["No project named 'nope'"]),
        (["users", "set-role", "root", "-p", "p", "--role", "owner"], ["role 'owner'", "viewer, editor, admin"]),
        (["users", "disable", "root"], ["last enabled global admin"]),
        (["tokens", "create", "--user", "nobody", "--name", "x"], ["nobody"]),
        (["tokens", "revoke", "42"], ["No API token with id 42"]),
    ],
)
def test_errors_are_one_line(
    uri: str, invoke: Invoke, one_line_error: Callable[..., None], args: list[str], fragments: list[str]
) -> None:
    invoke("users", "create", "root", "--password", "long enough", "--admin", "--uri", uri)
    result = invoke(*args, "--uri", uri)
    assert result.exit_code == 2
    one_line_error(result.stderr, *fragments)


def test_root_help_lists_the_groups(invoke: Invoke) -> None:
    result = invoke("--help")
    assert "users" in result.stdout and "tokens" in result.stdout
    for group in ("users", "tokens"):
        sub = invoke(group, "--help")
        assert sub.exit_code == 0 and "Usage" in sub.stdout
