"""Web UI server time: the runs page over 100,000 runs, and chart data for a 1,000,000-point series.

    .venv/bin/python bench/bench_ui.py                 # 100,000 runs, 1,000,000 points
    .venv/bin/python bench/bench_ui.py --runs 10000 --points 100000   # quicker

Set-up (not timed): an embedded SQLite store; one project with N runs (2 params, 2 metrics and a tag
each) bulk-inserted in one transaction, and one run whose ``loss`` series of M points is logged
through ``TrackingService.log_batch`` (so the rollups are the ones real logging builds). The app
runs in-process with authentication on and a signed-in session, as a browser would use it; each
request is timed around the ASGI call (the server's time: rendering included, no network), 3 times
as warm-up and 20 times measured; medians are reported with the targets:

- runs page, first page (50 runs, newest first): < 300 ms
- metric chart data of the 1,000,000-point series: < 200 ms and < 200 KB
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from modelyard.accounts import AccountService
from modelyard.audit import Caller
from modelyard.ids import new_run_id
from modelyard.server import create_app
from modelyard.settings import Settings
from modelyard.store.sql import schema as t
from modelyard.tracking import TrackingService

RUNS_PAGE_MS = 300.0
CHART_MS = 200.0
CHART_BYTES = 200 * 1024


def bulk_runs(engine: sa.Engine, project_id: int, n: int) -> None:
    """Insert ``n`` finished runs with params, metric series and a tag, in one transaction."""
    rng = random.Random(7)
    start = 1_700_000_000_000
    batch = 20_000
    with engine.begin() as conn:
        for offset in range(0, n, batch):
            ids = [new_run_id() for _ in range(min(batch, n - offset))]
            conn.execute(
                sa.insert(t.runs),
                [
                    {"id": rid, "project_id": project_id, "name": f"run-{offset + i}", "status": "FINISHED",
                     "user": "bench", "start_time": start + (offset + i) * 1000,
                     "end_time": start + (offset + i) * 1000 + 500}
                    for i, rid in enumerate(ids)
                ],
            )  # fmt: skip
            conn.execute(
                sa.insert(t.params),
                [{"run_id": rid, "key": k, "value": str(v), "value_num": float(v)}
                 for rid in ids for k, v in (("C", rng.choice((0.1, 1.0, 10.0))), ("depth", rng.randint(2, 12)))],
            )  # fmt: skip
            teams = [{"run_id": rid, "key": "team", "value": rng.choice(("risk", "growth"))} for rid in ids]
            conn.execute(sa.insert(t.tags), teams)
            conn.execute(
                sa.insert(t.metric_series),
                [{"run_id": rid, "key": k, "value": rng.random(), "step": 99, "timestamp": start, "count": 100}
                 for rid in ids for k in ("loss", "accuracy")],
            )  # fmt: skip


def timed(http: TestClient, url: str, reps: int = 20, warmup: int = 3) -> tuple[float, int, int]:
    """Median milliseconds of ``GET url``, the response size in bytes, and its status."""
    for _ in range(warmup):
        http.get(url)
    times = []
    size = status = 0
    for _ in range(reps):
        began = time.perf_counter()
        response = http.get(url)
        times.append((time.perf_counter() - began) * 1000)
        size, status = len(response.content), response.status_code
    return statistics.median(times), size, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    settings = Settings(home=root / "home", uri=str(root / "store"), blobs=str(root / "blobs"))
    app = create_app(settings)
    state = app.state.modelyard
    accounts = AccountService(state.store, Caller(user="bench"))
    created = accounts.bootstrap_admin()
    assert created is not None
    tracking = TrackingService(state.store, state.blobs, Caller(user="bench"))
    tracking.create_project("bench")

    began = time.perf_counter()
    with state.store.read() as tx:
        project_id = tx.project_id("bench")
    bulk_runs(state.store.engine, project_id, args.runs)
    print(f"set-up: {args.runs:,} runs in {time.perf_counter() - began:.1f} s", flush=True)

    began = time.perf_counter()
    big = new_run_id()
    tracking.create_run(run_id=big, project="bench", name="long-series")
    step = 100_000
    for offset in range(0, args.points, step):
        points = [("loss", 1.0 / (1 + i) + (5.0 if i == args.points // 3 else 0.0), 1_700_000_000_000 + i, i)
                  for i in range(offset, min(args.points, offset + step))]  # fmt: skip
        tracking.log_batch(big, points)
    print(f"set-up: {args.points:,} points logged in {time.perf_counter() - began:.1f} s", flush=True)

    results = []
    with TestClient(app) as http:
        login = http.post("/api/v1/auth/login", json={"name": created[0].name, "password": created[1]})
        assert login.status_code == 200, login.text
        cases = [
            ("runs page, first page (newest first)", "/projects/bench/runs", RUNS_PAGE_MS, None),
            ("runs page, sorted by metrics.loss", "/projects/bench/runs?sort=metrics.loss&order=asc",
             RUNS_PAGE_MS, None),
            ("runs page, filtered", "/projects/bench/runs?q=params.C+%3D+%271.0%27+and+metrics.loss+%3C+0.5",
             RUNS_PAGE_MS, None),
            (f"chart data, {args.points:,}-point series", f"/runs/{big}/chart-data?key=loss", CHART_MS, CHART_BYTES),
            ("run page of that run", f"/runs/{big}", RUNS_PAGE_MS, None),
        ]  # fmt: skip
        first = http.get("/projects/bench/runs").text
        token = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
        cases.insert(1, ("runs page, next page (keyset token)", "/projects/bench/runs" + token, RUNS_PAGE_MS, None))
        for label, url, target_ms, target_bytes in cases:
            ms, size, status = timed(http, url)
            ok = status == 200 and ms < target_ms and (target_bytes is None or size < target_bytes)
            results.append(ok)
            limit = f"< {target_ms:.0f} ms" + (f", < {target_bytes // 1024} KB" if target_bytes else "")
            print(f"{label:45s} {ms:8.1f} ms  {size / 1024:8.1f} KB  (target {limit})  {'PASS' if ok else 'FAIL'}")
        spike = http.get(f"/runs/{big}/chart-data?key=loss").json()
        print(f"chart data keeps the spike: highest max {max(spike['max']):.3f} in {len(spike['step'])} buckets")
    state.store.close()
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
