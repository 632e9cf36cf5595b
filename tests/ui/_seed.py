"""A small realistic project for the browser tests and the screenshots: runs with series, nested
runs, artifacts, a dataset with two versions, a viewer and an editor."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

import modelyard as yard
from modelyard.client import Client
from modelyard.entities import Role
from tests.ui._env import XSS, UiEnv


def png(width: int = 64, height: int = 40) -> bytes:
    """A small real PNG (a colour gradient), written without an imaging library."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 6 % 256, 160)) for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@yard.step
def prepare(n: int) -> list[float]:
    print(f"preparing {n} rows")
    return [float(i) for i in range(n)]


@yard.step
def mean(rows: list[float]) -> float:
    return sum(rows) / len(rows)


@yard.step
def spread(rows: list[float]) -> float:
    return max(rows) - min(rows)


@yard.step
def report(m: float, s: float) -> str:
    return f"mean {m}, spread {s}"


@yard.pipeline
def summary(n: int = 10) -> str:
    rows = prepare(n)
    return report(mean(rows), spread(rows))


def run_pipeline(client: Client) -> str:
    """One finished run of a real four-step pipeline; returns its id."""
    return str(summary.run(params={"n": 20}, client=client, project="demo").id)


def register_models(client: Client, ids: dict[str, str]) -> None:
    """Two versions of a real scikit-learn model ``churn`` (from runs baseline and wide), aliased, @1 in staging."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"amount": rng.normal(size=80), "tenure": rng.integers(0, 60, size=80).astype(float)})
    y = (x["amount"] + x["tenure"] / 30 > 1).astype(int)
    for run in ("baseline", "wide"):
        model = LogisticRegression(C=1.0 if run == "baseline" else 0.5).fit(x, y)
        client.log_model(ids[run], model, "churn", input_example=x.head(5))
    client.registry.set_alias("churn", "champion", 1)
    staging = client.registry.request_promotion("churn@1", "staging", reason="first candidate")
    client.registry.approve(staging.id, reason="checked on the hold-out set")


def seed(env: UiEnv) -> dict[str, str]:
    """Fill project ``demo``; returns the ids of the notable runs."""
    env.tracking.create_project("demo", "Churn models")
    env.user("vera", Role.VIEWER, project="demo")
    env.user("ed", Role.EDITOR, project="demo")
    ids: dict[str, str] = {}
    configs = [
        ("baseline", "lr", 1.0, 0.05),
        ("wide", "rf", 0.5, 0.03),
        ("deep", "rf", 0.1, 0.02),
        ("tiny", "lr", 2.0, 0.08),
    ]
    for name, model, c, rate in configs:
        loss = [1.2 * math.exp(-rate * s) + 0.05 * math.sin(s / 3) + (0.6 if s == 120 else 0.0) for s in range(300)]
        ids[name] = env.run(
            "demo",
            name,
            params={"model": model, "C": c, "penalty": "l2" if model == "lr" else "none"},
            metrics={
                "loss": loss,
                "accuracy": [0.6 + 0.3 * (1 - math.exp(-rate * s)) for s in range(300)],
                "system/cpu_percent": [40 + 10 * math.sin(s / 10) for s in range(60)],
            },  # fmt: skip
            tags={"team": "risk"},
        )
    for fold in range(3):
        loss = {"loss": [0.3 + fold / 10]}
        env.run("demo", f"fold-{fold}", params={"fold": fold}, metrics=loss, parent=ids["baseline"])
    ids["xss"] = env.run("demo", XSS, params={"note": XSS}, metrics={"loss": [0.5, 0.4]}, tags={"why": XSS})
    files = env.root / "files"
    files.mkdir(exist_ok=True)
    (files / "roc.png").write_bytes(png())
    rows = "".join(f"{i},{i / 50:.2f},{i % 2}\n" for i in range(50))
    (files / "predictions.csv").write_text("id,score,label\n" + rows)
    (files / "report.json").write_text('{"auc": 0.91, "threshold": 0.5}')
    env.tracking.log_artifacts(ids["baseline"], [(files / n, n) for n in ("roc.png", "predictions.csv", "report.json")])
    client = env.client("demo")
    try:
        train = files / "train.csv"
        rows = [f"{i},{(i * 7) % 23 / 3:.2f},{'ab'[i % 2]}{i % 5}" for i in range(400)]
        train.write_text("id,amount,segment\n" + "\n".join(rows) + "\n")
        client.data.add(train, name="train")
        train.write_text("id,amount,segment\n" + "\n".join(rows + ["400,99.5,z9", "401,1.0,a1"]) + "\n")
        version = client.data.add(train, name="train")
        client.log_input(ids["baseline"], version, role="train")
        register_models(client, ids)
        ids["pipeline_run"] = run_pipeline(client)
    finally:
        client.close()
    return ids


def build(root: Path) -> dict[str, str]:
    """Seed a store under ``root`` (the layout ``ServerProcess`` uses) and close it."""
    env = UiEnv(root)
    try:
        with env.http:
            ids = seed(env)
            ids["admin_password"] = env.admin_password
    finally:
        env.close()
    return ids
