"""Tracking-server benchmarks: modelyard server vs `mlflow server`, each on its embedded SQLite store.

e. Start-up and idle memory: time from spawn until `/health` answers 200 (target < 2 s), then the
   RSS of the whole process tree once it has been idle 3 s (target < 300 MB).
f. GET run latency: `GET /api/v1/runs/{id}` (MLflow: `GET /api/2.0/mlflow/runs/get?run_id=`) at a
   fixed 500 requests/s from 32 connections, open loop (bench/loadgen.py); p99 target < 20 ms.
   modelyard is measured with --no-auth and with token auth.
g. Remote logging: one client, one `yard.log_metric` call per point, through the server (target
   >= 20,000 points/s and >= 3x MLflow's `log_batch` through its server).

usage: .venv/bin/python bench/bench_server.py [--quick] [--only e,f,g]
Servers run with their default settings (modelyard: 1 worker; MLflow: 4 workers), each in its own
venv, process group and temp dir under /tmp (see _server.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _server as S

TOOLS = ("modelyard", "mlflow")
START_TARGET_S = 2.0
RSS_TARGET_MB = 300.0
RATE = 500
CONNS = 32
P99_TARGET_MS = 20.0
LOG_TARGET = 20_000
LOG_RATIO_TARGET = 3.0


def _tool_name(tool: str) -> str:
    return "modelyard" if tool == "modelyard" else "MLflow"


# ------------------------------------------------------------------ e. start-up and idle memory


def run_start(quick: bool) -> list[C.Row]:
    reps = 1 if quick else 3
    start = C.Row("server start (spawn -> /health 200)", "s", higher_is_better=False, target=f"< {START_TARGET_S:g} s")
    mem = C.Row(
        "server idle memory (RSS, process tree)", "MB", higher_is_better=False, target=f"< {RSS_TARGET_MB:g} MB"
    )
    first: dict[str, str] = {}
    pss: dict[str, str] = {}
    for tool in TOOLS:
        tmp = C.make_tmp(tool)
        try:
            # first start on a fresh store creates and migrates it: shown as a note only
            srv = S.start(tool, tmp)
            first[tool] = f"{srv.start_s:.2f} s"
            S.stop(srv)
            starts, rss, pss_mb, procs = [], [], [], []
            for _ in range(reps):
                srv = S.start(tool, tmp)
                try:
                    starts.append(srv.start_s)
                    waited = S.wait_idle(srv)
                    m = S.memory(srv)
                finally:
                    S.stop(srv)
                rss.append(m["rss_mb"])
                pss_mb.append(m["pss_mb"])
                procs.append(m["procs"])
                C.log(
                    f"{tool} server: /health after {srv.start_s:.2f} s; idle after {waited:.1f} s more: "
                    f"RSS {m['rss_mb']:,.0f} MB, PSS {m['pss_mb']:,.0f} MB in {m['procs']} process(es)"
                )
            s_med, r_med = C.median(starts), C.median(rss)
            pss[tool] = f"{C.median(pss_mb):,.0f} MB"
            if tool == "modelyard":
                start.my, mem.my = s_med, r_med
                mem.my_text = f"{r_med:,.0f} MB ({max(procs)} proc)"
            else:
                start.ml, mem.ml = s_med, r_med
                mem.ml_text = f"{r_med:,.0f} MB ({max(procs)} procs)"
        except C.SideError as e:
            start.notes.append(f"{_tool_name(tool)}: {e}")
        finally:
            C.rm_tmp(tmp)
    start.notes.append(
        f"median of {reps} start(s) on an existing store; first start on a fresh store (creates it): "
        + ", ".join(f"{_tool_name(t)} {v}" for t, v in first.items())
    )
    start.notes.append("defaults: modelyard 1 uvicorn worker; MLflow 4 uvicorn workers + a job runner (huey consumers)")
    mem.notes.append(
        "sampled once the whole process group used < 10% of a CPU for 3 s in a row; "
        "PSS (shared pages counted once): " + ", ".join(f"{_tool_name(t)} {v}" for t, v in pss.items())
    )
    start.passed = start.my is not None and start.my < START_TARGET_S
    mem.passed = mem.my is not None and mem.my < RSS_TARGET_MB
    return [start, mem]


# ------------------------------------------------------------------ f. GET run latency


def _get_run(tool: str, auth: bool, duration: float, warmup: float) -> dict:
    tmp = C.make_tmp(tool)
    try:
        srv = S.start(tool, tmp, auth=auth)
        try:
            args = ["get-run", "--tool", tool, "--url", srv.url, "--rate", str(RATE), "--conns", str(CONNS)]
            args += ["--duration", str(duration), "--warmup", str(warmup)]
            if srv.token:
                args += ["--token", srv.token]
            res = C.run_side("loadgen", args, timeout=duration + warmup + 300)
        finally:
            S.stop(srv)
        lag = res["queue_p99_ms"]
        C.log(
            f"{tool} GET run{' (token auth)' if auth else ''}: {_latency_text(res)}, max {res['max_ms'] or 0:,.1f} ms, "
            f"errors {res['error_kinds']}; client send lag p99 {lag or 0:,.1f} ms, loadgen CPU {res['cpu_s']:.1f} s"
        )
        return res
    finally:
        C.rm_tmp(tmp)


def _latency_text(r: dict) -> str:
    if r.get("p99_ms") is None:
        return f"no successful request ({r['errors']} errors)"
    return f"{r['p99_ms']:,.1f} ms (p50 {r['p50_ms']:,.1f}, {r['rps']:,.0f} rps, {r['errors']} err)"


def run_get_run(quick: bool) -> list[C.Row]:
    duration, warmup = (3.0, 1.0) if quick else (10.0, 2.0)
    title = f"GET run p99 @{RATE} rps, {CONNS} conns"
    noauth = C.Row(f"{title} (no auth)", "ms", higher_is_better=False, target=f"< {P99_TARGET_MS:g} ms")
    auth = C.Row(f"{title} (token auth)", "ms", higher_is_better=False, target=f"< {P99_TARGET_MS:g} ms")
    auth.ml_text = "- (MLflow: no auth)"
    results: dict[tuple[str, bool], dict] = {}
    for tool, with_auth, row in (("modelyard", False, noauth), ("modelyard", True, auth), ("mlflow", False, noauth)):
        try:
            r = results[(tool, with_auth)] = _get_run(tool, with_auth, duration, warmup)
        except C.SideError as e:
            row.notes.append(f"{_tool_name(tool)}: {e}")
            continue
        if tool == "modelyard":
            row.my, row.my_text = r["p99_ms"], _latency_text(r)
        else:
            row.ml, row.ml_text = r["p99_ms"], _latency_text(r)
        if r["errors"]:
            row.notes.append(f"{_tool_name(tool)} errors: {r['error_kinds']}")
        if r["rps"] < 0.97 * RATE:
            row.notes.append(
                f"{_tool_name(tool)} fell behind the offered {RATE} rps (answered {r['rps']:.0f}/s; "
                f"service time p50 {r['svc_p50_ms']:.0f} ms): latency is mostly queueing"
            )
    for (tool, with_auth), row in (
        (("modelyard", False), noauth),
        (("modelyard", True), auth),
    ):
        r = results.get((tool, with_auth))
        row.passed = bool(
            r
            and r["p99_ms"] is not None
            and r["p99_ms"] < P99_TARGET_MS
            and not r["errors"]
            and r["rps"] >= 0.97 * RATE
        )
    noauth.notes.append(
        f"open loop, {duration:g} s after a {warmup:g} s warm-up; latency from each request's scheduled send "
        f"time; the load generator shares the machine's {os.cpu_count()} CPUs with the server; "
        "servers at their defaults (modelyard 1 worker, MLflow 4)"
    )
    return [noauth, auth]


# ------------------------------------------------------------------ g. remote logging


def run_remote_log(quick: bool) -> list[C.Row]:
    n = 10_000 if quick else 100_000
    n_call = 200 if quick else 1_000
    row = C.Row(
        f"log_metric via server ({n:,} pts)",
        "pts/s",
        higher_is_better=True,
        target=f">= {LOG_TARGET:,} pts/s, >= {LOG_RATIO_TARGET:g}x log_batch",
    )
    my = ml = None
    for tool in TOOLS:
        tmp = C.make_tmp(tool)
        try:
            srv = S.start(tool, tmp)
            try:
                if tool == "modelyard":
                    my = C.run_side("modelyard", ["log-metric", "--calls", str(n), "--uri", srv.url], timeout=1800)
                else:
                    args = ["log-metric", "--calls", str(n_call), "--batch-points", str(n), "--tracking-uri", srv.url]
                    ml = C.run_side("mlflow", args, timeout=3600)
            finally:
                S.stop(srv)
        except C.SideError as e:
            row.notes.append(f"{_tool_name(tool)}: {e}")
        finally:
            C.rm_tmp(tmp)
    if my:
        row.my = my["pts_s"]
        C.log(
            f"modelyard remote log_metric: {n:,} calls in {my['s']:.2f} s = {my['pts_s']:,.0f} pts/s, "
            f"stored {my['stored']:,}"
        )
        if my["stored"] != n or not my["steps_ok"]:
            row.notes.append(
                f"modelyard stored {my['stored']:,} of {n:,} points"
                + ("" if my["steps_ok"] else " (steps wrong/out of order)")
            )
    if ml:
        row.ml = ml["batch_pts_s"]
        row.ml_text = f"{ml['call_pts_s']:,.0f} pts/s per-call ({n_call:,}); {ml['batch_pts_s']:,.0f} pts/s log_batch"
        C.log(
            f"mlflow remote: {n_call:,} log_metric calls {ml['call_pts_s']:,.0f} pts/s; "
            f"log_batch {n:,} pts {ml['batch_pts_s']:,.0f} pts/s"
        )
        if ml["call_stored"] != n_call or ml["batch_stored"] != n:
            row.notes.append(f"MLflow stored {ml['call_stored']}/{n_call} and {ml['batch_stored']}/{n} points")
        if my:
            row.notes.append(f"modelyard vs MLflow per-call log_metric: {my['pts_s'] / ml['call_pts_s']:,.0f}x")
    ok = bool(my and my["pts_s"] >= LOG_TARGET and my["stored"] == n and my["steps_ok"])
    if ok and ml:
        ok = my["pts_s"] >= LOG_RATIO_TARGET * ml["batch_pts_s"]
    elif ok:
        row.notes.append("MLflow figure missing: judged on the absolute target only")
    row.passed = ok
    row.notes.append("timed from entering start_run to leaving it (final flush included); all points read back")
    return [row]


BENCHES = {
    "e": ("server start-up / idle memory", run_start),
    "f": ("server GET run latency", run_get_run),
    "g": ("log_metric through the server", run_remote_log),
}


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    only = "efg"
    if "--only" in sys.argv[1:]:
        only = sys.argv[sys.argv.index("--only") + 1].replace(",", "")
    rows: list[C.Row] = []
    for key in only:
        if key in BENCHES:
            title, fn = BENCHES[key]
            got = fn(quick)
            C.print_rows(f"{key}. {title}", got)
            rows += got
    print()
    print(C.table(rows))
    sys.exit(0 if all(r.passed is not False for r in rows) else 1)


if __name__ == "__main__":
    main()
