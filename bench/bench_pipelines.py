"""Pipelines: modelyard vs Prefect, same machine, same run.

    .venv/bin/python bench/bench_pipelines.py [--quick]

Prefect comes from PyPI into its own venv (``bench/.venv-prefect``, gitignored)::

    python3 -m venv bench/.venv-prefect && bench/.venv-prefect/bin/pip install prefect

Each side runs in a fresh interpreter of its own venv with a fresh temp store (modelyard: an
embedded SQLite store, every step run recorded durably enough for ``resume``; Prefect: its default
ephemeral API over SQLite in a temp ``PREFECT_HOME``). Start-up (store creation, Prefect's server)
happens in a warm-up run before any timer starts. Measured:

- sequential: N trivial steps in a chain (each returns a small value stored inline); the overhead
  per step is (time - N plain calls) / N;
- fan-out: N independent trivial steps submitted at once, then one step summing them;
- CPU time per sequential step (modelyard, engine and recorder threads): what the overhead is on an
  idle machine; on a loaded one the wall time also counts waiting for a CPU (check the load average);
- a chain of N steps that each log one metric with ``yard.log_metric`` (to the step run, which is the
  active run inside a step): the price of a step that logs (its row written before the first call,
  its metric written before its ``FINISHED`` record), shown for information;
- cached re-run: a 10-step pipeline of cached steps, run again with unchanged inputs (modelyard only:
  Prefect's cache needs result persistence configured, so it is shown as n/a).

Every run is checked (the final value, and for modelyard the number of step runs in the store).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
MODELYARD_PY = REPO / ".venv" / "bin" / "python"
PREFECT_PY = BENCH_DIR / ".venv-prefect" / "bin" / "python"

MODELYARD_SIDE = textwrap.dedent(
    """
    import json, sys, time
    import modelyard as yard
    from modelyard.client import Client

    n = int(sys.argv[1])

    @yard.step
    def inc(x):
        return x + 1

    @yard.step
    def total(values):
        return sum(values)

    @yard.pipeline
    def chain(n: int = 10):
        x = 0
        for _ in range(n):
            x = inc(x)
        return x

    @yard.pipeline
    def fan(n: int = 10):
        return total([inc(i) for i in range(n)])

    @yard.step(cache=True)
    def cinc(x):
        return x + 1

    @yard.pipeline
    def cached(n: int = 10):
        x = 0
        for _ in range(n):
            x = cinc(x)
        return x

    @yard.step
    def linc(x):
        yard.log_metric("x", x)  # logs to this step's run (its row is written first, its metric before FINISHED)
        return x + 1

    @yard.pipeline
    def logged(n: int = 10):
        x = 0
        for _ in range(n):
            x = linc(x)
        return x

    client = Client(project="bench")
    chain.run(params={"n": 10}, client=client)  # warm-up: store, imports, threads
    fan.run(params={"n": 10}, client=client)

    t = time.perf_counter()
    for i in range(n):
        inc.fn(i)
    plain = time.perf_counter() - t

    t, cpu = time.perf_counter(), time.process_time()
    run = chain.run(params={"n": n}, client=client)
    sequential, sequential_cpu = time.perf_counter() - t, time.process_time() - cpu
    assert run.output(f"inc_{n}") == n, "wrong chain result"
    stored = client.backend.get_pipeline_run(run.id)
    assert len(stored.steps) == n and all(s.status == "FINISHED" for s in stored.steps), "steps not stored"

    t = time.perf_counter()
    run = fan.run(params={"n": n}, client=client)
    fan_out = time.perf_counter() - t
    assert run.output("total") == sum(range(1, n + 1)), "wrong fan-out result"
    assert len(client.backend.get_pipeline_run(run.id).steps) == n + 1, "steps not stored"

    t = time.perf_counter()
    run = logged.run(params={"n": n}, client=client)
    logging_steps = time.perf_counter() - t
    last = run.step(f"linc_{n}").run_id
    assert [m.value for m in Client(project="bench").get_metric_history(last, "x")] == [n - 1], "metric not stored"

    cached.run(params={"n": 10}, client=client)
    t = time.perf_counter()
    run = cached.run(params={"n": 10}, client=client)
    rerun = time.perf_counter() - t
    assert all(s.status == "CACHED" for s in run.steps) and run.output("cinc_10") == 10, "cache missed"
    print(json.dumps({"sequential": sequential, "sequential_cpu": sequential_cpu, "plain": plain, "fan_out": fan_out,
                      "cached_rerun": rerun, "logging_steps": logging_steps}))
    """
)

PREFECT_SIDE = textwrap.dedent(
    """
    import json, sys, time
    from prefect import flow, task

    n = int(sys.argv[1])

    @task
    def inc(x):
        return x + 1

    @task
    def total(values):
        return sum(values)

    @flow
    def chain(n: int):
        x = 0
        for _ in range(n):
            x = inc(x)
        return x

    @flow
    def fan(n: int):
        futures = [inc.submit(i) for i in range(n)]
        return total([f.result() for f in futures])

    chain(10)  # warm-up: the ephemeral API server and its database
    fan(10)

    t = time.perf_counter()
    for i in range(n):
        inc.fn(i)
    plain = time.perf_counter() - t

    t = time.perf_counter()
    assert chain(n) == n, "wrong chain result"
    sequential = time.perf_counter() - t

    t = time.perf_counter()
    assert fan(n) == sum(range(1, n + 1)), "wrong fan-out result"
    fan_out = time.perf_counter() - t
    print(json.dumps({"sequential": sequential, "plain": plain, "fan_out": fan_out, "cached_rerun": None}))
    """
)


def _side(python: Path, code: str, n: int, env: dict[str, str]) -> dict[str, float | None]:
    with tempfile.TemporaryDirectory(prefix="bench-pipelines-") as tmp:
        script = Path(tmp) / "side.py"
        script.write_text(code)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "PREFECT_"))}
        full_env.update({k: v.replace("{tmp}", tmp) for k, v in env.items()})
        proc = subprocess.run(
            [str(python), str(script), str(n)], cwd=tmp, env=full_env, capture_output=True, text=True, timeout=1800
        )
        if proc.returncode != 0:
            raise SystemExit(f"{python} failed:\n{proc.stderr[-3000:]}")
        result: dict[str, float | None] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result


def main() -> int:
    """Run both sides and print the table; exit 1 when a modelyard target fails."""
    n = 200 if "--quick" in sys.argv else 1000
    print(f"pipelines benchmark, N={n}, load average {os.getloadavg()[0]:.2f}", flush=True)
    yard = _side(MODELYARD_PY, MODELYARD_SIDE, n, {"MODELYARD_HOME": "{tmp}/home"})
    print(f"modelyard: {yard}", flush=True)
    prefect: dict[str, float | None] | None = None
    if PREFECT_PY.exists():
        prefect = _side(
            PREFECT_PY,
            PREFECT_SIDE,
            n,
            {
                "PREFECT_HOME": "{tmp}/prefect",
                "PREFECT_LOGGING_LEVEL": "ERROR",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "0",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
            },
        )
        print(f"Prefect: {prefect}", flush=True)
    else:
        print("Prefect: not installed (see the module docstring); only modelyard is measured", flush=True)

    def per_step(side: dict[str, float | None], key: str) -> float:
        return ((side[key] or 0.0) - (side["plain"] or 0.0)) / n * 1000

    rows = []
    failed = False
    y_seq, y_fan = per_step(yard, "sequential"), per_step(yard, "fan_out")
    p_seq = per_step(prefect, "sequential") if prefect else None
    p_fan = per_step(prefect, "fan_out") if prefect else None
    ratio_seq = p_seq / y_seq if p_seq else None
    ok_seq = y_seq < 0.5 and (ratio_seq is None or ratio_seq >= 10)
    failed |= not ok_seq
    rows.append(("overhead/step, sequential (ms)", y_seq, p_seq, ratio_seq, "< 0.5 ms, >= 10x", ok_seq))
    cpu = (yard.get("sequential_cpu") or 0.0) / n * 1000
    rows.append(("  CPU time/step, sequential (ms)", cpu, None, None, "info", True))
    logging = ((yard.get("logging_steps") or 0.0) - (yard["plain"] or 0.0)) / n * 1000
    rows.append(("  step logging 1 metric (ms/step)", logging, None, None, "info", True))
    rows.append(("overhead/step, fan-out (ms)", y_fan, p_fan, p_fan / y_fan if p_fan else None, "completes", True))
    rerun = (yard["cached_rerun"] or 0.0) * 1000
    ok_rerun = rerun < 100
    failed |= not ok_rerun
    rows.append(("cached re-run, 10 steps (ms)", rerun, None, None, "< 100 ms", ok_rerun))

    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    header = f"{'benchmark':34} {'modelyard':>10} {'Prefect':>10} {'ratio':>8}  {'target':18} result"
    print(header)
    for name, mine, theirs, ratio, target, ok in rows:
        ratio_text = "n/a" if ratio is None else f"{ratio:.1f}x"
        print(f"{name:34} {cell(mine):>10} {cell(theirs):>10} {ratio_text:>8}  {target:18} {'PASS' if ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
