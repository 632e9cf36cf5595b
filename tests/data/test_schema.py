"""Reading tables, schema inference, and the schema's JSON and YAML forms."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard.data._schema import ColumnSchema, Schema, infer_schema, load_schema, save_schema
from modelyard.data._tables import LogicalType, hash_values, logical_type, read_table
from modelyard.errors import InvalidInputError

N = 200


def every_type_frame(n: int = N) -> pd.DataFrame:
    """One column of every logical type, with nulls where a real table has them."""
    rng = np.random.default_rng(3)
    ages = rng.integers(18, 90, n)
    income = rng.normal(50_000, 10_000, n)
    income[::10] = np.nan
    return pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "age": ages,
            "income": income,
            "active": rng.random(n) < 0.5,
            "plan": rng.choice(["free", "pro", "team"], n),
            "tier": pd.Categorical(rng.choice(["gold", "silver"], n)),
            "email": [f"user{i}@example.com" for i in range(n)],
            "zip": [f"{z:05d}" for z in rng.integers(0, 99_999, n)],
            "token": [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(n)],
            "day": [
                f"2024-{m:02d}-{d:02d}" for m, d in zip(rng.integers(1, 13, n), rng.integers(1, 29, n), strict=True)
            ],
            "note": [f"free text number {i} with words" for i in range(n)],
            "signup": pd.date_range("2024-01-01", periods=n, freq="h"),
            "birth": [date(1980, 1, 1 + i % 28) for i in range(n)],
            "name": [f"Person {i}" for i in range(n)],
        }
    )


# --------------------------------------------------------------------------------------------
# reading


@pytest.fixture()
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "c": [0.5, None, 2.5]})


def test_read_table_from_every_supported_source(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    frame.to_csv(tmp_path / "t.csv.gz", index=False, compression="gzip")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sources: list[Any] = [
        tmp_path / "t.csv",
        str(tmp_path / "t.tsv"),
        tmp_path / "t.parquet",
        tmp_path / "t.jsonl",
        tmp_path / "t.csv.gz",
        frame,
        table,
        table.to_batches()[0],
    ]
    for source in sources:
        read = read_table(source)
        assert read.column_names == ["a", "b", "c"], source
        assert read.column("a").to_pylist() == [1, 2, 3], source
        assert read.column("b").to_pylist() == ["x", "y", None], source
        assert read.column("c").to_pylist() == [0.5, None, 2.5], source


def test_read_table_from_polars() -> None:
    pl = pytest.importorskip("polars", reason="polars is optional")
    df = pl.DataFrame({"s": ["a", None, "b"], "f": [1.0, float("nan"), None], "c": ["x", "y", "x"]})
    df = df.with_columns(pl.col("c").cast(pl.Categorical))
    table = read_table(df)
    assert logical_type(table.column("s").type) is LogicalType.STRING
    assert logical_type(table.column("c").type) is LogicalType.CATEGORICAL
    assert table.column("f").to_pylist() == [1.0, None, None]  # NaN is a null, as in pandas
    assert table.column("s").to_pylist() == ["a", None, "b"]


def test_nan_is_read_as_null_from_arrow_sources(tmp_path: Path) -> None:
    table = pa.table({"x": pa.array([1.0, float("nan"), None, 4.0])})
    pq.write_table(table, tmp_path / "nan.parquet")
    for source in (table, tmp_path / "nan.parquet"):
        column = read_table(source).column("x")
        assert column.null_count == 2
        assert column.to_pylist() == [1.0, None, None, 4.0]


def test_read_table_errors_name_the_file_and_the_formats(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"missing\.csv: no such file"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "data.xlsx").write_bytes(b"not really")
    with pytest.raises(InvalidInputError, match=r"data\.xlsx: unsupported file type; supported formats: CSV"):
        read_table(tmp_path / "data.xlsx")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InvalidInputError, match="is a directory"):
        read_table(tmp_path / "dir.csv")
    (tmp_path / "array.json").write_text('[{"a": 1}, {"a": 2}]')
    with pytest.raises(InvalidInputError, match=r"array\.json as JSON lines .*supported formats"):
        read_table(tmp_path / "array.json")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InvalidInputError, match=r"cannot read .*bad\.parquet as PARQUET"):
        read_table(tmp_path / "bad.parquet")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InvalidInputError, match=r"ragged\.csv as CSV"):
        read_table(tmp_path / "ragged.csv")


def test_read_table_rejects_objects_that_are_not_tables() -> None:
    with pytest.raises(InvalidInputError, match="cannot read tabular data from a dict: give a file path"):
        read_table({"a": [1, 2]})
    with pytest.raises(InvalidInputError, match="duplicate column names: a"):
        read_table(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(InvalidInputError, match="cannot convert the pandas DataFrame"):
        read_table(pd.DataFrame({"mixed": [1, "two", 3.0]}))


def test_logical_types() -> None:
    table = read_table(every_type_frame(10))
    kinds = {name: logical_type(table.column(name).type) for name in table.column_names}
    assert kinds["customer_id"] is LogicalType.INTEGER
    assert kinds["income"] is LogicalType.FLOAT
    assert kinds["active"] is LogicalType.BOOLEAN
    assert kinds["plan"] is LogicalType.STRING
    assert kinds["tier"] is LogicalType.CATEGORICAL
    assert kinds["signup"] is LogicalType.DATETIME
    assert kinds["birth"] is LogicalType.DATE
    assert logical_type(pa.list_(pa.int64())) is LogicalType.OTHER
    assert logical_type(pa.decimal128(10, 2)) is LogicalType.FLOAT


# --------------------------------------------------------------------------------------------
# hashing


def test_hashes_are_by_value_across_storage_types() -> None:
    ints = hash_values(pa.array([0, 1, 3, -7, None], pa.int32()))
    floats = hash_values(pa.array([0.0, 1.0, 3.0, -7.0, None]))
    assert ints[:4].tolist() == floats[:4].tolist()
    assert hash_values(pa.array([-0.0]))[0] == hash_values(pa.array([0.0]))[0]
    assert hash_values(pa.array([2.5]))[0] != hash_values(pa.array([2.0]))[0]
    plain = hash_values(pa.array(["a", "b", "a", ""]))
    large = hash_values(pa.array(["a", "b", "a", ""], pa.large_string()))
    encoded = hash_values(pa.array(["a", "b", "a", ""]).dictionary_encode())
    assert plain.tolist() == large.tolist() == encoded.tolist()
    assert plain[0] == plain[2] and len(set(plain.tolist())) == 3
    seconds = pa.array([datetime(2024, 1, 1, 12)], pa.timestamp("s"))
    nanos = pa.array([datetime(2024, 1, 1, 12)], pa.timestamp("ns"))
    assert hash_values(seconds)[0] == hash_values(nanos)[0]
    big = pa.array([2**62, 2**62 + 1], pa.int64())
    assert hash_values(big)[0] != hash_values(big)[1]  # beyond 2^53 integers stay apart


def test_string_hashes_see_every_byte() -> None:
    values = ["", "a", "a\x00", "ab", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefghij" * 5, "abcdefghij" * 5 + "!"]
    values += ["x" * 16 + "y" + "x" * 16, "x" * 16 + "z" + "x" * 16]
    hashes = hash_values(pa.array(values))
    assert len(set(hashes.tolist())) == len(values)
    sliced = pa.array(["zz"] + values).slice(1)  # a non-zero array offset
    assert hash_values(sliced).tolist() == hashes.tolist()
    chunked = pa.chunked_array([values[:4], values[4:]])
    assert hash_values(chunked).tolist() == hashes.tolist()


def test_hashes_are_the_same_in_every_process() -> None:
    # Profiles store sketches of hashes, so the function must never depend on a per-process salt.
    code = (
        "import pyarrow as pa; from modelyard.data._tables import hash_values; "
        "print(hash_values(pa.array(['churn', 'modelyard'])).tolist(), hash_values(pa.array([42])).tolist())"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in "ab"
    }
    assert len(runs) == 1
    here = f"{hash_values(pa.array(['churn', 'modelyard'])).tolist()} {hash_values(pa.array([42])).tolist()}\n"
    assert runs == {here}


def test_hash_rejects_nested_types() -> None:
    with pytest.raises(InvalidInputError, match="cannot hash values of type list"):
        hash_values(pa.array([[1], [2]]))


# --------------------------------------------------------------------------------------------
# inference


def test_infer_schema_of_every_type() -> None:
    frame = every_type_frame()
    schema = infer_schema(frame)
    assert schema.names == list(frame.columns)
    assert schema.allow_extra_columns is False and schema.primary_key == []
    c = {col.name: col for col in schema.columns}

    assert c["customer_id"].type == "integer" and c["customer_id"].unique is True
    assert (c["customer_id"].min, c["customer_id"].max) == (1000, 1000 + N - 1)
    assert c["age"].unique is False and c["age"].min == int(frame.age.min()) and c["age"].max == int(frame.age.max())
    assert c["age"].nullable is False and c["age"].null_fraction == 0.0

    assert c["income"].type == "float" and c["income"].nullable is True
    assert c["income"].null_fraction == pytest.approx(0.1)
    assert c["income"].min == pytest.approx(np.nanmin(frame.income)) and c["income"].max == pytest.approx(
        np.nanmax(frame.income)
    )
    assert c["income"].unique is False  # never inferred for floats

    assert c["active"].type == "boolean" and c["active"].allowed is None

    assert c["plan"].type == "categorical" and c["plan"].allowed == ["free", "pro", "team"]
    assert c["tier"].type == "categorical" and c["tier"].allowed == ["gold", "silver"]

    assert c["email"].type == "string" and c["email"].pattern == r"[^@\s]+@[^@\s]+\.[^@\s]+"
    assert c["email"].unique is True
    assert c["zip"].pattern == r"\d+" and (c["zip"].min_length, c["zip"].max_length) == (5, 5)
    assert c["token"].pattern is not None and c["token"].pattern.startswith("[0-9a-fA-F]{8}-")
    assert c["day"].pattern == r"\d{4}-\d{2}-\d{2}"
    assert c["note"].pattern is None
    assert c["note"].min_length == len("free text number 0 with words")
    assert c["note"].max_length == len(f"free text number {N - 1} with words")

    assert c["signup"].type == "datetime" and c["birth"].type == "date"
    assert all(col.pii is False for col in schema.columns)


def test_inferred_schema_accepts_its_own_data() -> None:
    from modelyard.data._validation import validate

    frame = every_type_frame()
    report = validate(frame, infer_schema(frame))
    assert report.ok, report.failures
    assert report.failures == [] and report.num_rows == N


def test_categories_need_few_values_and_many_rows() -> None:
    frame = pd.DataFrame({"few": ["a", "b"] * 50, "many": [f"v{i % 60}" for i in range(100)]})
    schema = infer_schema(frame)
    assert schema.column("few").type == "categorical"
    assert schema.column("many").type == "string"  # 60 distinct values > max_categories
    assert infer_schema(pd.DataFrame({"tiny": ["a", "b", "c"]})).column("tiny").type == "string"  # one row per value
    assert infer_schema(frame, max_categories=1).column("few").type == "string"
    assert infer_schema(frame, max_categories=100).column("many").type == "string"  # 60 * 4 > 100 rows


def test_pii_columns_keep_no_values() -> None:
    frame = every_type_frame()
    schema = infer_schema(frame, pii=["name", "age", "plan", "email"])
    for name in ("name", "age", "plan", "email"):
        column = schema.column(name)
        assert column.pii is True
        assert column.min is None and column.max is None and column.allowed is None
    assert schema.column("plan").type == "categorical"  # the type is kept, not the domain
    assert schema.column("email").pattern is not None  # a pattern is not a value
    dumped = json.dumps(schema.model_dump(mode="json"))
    assert "Person 1" not in dumped and "user1@" not in dumped and '"pro"' not in dumped
    assert schema.column("income").pii is False
    assert infer_schema(frame, pii="name").column("name").pii is True


def test_infer_schema_rejects_unknown_pii_columns() -> None:
    with pytest.raises(InvalidInputError, match="pii names columns the data lacks: nope"):
        infer_schema(every_type_frame(), pii=["nope"])


def test_infer_schema_of_an_empty_and_an_all_null_table() -> None:
    empty = infer_schema(pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())}))
    assert [c.type for c in empty.columns] == ["integer", "string"]
    assert empty.column("a").min is None
    nulls = infer_schema(pd.DataFrame({"x": [None, None, None]}, dtype="float64"))
    assert nulls.column("x").nullable is True and nulls.column("x").null_fraction == 1.0


# --------------------------------------------------------------------------------------------
# JSON and YAML


def test_schema_round_trips_through_json() -> None:
    schema = infer_schema(every_type_frame())
    schema.primary_key = ["customer_id"]
    data = json.loads(json.dumps(schema.model_dump(mode="json")))
    assert Schema.model_validate(data) == schema


def test_schema_round_trips_through_yaml(tmp_path: Path) -> None:
    schema = infer_schema(every_type_frame(), pii=["name"])
    schema.primary_key = ["customer_id"]
    path = tmp_path / "schema.yaml"
    save_schema(schema, path)
    assert load_schema(path) == schema
    text = path.read_text()
    assert text.startswith("columns:\n- name: customer_id\n  type: integer\n")
    assert "primary_key:\n- customer_id" in text
    assert "null" not in text.replace("null_fraction", "").replace("nullable", "")  # unset fields are left out


def test_hand_edited_yaml_loads(tmp_path: Path) -> None:
    path = tmp_path / "edited.yaml"
    path.write_text(
        "columns:\n"
        "  - name: id\n"
        "    type: integer\n"
        "    unique: true\n"
        "  - {name: score, type: float, min: 0, max: 1, severity: warning}\n"
        "  - name: code\n"
        "    type: string\n"
        "    pattern: '[A-Z]{3}'\n"
        "    max_null_fraction: 0.25\n"
        "    pii: true\n"
        "allow_extra_columns: true\n"
        "primary_key: [id]\n"
    )
    schema = load_schema(path)
    assert schema.names == ["id", "score", "code"]
    assert schema.column("score").severity == "warning" and schema.column("score").max == 1
    assert schema.column("code").pattern == "[A-Z]{3}" and schema.column("code").pii is True
    assert schema.column("code").null_limit == 0.25
    assert schema.allow_extra_columns is True and schema.primary_key == ["id"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "columns:\n  - name: a\n    type: integer\n   bad indent: 1\n",
            r"not valid YAML at line \d+, column \d+: .*fix the syntax",
        ),
        ("columns: [\n", r"not valid YAML"),
        ("- name: a\n", r"must hold a mapping with `columns:` at the top level, but it is a list"),
        ("", r"must hold a mapping .* but it is empty"),
        (
            "columns:\n  - name: age\n    type: integer\n    maxx: 3\n",
            r"field columns\[0\] \(age\)\.maxx: unknown field; remove it or use one of the known fields: name, type,",
        ),
        (
            "columns:\n  - name: age\n    type: number\n",
            r"field columns\[0\] \(age\)\.type: Input should be 'integer', 'float'",
        ),
        ("columns:\n  - name: age\n", r"field columns\[0\] \(age\)\.type: required but missing; add it"),
        ("columns:\n  - name: a\n    type: float\n    min: low\n", r"columns\[0\] \(a\)\.min: .*fix the value"),
        (
            "columns:\n  - {name: a, type: float, min: 5, max: 1}\n",
            r"columns\[0\] \(a\): min \(5\) is greater than max \(1\)",
        ),
        (
            "columns:\n  - {name: a, type: string, pattern: '(unclosed'}\n",
            r"\(a\)\.pattern: not a valid regular expression",
        ),
        (
            "columns:\n  - {name: a, type: string, severity: fatal}\n",
            r"\(a\)\.severity: Input should be 'error' or 'warning'",
        ),
        (
            "columns:\n  - {name: a, type: string}\nprimary_key: [b]\n",
            r"primary_key names columns the schema does not list: b",
        ),
        ("columns:\n  - {name: a, type: string}\n  - {name: a, type: integer}\n", r"columns listed twice: a"),
        (
            "colums: []\n",
            r"field colums: unknown field; remove it or use one of the known fields: columns, allow_extra_columns",
        ),
        (
            "columns:\n  - {name: a, type: float, max_null_fraction: 1.5}\n",
            r"max_null_fraction: Input should be less than",
        ),
    ],
)
def test_malformed_schema_files_say_where_and_how_to_fix(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=expected) as caught:
        load_schema(path)
    assert str(path) in str(caught.value)


def test_missing_schema_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"schema file .*nope\.yaml not found"):
        load_schema(tmp_path / "nope.yaml")


def test_schema_edits_in_python_are_validated() -> None:
    column = ColumnSchema(name="a", type=LogicalType.FLOAT, min=0.0)
    with pytest.raises(ValueError, match="valid number"):
        column.max = "high"  # type: ignore[assignment]
    schema = Schema(columns=[column])
    assert schema.column("a") is column
    with pytest.raises(InvalidInputError, match="the schema has no column 'b'; its columns: a"):
        schema.column("b")
