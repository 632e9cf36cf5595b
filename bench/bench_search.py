"""c. search_runs latency over many runs with 10 params and 10 metrics each.

Set-up (not part of the latency figure): N runs, each with params p0..p9 (small ints as
strings) and metrics m0..m9 (uniform floats), identical data for both tools. modelyard logs
each run through the public API (start_run + log_params + log_metrics); MLflow uses
create_run + log_batch + set_terminated per run, and falls back to 2,000 runs if 10,000 would
take more than ~5 minutes. Then the query
    filter "metrics.m0 > 0.5 and params.p1 = '3'", order by metrics.m2 desc, limit 100
runs 2 times as warm-up and 20 times measured; the median is reported (target < 50 ms).
Results are checked against the expected runs (filter, order, completeness).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

TARGET_MS = 50.0


def run(quick: bool) -> list[C.Row]:
    n = 1_000 if quick else 10_000
    reps = ["--reps", "20", "--warmup", "2"]
    row = C.Row(f"search_runs median ({n:,} runs)", "ms", higher_is_better=False, target=f"< {TARGET_MS:.0f} ms")
    setup = C.Row("  (set-up: create runs, 10 params + 10 metrics each)", "runs/s", higher_is_better=True)
    my = ml = None
    try:
        my = C.run_side("modelyard", ["search", "--runs", str(n), *reps], timeout=3600)
        row.my, setup.my = my["median_ms"], my["setup_runs_s"]
        C.log(
            f"modelyard search: {my['runs']:,} runs set up in {my['setup_s']:.1f}s; "
            f"median {my['median_ms']:.2f} ms (min {my['min_ms']:.2f}, max {my['max_ms']:.2f}), "
            f"{my['results']} results, correct={my['correct']}"
        )
        if not my["correct"]:
            row.notes.append(f"modelyard result wrong: {my['problem']}")
    except C.SideError as e:
        row.notes.append(f"modelyard: {e}")
    try:
        ml = C.run_side("mlflow", ["search", "--runs", str(n), *reps], timeout=3600)
        row.ml, setup.ml = ml["median_ms"], ml["setup_runs_s"]
        if ml["runs"] != n:
            row.ml_text = f"{C.fmt(ml['median_ms'], 'ms')} ({ml['runs']:,} runs)"
            setup.ml_text = f"{C.fmt(ml['setup_runs_s'], 'runs/s')} ({ml['runs']:,} runs)"
        C.log(
            f"mlflow search: {ml['runs']:,} runs set up in {ml['setup_s']:.1f}s; "
            f"median {ml['median_ms']:.2f} ms (min {ml['min_ms']:.2f}, max {ml['max_ms']:.2f}), "
            f"{ml['results']} results, correct={ml['correct']}"
        )
        if ml["note"]:
            row.notes.append(ml["note"] + " (its latency is over fewer runs than modelyard's)")
        if not ml["correct"]:
            row.notes.append(f"MLflow result differs from expected: {ml['problem']}")
    except C.SideError as e:
        row.notes.append(f"MLflow: {e}")
    row.passed = bool(my and my["median_ms"] < TARGET_MS and my["correct"])
    return [row, setup]


if __name__ == "__main__":
    C.standalone("c. search_runs", run)
