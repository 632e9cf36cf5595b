"""The fluent dataset API: ``yard.data.*`` and ``yard.log_input`` on the active run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import modelyard as yard
from modelyard.client import Client
from modelyard.errors import InvalidInputError


def test_add_log_input_and_read_back(fluent: Client, tmp_path: Path) -> None:
    csv = tmp_path / "train.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    with yard.start_run(name="fit") as run:
        dv = yard.data.add(csv, name="churn-train", message="first")
        link = yard.log_input(dv, role="train")
        yard.data.log_input("churn-train@1", role="eval")
    assert (link.run_id, link.ref, link.role) == (run.id, "churn-train@1", "train")
    assert sorted(i.role for i in fluent.list_run_inputs(run.id)) == ["eval", "train"]
    assert [u.run_id for u in yard.data.lineage("churn-train@1")] == [run.id, run.id]
    assert [d.name for d in yard.data.list()] == ["churn-train"]
    assert [v.version for v in yard.data.versions("churn-train")] == [1]
    assert yard.data.show("churn-train").digest == dv.digest
    frame = yard.data.load(dv)
    assert list(frame.columns) == ["a", "b"] and len(frame) == 2
    out = yard.data.get("churn-train", tmp_path / "out")
    assert (out / "train.csv").read_text() == csv.read_text()
    assert yard.data.add(csv, name="churn-train").version == 1  # unchanged


def test_log_input_needs_an_active_run(fluent: Client, tmp_path: Path) -> None:
    dv = yard.data.add(pd.DataFrame({"x": [1, 2]}), name="frame")
    with pytest.raises(InvalidInputError, match="No active run"):
        yard.log_input(dv)


def test_public_names() -> None:
    for name in (
        "add",
        "get",
        "load",
        "log_input",
        "versions",
        "list",
        "show",
        "delete",
        "lineage",
        "infer_schema",
        "validate",
        "profile",
        "merge_profiles",
        "Schema",
        "load_schema",
        "save_schema",
        "read_table",
    ):
        assert callable(getattr(yard.data, name)), name
    assert "log_input" in yard.__all__ and "data" in yard.__all__
