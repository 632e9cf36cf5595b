"""b. log_metric throughput.

modelyard: N x `yard.log_metric("loss", v, step=i)` inside `with yard.start_run():`, timed from
entering the run to leaving it (so the final flush at run end is included); target >= 100,000
points/s. MLflow: per-call `mlflow.log_metric` on a smaller count (it is ~250 points/s), and
`MlflowClient().log_batch` with N metrics in batches of 1000; the ratio is against the better one.
Every figure is checked afterwards with get_metric_history (all points stored).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

TARGET = 100_000


def run(quick: bool) -> list[C.Row]:
    n = 10_000 if quick else 100_000
    n_call = 500 if quick else 2_000
    row = C.Row(f"log_metric throughput ({n:,} pts)", "pts/s", higher_is_better=True, target=f">= {TARGET:,} pts/s")
    try:
        my = C.run_side("modelyard", ["log-metric", "--calls", str(n)], timeout=1800)
        row.my = my["pts_s"]
        C.log(
            f"modelyard log_metric: {my['calls']:,} calls in {my['s']:.3f}s "
            f"= {my['pts_s']:,.0f} pts/s, stored {my['stored']:,}"
        )
        if my["stored"] != n or not my["steps_ok"]:
            row.notes.append(
                f"modelyard stored {my['stored']:,} of {n:,} points"
                + ("" if my["steps_ok"] else " (steps wrong/out of order)")
            )
    except C.SideError as e:
        row.notes.append(f"modelyard: {e}")
        my = None
    try:
        ml = C.run_side("mlflow", ["log-metric", "--calls", str(n_call), "--batch-points", str(n)], timeout=1800)
        row.ml = max(ml["call_pts_s"], ml["batch_pts_s"])
        row.ml_text = f"{ml['call_pts_s']:,.0f} pts/s per-call ({n_call:,}); {ml['batch_pts_s']:,.0f} pts/s log_batch"
        C.log(
            f"mlflow {ml['version']} log_metric: {n_call:,} calls {ml['call_pts_s']:,.0f} pts/s; "
            f"log_batch {n:,} pts {ml['batch_pts_s']:,.0f} pts/s"
        )
        if ml["call_stored"] != n_call or ml["batch_stored"] != n:
            row.notes.append(f"MLflow stored {ml['call_stored']}/{n_call} and {ml['batch_stored']}/{n} points")
    except C.SideError as e:
        row.notes.append(f"MLflow: {e}")
    row.passed = bool(my and my["pts_s"] >= TARGET and my["stored"] == n and my["steps_ok"])
    return [row]


if __name__ == "__main__":
    C.standalone("b. log_metric throughput", run)
