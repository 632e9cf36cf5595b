"""Profiles: values against numpy ground truth, the merge property, PII, inputs and bad input."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelyard.data._profile import (
    PROFILE_FORMAT,
    QUANTILES,
    Frequencies,
    Histogram,
    HyperLogLog,
    merge_profiles,
    profile,
)
from modelyard.data._tables import hash_values
from modelyard.errors import InvalidInputError

N = 20_000
KLL_RANK_ERROR = 0.02  # k = 200: about 1.7 % normalised rank error, with a margin
HLL_ERROR = 0.05  # 4,096 registers: about 1.6 % standard error, three sigmas and more


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    x = rng.normal(10.0, 3.0, N)
    x[rng.choice(N, 1000, replace=False)] = np.nan
    x[:3] = [np.inf, -np.inf, np.inf]
    return pd.DataFrame(
        {
            "x": x,
            "n": rng.integers(-50, 200, N),
            "big": rng.integers(0, 10**12, N),
            "plan": rng.choice(["free", "pro", "team", "enterprise"], N, p=[0.6, 0.25, 0.1, 0.05]),
            "tier": pd.Categorical(rng.choice(["gold", "silver", "bronze"], N)),
            "user": [f"user-{i}" for i in rng.integers(0, 10**9, N)],
            "flag": rng.random(N) < 0.3,
            "at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, N), unit="s"),
            "day": [date(2020, 1, 1 + int(i) % 28) for i in rng.integers(0, 28, N)],
            "ssn": [f"{i:09d}" for i in rng.integers(0, 10**9, N)],
        }
    )


def strip(column: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in column.items() if k not in ("sketches", "quantiles", "distinct", "distinct_exact")}


def rank_of(sorted_values: np.ndarray, value: float) -> tuple[float, float]:
    lo = np.searchsorted(sorted_values, value, side="left") / len(sorted_values)
    hi = np.searchsorted(sorted_values, value, side="right") / len(sorted_values)
    return lo, hi


# --------------------------------------------------------------------------------------------
# values


def test_numeric_statistics_match_numpy(frame: pd.DataFrame) -> None:
    p = profile(frame)
    x = p["columns"]["x"]
    values = frame["x"].to_numpy()
    finite = values[np.isfinite(values)]
    assert x["type"] == "float" and x["pii"] is False
    assert x["nulls"] == 1000 and x["count"] == N - 1000 and x["infinite"] == 3
    assert x["min"] == finite.min() and x["max"] == finite.max()
    assert x["mean"] == pytest.approx(finite.mean(), rel=1e-12)
    assert x["std"] == pytest.approx(finite.std(ddof=1), rel=1e-12)
    ordered = np.sort(finite)
    for name, q in QUANTILES.items():
        lo, hi = rank_of(ordered, x["quantiles"][name])
        assert lo - KLL_RANK_ERROR <= q <= hi + KLL_RANK_ERROR, name

    n = p["columns"]["n"]
    ints = frame["n"].to_numpy()
    assert (n["min"], n["max"]) == (int(ints.min()), int(ints.max()))
    assert isinstance(n["min"], int)
    assert n["distinct"] == len(np.unique(ints)) and n["distinct_exact"] is True
    assert n["std"] == pytest.approx(ints.std(ddof=1), rel=1e-12)


def test_histograms_have_aligned_power_of_two_bins(frame: pd.DataFrame) -> None:
    p = profile(frame, bins=20)
    for name in ("x", "n", "big"):
        hist = p["columns"][name]["histogram"]
        values = frame[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        edges = np.array(hist["edges"])
        width = edges[1] - edges[0]
        assert np.allclose(np.diff(edges), width)
        assert np.log2(width) == int(np.log2(width))  # a power of two
        assert edges[0] % width == 0  # aligned on a multiple of the width
        assert 10 <= len(hist["counts"]) <= 20
        assert edges[0] <= values.min() and values.max() < edges[-1]
        expected = np.bincount(((values - edges[0]) // width).astype(int), minlength=len(hist["counts"]))
        assert hist["counts"] == expected.tolist()
        assert sum(hist["counts"]) == len(values)
    integer_edges = p["columns"]["n"]["histogram"]["edges"]
    assert integer_edges[1] - integer_edges[0] >= 1  # integer bins are never narrower than 1


def test_text_categorical_boolean_and_date_columns(frame: pd.DataFrame) -> None:
    p = profile(frame, top_k=3)
    plan = p["columns"]["plan"]
    truth = Counter(frame["plan"])
    assert plan["type"] == "string" and plan["distinct"] == 4 and plan["distinct_exact"] is True
    assert plan["top_k"] == [{"value": v, "count": c} for v, c in truth.most_common(3)]
    assert (plan["min_length"], plan["max_length"]) == (3, 10)

    tier = p["columns"]["tier"]
    assert tier["type"] == "categorical" and tier["distinct"] == 3
    assert {t["value"]: t["count"] for t in tier["top_k"]} == dict(Counter(frame["tier"]))

    user = p["columns"]["user"]
    assert user["distinct"] == frame["user"].nunique() and user["distinct_exact"] is True
    assert len(user["top_k"]) == 3

    flag = p["columns"]["flag"]
    assert {t["value"]: t["count"] for t in flag["top_k"]} == {
        True: int(frame.flag.sum()),
        False: int((~frame.flag).sum()),
    }

    at = p["columns"]["at"]
    assert at["type"] == "datetime" and at["min"] == frame["at"].min().isoformat()
    assert at["max"] == frame["at"].max().isoformat()
    assert abs(at["distinct"] - frame["at"].nunique()) <= HLL_ERROR * frame["at"].nunique()
    day = p["columns"]["day"]
    assert day["type"] == "date" and day["min"] == "2020-01-01" and day["distinct"] == 28 and day["distinct_exact"]


def test_heavy_hitters_of_a_high_cardinality_column_are_counted_exactly() -> None:
    values = [f"id-{i}" for i in range(50_000)] + ["popular"] * 700 + ["second"] * 300
    p = profile(pd.DataFrame({"s": values}), top_k=2)
    s = p["columns"]["s"]
    assert s["top_k"] == [{"value": "popular", "count": 700}, {"value": "second", "count": 300}]
    assert s["distinct"] == 50_002 and s["distinct_exact"] is True


def test_profile_is_plain_json(frame: pd.DataFrame) -> None:
    p = profile(frame)
    assert json.loads(json.dumps(p, allow_nan=False)) == p
    assert p["format"] == PROFILE_FORMAT and p["num_rows"] == N and p["num_columns"] == frame.shape[1]
    assert list(p["columns"]) == list(frame.columns)


def test_empty_and_all_null_columns() -> None:
    p = profile(pd.DataFrame({"x": [None, None], "s": pd.Series([None, None], dtype="object")}, dtype="float64"))
    x = p["columns"]["x"]
    assert (x["count"], x["nulls"], x["min"], x["mean"], x["std"], x["distinct"]) == (0, 2, None, None, None, 0)
    assert x["quantiles"] == dict.fromkeys(QUANTILES)
    empty = profile(pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())}))
    assert empty["num_rows"] == 0 and empty["columns"]["b"]["distinct"] == 0 and empty["columns"]["b"]["top_k"] == []
    other = profile(pa.table({"l": pa.array([[1], None])}))["columns"]["l"]
    assert other == {"type": "other", "pii": False, "count": 1, "nulls": 1}


# --------------------------------------------------------------------------------------------
# merge


def assert_same(
    merged: dict[str, Any], whole: dict[str, Any], *, exact_distinct: set[str], tied_top_k: frozenset[str] = frozenset()
) -> None:
    assert merged["num_rows"] == whole["num_rows"]
    assert merged["columns"].keys() == whole["columns"].keys()
    for name, w in whole["columns"].items():
        m = merged["columns"][name]
        assert m.keys() == w.keys(), name
        for key in strip(w):
            if key == "top_k" and name in tied_top_k:
                # Values seen once each: which of the tied ones are listed is arbitrary.
                assert [t["count"] for t in m[key]] == [t["count"] for t in w[key]], name
            elif key in ("mean", "std") and w[key] is not None:
                assert m[key] == pytest.approx(w[key], rel=1e-9), (name, key)
            else:
                assert m[key] == w[key], (name, key)
        if name in exact_distinct:
            assert (m["distinct"], m["distinct_exact"]) == (w["distinct"], True), name
        elif w.get("distinct") is not None:
            # Both sides are estimates (the whole may even be exact): allow the error of each.
            assert abs(m["distinct"] - w["distinct"]) <= 2 * HLL_ERROR * w["distinct"], name
        if "quantiles" in w and w["quantiles"]["p50"] is not None:
            for q in QUANTILES:
                spread = (w["max"] - w["min"]) * 0.05
                assert abs(m["quantiles"][q] - w["quantiles"][q]) <= spread, (name, q)


def test_merging_the_profiles_of_two_halves_gives_the_whole(frame: pd.DataFrame) -> None:
    whole = profile(frame, pii=["ssn"])
    halves = [profile(frame.iloc[: N // 2], pii=["ssn"]), profile(frame.iloc[N // 2 :], pii=["ssn"])]
    merged = merge_profiles(halves)
    assert_same(merged, whole, exact_distinct={"n", "plan", "tier", "flag", "day"}, tied_top_k=frozenset({"user"}))


def test_merging_uneven_parts_with_different_ranges(frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(5)
    parts = [
        pd.DataFrame({"v": rng.uniform(0, 1, 5000), "k": rng.integers(0, 5, 5000)}),
        pd.DataFrame({"v": rng.uniform(1000, 5000, 300), "k": rng.integers(100, 120, 300)}),
        pd.DataFrame({"v": [-1e-9, 2.0], "k": [-3, 7]}),
    ]
    whole = profile(pd.concat(parts, ignore_index=True))
    merged = merge_profiles([profile(p) for p in parts])
    assert_same(merged, whole, exact_distinct={"k"})
    assert merged["columns"]["v"]["histogram"] == whole["columns"]["v"]["histogram"]
    nested = merge_profiles([merge_profiles([profile(parts[0]), profile(parts[1])]), profile(parts[2])])
    assert_same(nested, whole, exact_distinct={"k"})


def test_merged_distinct_counts_of_high_cardinality_columns_are_estimates(frame: pd.DataFrame) -> None:
    merged = merge_profiles([profile(frame.iloc[: N // 2]), profile(frame.iloc[N // 2 :])])
    user = merged["columns"]["user"]
    assert user["distinct_exact"] is False
    assert abs(user["distinct"] - frame["user"].nunique()) <= HLL_ERROR * frame["user"].nunique()


def test_integer_and_float_parts_merge_to_float() -> None:
    ints = profile(pd.DataFrame({"a": [1, 2, 3]}))
    floats = profile(pd.DataFrame({"a": [4.0, None, 2.0]}))  # pandas integers with a missing value
    merged = merge_profiles([ints, floats])["columns"]["a"]
    assert merged["type"] == "float" and merged["count"] == 5 and merged["nulls"] == 1
    assert (merged["min"], merged["max"], merged["distinct"], merged["distinct_exact"]) == (1, 4.0, 4, True)
    assert merged["mean"] == pytest.approx(2.4)


def test_merge_rejects_bad_input(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="at least one profile"):
        merge_profiles([])
    with pytest.raises(InvalidInputError, match="profile 1 is not a modelyard profile"):
        merge_profiles([profile(frame), {"columns": {}}])
    with pytest.raises(InvalidInputError, match="profile 1 has other columns than profile 0: extra"):
        merge_profiles([profile(pd.DataFrame({"a": [1]})), profile(pd.DataFrame({"a": [1], "extra": [2]}))])
    with pytest.raises(InvalidInputError, match="column 'a' has different types in the profiles: integer, string"):
        merge_profiles([profile(pd.DataFrame({"a": [1]})), profile(pd.DataFrame({"a": ["x"]}))])
    broken = profile(pd.DataFrame({"a": [1.5]}))
    broken["columns"]["a"]["sketches"]["hll"] = {"registers": "bm90IHpsaWI="}
    with pytest.raises(InvalidInputError, match="column 'a' of a profile is malformed"):
        merge_profiles([broken, broken])


# --------------------------------------------------------------------------------------------
# PII


def test_pii_columns_keep_only_counts(frame: pd.DataFrame) -> None:
    p = profile(frame, pii=["ssn", "plan"])
    assert p["columns"]["ssn"] == {"type": "string", "pii": True, "count": N, "nulls": 0}
    assert p["columns"]["plan"] == {"type": "string", "pii": True, "count": N, "nulls": 0}
    dumped = json.dumps(p)
    assert all(value not in dumped for value in frame["ssn"].head(200))
    assert '"enterprise"' not in dumped
    merged = merge_profiles([p, profile(frame)])
    assert merged["columns"]["ssn"] == {"type": "string", "pii": True, "count": 2 * N, "nulls": 0}


def test_pii_must_name_existing_columns(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="pii names columns the data lacks: nope"):
        profile(frame, pii=["nope"])
    assert profile(frame, pii="ssn")["columns"]["ssn"]["pii"] is True


# --------------------------------------------------------------------------------------------
# inputs and arguments


def test_every_input_gives_the_same_profile(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 2, 5], "b": ["x", "y", None, "x"], "c": [0.5, None, 1.5, 2.5]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    sources: list[Any] = [tmp_path / "t.csv", tmp_path / "t.parquet", tmp_path / "t.jsonl", pa.Table.from_pandas(frame)]
    try:
        import polars as pl

        sources.append(pl.from_pandas(frame))
    except ImportError:  # polars is optional
        pass
    expected = {name: strip(column) for name, column in profile(frame)["columns"].items()}
    for source in sources:
        got = {name: strip(column) for name, column in profile(source)["columns"].items()}
        assert got == expected, source


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="bins must be at least 2"):
        profile(pd.DataFrame({"a": [1]}), bins=1)
    with pytest.raises(InvalidInputError, match="top_k must be 0 or more"):
        profile(pd.DataFrame({"a": [1]}), top_k=-1)
    with pytest.raises(InvalidInputError, match="cannot read tabular data from a list"):
        profile([1, 2, 3])


# --------------------------------------------------------------------------------------------
# sketches


@pytest.mark.parametrize("n", [1, 200, 10_000, 300_000])
def test_hyperloglog_accuracy_and_exact_merge(n: int) -> None:
    hashes = hash_values(pa.array(np.arange(n) * 7 + 3))
    sketch = HyperLogLog.of(hashes)
    assert abs(sketch.estimate() - n) <= max(HLL_ERROR * n, 0)
    halves = HyperLogLog.of(hashes[: n // 2]).merge(HyperLogLog.of(hashes[n // 2 :]))
    assert np.array_equal(halves.registers, sketch.registers)
    assert HyperLogLog.from_json(sketch.to_json()).registers.tolist() == sketch.registers.tolist()
    assert HyperLogLog().estimate() == 0


def test_histogram_merge_equals_the_whole_for_any_split() -> None:
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.exponential(3.0, 4000), rng.normal(-50, 1, 100)])
    for cut in (1, 50, 2000, 4099):
        parts = [values[:cut], values[cut:]]
        hists = [Histogram.of(p, float(p.min()), float(p.max()), integer=False, max_bins=16) for p in parts]
        merged = Histogram.merge(hists, float(values.min()), float(values.max()), integer=False)
        whole = Histogram.of(values, float(values.min()), float(values.max()), integer=False, max_bins=16)
        assert merged == whole, cut
    constant = Histogram.of(np.array([5.0, 5.0]), 5.0, 5.0, integer=False, max_bins=20)
    assert constant.counts == [2] and constant.edges[0] <= 5.0 < constant.edges[1]


def test_frequency_summary_bounds() -> None:
    a = Frequencies.of(["x", "y", "z"], np.array([10, 5, 1]), capacity=2)
    b = Frequencies.of(["y", "w"], np.array([7, 3]), capacity=2)
    assert a.items == {"x": (10, 0), "y": (5, 0)} and a.rest == 1 and not a.complete
    merged = Frequencies.merge([a, b])
    assert list(merged.items) == ["y", "x"]
    assert merged.items["y"] == (12, 0)  # listed in both parts: exact
    assert merged.items["x"] == (10, 0)  # b is complete, so x's absence there is exact
    assert merged.rest == 4  # w was dropped: 3 in b, and at most a's bound 1 in a
    whole = Frequencies.of(["x", "y", "z", "w"], np.array([10, 12, 1, 3]), capacity=2)
    assert merged.items == whole.items


def test_chunked_tables_and_unusual_types() -> None:
    first = pa.table({"c": pa.array(["a", "b", "a"]).dictionary_encode(), "d": pa.array([1.5, None, 2.0])})
    second = pa.table({"c": pa.array(["z", "a"]).dictionary_encode(), "d": pa.array([2.0, float("nan")])})
    table = pa.concat_tables([first, second])  # two chunks, two different dictionaries
    p = profile(table)
    assert {t["value"]: t["count"] for t in p["columns"]["c"]["top_k"]} == {"a": 3, "b": 1, "z": 1}
    assert (p["columns"]["d"]["count"], p["columns"]["d"]["nulls"]) == (3, 2)  # NaN counts as null
    assert p["columns"]["d"]["top_k"] == [{"value": 2.0, "count": 2}, {"value": 1.5, "count": 1}]

    from decimal import Decimal

    odd = pa.table(
        {
            "money": pa.array([Decimal("1.50"), Decimal("2.25"), None], pa.decimal128(6, 2)),
            "days": pa.array([date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 1)]).dictionary_encode(),
            "f32": pa.array([0.5, 1.5, 2.5], pa.float32()),
        }
    )
    p = profile(odd)
    json.dumps(p, allow_nan=False)  # every value is plain JSON (no Decimal, no date objects)
    money = p["columns"]["money"]
    assert money["type"] == "float" and money["mean"] == pytest.approx(1.875) and money["max"] == 2.25
    assert p["columns"]["days"]["top_k"] == [{"value": "2024-01-01", "count": 2}, {"value": "2024-01-02", "count": 1}]
    assert p["columns"]["f32"]["std"] == pytest.approx(1.0)
