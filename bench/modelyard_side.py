"""modelyard side of the benchmarks; runs in the modelyard venv (.venv) and prints one JSON line.

usage: modelyard_side.py log-metric --calls N [--uri http://127.0.0.1:P]
       modelyard_side.py search --runs N [--reps 20] [--warmup 2]
       modelyard_side.py conc --procs 8 --points N
       modelyard_side.py import-check
Every command works in a fresh temp dir under /tmp with the embedded SQLite store
(MODELYARD_HOME=<tmp>/home and yard.set_uri(<tmp>/home)), or, with --uri, a modelyard server
(MODELYARD_URI=<uri>; the temp MODELYARD_HOME is still set so nothing touches ~/.modelyard).
Only the public API is used.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

PROJECT = "bench"


def setup_store(tmp: Path, uri: str | None = None):
    home = tmp / "home"
    os.environ["MODELYARD_HOME"] = str(home)
    os.environ["MODELYARD_PROJECT"] = PROJECT
    if uri:
        os.environ["MODELYARD_URI"] = uri
    os.chdir(tmp)
    import modelyard as yard

    yard.set_uri(uri or str(home))
    yard.set_project(PROJECT)
    return yard


def version() -> str:
    try:
        import importlib.metadata

        return importlib.metadata.version("modelyard")
    except Exception:  # noqa: BLE001
        import modelyard

        return getattr(modelyard, "__version__", "?")


# ------------------------------------------------------------------ b. log_metric


def cmd_log_metric(a) -> dict:
    tmp = C.make_tmp("modelyard")
    try:
        yard = setup_store(tmp, a.uri)
        # warm-up: creates and migrates the store (or connects to the server), first writes (not timed)
        with yard.start_run(name="warmup"):
            yard.log_metric("w", 0.0, step=0)

        values = [1.0 / (i + 1) for i in range(a.calls)]
        log_metric = yard.log_metric
        t0 = time.perf_counter()
        with yard.start_run(name="per-call") as run:
            for i in range(a.calls):
                log_metric("loss", values[i], step=i)
        elapsed = time.perf_counter() - t0  # includes the final flush at run end

        hist = yard.Client().get_metric_history(run.id, "loss")
        steps_ok = [m.step for m in hist] == list(range(a.calls))
        return {
            "version": version(),
            "uri": a.uri or "embedded",
            "calls": a.calls,
            "s": elapsed,
            "pts_s": a.calls / elapsed,
            "stored": len(hist),
            "steps_ok": steps_ok,
        }
    finally:
        C.rm_tmp(tmp)


# ------------------------------------------------------------------ c. search_runs


def cmd_search(a) -> dict:
    tmp = C.make_tmp("modelyard")
    try:
        yard = setup_store(tmp)
        t0 = time.perf_counter()
        for i, params, metrics in C.search_dataset(a.runs):
            with yard.start_run(name=f"r{i}"):
                yard.log_params(params)
                yard.log_metrics(metrics)
        setup_s = time.perf_counter() - t0

        client = yard.Client()

        def query():
            return client.search_runs(
                project=PROJECT,
                filter=C.SEARCH_FILTER,
                order_by=["metrics.m2 desc"],
                limit=C.SEARCH_LIMIT,
            )

        for _ in range(a.warmup):
            res = query()
        times = []
        for _ in range(a.reps):
            t = time.perf_counter()
            res = query()
            times.append((time.perf_counter() - t) * 1000)
        got = [(r.name, r.params, r.metrics) for r in res]
        ok, problem = C.check_search_result(a.runs, got)
        return {
            "version": version(),
            "runs": a.runs,
            "note": "",
            "setup_s": setup_s,
            "setup_runs_s": a.runs / setup_s,
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
    tmp = C.make_tmp("modelyard")
    try:
        yard = setup_store(tmp)
        # create/migrate the store up front, as the MLflow side does (not timed); the workers
        # still open it concurrently during their set-up
        try:
            yard.Client().search_runs(project=PROJECT, limit=1)
        except Exception as e:  # noqa: BLE001
            C.log(f"pre-init search_runs: {C.short_error(e)}")
        res = C.conc_spawn(__file__, tmp, a.procs, a.points)
        client = yard.Client()
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
    values = [1.0 / (i + 1) for i in range(a.points)]
    try:
        yard = setup_store(tmp)
        log_metric = yard.log_metric
        with yard.start_run(name=f"w{a.idx}") as run:
            out["run_id"] = run.id
            C.conc_worker_wait(tmp, a.idx)
            out["t_start"] = time.time()
            for i in range(a.points):
                log_metric("loss", values[i], step=i)
            out["t_logged"] = time.time()  # loop done; the run end below flushes
        out["t_end"] = time.time()  # after the run ended (final flush)
    except Exception as e:  # noqa: BLE001
        out["error"] = C.short_error(e)
        if not (tmp / f"ready-{a.idx}").exists():
            out["error"] = "setup: " + out["error"]
            (tmp / f"ready-{a.idx}").write_text("1")
    C.emit(out)
    sys.exit(1 if out.get("error") else 0)


# ------------------------------------------------------------------ a. import hygiene


def cmd_import_check(a) -> dict:
    """Which heavy modules does `import modelyard` pull in? (DESIGN: none of these.)"""
    import modelyard

    heavy = ["pandas", "sqlalchemy", "pydantic", "numpy", "typer", "rich", "fsspec", "alembic"]
    return {
        "version": version(),
        "imported": [m for m in heavy if m in sys.modules],
        "has_api": all(hasattr(modelyard, n) for n in ("start_run", "log_metric", "Client")),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("log-metric")
    s.add_argument("--calls", type=int, default=100_000)
    s.add_argument("--uri", help="log through this modelyard server instead of an embedded store")
    s = sub.add_parser("search")
    s.add_argument("--runs", type=int, default=10_000)
    s.add_argument("--reps", type=int, default=20)
    s.add_argument("--warmup", type=int, default=2)
    s = sub.add_parser("conc")
    s.add_argument("--procs", type=int, default=8)
    s.add_argument("--points", type=int, default=10_000)
    s = sub.add_parser("conc-worker")
    s.add_argument("--tmp", required=True)
    s.add_argument("--idx", type=int, required=True)
    s.add_argument("--points", type=int, required=True)
    sub.add_parser("import-check")
    a = p.parse_args()
    if a.cmd == "conc-worker":
        cmd_conc_worker(a)
        return
    fn = {"log-metric": cmd_log_metric, "search": cmd_search, "conc": cmd_conc, "import-check": cmd_import_check}[a.cmd]
    try:
        C.emit(fn(a))
    except Exception as e:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        C.emit({"error": C.short_error(e)})
        sys.exit(1)


if __name__ == "__main__":
    main()
