"""``modelyard db``: upgrade and current on a fresh SQLite database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from modelyard.store.sql import HEAD_REVISION

Invoke = Callable[..., Result]


def test_upgrade_fresh_sqlite_then_current(tmp_path: Path, invoke: Invoke) -> None:
    uri = f"sqlite:///{tmp_path / 'meta' / 'x.db'}"
    before = invoke("db", "current", "--uri", uri, "--json")
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["revision"] is None

    result = invoke("db", "upgrade", "--uri", uri)
    assert result.exit_code == 0, result.output
    assert f"(empty) → {HEAD_REVISION}" in result.stdout

    after = invoke("db", "current", "--uri", uri, "--json")
    assert json.loads(after.stdout) == {
        "url": uri,
        "revision": HEAD_REVISION,
        "head": HEAD_REVISION,
        "up_to_date": True,
    }
    assert HEAD_REVISION in invoke("db", "current", "--uri", uri).stdout

    again = invoke("db", "upgrade", "--uri", uri)
    assert again.exit_code == 0
    assert "already" in again.stdout


def test_upgrade_on_unwritable_location_exits_2(
    tmp_path: Path, invoke: Invoke, one_line_error: Callable[..., None]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke("db", "upgrade", "--uri", str(blocker / "store"))
    assert result.exit_code == 2
    one_line_error(result.stderr, str(blocker / "store"))
