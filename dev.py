#!/usr/bin/env python3
"""Developer tasks that need nothing but Python 3.11+: python3 dev.py demo | test | lint | bench.

The first run creates ``.venv`` and installs modelyard with its dev extras into it; later runs
reinstall only when ``pyproject.toml`` changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".modelyard-installed"


def run(*args: str | Path) -> None:
    """Run a command in the repository root; exit with its status if it fails."""
    code = subprocess.call([str(a) for a in args], cwd=ROOT)
    if code:
        sys.exit(code)


def install() -> None:
    """Create .venv and install ``-e .[dev]`` when missing or when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"modelyard needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(wanted)


def main() -> None:
    """Dispatch the task named on the command line."""
    task = sys.argv[1] if len(sys.argv) > 1 else "help"
    extra = sys.argv[2:]
    if task in ("help", "-h", "--help"):
        print(__doc__)
        return
    install()
    if task == "install":
        return
    if task == "demo":
        run(BIN / "modelyard", "demo", *extra)
    elif task == "test":
        run(PYTHON, "-m", "pytest", *extra)
    elif task == "lint":
        run(BIN / "ruff", "check", "src", "tests", "bench", "dev.py")
        run(BIN / "mypy")
        run(BIN / "lint-imports")
    elif task == "bench":
        run("bash", "bench/setup_mlflow.sh")
        run(PYTHON, "bench/run.py", *extra)
    else:
        sys.exit(f"Unknown task {task!r}; use demo, test, lint, bench or install.")


if __name__ == "__main__":
    main()
