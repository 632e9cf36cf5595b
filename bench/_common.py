"""Shared helpers for the modelyard-vs-MLflow benchmarks.

Standard library only: this module is imported both by the orchestrator (modelyard venv)
and by the side scripts running in either venv.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

MODELYARD_PY = REPO / ".venv" / "bin" / "python"
MODELYARD_CLI = REPO / ".venv" / "bin" / "modelyard"
MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"
MLFLOW_PY = MLFLOW_VENV / "bin" / "python"
MLFLOW_CLI = MLFLOW_VENV / "bin" / "mlflow"

SIDE_SCRIPTS = {
    "modelyard": (MODELYARD_PY, BENCH_DIR / "modelyard_side.py"),
    "mlflow": (MLFLOW_PY, BENCH_DIR / "mlflow_side.py"),
    "loadgen": (MODELYARD_PY, BENCH_DIR / "loadgen.py"),  # HTTP load generator, drives either server
}


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    # never let a user's own configuration leak into a measurement
    for k in list(env):
        if k.startswith(("MODELYARD_", "MLFLOW_")):
            del env[k]
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    if extra:
        env.update(extra)
    return env


def make_tmp(tool: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"bench-{tool}-", dir="/tmp"))


def rm_tmp(path: Path) -> None:
    if os.environ.get("BENCH_KEEP_TMP"):
        print(f"[bench] keeping {path}", file=sys.stderr)
        return
    shutil.rmtree(path, ignore_errors=True)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


class SideError(RuntimeError):
    pass


def run_side(tool: str, args: list[str], timeout: float = 900.0) -> dict:
    """Run `<tool>_side.py <args>` in that tool's venv; return the JSON it prints last."""
    py, script = SIDE_SCRIPTS[tool]
    if not py.exists():
        raise SideError(f"{py} missing (run bench/setup_mlflow.sh / create the modelyard venv)")
    cmd = [str(py), str(script), *args]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=tool_env(), cwd="/tmp")
    except subprocess.TimeoutExpired as e:
        raise SideError(f"{tool} {' '.join(args)}: timed out after {timeout:.0f}s") from e
    wall = time.perf_counter() - t0
    last = ""
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            last = line
    if proc.returncode != 0 or not last or json.loads(last).get("error"):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-25:]
        log(f"{tool} {' '.join(args)} failed (rc={proc.returncode}):\n    " + "\n    ".join(tail))
        summary = json.loads(last).get("error") if last else None
        if not summary:
            summary = tail[-1] if tail else f"exit code {proc.returncode}, no output"
        raise SideError(summary)
    out = json.loads(last)
    out.setdefault("side_wall_s", wall)
    return out


def emit(obj: dict) -> None:
    """Side scripts: print the result as one JSON line on stdout."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- deterministic data


def search_dataset(n: int, seed: int = 1234):
    """Yield (i, params, metrics) for the search benchmark; identical for both tools."""
    import random

    rng = random.Random(seed)
    for i in range(n):
        params = {f"p{k}": str(rng.randrange(7)) for k in range(10)}
        metrics = {f"m{k}": rng.random() for k in range(10)}
        yield i, params, metrics


SEARCH_FILTER = "metrics.m0 > 0.5 and params.p1 = '3'"
SEARCH_LIMIT = 100


def expected_search(n: int) -> list[tuple[float, str]]:
    """(m2, run name) of the runs the search must return, best first (ties by name)."""
    rows = [(m["m2"], f"r{i}") for i, p, m in search_dataset(n) if m["m0"] > 0.5 and p["p1"] == "3"]
    rows.sort(key=lambda r: -r[0])
    return rows[:SEARCH_LIMIT]


def check_search_result(n: int, got: list[tuple[str, dict, dict]]) -> tuple[bool, str]:
    """got: [(name, params, metrics)]. Checks filter, order and completeness."""
    exp = expected_search(n)
    problems = []
    if len(got) != len(exp):
        problems.append(f"{len(got)} results, expected {len(exp)}")
    for name, params, metrics in got:
        if not (float(metrics.get("m0", -1)) > 0.5 and str(params.get("p1")) == "3"):
            problems.append(f"{name} does not match the filter")
            break
    m2 = [float(m.get("m2", float("nan"))) for _, _, m in got]
    if any(a < b for a, b in zip(m2, m2[1:], strict=False)):
        problems.append("not ordered by m2 desc")
    if {name for name, _, _ in got} != {name for _, name in exp}:
        problems.append("wrong set of runs")
    return (not problems), "; ".join(problems[:3])


# ---------------------------------------------------------------- concurrency harness


def conc_spawn(script: str, tmp: Path, procs: int, points: int, timeout: float = 900.0) -> dict:
    """Start `procs` workers (`<script> conc-worker ...` in this interpreter), release them at
    the same instant once all are set up, and collect their JSON results."""
    go = tmp / "go"
    t_spawn = time.time()
    children = []
    for i in range(procs):
        cmd = [sys.executable, script, "conc-worker", "--tmp", str(tmp), "--idx", str(i), "--points", str(points)]
        out = open(tmp / f"worker-{i}.out", "w+")
        err = open(tmp / f"worker-{i}.err", "w+")
        children.append((subprocess.Popen(cmd, stdout=out, stderr=err, cwd=tmp), out, err))
    # wait until every worker is ready (or has died during set-up)
    deadline = time.time() + 300
    while time.time() < deadline:
        ready = sum((tmp / f"ready-{i}").exists() for i in range(procs))
        dead = sum(p.poll() is not None for p, _, _ in children)
        if ready + dead >= procs:
            break
        time.sleep(0.01)
    go.write_text(str(time.time()))
    t_go = time.time()
    results = []
    for i, (p, out, err) in enumerate(children):
        try:
            rc = p.wait(timeout=max(1.0, timeout - (time.time() - t_spawn)))
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        out.seek(0)
        err.seek(0)
        lines = [ln for ln in out.read().splitlines() if ln.startswith("{")]
        res = json.loads(lines[-1]) if lines else {}
        res["rc"] = rc
        if rc != 0 and not res.get("error"):
            tail = err.read().strip().splitlines()[-3:]
            res["error"] = " | ".join(tail) or f"exit code {rc}"
        res["idx"] = i
        results.append(res)
        out.close()
        err.close()
    t_end = time.time()
    starts = [r["t_start"] for r in results if "t_start" in r]
    ends = [r["t_end"] for r in results if "t_end" in r]
    ends_after_log = [r["t_end"] - r["t_logged"] for r in results if "t_end" in r and "t_logged" in r]
    return {
        "max_run_end_s": max(ends_after_log) if ends_after_log else None,
        "workers": results,
        "spawn_to_end_s": t_end - t_spawn,
        "go_to_end_s": t_end - t_go,
        "log_wall_s": (max(ends) - min(starts)) if starts and ends else None,
    }


def conc_worker_wait(tmp: Path, idx: int) -> None:
    """Worker side: announce readiness, then spin until the go file appears."""
    (tmp / f"ready-{idx}").write_text("1")
    go = tmp / "go"
    deadline = time.time() + 600
    while not go.exists():
        if time.time() > deadline:
            raise TimeoutError("no go signal")
        time.sleep(0.0005)


def short_error(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}"
    msg = " ".join(msg.split())
    return msg[:300]


# ---------------------------------------------------------------- result rows


@dataclass
class Row:
    name: str
    unit: str  # "ms", "pts/s", "runs/s", ...
    higher_is_better: bool
    my: float | None = None  # modelyard figure
    ml: float | None = None  # MLflow figure used for the ratio
    my_text: str | None = None
    ml_text: str | None = None
    target: str = "-"
    passed: bool | None = None  # None: informational row, no target
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if not self.my or not self.ml:
            return None
        return self.my / self.ml if self.higher_is_better else self.ml / self.my

    def cells(self) -> list[str]:
        r = self.ratio
        return [
            self.name,
            self.my_text if self.my_text is not None else fmt(self.my, self.unit),
            self.ml_text if self.ml_text is not None else fmt(self.ml, self.unit),
            "-" if r is None else f"{r:,.1f}x",
            self.target,
            {True: "PASS", False: "FAIL", None: "info"}[self.passed],
        ]


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "ERROR"
    if unit == "ms":
        return f"{v:,.1f} ms" if v < 100 else f"{v:,.0f} ms"
    if unit == "s":
        return f"{v:,.2f} s"
    return f"{v:,.0f} {unit}"


HEADERS = ["benchmark", "modelyard", "MLflow", "ratio", "target", "result"]


def table(rows: list[Row]) -> str:
    cells = [HEADERS] + [r.cells() for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADERS))]
    sep = "  "
    lines = [sep.join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)).rstrip()]
    lines.append(sep.join("-" * w for w in widths))
    for c in cells[1:]:
        lines.append(sep.join(x.ljust(w) for x, w in zip(c, widths, strict=True)).rstrip())
    notes = [(r.name, n) for r in rows for n in r.notes]
    if notes:
        lines.append("")
        lines.append("notes:")
        lines += [f"  - {name}: {n}" for name, n in notes]
    lines.append("")
    lines.append(
        "ratio = how many times better modelyard is than MLflow (>1: modelyard faster); "
        "result = modelyard against its target"
    )
    return "\n".join(lines)


def print_rows(title: str, rows: list[Row]) -> None:
    """Standalone output of one benchmark script: a line per tool plus the ratio."""
    print(f"== {title}")
    for r in rows:
        c = r.cells()
        print(f"  {r.name}")
        print(f"    modelyard: {c[1]}")
        print(f"    MLflow:    {c[2]}")
        print(f"    ratio:     {c[3]}   target: {c[4]}   {c[5]}")
        for n in r.notes:
            print(f"    note: {n}")


def standalone(title: str, fn) -> None:
    quick = "--quick" in sys.argv[1:]
    rows = fn(quick)
    print_rows(title, rows)
    print()
    print(table(rows))
    sys.exit(0 if all(r.passed is not False for r in rows) else 1)
