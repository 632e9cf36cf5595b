"""Pipelines the tests run by import path (``tests.pipelines.example_pipelines:NAME``)."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import modelyard as yard

log = logging.getLogger("example")


def _scale(values: list[int], factor: int) -> list[int]:
    """A helper the cached step calls: its source is part of the step's cache key."""
    return [v * factor for v in values]


@yard.step
def make(n: int) -> list[int]:
    print(f"making {n}")
    print(f"stderr of make {n}", file=sys.stderr)
    log.warning("made %s values", n)
    return list(range(n))


@yard.step(cache=True)
def scale(values: list[int], factor: int = 2) -> list[int]:
    return _scale(values, factor)


@yard.step
def halves(values: list[int]) -> tuple[list[int], list[int]]:
    return values[::2], values[1::2]


@yard.step
def summarize(parts: dict[str, Any], label: str) -> dict[str, Any]:
    return {"label": label, "even": sum(parts["even"]), "odd": sum(parts["odd"]), "n": len(parts["all"])}


@yard.pipeline
def numbers(n: int = 6, label: str = "x") -> Any:
    values = scale(make(n))
    even, odd = halves(values)
    return summarize({"even": even, "odd": odd, "all": [values]}, label)


@yard.step
def array(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / 2


@yard.step
def frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"v": values, "sq": values**2})


@yard.step
def column_sum(df: pd.DataFrame) -> float:
    return float(df["sq"].sum())


@yard.pipeline
def tables(n: int = 5) -> Any:
    return column_sum(frame(array(n)))


@yard.step
def fail_unless(marker: str, value: int) -> int:
    if not Path(marker).exists():
        raise RuntimeError(f"marker {marker} is missing")
    return value + 1


@yard.step
def add(a: int, b: int) -> int:
    return a + b


@yard.pipeline
def gated(marker: str, start: int = 1) -> Any:
    a = add(start, 1)
    b = fail_unless(marker, a)
    return add(b, 10)


@yard.step
def slow_chain_step(x: int, crash_at: int, marker: str) -> int:
    time.sleep(0.15)  # longer than the recorder's batch interval: each step is durable before the next
    if x == crash_at and not Path(marker).exists():
        os._exit(3)  # a hard crash: no flush, no final status
    return x + 1


@yard.pipeline
def crashing(marker: str, crash_at: int = 3, length: int = 5) -> Any:
    x = 0
    for _ in range(length):
        x = slow_chain_step(x, crash_at, marker)
    return x


@yard.step
def square(x: int) -> int:
    return x * x


@yard.step
def total(values: list[int]) -> int:
    return sum(values)


@yard.pipeline
def fan_out(width: int = 1000) -> Any:
    return total([square(i) for i in range(width)])


@yard.step
def training_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    return x, (x[:, 0] > 0).astype(int)


@yard.step
def fit(x: np.ndarray, y: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c).fit(x, y)


@yard.step
def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float(model.score(x, y))


@yard.pipeline
def modelling(n: int = 60, c: float = 1.0) -> Any:
    x, y = training_data(n)
    return accuracy(fit(x, y, c), x, y)


def _log_progress(label: str, rounds: int) -> None:
    """What a step logs through the fluent API: params, a metric series, a tag and an artifact."""
    run = yard.active_run()
    assert run is not None
    yard.log_params({"what": label, "n_rounds": rounds})
    for i in range(rounds):
        yard.log_metric("loss", 1.0 / (i + 1), step=i)
    yard.set_tag("pid", os.getpid())
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"modelyard-step-{run.id}.txt"
    path.write_text(f"{label}\n")
    yard.log_artifact(path, "notes")
    path.unlink()


@yard.step
def logged(x: int, label: str, rounds: int = 3) -> int:
    _log_progress(label, rounds)
    return x + 1


@yard.step(timeout=60)
def logged_with_timeout(x: int, label: str, rounds: int = 3) -> int:
    _log_progress(label, rounds)
    return x + 1


@yard.step
def quiet(x: int) -> int:
    return x + 1


@yard.pipeline
def logging_steps(rounds: int = 3) -> Any:
    a = logged(0, "plain", rounds)
    b = logged_with_timeout(a, "timeout", rounds)
    return quiet(b)


@yard.pipeline
def parallel_logging(rounds: int = 2) -> Any:
    return add(logged(0, "left", rounds), logged(10, "right", rounds))


@yard.step
def make_df(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "y": (x > 0).astype(int)})


@yard.step
def train(table: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(table[["x"]], table["y"])


@yard.pipeline
def lineage_chain(n: int = 40) -> Any:
    return train(make_df(n))


@yard.step
def wait_for(flag: str, index: int) -> int:
    """Announce the start, then wait while the file ``flag`` exists (the interrupt test's step)."""
    Path(f"{flag}.started-{index}").touch()
    while Path(flag).exists():
        time.sleep(0.05)
    return index


@yard.pipeline
def interruptible(flag: str = "") -> Any:
    return [wait_for(flag, 0), wait_for(flag, 1)]
