"""``modelyard gc``: a dry run by default, JSON report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Invoke = Callable[..., Result]


def test_gc_dry_run_json(tmp_path: Path, invoke: Invoke) -> None:
    uri = str(tmp_path / "store")
    result = invoke("gc", "--uri", uri, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == {"dry_run": True, "blobs_removed": 0, "bytes_removed": 0, "blobs_kept_recent": 0}
    assert json.loads(invoke("gc", "--uri", uri, "--json").stdout)["dry_run"] is True


def test_gc_removes_unreferenced_blobs(tmp_path: Path, invoke: Invoke) -> None:
    from modelyard.client import Client

    uri = str(tmp_path / "store")
    artifact = tmp_path / "a.txt"
    artifact.write_text("some bytes")
    client = Client(uri, project="p")
    try:
        run = client.create_run("r")
        client.log_artifact(run.id, artifact)
        client.end_run(run.id)
    finally:
        client.close()
    # The artifact's blob is referenced by the run, so nothing is removed.
    report = json.loads(invoke("gc", "--uri", uri, "--grace-seconds", "0", "--json").stdout)
    assert report["blobs_removed"] == 0
    table = invoke("gc", "--uri", uri, "--grace-seconds", "0", "--no-dry-run")
    assert table.exit_code == 0, table.output
    assert "removed" in table.stdout


def test_gc_rejects_negative_grace(tmp_path: Path, invoke: Invoke) -> None:
    assert invoke("gc", "--uri", str(tmp_path / "s"), "--grace-seconds", "-1").exit_code == 2
