"""Model registry: ``log_model`` vs ``joblib.dump`` and vs MLflow, and cached verified loading.

Standalone: ``.venv/bin/python bench/bench_models.py [--log-mb 100] [--load-mb 10] [--repeat 3]``
(MLflow from ``bench/.venv-mlflow``: ``bash bench/setup_mlflow.sh``; without it that row is skipped).

Targets (issue 5, section 9):

- ``yard.log_model`` of a ~100 MB scikit-learn model (package written, files stored durably as the
  run's artifacts, version registered with its metrics snapshot) takes at most 1.5x the time of
  simply writing the model with ``joblib.dump``, and is at least 3x faster than MLflow's
  ``mlflow.sklearn.log_model(..., registered_model_name=...)`` on a SQLite backend store.
- ``yard.models.load("models:/name/1")`` of a cached ~10 MB version, every file's digest verified
  against the registry, adds < 50 ms over the flavor's own deserialisation.

Each figure is the median of ``--repeat`` interleaved rounds after one warm-up (imports, first
registration). ``log_model`` is timed as the call itself (the target) and as a whole run (start,
``log_metric``, ``log_model``, end: what MLflow's figure covers, so the MLflow ratio uses it).

Which baseline: the issue's "the time to simply write the model file" is a plain ``joblib.dump``
into a new directory (page cache only, not durable). ``log_model`` makes its blobs durable before
the version row commits (DESIGN.md, "nothing lost, nothing torn": targets are met with that
durability, never by dropping it), so the durable plain write (``joblib.dump`` + ``fsync``) is
printed too.

Same memory state for every timed write: each one follows the release of ~100 MB of page cache
(the plain files are deleted after their round; the store's blobs have their cache dropped, see
:func:`release_page_cache`). This VM's hypervisor takes free guest memory back (free page
reporting), and writing 100 MB into memory it must hand back again costs ~230 ms of system time
instead of ~28 ms. Before this protocol, the plain dump ran right after ``log_model`` (which frees
nothing) and paid that: earlier figures (dump 38.8-81.7 ms, ``log_model`` 1.58-2.04x) mixed the
two states. Last run (2026-11-27, idle, repeat 11): dump 27.4 ms, dump + fsync 51.3 ms (1.87x),
``save_model`` 31.6 ms, ``log_model`` 46.6 ms = 1.72x the plain dump (target 1.5x: not met) and
0.91x the durable plain write; whole run 49.8 ms; MLflow 3.17.2 1949 ms (39x slower). Where the
time goes and what was tried: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_packaging import forest

MLFLOW_PY = Path(__file__).resolve().parent / ".venv-mlflow" / "bin" / "python"

_MLFLOW_SCRIPT = r"""
import json, os, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import joblib, mlflow, mlflow.sklearn
root, model_file, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.chdir(root)
mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
model = joblib.load(model_file)
def log():
    with mlflow.start_run():
        mlflow.log_metric("accuracy", 0.9)
        # cloudpickle: MLflow's fastest sklearn format (its skops default refuses tree models unless
        # every type is listed as trusted), so the comparison favours MLflow
        fmt = mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
        try:
            mlflow.sklearn.log_model(model, name="model", registered_model_name="bench", serialization_format=fmt)
        except TypeError:  # MLflow 2.x
            mlflow.sklearn.log_model(
                model, artifact_path="model", registered_model_name="bench", serialization_format=fmt
            )
log()
def release():  # as release_page_cache() on modelyard's side: each round starts in the same memory state
    for folder, _, names in os.walk(root):
        for name in names:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
times = []
for _ in range(repeat):
    release()
    start = time.perf_counter()
    log()
    times.append(time.perf_counter() - start)
print(json.dumps({"median": statistics.median(times), "version": mlflow.__version__}))
"""


def median(times: list[float]) -> float:
    return statistics.median(times)


def release_page_cache(directory: Path) -> None:
    """Drop the (clean, fsynced) page cache of every file under ``directory``, as deleting them would.

    Every timed write below starts right after ~100 MB of page cache was freed (the plain files are
    deleted after their round; the store keeps its blobs, so their cache is dropped instead). On
    this VM that matters more than anything measured: the hypervisor takes back free guest memory
    (free page reporting), and writing 100 MB into pages it must hand back again costs 230 ms of
    system time instead of 28 ms. Without this, whichever write follows ``log_model`` paid that
    and the plain ``joblib.dump`` baseline came out 8x slower than it is.
    """
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def bench_log(model: Any, root: Path, repeat: int) -> dict[str, float]:
    import modelyard as yard

    probe = root / "probe.joblib"
    joblib.dump(model, probe)
    size = probe.stat().st_size / 1e6
    store = root / "store"
    yard.set_uri(str(store))
    yard.set_project("bench")
    calls: list[float] = []

    def log() -> None:  # a fresh model each time (see below), so every package's blobs are new
        with yard.start_run():
            yard.log_metric("accuracy", 0.9)
            start = time.perf_counter()
            yard.log_model(model, "bench")
            calls.append(time.perf_counter() - start)

    model.bench_iteration_ = -1
    log()  # warm-up: imports, the first registration
    calls.clear()
    from modelyard.models import save_model

    def fresh(name: str) -> Path:  # each plain write goes into a new directory, as log_model's staging does
        directory = root / name
        directory.mkdir()
        return directory

    dumps: list[float] = []
    saves: list[float] = []
    durables: list[float] = []
    logs: list[float] = []
    for i in range(repeat):  # interleaved, so a load change on a shared machine hits all alike
        model.bench_iteration_ = i  # new bytes each time: nothing is deduplicated against an earlier run
        target = fresh(f"plain-{i}")
        start = time.perf_counter()
        joblib.dump(model, target / "model.joblib")
        dumps.append(time.perf_counter() - start)
        shutil.rmtree(target)
        target = fresh(f"durable-{i}")
        start = time.perf_counter()
        with open(target / "model.joblib", "wb") as out:  # the same file, made durable like a blob
            joblib.dump(model, out)
            out.flush()
            os.fsync(out.fileno())
        durables.append(time.perf_counter() - start)
        shutil.rmtree(target)
        start = time.perf_counter()
        save_model(model, root / f"package-{i}")
        saves.append(time.perf_counter() - start)
        shutil.rmtree(root / f"package-{i}")
        start = time.perf_counter()
        log()
        logs.append(time.perf_counter() - start)
        release_page_cache(store)
    ratio = statistics.median(m / d for m, d in zip(calls, dumps, strict=True))
    results = {
        "size_mb": size,
        "joblib": median(dumps),
        "save_model": median(saves),
        "durable": median(durables),
        "over_durable": statistics.median(m / d for m, d in zip(calls, durables, strict=True)),
        "log_model": median(calls),
        "run": median(logs),
        "run_ratio": statistics.median(m / d for m, d in zip(logs, dumps, strict=True)),
        "ratio": ratio,
        "over_save": statistics.median(m / s for m, s in zip(calls, saves, strict=True)),
    }
    if MLFLOW_PY.exists():
        mroot = Path(tempfile.mkdtemp(prefix="bench-mlflow-", dir=root))
        proc = subprocess.run(
            [str(MLFLOW_PY), "-c", _MLFLOW_SCRIPT, str(mroot), str(probe), str(repeat)],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELYARD_"))},
            check=False,
        )
        if proc.returncode == 0:
            data = json.loads(proc.stdout.strip().splitlines()[-1])
            results["mlflow"] = data["median"]
            results["mlflow_version"] = data["version"]
        else:
            print(f"MLflow side failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
    probe.unlink()
    return results


def bench_load(model: Any, root: Path, repeat: int) -> dict[str, float]:
    import skops.io as sio

    import modelyard as yard

    yard.set_uri(str(root / "load-store"))
    yard.set_project("bench")
    with yard.start_run():
        version = yard.log_model(model, "loadbench")
    package = yard.get_client().registry.cache_dir / version.digest
    yard.models.load("models:/loadbench/1")  # materialises the cache
    meta_format = json.dumps(sorted(f.path for f in version.files))
    model_file = next(package / f.path for f in version.files if f.path != "model.yaml")
    if model_file.suffix == ".skops":

        def own() -> object:
            return sio.load(model_file, trusted=sio.get_untrusted_types(file=model_file))

    else:

        def own() -> object:
            return joblib.load(model_file)

    def registry_load() -> object:
        return yard.models.load("models:/loadbench/1")

    own_times, full_times = [], []
    own()
    registry_load()
    for _ in range(repeat):
        start = time.perf_counter()
        own()
        own_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        registry_load()
        full_times.append(time.perf_counter() - start)
    yard.get_client().close()
    yard.set_uri(None)
    return {
        "size_mb": model_file.stat().st_size / 1e6,
        "own": median(own_times),
        "load": median(full_times),
        "files": meta_format,
        "format": model_file.suffix.lstrip("."),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--log-mb", type=float, default=100.0)
    parser.add_argument("--load-mb", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs, median of {args.repeat} runs")
    with tempfile.TemporaryDirectory(prefix="bench-models-", dir="/tmp") as tmp:
        root = Path(tmp)
        log = bench_log(forest(args.log_mb), root, args.repeat)
        load = bench_load(forest(args.load_mb, seed=1), root, max(args.repeat, 5))
    print(f"\nlog_model of a {log['size_mb']:.0f} MB RandomForest (package + durable blobs + registered version)")
    print(f"  {'what':44s} {'ms':>9s} {'ratio':>8s}")
    print(f"  {'joblib.dump (plain file)':44s} {log['joblib'] * 1000:9.1f} {'1.00x':>8s}")
    print(f"  {'joblib.dump + fsync (a durable plain file)':44s} {log['durable'] * 1000:9.1f} "
          f"{log['durable'] / log['joblib']:7.2f}x")  # fmt: skip
    print(f"  {'save_model alone (packaging, no store)':44s} {log['save_model'] * 1000:9.1f} "
          f"{log['save_model'] / log['joblib']:7.2f}x")  # fmt: skip
    print(f"  {'yard.log_model (the call)':44s} {log['log_model'] * 1000:9.1f} {log['ratio']:7.2f}x")
    print(f"  {'  whole run: start, log_metric, log_model, end':44s} {log['run'] * 1000:9.1f} {log['run_ratio']:7.2f}x")
    print(f"  registry's own share (store + register): {log['over_save']:.2f}x save_model")
    ok_dump = log["ratio"] <= 1.5
    print(f"  target log_model <= 1.5x joblib.dump: {'PASS' if ok_dump else 'FAIL'}"
          f"   (vs the durable plain file: {log['over_durable']:.2f}x)")  # fmt: skip
    if "mlflow" in log:
        speedup = log["mlflow"] / log["run"]  # MLflow's figure is a whole run too
        label = f"mlflow.sklearn.log_model + registration ({log['mlflow_version']})"
        print(f"  {label:44s} {log['mlflow'] * 1000:9.1f} {log['mlflow'] / log['joblib']:7.2f}x")
        print(f"  modelyard is {speedup:.1f}x faster than MLflow; target >= 3x: {'PASS' if speedup >= 3 else 'FAIL'}")
    else:
        print("  MLflow: bench/.venv-mlflow missing (bash bench/setup_mlflow.sh): skipped")
    overhead = (load["load"] - load["own"]) * 1000
    print(f"\nload of a cached {load['size_mb']:.1f} MB version ({load['format']}), every digest verified")
    print(f"  {'flavor deserialisation alone':44s} {load['own'] * 1000:9.1f}")
    print(f"  {'yard.models.load(models:/loadbench/1)':44s} {load['load'] * 1000:9.1f}   (+{overhead:.1f} ms)")
    print(f"  target overhead < 50 ms: {'PASS' if overhead < 50 else 'FAIL'}")


if __name__ == "__main__":
    main()
