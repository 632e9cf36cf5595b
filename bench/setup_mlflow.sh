#!/usr/bin/env bash
# Create bench/.venv-mlflow with the latest MLflow from PyPI (idempotent: skips when already present).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-mlflow"
py="${PYTHON:-python3}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import mlflow" >/dev/null 2>&1; then
    echo "mlflow venv present: $venv (mlflow $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))'))"
    exit 0
fi
echo "creating $venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet mlflow
echo "installed mlflow $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))')"
