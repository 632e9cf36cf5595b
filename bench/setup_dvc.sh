#!/usr/bin/env bash
# Create bench/.venv-dvc with the latest DVC from PyPI (idempotent: skips when already present).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-dvc"
py="${PYTHON:-python3}"
if [ -x "$venv/bin/dvc" ] && "$venv/bin/python" -c "import dvc" >/dev/null 2>&1; then
    echo "dvc venv present: $venv (dvc $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("dvc"))'))"
    exit 0
fi
echo "creating $venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet dvc
echo "installed dvc $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("dvc"))')"
