"""Scheduling throughput: enqueue, concurrent claims, and scheduler passes over many due schedules.

Run: ``.venv/bin/python bench/bench_scheduling.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]``.
Prints one line per measurement (SQLite always; PostgreSQL when a URL is given). No anchor tool:
Prefect's work-pool queue needs its API server, so the issue's comparison is the pipeline engine's.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from pathlib import Path

from modelyard.audit import Caller
from modelyard.pipelines._scheduler import Scheduler
from modelyard.pipelines._scheduling import SchedulingService
from modelyard.store.sql import SqlStore

TARGET = "bench.pipelines:training"


def _bench(url: str, label: str, runs: int, schedules: int, workers: int) -> None:
    store = SqlStore.open(url)
    service = SchedulingService(store, Caller(user="bench"))
    started = time.perf_counter()
    for i in range(runs):
        service.enqueue("bench", "training", TARGET, params={"i": i})
    enqueue_s = time.perf_counter() - started
    print(f"{label}: enqueue {runs} runs: {enqueue_s * 1000 / runs:.2f} ms per run")

    stores = [SqlStore.open(url) for _ in range(workers)]
    claimed: list[int] = [0] * workers
    barrier = threading.Barrier(workers + 1)

    def claim(i: int) -> None:
        worker = SchedulingService(stores[i], Caller(user=f"w{i}"))
        barrier.wait()
        while worker.claim(f"w{i}") is not None:
            claimed[i] += 1

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    claim_s = time.perf_counter() - started
    assert sum(claimed) == runs, claimed
    print(f"{label}: {workers} workers claimed {runs} runs (each once): {runs / claim_s:.0f} claims/s")

    now = 1_767_225_600_000  # 2026-01-01 00:00 UTC
    for i in range(schedules):
        service.schedule("bench", f"p{i}", TARGET, "*/5 * * * *", now_ms=now)
    scheduler = Scheduler(store, now=lambda: now + 5 * 60_000 + 1_000)
    started = time.perf_counter()
    fired = scheduler.tick().scheduled
    tick_s = time.perf_counter() - started
    assert len(fired) == schedules
    started = time.perf_counter()
    assert scheduler.tick().scheduled == []
    idle_s = time.perf_counter() - started
    print(
        f"{label}: scheduler pass firing {schedules} due schedules: {tick_s:.2f} s; idle pass: {idle_s * 1000:.1f} ms"
    )
    for s in stores:
        s.close()
    store.close()


def main() -> None:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", help="PostgreSQL admin URL (a scratch database is created and dropped)")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--schedules", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _bench(f"sqlite:///{Path(tmp) / 'modelyard.db'}", "sqlite", args.runs, args.schedules, args.workers)
    if args.postgres:
        import psycopg

        name = f"modelyard_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
            _bench(url, "postgresql", args.runs, args.schedules, args.workers)
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    main()
