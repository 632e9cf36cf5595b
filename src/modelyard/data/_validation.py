"""Validation of tabular data against a :class:`~modelyard.data._schema.Schema`.

:func:`validate` runs every check and lists every failure; nothing stops at the first one. The
checks, by the ``check`` name of a :class:`~modelyard.entities.ValidationFailure`:

- ``missing_column``, ``extra_column`` (unless ``allow_extra_columns``);
- ``type``: the column's logical type differs from the schema's. Safe differences pass: integers
  where floats are expected, floats that are all whole numbers where integers are expected (a
  pandas integer column with missing values arrives as floats), strings where categories are
  expected and the other way round;
- ``range`` (``min``/``max``), ``category`` (``allowed``), ``null_rate`` (``nullable`` and
  ``max_null_fraction``; nulls in a primary-key column), ``duplicate`` (``unique`` columns and
  the ``primary_key``), ``length`` (``min_length``/``max_length``), ``pattern``.

``count`` is the number of offending values (rows), or 1 for a missing or extra column; a
duplicate count is the number of rows repeating a key seen before. Up to five distinct offending
values are given as ``examples`` — never for a PII column, whose messages say the values are
hidden. Every check is vectorised with ``pyarrow.compute`` and numpy; duplicates are found by
sorting 64-bit hashes and confirmed exactly on the few candidate rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.data._tables import LogicalType, hash_values, logical_type, mix64, read_table
from modelyard.entities import ValidationFailure, ValidationReport

if TYPE_CHECKING:
    from modelyard.data._schema import ColumnSchema, Schema

__all__ = ["duplicate_count", "duplicates", "validate"]

MAX_EXAMPLES = 5
_EXAMPLE_SCAN = 100
_PII_HIDDEN = "values hidden because the column is PII"
_KEY_MIX = np.uint64(0x9FB21C651E98DF25)

_SAFE_TYPES = {
    (LogicalType.FLOAT, LogicalType.INTEGER),
    (LogicalType.CATEGORICAL, LogicalType.STRING),
    (LogicalType.STRING, LogicalType.CATEGORICAL),
}
"""(expected, found) pairs accepted as they are."""


def validate(data: Any, schema: Schema) -> ValidationReport:
    """Check data against a schema and report every failure.

    Args:
        data: Anything :func:`~modelyard.data._tables.read_table` reads.
        schema: The schema to check against.

    Returns:
        The report: ``ok`` is true when no failure has the ``error`` severity.

    Raises:
        InvalidInputError: The data cannot be read.
    """
    table = read_table(data)
    failures: list[ValidationFailure] = []
    present = set(table.column_names)
    for spec in schema.columns:
        if spec.name in present:
            failures.extend(_check_column(table, spec, key=spec.name in schema.primary_key))
        else:
            failures.append(
                ValidationFailure(
                    column=spec.name,
                    check="missing_column",
                    severity=spec.severity,
                    count=1,
                    message=f"column {spec.name!r} ({spec.type}) is missing",
                )
            )
    if not schema.allow_extra_columns:
        expected = set(schema.names)
        failures.extend(
            ValidationFailure(
                column=name,
                check="extra_column",
                count=1,
                message=f"column {name!r} is not in the schema (set allow_extra_columns to accept it)",
            )
            for name in table.column_names
            if name not in expected
        )
    if schema.primary_key and all(k in present for k in schema.primary_key):
        failure = _check_primary_key(table, schema)
        if failure is not None:
            failures.append(failure)
    ok = not any(f.severity == "error" for f in failures)
    return ValidationReport(ok=ok, failures=failures, num_rows=table.num_rows)


# --------------------------------------------------------------------------------------------
# per column


def _check_column(table: pa.Table, spec: ColumnSchema, *, key: bool) -> list[ValidationFailure]:
    column = table.column(spec.name)
    failures: list[ValidationFailure] = []
    null_failure = _check_nulls(column, spec, key=key)
    if null_failure is not None:
        failures.append(null_failure)
    type_failure = _check_type(column, spec)
    if type_failure is not None:
        failures.append(type_failure)
        return failures  # values of another type cannot be checked against this column's rules
    if spec.min is not None or spec.max is not None:
        if logical_type(column.type) in (LogicalType.INTEGER, LogicalType.FLOAT):
            failures.extend(_check_range(column, spec))
    if spec.allowed is not None:
        failures.extend(_check_allowed(column, spec))
    if spec.unique:
        count, examples = duplicates(table, [spec.name])
        if count:
            failures.append(_failure(spec, "duplicate", count, examples, f"{count} repeated values"))
    if spec.min_length is not None or spec.max_length is not None:
        failures.extend(_check_length(column, spec))
    if spec.pattern is not None:
        failures.extend(_check_pattern(column, spec))
    return failures


def _check_nulls(column: pa.ChunkedArray, spec: ColumnSchema, *, key: bool) -> ValidationFailure | None:
    rows, nulls = len(column), column.null_count
    limit = 0.0 if key else spec.null_limit
    if limit is None or rows == 0 or nulls / rows <= limit:
        return None
    if limit == 0:
        why = "a primary-key column" if key else "a column that is not nullable"
        message = f"{nulls} null values in {why}"
    else:
        message = f"{nulls / rows:.2%} of the values are null, more than the limit of {limit:.2%}"
    severity = "error" if key else spec.severity
    return ValidationFailure(column=spec.name, check="null_rate", severity=severity, count=nulls, message=message)


def _check_type(column: pa.ChunkedArray, spec: ColumnSchema) -> ValidationFailure | None:
    expected, found = spec.type, logical_type(column.type)
    if expected == found or (expected, found) in _SAFE_TYPES:
        return None
    if expected is LogicalType.INTEGER and found is LogicalType.FLOAT:
        floats = column.cast(pa.float64())
        whole = pc.and_(pc.is_finite(floats), pc.equal(pc.floor(floats), floats))
        offending = pc.and_(pc.invert(whole), pc.is_valid(floats))
        count = _count(offending)
        if count == 0:
            return None
        return _failure(
            spec,
            "type",
            count,
            _examples(column, offending, spec),
            f"{count} values are not whole numbers (integer expected)",
        )
    count = len(column) - column.null_count
    if count == 0:
        return None  # all null: nothing of the wrong type
    return _failure(
        spec,
        "type",
        count,
        _examples(column, pc.is_valid(column), spec),
        f"expected {expected}, found {found} ({column.type})",
    )


def _check_range(column: pa.ChunkedArray, spec: ColumnSchema) -> list[ValidationFailure]:
    below = pc.less(column, spec.min) if spec.min is not None else None
    above = pc.greater(column, spec.max) if spec.max is not None else None
    parts = []
    n_below = _count(below) if below is not None else 0
    n_above = _count(above) if above is not None else 0
    if n_below:
        parts.append(f"{n_below} below the minimum {spec.min}")
    if n_above:
        parts.append(f"{n_above} above the maximum {spec.max}")
    if not parts:
        return []
    masks = [m for m in (below, above) if m is not None]
    offending = masks[0] if len(masks) == 1 else pc.or_(masks[0], masks[1])
    count = n_below + n_above
    return [
        _failure(
            spec,
            "range",
            count,
            _examples(column, offending, spec),
            f"{count} values out of range: " + " and ".join(parts),
        )
    ]


def _check_allowed(column: pa.ChunkedArray, spec: ColumnSchema) -> list[ValidationFailure]:
    allowed = spec.allowed or []
    value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    try:
        value_set = pa.array(allowed, type=value_type)
        values = column
    except (pa.ArrowException, TypeError, ValueError):
        # Allowed values of another type (numbers for a string column...): compare as text.
        value_set = pa.array([_as_text(v) for v in allowed], type=pa.string())
        values = _as_string(column)
        if values is None:
            return [
                _failure(
                    spec,
                    "category",
                    len(column) - column.null_count,
                    [],
                    "values cannot be compared with the allowed ones",
                )
            ]
    # is_in says false (not null) for a null: keep nulls out, the null-rate check owns them.
    offending = pc.and_(
        _elementwise(values, lambda a: pc.invert(pc.is_in(a, value_set=value_set))), pc.is_valid(values)
    )
    count = _count(offending)
    if count == 0:
        return []
    return [
        _failure(
            spec, "category", count, _examples(column, offending, spec), f"{count} values not in the allowed categories"
        )
    ]


def _check_length(column: pa.ChunkedArray, spec: ColumnSchema) -> list[ValidationFailure]:
    text = _as_string(column)
    if text is None:
        return [
            _failure(
                spec, "length", len(column) - column.null_count, [], f"lengths cannot be measured on {column.type}"
            )
        ]
    lengths = _elementwise(text, pc.utf8_length)
    masks = []
    if spec.min_length is not None:
        masks.append(pc.less(lengths, spec.min_length))
    if spec.max_length is not None:
        masks.append(pc.greater(lengths, spec.max_length))
    offending = masks[0] if len(masks) == 1 else pc.or_(masks[0], masks[1])
    count = _count(offending)
    if count == 0:
        return []
    low = spec.min_length if spec.min_length is not None else 0
    high = spec.max_length if spec.max_length is not None else ""
    bounds = f"{low}..{high}"
    return [
        _failure(
            spec,
            "length",
            count,
            _examples(column, offending, spec),
            f"{count} values with a length outside {bounds} characters",
        )
    ]


def _check_pattern(column: pa.ChunkedArray, spec: ColumnSchema) -> list[ValidationFailure]:
    from modelyard.data._schema import anchored

    text = _as_string(column)
    if text is None:
        return [
            _failure(
                spec, "pattern", len(column) - column.null_count, [], f"a pattern cannot be matched on {column.type}"
            )
        ]
    regex = anchored(spec.pattern or "")
    offending = _elementwise(text, lambda a: pc.invert(pc.match_substring_regex(a, pattern=regex)))
    count = _count(offending)
    if count == 0:
        return []
    return [
        _failure(
            spec,
            "pattern",
            count,
            _examples(column, offending, spec),
            f"{count} values do not match the pattern {spec.pattern!r}",
        )
    ]


def _check_primary_key(table: pa.Table, schema: Schema) -> ValidationFailure | None:
    key = schema.primary_key
    count, examples = duplicates(table, key)
    if count == 0:
        return None
    pii = any(schema.column(k).pii for k in key)
    label = ", ".join(key)
    message = f"{count} rows repeat a primary key ({label}) seen before"
    if pii:
        message += f" ({_PII_HIDDEN})"
    return ValidationFailure(
        column=key[0] if len(key) == 1 else None,
        check="duplicate",
        count=count,
        examples=[] if pii else examples,
        message=message if pii else _with_examples(message, examples),
    )


# --------------------------------------------------------------------------------------------
# duplicates


def duplicates(table: pa.Table, columns: list[str]) -> tuple[int, list[Any]]:
    """Count the rows that repeat the key of an earlier row, ignoring rows with a null in the key.

    Rows are hashed (64 bits, vectorised) and the hashes sorted; only rows whose hash repeats are
    then grouped by their actual values, so the count is exact.

    Args:
        table: The data.
        columns: The key columns.

    Returns:
        The number of repeating rows and up to five repeated keys (values for one column, dicts
        for several), in order of first appearance.
    """
    if table.num_rows < 2:
        return 0, []
    keys = table.select(columns)
    hashes = hash_values(keys.column(0))
    for name in columns[1:]:
        hashes *= _KEY_MIX
        hashes ^= hash_values(keys.column(name))
        mix64(hashes)
    rows = None
    if any(keys.column(name).null_count for name in columns):
        valid = pc.is_valid(keys.column(0))
        for name in columns[1:]:
            valid = pc.and_(valid, pc.is_valid(keys.column(name)))
        rows = np.flatnonzero(np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool))
    present = hashes if rows is None else hashes[rows]
    ordered = np.sort(present)
    repeated = ordered[1:] == ordered[:-1]
    if not repeated.any():
        return 0, []
    candidates = np.flatnonzero(np.isin(present, np.unique(ordered[1:][repeated])))
    if rows is not None:
        candidates = rows[candidates]
    subset = keys.take(pa.array(candidates))
    groups = subset.group_by(columns, use_threads=False).aggregate([([], "count_all")])
    counts = groups.column("count_all").to_numpy()
    repeated_groups = np.flatnonzero(counts > 1)
    count = int((counts[repeated_groups] - 1).sum())
    examples_table = groups.take(pa.array(repeated_groups[:MAX_EXAMPLES])).select(columns)
    if len(columns) == 1:
        examples: list[Any] = examples_table.column(0).to_pylist()
    else:
        examples = examples_table.to_pylist()
    return count, examples


def duplicate_count(table: pa.Table, columns: list[str]) -> int:
    """Count the rows that repeat the key of an earlier row (see :func:`duplicates`)."""
    return duplicates(table, columns)[0]


# --------------------------------------------------------------------------------------------
# helpers


def _elementwise(column: pa.ChunkedArray, function: Any) -> pa.ChunkedArray:
    """Apply an element-wise kernel; on a dictionary column, to the dictionary only."""
    if not pa.types.is_dictionary(column.type):
        return function(column)
    chunks = [function(chunk.dictionary).take(chunk.indices) for chunk in column.chunks]
    return pa.chunked_array(
        chunks, type=chunks[0].type if chunks else function(pa.array([], column.type.value_type)).type
    )


def _as_string(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    kind = logical_type(column.type)
    if kind in (LogicalType.STRING, LogicalType.CATEGORICAL) and not (
        pa.types.is_dictionary(column.type) and not _is_text(column.type.value_type)
    ):
        return column
    try:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        return column.cast(pa.large_string())
    except (pa.ArrowException, TypeError):
        return None


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def _as_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _count(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.sum(mask).as_py() or 0)


def _examples(column: pa.ChunkedArray, offending: pa.ChunkedArray | pa.Array, spec: ColumnSchema) -> list[Any]:
    if spec.pii:
        return []
    positions = pc.indices_nonzero(pc.fill_null(offending, False)).slice(0, _EXAMPLE_SCAN)
    examples: list[Any] = []
    for value in column.take(positions).to_pylist():
        if value not in examples:
            examples.append(value)
            if len(examples) == MAX_EXAMPLES:
                break
    return examples


def _failure(spec: ColumnSchema, check: str, count: int, examples: list[Any], message: str) -> ValidationFailure:
    if spec.pii:
        return ValidationFailure(
            column=spec.name, check=check, severity=spec.severity, count=count, message=f"{message} ({_PII_HIDDEN})"
        )
    return ValidationFailure(
        column=spec.name,
        check=check,
        severity=spec.severity,
        count=count,
        examples=examples,
        message=_with_examples(message, examples),
    )


def _with_examples(message: str, examples: list[Any]) -> str:
    if not examples:
        return message
    return f"{message} (e.g. {', '.join(repr(e) for e in examples)})"
