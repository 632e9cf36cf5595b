"""Validation of data against a schema: every check, its counts and examples, PII, safe casts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelyard.data._schema import ColumnSchema, LogicalType, Schema, infer_schema
from modelyard.data._validation import duplicates, validate
from modelyard.entities import ValidationFailure, ValidationReport
from modelyard.errors import InvalidInputError


def col(name: str, kind: str, **constraints: object) -> ColumnSchema:
    return ColumnSchema(name=name, type=LogicalType(kind), **constraints)  # type: ignore[arg-type]


def only(report: ValidationReport, check: str, column: str | None = None) -> ValidationFailure:
    found = [f for f in report.failures if f.check == check and (column is None or f.column == column)]
    assert len(found) == 1, report.failures
    return found[0]


def test_clean_data_passes() -> None:
    frame = pd.DataFrame({"id": [1, 2, 3], "score": [0.1, 0.5, 0.9], "plan": ["a", "b", "a"]})
    schema = Schema(
        columns=[
            col("id", "integer", unique=True, min=1),
            col("score", "float", min=0, max=1),
            col("plan", "categorical", allowed=["a", "b"]),
        ],
        primary_key=["id"],
    )
    report = validate(frame, schema)
    assert report == ValidationReport(ok=True, failures=[], num_rows=3)


def test_missing_and_extra_columns() -> None:
    frame = pd.DataFrame({"a": [1], "surprise": [2]})
    schema = Schema(columns=[col("a", "integer"), col("b", "string", severity="warning"), col("c", "float")])
    report = validate(frame, schema)
    assert not report.ok
    assert [(f.column, f.check, f.severity) for f in report.failures] == [
        ("b", "missing_column", "warning"),
        ("c", "missing_column", "error"),
        ("surprise", "extra_column", "error"),
    ]
    assert only(report, "extra_column").message == (
        "column 'surprise' is not in the schema (set allow_extra_columns to accept it)"
    )
    assert only(report, "missing_column", "c").count == 1
    schema.allow_extra_columns = True
    assert [f.check for f in validate(frame, schema).failures] == ["missing_column", "missing_column"]


def test_type_mismatch_counts_the_values_and_shows_some() -> None:
    frame = pd.DataFrame({"age": ["12", "x", None, "x", "40", "50", "60", "70"]})
    report = validate(frame, Schema(columns=[col("age", "integer", min=0)]))
    failure = only(report, "type")
    assert failure.count == 7 and failure.column == "age" and failure.severity == "error"
    assert failure.examples == ["12", "x", "40", "50", "60"]  # distinct, first seen first, at most 5
    assert failure.message.startswith("expected integer, found string")
    assert [f.check for f in report.failures] == ["type"]  # no range check on values of another type


def test_safe_casts_are_accepted() -> None:
    frame = pd.DataFrame(
        {
            "ints_as_floats": [1.0, 2.0, np.nan],  # pandas integers with a missing value
            "int_for_float": [1, 2, 3],
            "text_for_category": ["a", "b", "a"],
            "category_for_text": pd.Categorical(["x", "y", "x"]),
        }
    )
    schema = Schema(
        columns=[
            col("ints_as_floats", "integer", max=2),
            col("int_for_float", "float", max=2.5),
            col("text_for_category", "categorical", allowed=["a", "b"]),
            col("category_for_text", "string", max_length=1),
        ]
    )
    report = validate(frame, schema)
    assert [(f.column, f.check, f.count) for f in report.failures] == [("int_for_float", "range", 1)]


def test_floats_with_fractions_are_not_integers() -> None:
    frame = pd.DataFrame({"n": [1.0, 2.5, 3.0, np.inf, 2.5]})
    failure = only(validate(frame, Schema(columns=[col("n", "integer")])), "type")
    assert failure.count == 3
    assert failure.examples == [2.5, float("inf")]
    assert "not whole numbers" in failure.message


def test_out_of_range_counts_both_sides() -> None:
    frame = pd.DataFrame({"age": [-5, 10, 20, 130, 150, None, -1]})
    failure = only(validate(frame, Schema(columns=[col("age", "integer", min=0, max=120)])), "range")
    assert failure.count == 4
    assert failure.examples == [-5.0, 130.0, 150.0, -1.0]
    assert failure.message.startswith("4 values out of range: 2 below the minimum 0 and 2 above the maximum 120")
    only_max = validate(frame, Schema(columns=[col("age", "integer", max=120)]))
    assert only(only_max, "range").count == 2


def test_unexpected_categories() -> None:
    frame = pd.DataFrame({"plan": ["free", "pro", "gold", None, "gold", "silver"]})
    schema = Schema(columns=[col("plan", "categorical", allowed=["free", "pro"])])
    failure = only(validate(frame, schema), "category")
    assert (failure.count, failure.examples) == (3, ["gold", "silver"])
    encoded = pd.DataFrame({"plan": pd.Categorical(["free", "gold", "gold", "pro"])})
    assert only(validate(encoded, schema), "category").count == 2
    numbers = pd.DataFrame({"plan": ["1", "2", "3"]})
    failure = only(validate(numbers, Schema(columns=[col("plan", "string", allowed=[1, 2])])), "category")
    assert (failure.count, failure.examples) == (1, ["3"])  # allowed numbers compared as text


def test_null_rate_limits() -> None:
    frame = pd.DataFrame({"a": [1.0, None, None, 4.0], "b": [1.0, None, 3.0, 4.0]})
    schema = Schema(columns=[col("a", "float", max_null_fraction=0.25), col("b", "float", nullable=False)])
    report = validate(frame, schema)
    a, b = only(report, "null_rate", "a"), only(report, "null_rate", "b")
    assert (
        a.count == 2
        and a.examples == []
        and a.message == "50.00% of the values are null, more than the limit of 25.00%"
    )
    assert b.count == 1 and b.message == "1 null values in a column that is not nullable"
    schema.columns[0].max_null_fraction = 0.5
    assert [f.column for f in validate(frame, schema).failures] == ["b"]


def test_unique_column_duplicates() -> None:
    frame = pd.DataFrame({"email": ["a@x.io", "b@x.io", "a@x.io", None, None, "a@x.io", "c@x.io", "b@x.io"]})
    failure = only(validate(frame, Schema(columns=[col("email", "string", unique=True)])), "duplicate")
    assert failure.count == 3  # rows repeating an earlier value; nulls are not duplicates
    assert failure.examples == ["a@x.io", "b@x.io"]


def test_primary_key_duplicates_single_and_composite() -> None:
    frame = pd.DataFrame({"store": [1, 1, 2, 2, 1, 3], "day": ["mon", "tue", "mon", "mon", "mon", "tue"]})
    composite = Schema(columns=[col("store", "integer"), col("day", "string")], primary_key=["store", "day"])
    failure = only(validate(frame, composite), "duplicate")
    assert failure.column is None and failure.count == 2
    assert failure.examples == [{"store": 1, "day": "mon"}, {"store": 2, "day": "mon"}]
    assert failure.message.startswith("2 rows repeat a primary key (store, day) seen before")
    single = Schema(columns=[col("store", "integer"), col("day", "string")], primary_key=["store"])
    failure = only(validate(frame, single), "duplicate")
    assert failure.column == "store" and failure.count == 3 and failure.examples == [1, 2]


def test_primary_key_columns_may_not_be_null() -> None:
    frame = pd.DataFrame({"id": [1.0, None, 2.0]})
    report = validate(frame, Schema(columns=[col("id", "integer")], primary_key=["id"]))
    failure = only(report, "null_rate")
    assert failure.count == 1 and failure.message == "1 null values in a primary-key column"
    assert not report.ok


def test_lengths_and_patterns() -> None:
    frame = pd.DataFrame({"zip": ["12345", "1234", "123456", "ABCDE", None, "00000"]})
    schema = Schema(columns=[col("zip", "string", min_length=5, max_length=5, pattern=r"\d+")])
    report = validate(frame, schema)
    length, pattern = only(report, "length"), only(report, "pattern")
    assert (length.count, length.examples) == (2, ["1234", "123456"])
    assert length.message.startswith("2 values with a length outside 5..5 characters")
    assert (pattern.count, pattern.examples) == (1, ["ABCDE"])
    assert pattern.message.startswith("1 values do not match the pattern '\\\\d+'")


def test_patterns_match_whole_values_and_apply_to_categories_and_numbers() -> None:
    frame = pd.DataFrame({"code": pd.Categorical(["AB", "ABC", "xAB"]), "n": [10, 200, 3000]})
    schema = Schema(columns=[col("code", "categorical", pattern="[A-Z]+"), col("n", "integer", pattern=r"\d{2,3}")])
    report = validate(frame, schema)
    assert only(report, "pattern", "code").examples == ["xAB"]
    assert only(report, "pattern", "n").examples == [3000]


def test_warnings_are_reported_without_failing() -> None:
    frame = pd.DataFrame({"score": [0.5, 1.5]})
    report = validate(frame, Schema(columns=[col("score", "float", max=1, severity="warning")]))
    assert report.ok is True
    assert only(report, "range").severity == "warning"


def test_pii_values_never_appear() -> None:
    secrets = ["alice@corp.io", "bob@corp.io", "alice@corp.io", "mallory-no-at", "x" * 80]
    frame = pd.DataFrame({"email": secrets, "salary": [10, 20, 10, -5, 999_999]})
    schema = Schema(
        columns=[
            col("email", "integer", pii=True),
            col("salary", "integer", min=0, max=100_000, allowed=[10, 20], unique=True, pii=True),
        ],
        primary_key=["email"],
    )
    schema.columns[0].type = LogicalType.STRING
    schema.columns[0].max_length = 40
    schema.columns[0].pattern = r"[^@]+@[^@]+"
    schema.columns[0].allowed = ["carol@corp.io"]
    report = validate(frame, schema)
    checks = {(f.column, f.check) for f in report.failures}
    assert checks == {
        ("email", "category"),
        ("email", "length"),
        ("email", "pattern"),
        ("email", "duplicate"),
        ("salary", "range"),
        ("salary", "category"),
        ("salary", "duplicate"),
    }
    dumped = json.dumps(report.model_dump(mode="json"))
    for value in [*secrets, "999999", "-5"]:
        assert value not in dumped
    for failure in report.failures:
        assert failure.examples == []
        assert failure.message.endswith("(values hidden because the column is PII)")
    type_report = validate(pd.DataFrame({"ssn": ["123-45-6789"]}), Schema(columns=[col("ssn", "integer", pii=True)]))
    assert only(type_report, "type").examples == [] and "123-45" not in only(type_report, "type").message


def test_report_is_json_and_every_failure_has_its_fields() -> None:
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-01-01"]), "x": [1, 2]})
    schema = Schema(columns=[col("when", "datetime", unique=True), col("x", "float")])
    report = validate(frame, schema)
    data = json.loads(report.model_dump_json())
    assert data["failures"][0]["examples"] == ["2024-01-01T00:00:00"]
    assert set(data["failures"][0]) == {"column", "check", "severity", "count", "examples", "message"}


def test_validate_reads_files_and_reports_bad_input(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3]})
    frame.to_parquet(tmp_path / "t.parquet")
    schema = Schema(columns=[col("a", "integer", max=2)])
    assert only(validate(tmp_path / "t.parquet", schema), "range").count == 1
    with pytest.raises(InvalidInputError, match="no such file"):
        validate(tmp_path / "nope.csv", schema)


def test_duplicates_on_a_million_rows_are_exact() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    ids = np.arange(n)
    ids[rng.choice(n, 500, replace=False)] = 7  # 500 rows set to an existing id: 500 repeats
    text = pa.array([f"key-{i}" for i in ids])
    table = pa.table({"id": ids, "text": text})
    assert duplicates(table, ["id"])[0] == 500
    assert duplicates(table, ["text"]) == (500, ["key-7"])
    assert duplicates(table, ["id", "text"])[0] == 500
    assert duplicates(table.slice(0, 0), ["id"]) == (0, [])


def test_validation_of_a_million_rows() -> None:
    rng = np.random.default_rng(1)
    n = 1_000_000
    values = rng.normal(size=n)
    frame = pa.table(
        {
            "x": values,
            "plan": pa.array(np.array(["a", "b", "c"])[rng.integers(0, 3, n)]),
            "id": np.arange(n),
        }
    )
    schema = infer_schema(frame)
    assert schema.column("id").unique is True
    schema.column("x").max = 3.0
    report = validate(frame, schema)
    assert only(report, "range").count == int((values > 3.0).sum())
    assert len(report.failures) == 1
