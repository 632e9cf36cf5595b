"""MLflow side of the benchmarks; runs in bench/.venv-mlflow and prints one JSON line.

usage: mlflow_side.py log-metric --calls N --batch-points N [--batch-size 1000] [--tracking-uri http://127.0.0.1:P]
       mlflow_side.py search --runs N [--max-setup-s 300] [--fallback-runs 2000] [--reps 20] [--warmup 2]
       mlflow_side.py conc --procs 8 --points N
Every command works in a fresh temp dir under /tmp with a SQLite tracking store (log-metric
--tracking-uri: through an `mlflow server` instead).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def setup_store(tmp: Path, tracking_uri: str | None = None):
    os.chdir(tmp)  # mlruns/ artifacts land here
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri or f"sqlite:///{tmp}/mlflow.db")
    client = MlflowClient()
    exp_id = client.create_experiment("bench")  # creates + migrates the database (not timed)
    mlflow.set_experiment(experiment_id=exp_id)
    return mlflow, client, exp_id


def version() -> str:
    import importlib.metadata

    return importlib.metadata.version("mlflow")


# ------------------------------------------------------------------ b. log_metric


def cmd_log_metric(a) -> dict:
    tmp = C.make_tmp("mlflow")
    try:
        mlflow, client, exp_id = setup_store(tmp, a.tracking_uri)
        from mlflow.entities import Metric

        # warm-up: first run/metric writes (not timed)
        with mlflow.start_run(run_name="warmup"):
            mlflow.log_metric("w", 0.0, step=0)

        values = [1.0 / (i + 1) for i in range(max(a.calls, a.batch_points))]

        # per-call fluent API
        t0 = time.perf_counter()
        with mlflow.start_run(run_name="per-call") as run:
            for i in range(a.calls):
                mlflow.log_metric("loss", values[i], step=i)
        t_call = time.perf_counter() - t0
        n_call = len(client.get_metric_history(run.info.run_id, "loss"))

        # log_batch, batches of batch_size
        ts = int(time.time() * 1000)
        t0 = time.perf_counter()
        r = client.create_run(exp_id, run_name="batch")
        rid = r.info.run_id
        for s in range(0, a.batch_points, a.batch_size):
            batch = [Metric("loss", values[i], ts, i) for i in range(s, min(s + a.batch_size, a.batch_points))]
            client.log_batch(rid, metrics=batch)
        client.set_terminated(rid)
        t_batch = time.perf_counter() - t0
        n_batch = len(client.get_metric_history(rid, "loss"))
        return {
            "version": version(),
            "tracking_uri": mlflow.get_tracking_uri(),
            "calls": a.calls,
            "call_s": t_call,
            "call_pts_s": a.calls / t_call,
            "call_stored": n_call,
            "batch_points": a.batch_points,
            "batch_size": a.batch_size,
            "batch_s": t_batch,
            "batch_pts_s": a.batch_points / t_batch,
            "batch_stored": n_batch,
        }
    finally:
        C.rm_tmp(tmp)


# ------------------------------------------------------------------ c. search_runs


def cmd_search(a) -> dict:
    tmp = C.make_tmp("mlflow")
    try:
        mlflow, client, exp_id = setup_store(tmp)
        from mlflow.entities import Metric, Param

        target = a.runs
        note = ""
        ts = int(time.time() * 1000)
        t0 = time.perf_counter()
        created = 0
        probe = min(100, target)
        for i, params, metrics in C.search_dataset(target):
            if i == probe and target > a.fallback_runs:
                est = (time.perf_counter() - t0) / probe * target
                if est > a.max_setup_s:
                    note = (
                        f"MLflow setup of {target:,} runs estimated at {est:,.0f}s "
                        f"(> {a.max_setup_s:.0f}s): used {a.fallback_runs:,} runs"
                    )
                    target = a.fallback_runs
            if i >= target:
                break
            r = client.create_run(exp_id, run_name=f"r{i}")
            rid = r.info.run_id
            client.log_batch(
                rid,
                metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()],
                params=[Param(k, v) for k, v in params.items()],
            )
            client.set_terminated(rid)
            created += 1
        setup_s = time.perf_counter() - t0

        def query():
            return client.search_runs(
                experiment_ids=[exp_id],
                filter_string=C.SEARCH_FILTER,
                order_by=["metrics.m2 DESC"],
                max_results=C.SEARCH_LIMIT,
            )

        for _ in range(a.warmup):
            res = query()
        times = []
        for _ in range(a.reps):
            t = time.perf_counter()
            res = query()
            times.append((time.perf_counter() - t) * 1000)
        got = [(r.info.run_name, r.data.params, r.data.metrics) for r in res]
        ok, problem = C.check_search_result(created, got)
        return {
            "version": version(),
            "runs": created,
            "note": note,
            "setup_s": setup_s,
            "setup_runs_s": created / setup_s,
            "median_ms": C.median(times),
            "min_ms": min(times),
            "max_ms": max(times),
            "results": len(got),
            "correct": ok,
            "problem": problem,
        }
    finally:
        C.rm_tmp(tmp)


# ------------------------------------------------------------------ d. concurrency


def cmd_conc(a) -> dict:
    tmp = C.make_tmp("mlflow")
    try:
        mlflow, client, exp_id = setup_store(tmp)
        (tmp / "exp_id").write_text(exp_id)
        res = C.conc_spawn(__file__, tmp, a.procs, a.points)
        counts = []
        verify_error = ""
        for w in res["workers"]:
            if w.get("run_id"):
                try:
                    hist = client.get_metric_history(w["run_id"], "loss")
                    w["stored"] = len(hist)
                    w["steps_ok"] = sorted(m.step for m in hist) == list(range(a.points))
                except Exception as e:  # noqa: BLE001
                    verify_error = C.short_error(e)
            counts.append(w.get("stored", 0))
        errors = [f"worker {w['idx']}: {w['error']}" for w in res["workers"] if w.get("error")]
        all_present = all(w.get("stored") == a.points and w.get("steps_ok") for w in res["workers"])
        return {
            "version": version(),
            "procs": a.procs,
            "points": a.points,
            "total_points": a.procs * a.points,
            "stored_points": sum(counts),
            "counts": counts,
            "errors": errors,
            "verify_error": verify_error,
            "all_present": all_present and not errors,
            "log_wall_s": res["log_wall_s"],
            "go_to_end_s": res["go_to_end_s"],
            "spawn_to_end_s": res["spawn_to_end_s"],
            "max_run_end_s": res["max_run_end_s"],
        }
    finally:
        C.rm_tmp(tmp)


def cmd_conc_worker(a) -> None:
    tmp = Path(a.tmp)
    out: dict = {"idx": a.idx}
    try:
        os.chdir(tmp)
        import mlflow
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        client = MlflowClient()
        exp_id = (tmp / "exp_id").read_text()
        run = client.create_run(exp_id, run_name=f"w{a.idx}")
        rid = out["run_id"] = run.info.run_id
        ts = int(time.time() * 1000)
        batches = [
            [Metric("loss", 1.0 / (i + 1), ts, i) for i in range(s, min(s + 1000, a.points))]
            for s in range(0, a.points, 1000)
        ]
    except Exception as e:  # noqa: BLE001
        out["error"] = "setup: " + C.short_error(e)
        (tmp / f"ready-{a.idx}").write_text("1")
        C.emit(out)
        sys.exit(1)
    C.conc_worker_wait(tmp, a.idx)
    out["t_start"] = time.time()
    try:
        for b in batches:
            client.log_batch(rid, metrics=b)
        out["t_logged"] = time.time()
        client.set_terminated(rid)
    except Exception as e:  # noqa: BLE001
        out["error"] = C.short_error(e)
    out["t_end"] = time.time()
    C.emit(out)
    sys.exit(1 if out.get("error") else 0)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("log-metric")
    s.add_argument("--calls", type=int, default=2000)
    s.add_argument("--batch-points", type=int, default=100_000)
    s.add_argument("--batch-size", type=int, default=1000)
    s.add_argument("--tracking-uri", help="log through this MLflow server instead of a SQLite store")
    s = sub.add_parser("search")
    s.add_argument("--runs", type=int, default=10_000)
    s.add_argument("--max-setup-s", type=float, default=300.0)
    s.add_argument("--fallback-runs", type=int, default=2000)
    s.add_argument("--reps", type=int, default=20)
    s.add_argument("--warmup", type=int, default=2)
    s = sub.add_parser("conc")
    s.add_argument("--procs", type=int, default=8)
    s.add_argument("--points", type=int, default=10_000)
    s = sub.add_parser("conc-worker")
    s.add_argument("--tmp", required=True)
    s.add_argument("--idx", type=int, required=True)
    s.add_argument("--points", type=int, required=True)
    a = p.parse_args()
    if a.cmd == "conc-worker":
        cmd_conc_worker(a)
        return
    fn = {"log-metric": cmd_log_metric, "search": cmd_search, "conc": cmd_conc}[a.cmd]
    try:
        C.emit(fn(a))
    except Exception as e:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        C.emit({"error": C.short_error(e)})
        sys.exit(1)


if __name__ == "__main__":
    main()
