"""d. Concurrent writers into one embedded store.

8 processes, each with its own run, log N points ("loss", step 0..N-1) at the same time into one
SQLite store (all set up first, then released together). modelyard uses per-call
`yard.log_metric` inside `with yard.start_run()`; MLflow uses `MlflowClient.log_batch` in batches
of 1000 (per-call would take minutes). Afterwards every run's get_metric_history must hold exactly
the N steps. Figure: points/s over the logging wall time (first release to last run end).
PASS only if no process errored and every point is present.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def describe(r: dict) -> tuple[float | None, str, list[str]]:
    notes = []
    rate = r["total_points"] / r["log_wall_s"] if r.get("log_wall_s") else None
    text = f"{C.fmt(rate, 'pts/s')} in {r['log_wall_s']:.2f} s" if rate else "no timing"
    text += f", {r['stored_points']:,}/{r['total_points']:,} pts"
    if r["errors"]:
        text += f", {len(r['errors'])} errored"
        notes += r["errors"][:3]
    if r["verify_error"]:
        notes.append("verify: " + r["verify_error"])
    return rate, text, notes


def run(quick: bool) -> list[C.Row]:
    procs, points = 8, (2_000 if quick else 10_000)
    row = C.Row(
        f"concurrency ({procs} procs x {points:,} pts)", "pts/s", higher_is_better=True, target="all points, no errors"
    )
    args = ["conc", "--procs", str(procs), "--points", str(points)]
    my = None
    try:
        my = C.run_side("modelyard", args, timeout=1800)
        row.my, row.my_text, notes = describe(my)
        row.notes += [f"modelyard {n}" for n in notes]
        C.log(
            f"modelyard conc: {row.my_text}; counts {my['counts']}; slowest run end (final flush) "
            f"{my['max_run_end_s'] or 0:.2f} s"
        )
    except C.SideError as e:
        row.notes.append(f"modelyard: {e}")
    try:
        ml = C.run_side("mlflow", args, timeout=1800)
        row.ml, row.ml_text, notes = describe(ml)
        row.ml_text += " (log_batch)"
        row.notes += [f"MLflow {n}" for n in notes]
        C.log(f"mlflow conc: {row.ml_text}; counts {ml['counts']}")
    except C.SideError as e:
        row.notes.append(f"MLflow: {e}")
    row.passed = bool(my and my["all_present"])
    return [row]


if __name__ == "__main__":
    C.standalone("d. concurrency", run)
