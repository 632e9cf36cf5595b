"""Package-level promises: fast lazy import, public names import, settings documented."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import modelyard
from modelyard.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_import_modelyard_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, modelyard; "
        "print(sorted(m for m in ('pandas', 'sqlalchemy', 'pydantic', 'numpy', 'typer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _modules_with_all() -> list[str]:
    names = ["modelyard"]
    for info in pkgutil.walk_packages(modelyard.__path__, "modelyard."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _modules_with_all())
def test_every_public_name_imports(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", [])
    assert list(exported) == sorted(exported), f"{module_name}.__all__ is not sorted"
    for name in exported:
        assert getattr(module, name) is not None, f"{module_name}.{name}"


def test_version_is_exposed() -> None:
    assert re.match(r"^\d+\.\d+\.\d+", modelyard.__version__)


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"MODELYARD_{name.upper()}" in readme, f"MODELYARD_{name.upper()} is not documented in README.md"


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run([sys.executable, "-m", "modelyard", "--version"], capture_output=True, text=True, check=True)
    assert modelyard.__version__ in out.stdout
