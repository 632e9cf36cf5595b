"""Model packaging: save_model vs a plain joblib.dump, and verified-load overhead.

Standalone: ``.venv/bin/python bench/bench_packaging.py [--save-mb 100] [--load-mb 10] [--repeat 3]``.

Targets (issue 5, section 9):

- **save**: packaging a ~100 MB scikit-learn model (a RandomForest) takes at most 1.5x the time
  of simply writing it with ``joblib.dump``. ``save_model`` writes each file once (skops when it
  can represent the model safely, joblib otherwise) and hashes it with multi-threaded BLAKE3 from
  the page cache, so the overhead over the serializer itself is hashing plus ``model.yaml``.
  The skops and joblib serializers alone are printed too, to show what the choice of the safe
  format costs.
- **load**: loading a ~10 MB package with every digest verified adds < 50 ms over the flavor's own
  deserialisation — for skops, ``get_untrusted_types`` + ``skops.io.load`` with that trusted
  list (a safe skops load needs both); for joblib, ``joblib.load``. Both serializations are shown.

Each figure is the median of ``--repeat`` runs, each writing into a fresh directory (deleted after
the run). The save variants run interleaved, and the ratio is the median of per-run ratios, so a
load change on a shared machine hits both sides alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import skops.io as sio
from sklearn.ensemble import RandomForestRegressor

from modelyard.models import load_model, save_model


def forest(target_mb: float, seed: int = 0) -> Any:
    """A RandomForestRegressor whose joblib file is about ``target_mb`` megabytes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(20_000, 10))
    y = x[:, 0] + rng.normal(scale=0.5, size=len(x))
    model = RandomForestRegressor(n_estimators=2, random_state=seed, n_jobs=-1, warm_start=True).fit(x, y)
    with tempfile.TemporaryDirectory() as tmp:
        joblib.dump(model, Path(tmp) / "probe.joblib")
        per_tree = os.path.getsize(Path(tmp) / "probe.joblib") / 2
    model.set_params(n_estimators=max(2, round(target_mb * 1e6 / per_tree)))
    return model.fit(x, y)


def timed(repeat: int, makers: dict[str, Callable[[Path], object]], root: Path) -> dict[str, list[float]]:
    """Seconds of each ``make(fresh_path)``, interleaved run by run so load changes hit all alike."""
    times: dict[str, list[float]] = {name: [] for name in makers}
    for i in range(repeat):
        for name, make in makers.items():
            target = root / f"{name}-{i}"
            target.mkdir()
            start = time.perf_counter()
            make(target / "out")
            times[name].append(time.perf_counter() - start)
            shutil.rmtree(target)
    return times


def bench_save(model: Any, root: Path, repeat: int) -> None:
    probe = root / "probe.joblib"
    joblib.dump(model, probe)
    size = probe.stat().st_size / 1e6
    probe.unlink()
    times = timed(
        repeat,
        {
            "joblib": lambda p: joblib.dump(model, p),
            "skops": lambda p: sio.dump(model, p),
            "save_model": lambda p: save_model(model, p),
        },
        root,
    )
    pkg = save_model(model, root / "probe")
    fmt = pkg.metadata["flavor_info"]["format"]
    shutil.rmtree(root / "probe")
    t_joblib, t_skops, t_save = (statistics.median(times[k]) for k in ("joblib", "skops", "save_model"))
    ratio = statistics.median(s / j for s, j in zip(times["save_model"], times["joblib"], strict=True))
    print(f"save: model of {size:.1f} MB (joblib file), median of {repeat} interleaved runs")
    print(f"  joblib.dump                  {t_joblib * 1000:8.1f} ms")
    print(f"  skops.io.dump                {t_skops * 1000:8.1f} ms   ({t_skops / t_joblib:.2f}x joblib)")
    print(f"  save_model ({fmt}, hashed)  {t_save * 1000:8.1f} ms   (median ratio {ratio:.2f}x joblib)")
    print(f"  target save_model <= 1.5x joblib.dump: {'PASS' if ratio <= 1.5 else 'FAIL'}")


def median_of(repeat: int, fn: Callable[[], object]) -> float:
    """Median seconds of ``fn()`` over ``repeat`` runs, after one warm-up (imports, page cache)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_load(model: Any, root: Path, repeat: int) -> None:
    rows = []
    for serialization in ("skops", "joblib"):
        path = root / serialization
        pkg = save_model(model, path, serialization=serialization)
        model_file = path / pkg.metadata["flavor_info"]["file"]
        size = model_file.stat().st_size / 1e6
        if serialization == "skops":
            # skops' own safe load: list the types the file needs, then load with that trusted list
            own = median_of(repeat, lambda f=model_file: sio.load(f, trusted=sio.get_untrusted_types(file=f)))
        else:
            own = median_of(repeat, lambda f=model_file: joblib.load(f))
        full = median_of(repeat, lambda p=path, m=pkg.files: load_model(p, trust=True, expected_files=m))
        rows.append((serialization, size, own, full))
    print("load: package verified against model.yaml and the registry manifest, vs the flavor's own load")
    worst = 0.0
    for serialization, size, own, full in rows:
        overhead = (full - own) * 1000
        worst = max(worst, overhead)
        print(
            f"  {serialization:6s} {size:5.1f} MB   own load {own * 1000:7.1f} ms   "
            f"load_model {full * 1000:7.1f} ms   (+{overhead:.1f} ms)"
        )
    print(f"  target overhead < 50 ms: {'PASS' if worst < 50 else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save-mb", type=float, default=100.0)
    parser.add_argument("--load-mb", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-packaging-") as tmp:
        root = Path(tmp)
        bench_save(forest(args.save_mb), root, args.repeat)
        bench_load(forest(args.load_mb, seed=1), root, max(args.repeat, 5))


if __name__ == "__main__":
    main()
