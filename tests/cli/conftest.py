"""Fixtures for the CLI tests: an isolated environment, an in-process runner, and real stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from modelyard.cli import app

Invoke = Callable[..., Result]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(extra)
    return env


def _script() -> list[str]:
    script = Path(sys.executable).with_name("modelyard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "modelyard"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No MODELYARD_* variable leaks in, and a default ./.modelyard store lands in tmp_path."""
    for name in list(os.environ):
        if name.startswith("MODELYARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def invoke() -> Invoke:
    """Run the root app in-process: ``invoke("runs", "list", "--uri", uri, env={...})``."""
    runner = CliRunner()

    def _invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), env=env)

    return _invoke


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``modelyard`` script in a fresh process (no MODELYARD_* variables)."""

    def _run(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_script(), *args], capture_output=True, text=True, timeout=timeout, env=_clean_env(**(env or {})), cwd=cwd
        )

    return _run


@pytest.fixture
def run_python() -> Callable[[str], subprocess.CompletedProcess[str]]:
    """Run a Python snippet in a fresh interpreter (no MODELYARD_* variables)."""

    def _run(code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=_clean_env(), check=True, timeout=60
        )

    return _run


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, subprocess.CompletedProcess[str]]:
    """`modelyard demo` run once per session in a fresh process (warnings as errors): its store and output."""
    root = tmp_path_factory.mktemp("demo")
    uri = str(root / "store")
    proc = subprocess.run(
        [*_script(), "demo", "--uri", uri],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=root,
        env=_clean_env(PYTHONWARNINGS="error", COLUMNS="200"),
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return uri, proc


@pytest.fixture
def demo_store(demo_run: tuple[str, subprocess.CompletedProcess[str]]) -> str:
    """The URI of the store `modelyard demo` filled (project ``demo``)."""
    return demo_run[0]


@pytest.fixture
def list_runs(invoke: Invoke) -> Callable[..., dict[str, Any]]:
    """`runs list --uri URI --json ...` as parsed JSON (asserting success)."""

    def _list(uri: str, *args: str) -> dict[str, Any]:
        result = invoke("runs", "list", "--uri", uri, "--json", *args)
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    return _list


def _assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def one_line_error() -> Callable[..., None]:
    """Check the error contract: one line on stderr, ``Error: ...`` naming ``fragments``, no traceback."""
    return _assert_one_line_error
