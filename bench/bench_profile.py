"""Profile of 1,000,000 rows x 25 columns: time (target < 2 s) and peak memory (target < 2x the frame).

Standalone: ``.venv/bin/python bench/bench_profile.py [--rows N] [--repeat R] [--input table|pandas]``.

The frame mixes what real tables hold: 8 float columns (two with 10 % nulls, one with a few
infinities), 6 integer columns (an id, small codes, one with nulls), 3 dictionary-encoded
categories, 2 low-cardinality string columns, 3 high-cardinality string columns (a UUID, an
e-mail-like address, free text with nulls), a boolean, a timestamp and a date.

Time: one warm-up on a slice (imports, first-call costs), then the median and best of
``--repeat`` runs of ``profile(frame)``.

Peak memory, measured twice in a separate, untimed run:

- **allocations**: the peak of ``tracemalloc`` (numpy arrays and Python objects) plus the peak of
  a dedicated pyarrow memory pool (Arrow buffers, which tracemalloc does not see) — an upper
  bound, since the two peaks need not coincide;
- **RSS**: the process's resident set sampled every millisecond by a thread (psutil), minus the
  resident set just before the call (after freed memory was handed back to the OS).

Both are compared with the frame's size: ``table.nbytes`` (the Arrow buffers), or for
``--input pandas`` the DataFrame's ``memory_usage(deep=True)``. The target is judged on the
larger of the two peaks.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from modelyard.data._profile import profile

TIME_TARGET_S = 2.0
MEMORY_TARGET_X = 2.0


def build_table(rows: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    null10 = rng.random(rows) < 0.10

    for i in range(8):
        values = rng.normal(loc=i * 10.0, scale=1.0 + i, size=rows)
        if i == 3:
            values[rng.integers(0, rows, 20)] = np.inf
        mask = null10 if i in (1, 5) else None
        columns[f"f{i}"] = pa.array(values, mask=mask)
    columns["id"] = pa.array(np.arange(rows, dtype=np.int64))
    columns["code"] = pa.array(rng.integers(0, 10, rows))
    columns["age"] = pa.array(rng.integers(18, 99, rows))
    columns["visits"] = pa.array(rng.poisson(3.0, rows).astype(np.int64), mask=null10)
    columns["amount_cents"] = pa.array(rng.integers(0, 10_000_000, rows))
    columns["zip"] = pa.array(rng.integers(10_000, 99_999, rows))

    def categories(labels: list[str]) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(
            pa.array(rng.integers(0, len(labels), rows).astype(np.int8)), pa.array(labels)
        )

    columns["plan"] = categories(["free", "basic", "pro", "enterprise"])
    columns["region"] = categories(["eu-west", "eu-north", "us-east", "us-west", "ap-south", "sa-east"])
    columns["channel"] = categories(["web", "ios", "android", "partner", "sales"])
    countries = np.array(["FR", "DE", "US", "GB", "IN", "BR", "JP", "ES", "IT", "NL", "SE", "PL"])
    columns["country"] = pa.array(countries[rng.integers(0, len(countries), rows)].tolist())
    statuses = np.array(["active", "churned", "paused", "trial"])
    columns["status"] = pa.array(statuses[rng.integers(0, len(statuses), rows)].tolist())

    hexes = [f"{v:032x}" for v in rng.integers(0, 2**63, rows, dtype=np.int64).astype(np.uint64) * 3]
    columns["uuid"] = pa.array([f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}" for h in hexes])
    columns["email"] = pa.array([f"user{v}@example{v % 97}.com" for v in rng.integers(0, 10**9, rows)])
    words = np.array(["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "lambda", "zeta", "theta"])
    picks = words[rng.integers(0, len(words), (rows, 5))]
    text = [" ".join(row) + f" #{n}" for row, n in zip(picks.tolist(), rng.integers(0, 50_000, rows), strict=True)]
    columns["comment"] = pa.array(text, mask=null10)

    columns["is_active"] = pa.array(rng.random(rows) < 0.7)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    columns["signup_at"] = pa.array(start + rng.integers(0, 365 * 86_400_000_000, rows).astype("timedelta64[us]"))
    columns["birth_date"] = pa.array(
        (np.datetime64("1950-01-01") + rng.integers(0, 20_000, rows).astype("timedelta64[D]")).astype("datetime64[D]")
    )
    table = pa.table(columns)
    assert table.num_columns == 25, table.num_columns
    return table


def release_memory() -> None:
    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def measure_time(frame: Any, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        release_memory()
        started = time.perf_counter()
        profile(frame)
        times.append(time.perf_counter() - started)
    return times


class RssSampler:
    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.001)

    def __enter__(self) -> RssSampler:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def measure_rss(frame: Any) -> int:
    release_memory()
    before = psutil.Process().memory_info().rss
    with RssSampler() as sampler:
        profile(frame)
    return sampler.peak - before


def measure_allocations(frame: Any) -> tuple[int, int]:
    release_memory()
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        profile(frame)
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    return python_peak, pool.max_memory()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--input", choices=("table", "pandas"), default="table")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a report")
    args = parser.parse_args()

    table = build_table(args.rows)
    if args.input == "pandas":
        frame: Any = table.to_pandas()
        frame_bytes = int(frame.memory_usage(deep=True).sum())
    else:
        frame = table
        frame_bytes = table.nbytes
    del table
    profile(frame.iloc[:1000] if args.input == "pandas" else frame.slice(0, 1000))  # warm-up

    times = measure_time(frame, args.repeat)
    rss = measure_rss(frame)
    python_peak, arrow_peak = measure_allocations(frame)
    allocations = python_peak + arrow_peak
    peak = max(rss, allocations)
    median = statistics.median(times)
    result = {
        "rows": args.rows,
        "columns": 25,
        "input": args.input,
        "frame_mb": round(frame_bytes / 2**20, 1),
        "seconds_median": round(median, 3),
        "seconds_best": round(min(times), 3),
        "seconds_all": [round(t, 3) for t in times],
        "peak_rss_delta_mb": round(rss / 2**20, 1),
        "peak_alloc_mb": round(allocations / 2**20, 1),
        "peak_alloc_numpy_python_mb": round(python_peak / 2**20, 1),
        "peak_alloc_arrow_mb": round(arrow_peak / 2**20, 1),
        "peak_over_frame": round(peak / frame_bytes, 3),
        "time_ok": median < TIME_TARGET_S,
        "memory_ok": peak < MEMORY_TARGET_X * frame_bytes,
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"profile of {args.rows:,} rows x 25 columns ({args.input} input, frame {result['frame_mb']} MB, "
            f"{result['cpus']} CPUs, load average {result['load_average_1m']}: timings need an idle machine)"
        )
        print(
            f"  time      median {median:.3f} s, best {min(times):.3f} s over {len(times)} runs "
            f"(target < {TIME_TARGET_S} s): {'PASS' if result['time_ok'] else 'FAIL'}"
        )
        print(f"  peak RSS  +{result['peak_rss_delta_mb']} MB (psutil, sampled every 1 ms)")
        print(
            f"  peak allocations {result['peak_alloc_mb']} MB (tracemalloc {result['peak_alloc_numpy_python_mb']} MB "
            f"+ Arrow pool {result['peak_alloc_arrow_mb']} MB)"
        )
        print(
            f"  peak / frame = {result['peak_over_frame']}x (larger of the two; target < {MEMORY_TARGET_X}x): "
            f"{'PASS' if result['memory_ok'] else 'FAIL'}"
        )
    return 0 if result["time_ok"] and result["memory_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
