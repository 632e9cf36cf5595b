"""The root command: help, version, lazy imports, and the exit-code contract."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from modelyard._version import __version__

Invoke = Callable[..., Result]

HEAVY = ("pandas", "sqlalchemy", "pydantic")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["runs"],
        ["runs", "list"],
        ["runs", "show"],
        ["runs", "compare"],
        ["runs", "delete"],
        ["runs", "restore"],
        ["projects"],
        ["projects", "list"],
        ["projects", "create"],
        ["db"],
        ["db", "upgrade"],
        ["db", "current"],
        ["gc"],
        ["demo"],
    ],
    ids=lambda args: " ".join(args) or "root",
)
def test_help_works_for_every_command(invoke: Invoke, args: list[str]) -> None:
    result = invoke(*args, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: modelyard" in result.output


def test_root_help_lists_every_group(invoke: Invoke) -> None:
    result = invoke("--help")
    for group in ("demo", "db", "projects", "runs", "gc"):
        assert group in result.output


def test_version(invoke: Invoke) -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"modelyard {__version__}"


def test_importing_the_cli_imports_no_heavy_library(run_python: Callable[[str], Any]) -> None:
    proc = run_python(
        "import modelyard.cli, sys; print(any(m in sys.modules for m in ('pandas', 'sqlalchemy', 'pydantic')))"
    )
    assert proc.stdout.strip() == "False"


def test_root_help_imports_no_command_group_and_no_heavy_library(run_python: Callable[[str], Any]) -> None:
    proc = run_python(
        "import sys\n"
        "from modelyard.cli import main\n"
        "sys.argv = ['modelyard', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"loaded = [m for m in {HEAVY!r} + ('modelyard.client', 'modelyard.entities', 'modelyard.cli.runs',"
        " 'modelyard.cli.demo') if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
    )
    assert "LOADED []" in proc.stdout


def test_root_help_is_fast(run_cli: Callable[..., Any]) -> None:
    # The target is < 300 ms on an idle machine; the bound here is loose so a busy CI stays green.
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        assert run_cli("--help").returncode == 0
        timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 1.5


def test_usage_errors_exit_2(invoke: Invoke) -> None:
    typo = invoke("rnus")
    assert typo.exit_code == 2
    assert "Did you mean 'runs'?" in typo.output
    assert invoke("runs", "bogus").exit_code == 2
    assert invoke("runs", "list", "--no-such-option").exit_code == 2
    assert invoke("runs", "list", "--limit", "0").exit_code == 2
    assert invoke("runs", "compare", "0" * 32).exit_code == 2


def test_unwritable_home_exits_2_naming_the_path(
    invoke: Invoke, tmp_path: Path, one_line_error: Callable[..., None]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    home = blocker / "store"
    result = invoke("runs", "list", env={"MODELYARD_HOME": str(home)})
    assert result.exit_code == 2
    one_line_error(result.stderr, str(home))
    assert result.stdout == ""


def test_invalid_setting_exits_2_naming_the_variable(invoke: Invoke, one_line_error: Callable[..., None]) -> None:
    result = invoke("runs", "list", env={"MODELYARD_FLUSH_INTERVAL": "-1"})
    assert result.exit_code == 2
    one_line_error(result.stderr, "MODELYARD_FLUSH_INTERVAL")


def test_unsupported_uri_exits_2(invoke: Invoke, one_line_error: Callable[..., None]) -> None:
    result = invoke("projects", "list", "--uri", "ftp://example.com/store")
    assert result.exit_code == 2
    one_line_error(result.stderr, "ftp://example.com/store")


def test_error_messages_are_printed_verbatim_on_one_line(
    invoke: Invoke, tmp_path: Path, one_line_error: Callable[..., None]
) -> None:
    # Square brackets must not be taken for Rich markup, and a long message must not wrap.
    result = invoke("runs", "list", "--uri", str(tmp_path / "s"), "--project", "[x]" * 40)
    assert result.exit_code == 2
    one_line_error(result.stderr, "[x]" * 40)


def test_installed_script_exits_2_without_traceback(
    run_cli: Callable[..., Any], tmp_path: Path, one_line_error: Callable[..., None]
) -> None:
    proc = run_cli("runs", "show", "f" * 32, "--uri", str(tmp_path / "store"), cwd=tmp_path)
    assert proc.returncode == 2
    one_line_error(proc.stderr, "f" * 32)
    assert proc.stdout == ""
