"""Dataset diffs: files added, removed, renamed and changed; rows, schema and statistics of tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelyard.client import Client
from modelyard.data._diff import ColumnChange, StatDelta, diff, diff_versions
from modelyard.entities import DatasetFile, DatasetVersion
from modelyard.errors import NotFoundError
from modelyard.settings import Settings

D = {c: c * 64 for c in "abcdef"}  # fake digests


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    c = Client(str(tmp_path / "store"), settings=Settings(home=tmp_path / "store", project="p"))
    try:
        yield c
    finally:
        c.close()


def _version(
    number: int,
    files: dict[str, tuple[str, int]],
    *,
    rows: int | None = None,
    schema: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
) -> DatasetVersion:
    return DatasetVersion(
        name="ds",
        project="p",
        version=number,
        digest=f"{number:064x}",
        files=[DatasetFile(path=p, digest=d, size=s) for p, (d, s) in sorted(files.items())],
        num_rows=rows,
        num_columns=None if schema is None else len(schema["columns"]),
        schema=schema,
        profile=profile,
        created_at=datetime.now(UTC),
        creator="me",
    )


def test_file_changes() -> None:
    old = _version(1, {"same": (D["a"], 1), "edit": (D["b"], 2), "gone": (D["c"], 3), "moved": (D["d"], 4)})
    new = _version(2, {"same": (D["a"], 1), "edit": (D["e"], 5), "fresh": (D["f"], 6), "dir/moved": (D["d"], 4)})
    result = diff_versions(old, new)
    assert (result.old, result.new, result.unchanged) == ("ds@1", "ds@2", 1)
    assert not result.identical
    statuses = {(f.path, f.status) for f in result.files}
    assert statuses == {("edit", "changed"), ("fresh", "added"), ("gone", "removed"), ("dir/moved", "renamed")}
    (changed,) = result.changed
    assert (changed.old_digest, changed.new_digest, changed.old_size, changed.new_size) == (D["b"], D["e"], 2, 5)
    assert changed.size_delta == 3
    (renamed,) = result.renamed
    assert renamed.old_path == "moved"
    assert result.added[0].new_size == 6 and result.removed[0].old_digest == D["c"]
    assert result.table is None  # not tables


def test_identical_versions() -> None:
    v = _version(1, {"x": (D["a"], 1)})
    result = diff_versions(v, v)
    assert result.identical and result.files == [] and result.unchanged == 1


def _schema(*columns: tuple[str, str]) -> dict[str, Any]:
    return {"columns": [{"name": n, "type": t, "nullable": True} for n, t in columns], "primary_key": []}


def test_table_changes_from_stored_schema_and_profile() -> None:
    old = _version(
        1,
        {"t.parquet": (D["a"], 10)},
        rows=100,
        schema=_schema(("id", "integer"), ("age", "integer"), ("city", "string"), ("old", "float")),
        profile={
            "num_rows": 100,
            "columns": {
                "id": {"type": "integer", "mean": 50.5, "std": 29.0, "min": 1, "max": 100, "null_fraction": 0.0,
                       "distinct": 100},
                "age": {"type": "integer", "mean": 40.0, "std": 10.0, "min": 18, "max": 90, "null_fraction": 0.1,
                        "distinct": 60},
                "city": {"type": "string", "null_fraction": 0.0, "distinct": 5, "min": "Aix", "max": "Zug"},
            },
        },
    )  # fmt: skip
    new = _version(
        2,
        {"t.parquet": (D["b"], 12)},
        rows=120,
        schema=_schema(("id", "integer"), ("age", "float"), ("city", "string"), ("score", "float")),
        profile={
            "num_rows": 120,
            "columns": [
                {"name": "id", "mean": 60.5, "std": 34.8, "min": 1, "max": 120, "null_fraction": 0.0, "distinct": 120},
                {"name": "age", "mean": 42.0, "std": 10.0, "min": 18, "max": 95, "null_fraction": 0.05,
                 "distinct": 61},
                {"name": "city", "null_fraction": 0.0, "distinct": 5, "min": "Aix", "max": "Zurich"},
                {"name": "score", "mean": 0.5},
            ],
        },
    )  # fmt: skip
    result = diff_versions(old, new)
    assert [f.status for f in result.files] == ["changed"]
    table = result.table
    assert table is not None
    assert (table.old_rows, table.new_rows, table.rows_delta) == (100, 120, 20)
    assert (table.old_columns, table.new_columns) == (4, 4)
    assert table.columns == [
        ColumnChange(column="age", change="type_changed", old_type="integer", new_type="float"),
        ColumnChange(column="score", change="added", new_type="float"),
        ColumnChange(column="old", change="removed", old_type="float"),
    ]
    stats = {(s.column, s.statistic): s for s in table.stats}
    assert stats[("age", "mean")] == StatDelta(
        column="age", statistic="mean", old=40.0, new=42.0, delta=2.0, relative=0.05
    )
    assert stats[("age", "null_fraction")].delta == pytest.approx(-0.05)
    assert stats[("id", "distinct")].delta == 20
    assert ("age", "std") not in stats  # unchanged statistics are left out
    assert stats[("city", "max")].old == "Zug" and stats[("city", "max")].delta is None
    assert not any(s.column in ("score", "old") for s in table.stats)  # only columns in both
    # Statistics follow the column order, then mean, std, min, max, null fraction, distinct.
    assert [s.statistic for s in table.stats if s.column == "id"] == ["mean", "std", "max", "distinct"]


def test_null_fraction_from_counts_and_nested_sections() -> None:
    # As modelyard's profiles store them: ``count`` non-null values and ``nulls``.
    profile_old = {"columns": {"x": {"count": 9, "nulls": 1, "numeric": {"mean": 1.0}}}}
    profile_new = {"columns": {"x": {"count": 7, "nulls": 3, "numeric": {"mean": 1.0}}}}
    old = _version(1, {"t.csv": (D["a"], 1)}, rows=10, schema=_schema(("x", "float")), profile=profile_old)
    new = _version(2, {"t.csv": (D["b"], 1)}, rows=10, schema=_schema(("x", "float")), profile=profile_new)
    table = diff_versions(old, new).table
    assert table is not None and table.rows_delta == 0 and table.columns == []
    assert [(s.statistic, s.old, s.new) for s in table.stats] == [("null_fraction", 0.1, 0.3)]


def test_profile_counts_non_null_values_apart_from_nulls(client: Client) -> None:
    df1 = pd.DataFrame({"x": [1.0, None, 3.0, 4.0]})
    df2 = pd.DataFrame({"x": [1.0, None, None, 4.0]})
    client.data.add(df1, name="nulls")
    client.data.add(df2, name="nulls")
    table = diff("nulls@1", "nulls@2", client=client).table
    assert table is not None
    if client.data.show("nulls@1").profile is None:
        pytest.skip("profiles have not landed yet")
    stats = {s.statistic: s for s in table.stats}
    assert (stats["null_fraction"].old, stats["null_fraction"].new) == (0.25, 0.5)


def test_diff_through_the_client(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    (src / "b.txt").write_text("b")
    client.data.add(src, name="files")
    (src / "b.txt").write_text("b2")
    (src / "c.txt").write_text("c")
    client.data.add(src, name="files")
    result = diff("files@1", "files@2", client=client)
    assert {(f.path, f.status) for f in result.files} == {("b.txt", "changed"), ("c.txt", "added")}
    same = diff("files@2", client.data.show("files@latest"), client=client)
    assert same.identical
    with pytest.raises(NotFoundError):
        diff("files@1", "files@9", client=client)


def test_diff_of_dataframes(client: Client) -> None:
    df1 = pd.DataFrame({"id": range(100), "age": [20.0 + i % 50 for i in range(100)], "city": ["a", "b"] * 50})
    df2 = pd.DataFrame({"id": range(150), "age": [30.0 + i % 50 for i in range(150)], "flag": [True] * 150})
    client.data.add(df1, name="table")
    client.data.add(df2, name="table")
    result = diff("table@1", "table@2", client=client)
    table = result.table
    assert table is not None
    assert (table.old_rows, table.new_rows, table.rows_delta) == (100, 150, 50)
    assert (table.old_columns, table.new_columns) == (3, 3)
    v1 = client.data.show("table@1")
    if v1.schema is None or v1.profile is None:
        pytest.skip("the stored schema and profile have not landed yet: rows compared only")
    changes = {(c.column, c.change) for c in table.columns}
    assert changes == {("city", "removed"), ("flag", "added")}
    stats = {(s.column, s.statistic): s for s in table.stats}
    assert stats[("age", "mean")].delta == pytest.approx(df2["age"].mean() - df1["age"].mean())
