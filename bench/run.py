"""Run every modelyard-vs-MLflow benchmark and print one plain table.

usage: .venv/bin/python bench/run.py [--quick] [--only a,b,c,d,e,f,g,h]
  a = import / CLI start-up, b = log_metric throughput, c = search_runs, d = concurrency,
  e = server start-up / idle memory, f = server GET run latency, g = log_metric through the server,
  h = dataset versions vs DVC (add, re-add, push, pull; needs bench/setup_dvc.sh)
Each tool runs in its own fresh interpreter (modelyard: .venv, MLflow: bench/.venv-mlflow) and its
own temp dir under /tmp. Exit code 1 if a modelyard target fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import bench_concurrency
import bench_data
import bench_import
import bench_log_metric
import bench_search
import bench_server

BENCHES = {
    "a": ("import / CLI start-up time", bench_import.run),
    "b": ("log_metric throughput", bench_log_metric.run),
    "c": ("search_runs", bench_search.run),
    "d": ("concurrency", bench_concurrency.run),
    "e": ("server start-up / idle memory", bench_server.run_start),
    "f": ("server GET run latency", bench_server.run_get_run),
    "g": ("log_metric through the server", bench_server.run_remote_log),
    "h": ("dataset versions vs DVC", bench_data.run),
}


def pkg_version(py: Path, pkg: str) -> str:
    try:
        out = subprocess.run(
            [str(py), "-c", f"import importlib.metadata as m; print(m.version({pkg!r}))"],
            capture_output=True,
            text=True,
            timeout=60,
            env=C.tool_env(),
        )
        return out.stdout.strip() or "not installed"
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    ap.add_argument("--only", default="".join(BENCHES), help="subset of benchmarks, e.g. 'a,c'")
    args = ap.parse_args()
    only = [k for k in args.only.replace(",", "") if k in BENCHES]

    if not C.MLFLOW_PY.exists():
        print("bench/.venv-mlflow missing: run `bash bench/setup_mlflow.sh` first", file=sys.stderr)
        return 2

    header = [
        f"modelyard {pkg_version(C.MODELYARD_PY, 'modelyard')} vs MLflow {pkg_version(C.MLFLOW_PY, 'mlflow')}",
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{'quick' if args.quick else 'full'} run, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"load average {os.getloadavg()[0]:.1f} at start",
    ]
    print("\n".join(header), flush=True)

    rows: list[C.Row] = []
    t0 = time.perf_counter()
    for key in only:
        title, fn = BENCHES[key]
        print(f"\n[{key}] {title} ...", flush=True)
        t = time.perf_counter()
        got = fn(args.quick)
        C.print_rows(title, got)
        print(f"  ({time.perf_counter() - t:.0f} s)", flush=True)
        rows += got

    print()
    print("\n".join(header))
    print(f"total {time.perf_counter() - t0:.0f} s")
    print()
    print(C.table(rows))
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
