"""a. Import and CLI start-up time: median wall time of fresh interpreter runs.

`python -c "import modelyard"` (target < 150 ms) vs `python -c "import mlflow"`, and
`modelyard --help` (target < 300 ms) vs `mlflow --help`. One untimed warm-up run each
(warms the OS file cache and .pyc files), then the median of 5 (3 with --quick).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def wall_ms(cmd: list[str], reps: int) -> tuple[float | None, str]:
    env = C.tool_env()
    times = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/tmp", timeout=120)
        dt = (time.perf_counter() - t0) * 1000
        if p.returncode != 0:
            tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or [f"rc={p.returncode}"]
            return None, f"`{' '.join(Path(c).name if '/' in c else c for c in cmd)}` failed: {tail[0][:200]}"
        if i:  # first run is the warm-up
            times.append(dt)
    return C.median(times), ""


def run(quick: bool) -> list[C.Row]:
    reps = 3 if quick else 5
    rows = []

    imp = C.Row("import time (python -c import)", "ms", higher_is_better=False, target="< 150 ms")
    imp.my, err = wall_ms([str(C.MODELYARD_PY), "-c", "import modelyard"], reps)
    if err:
        imp.notes.append(err)
    imp.ml, err = wall_ms([str(C.MLFLOW_PY), "-c", "import mlflow"], reps)
    if err:
        imp.notes.append(err)
    base, _ = wall_ms([str(C.MODELYARD_PY), "-c", "pass"], reps)
    if base is not None:
        imp.notes.append(f"bare interpreter start-up `python -c pass`: {base:.1f} ms (included in both figures)")
    imp.passed = imp.my is not None and imp.my < 150
    try:
        chk = C.run_side("modelyard", ["import-check"], timeout=120)
        if not chk.get("has_api"):
            imp.notes.append(
                "`import modelyard` has no start_run/log_metric/Client yet: the figure is for an incomplete package"
            )
        if chk["imported"]:
            imp.notes.append(
                "`import modelyard` pulls in "
                + ", ".join(chk["imported"])
                + " (DESIGN: no pandas/SQLAlchemy/pydantic at import)"
            )
    except C.SideError as e:
        imp.notes.append(f"import check: {str(e).splitlines()[0]}")
    rows.append(imp)

    cli = C.Row("CLI --help", "ms", higher_is_better=False, target="< 300 ms")
    cli.my, err = wall_ms([str(C.MODELYARD_CLI), "--help"], reps)
    if err:
        cli.notes.append(err)
    cli.ml, err = wall_ms([str(C.MLFLOW_CLI), "--help"], reps)
    if err:
        cli.notes.append(err)
    cli.passed = cli.my is not None and cli.my < 300
    rows.append(cli)
    return rows


if __name__ == "__main__":
    C.standalone("a. import / CLI start-up time", run)
