"""Tabular versions: which versions are tables, their statistics, validation on add, and loading.

A version is tabular when it is one CSV, Parquet or JSON-lines file (a DataFrame is stored as one
Parquet file). Reading, schema inference, validation and profiles come from the schema, validation
and profile modules of this package, imported only when a table is actually read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInputError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TABULAR_SUFFIXES",
    "TableStats",
    "is_tabular",
    "load_frame",
    "pii_columns",
    "read_frame",
    "resolve_schema",
    "table_stats",
    "validate_table",
]

TABULAR_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
"""File suffixes read as tables, and their format."""


@dataclass(frozen=True, slots=True)
class TableStats:
    """What a tabular version records besides its files."""

    num_rows: int
    num_columns: int
    schema: dict[str, Any] | None
    profile: dict[str, Any] | None


def is_tabular(paths: Sequence[str]) -> bool:
    """Whether files with these (relative) paths form a tabular version: one table file."""
    return len(paths) == 1 and Path(paths[0]).suffix.lower() in TABULAR_SUFFIXES


def read_frame(path: str | Path) -> Any:
    """Read a table file (CSV, Parquet, JSON lines) as a DataFrame."""
    from modelyard.data._tables import read_table

    try:
        return read_table(Path(path))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {path} as a table: {exc}") from None


def _as_dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    for method in ("model_dump", "to_dict"):
        fn = getattr(value, method, None)
        if fn is not None:
            result = fn(mode="json") if method == "model_dump" else fn()
            return dict(result)
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def _shape(frame: Any) -> tuple[int, int]:
    shape = getattr(frame, "shape", None)
    if shape is not None:
        return int(shape[0]), int(shape[1])
    return int(frame.num_rows), int(frame.num_columns)


def table_stats(frame: Any, pii: Sequence[str] = ()) -> TableStats:
    """Row and column counts, inferred schema and profile of a table (``pii`` columns keep no values)."""
    from modelyard.data._profile import profile
    from modelyard.data._schema import infer_schema

    rows, columns = _shape(frame)
    return TableStats(rows, columns, _as_dict(infer_schema(frame, pii=pii)), _as_dict(profile(frame, pii=pii)))


def pii_columns(schema: Any) -> list[str]:
    """The columns a schema tags as personal data."""
    return [c.name for c in getattr(resolve_schema(schema), "columns", []) if getattr(c, "pii", False)]


def resolve_schema(schema: Any) -> Any:
    """A schema object from a schema, a mapping, or the path of a YAML schema file."""
    from modelyard.data._schema import Schema, load_schema

    if isinstance(schema, str | Path):
        return load_schema(schema)
    if isinstance(schema, Mapping):
        return Schema.model_validate(schema)
    return schema


def validate_table(frame: Any, schema: Any, what: str) -> Any:
    """Validate a table against ``schema``; raise :class:`ValidationError` (with the report) if it fails."""
    from modelyard.data._validation import validate

    report = validate(frame, resolve_schema(schema))
    if not report.ok:
        errors = [f for f in report.failures if f.severity == "error"]
        shown = "; ".join(f"{f.column or '(table)'}: {f.message or f.check}" for f in (errors or report.failures)[:3])
        more = f" and {len(errors) - 3} more" if len(errors) > 3 else ""
        raise ValidationError(f"{what} failed validation, nothing was stored: {shown}{more}.", report=report)
    return report


def load_frame(paths: Sequence[Path], what: str) -> pd.DataFrame:
    """Read table files of one format as one pandas DataFrame (rows concatenated in path order)."""
    import pandas as pd

    formats = {TABULAR_SUFFIXES.get(p.suffix.lower()) for p in paths}
    if not paths or None in formats or len(formats) != 1:
        raise InvalidInputError(
            f"{what} is not tabular: load() reads versions of CSV, Parquet or JSON-lines files of one format; "
            "use get() to materialise other files."
        )
    frames = []
    for path in sorted(paths):
        frame = read_frame(path)
        to_pandas = getattr(frame, "to_pandas", None)
        frames.append(to_pandas() if to_pandas is not None and not isinstance(frame, pd.DataFrame) else frame)
    result: pd.DataFrame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return result
