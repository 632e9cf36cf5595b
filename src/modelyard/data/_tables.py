"""Tabular input: files and DataFrames read into pyarrow tables, and the column primitives on them.

Schema inference, validation and profiles all work on a :class:`pyarrow.Table` (pyarrow is the
columnar engine). :func:`read_table` turns what a user hands in — a CSV, Parquet, JSON-lines or
Arrow IPC file, a pandas or polars DataFrame, a pyarrow Table — into one, normalised so that the
three agree on what they see:

- a float NaN is a null, as pandas treats it (Parquet and polars keep NaN apart from null);
- ``string_view`` columns (polars' default) become ``large_string``;
- dictionary columns share one dictionary across chunks;
- in a CSV file an empty field (or ``NA``, ``NULL``, ...) is a null in string columns too, as
  pandas reads it.

Two primitives are shared on top: :func:`logical_type` maps an Arrow type to the schema's type
vocabulary, and :func:`hash_values` gives every value a 64-bit hash, vectorised with numpy (no
Python loop per row), used for distinct-count sketches and duplicate detection.
"""

from __future__ import annotations

import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.errors import InvalidInputError

__all__ = ["Hashes", "LogicalType", "SUPPORTED_FORMATS", "hash_values", "logical_type", "mix64", "read_table"]

SUPPORTED_FORMATS = (
    "CSV (.csv, .tsv), Parquet (.parquet, .pq), JSON lines (.jsonl, .ndjson, .json), "
    "Arrow IPC (.arrow, .feather, .ipc) — optionally compressed (.gz, .bz2, .zst) for CSV and JSON lines"
)
"""The file formats :func:`read_table` reads, in words for error messages."""

_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")
_FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ipc": "ipc",
}


class LogicalType(StrEnum):
    """The type of a column as schemas and profiles name it, independent of its storage type.

    ``categorical`` is a string (or dictionary-encoded) column with a small set of values;
    ``other`` covers what the others do not (binary, lists, structs, durations, times).
    """

    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    STRING = "string"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    DATE = "date"
    OTHER = "other"


def logical_type(arrow_type: pa.DataType) -> LogicalType:
    """Map an Arrow type to its logical type.

    A dictionary-encoded column (a pandas ``category``, a polars ``Categorical``) is
    ``categorical``; a plain string column is ``string`` (inference may still call it categorical
    from its values). Decimals are ``float``.

    Args:
        arrow_type: The column's Arrow type.

    Returns:
        The logical type.
    """
    t = pa.types
    if t.is_dictionary(arrow_type):
        return LogicalType.CATEGORICAL
    if t.is_boolean(arrow_type):
        return LogicalType.BOOLEAN
    if t.is_integer(arrow_type):
        return LogicalType.INTEGER
    if t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return LogicalType.FLOAT
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or _is_string_view(arrow_type):
        return LogicalType.STRING
    if t.is_timestamp(arrow_type):
        return LogicalType.DATETIME
    if t.is_date(arrow_type):
        return LogicalType.DATE
    return LogicalType.OTHER


def _is_string_view(arrow_type: pa.DataType) -> bool:
    return bool(getattr(pa.types, "is_string_view", lambda _t: False)(arrow_type))


# --------------------------------------------------------------------------------------------
# reading


def read_table(source: Any) -> pa.Table:
    """Read tabular data into a pyarrow Table.

    Args:
        source: A path (``str`` or :class:`~pathlib.Path`) to a CSV, TSV, Parquet, JSON-lines or
            Arrow IPC file (see :data:`SUPPORTED_FORMATS`), a pandas or polars DataFrame, or a
            pyarrow Table or RecordBatch. A pandas index is not kept.

    Returns:
        The table, normalised (NaN as null, ``string_view`` as ``large_string``, one dictionary
        per dictionary column).

    Raises:
        InvalidInputError: The file is missing, unreadable or of an unsupported format, or the
            object is not a table (the message names the file and the supported formats).
    """
    if isinstance(source, pa.Table):
        table = source
    elif isinstance(source, pa.RecordBatch):
        table = pa.Table.from_batches([source])
    elif isinstance(source, str | Path):
        table = _read_file(Path(source))
    elif _is_pandas_frame(source):
        table = _from_pandas(source)
    elif _is_polars_frame(source):
        table = _from_polars(source)
    else:
        raise InvalidInputError(
            f"cannot read tabular data from a {type(source).__name__}: give a file path "
            f"({SUPPORTED_FORMATS}), a pandas or polars DataFrame, or a pyarrow Table"
        )
    return _normalise(table)


def _read_file(path: Path) -> pa.Table:
    if not path.exists():
        raise InvalidInputError(f"cannot read {path}: no such file")
    if path.is_dir():
        raise InvalidInputError(f"cannot read {path}: it is a directory; give one file ({SUPPORTED_FORMATS})")
    name = path.name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    fmt = _FORMAT_BY_SUFFIX.get(Path(name).suffix)
    if fmt is None:
        raise InvalidInputError(f"cannot read {path}: unsupported file type; supported formats: {SUPPORTED_FORMATS}")
    try:
        return _read_format(path, fmt)
    except (pa.ArrowException, OSError, ValueError) as exc:
        what = {"json": "JSON lines (one object per line)", "ipc": "Arrow IPC"}.get(fmt, fmt.upper())
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(
            f"cannot read {path} as {what}: {detail}; supported formats: {SUPPORTED_FORMATS}"
        ) from exc


def _read_format(path: Path, fmt: str) -> pa.Table:
    if fmt in ("csv", "tsv"):
        from pyarrow import csv

        parse = csv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
        # An empty field (or NA, NULL, ...) is missing in a string column too, as pandas reads it.
        convert = csv.ConvertOptions(strings_can_be_null=True)
        return csv.read_csv(str(path), parse_options=parse, convert_options=convert)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(str(path))
    if fmt == "json":
        from pyarrow import json

        return json.read_json(str(path))
    from pyarrow import feather

    return feather.read_table(str(path))


def _is_pandas_frame(source: object) -> bool:
    pd = sys.modules.get("pandas")  # never import pandas for a caller that does not use it
    return pd is not None and isinstance(source, pd.DataFrame)


def _is_polars_frame(source: object) -> bool:
    pl = sys.modules.get("polars")
    return pl is not None and isinstance(source, pl.DataFrame)


def _from_pandas(frame: Any) -> pa.Table:
    names = [str(c) for c in frame.columns]
    _check_unique_names(names, "the DataFrame")
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot convert the pandas DataFrame to a table: {exc}; give each column one type "
            "(a column of mixed objects cannot be stored)"
        ) from exc
    return table.rename_columns(names)


def _from_polars(frame: Any) -> pa.Table:
    try:
        return frame.to_arrow()
    except Exception as exc:
        raise InvalidInputError(f"cannot convert the polars DataFrame to a table: {exc}") from exc


def _check_unique_names(names: list[str], where: str) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise InvalidInputError(f"{where} has duplicate column names: {', '.join(duplicates)}; rename them")


def _normalise(table: pa.Table) -> pa.Table:
    _check_unique_names(table.column_names, "the table")
    columns = []
    changed = False
    for column in table.columns:
        normalised = _normalise_column(column)
        changed = changed or normalised is not column
        columns.append(normalised)
    if not changed:
        return table
    return pa.table(columns, names=table.column_names)


def _normalise_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    t = column.type
    if _is_string_view(t):
        return column.cast(pa.large_string())
    if pa.types.is_dictionary(t):
        if _is_string_view(t.value_type):
            t = pa.dictionary(t.index_type, pa.large_string())
            column = column.cast(t)
        if column.num_chunks > 1:
            column = pa.chunked_array(pa.table([column], names=["c"]).unify_dictionaries().column(0).chunks, t)
        return column
    if pa.types.is_floating(t) and column.length() > 0 and pc.any(pc.is_nan(column)).as_py():
        return pc.if_else(pc.is_nan(column), pa.scalar(None, t), column)
    return column


# --------------------------------------------------------------------------------------------
# hashing

_U64 = np.uint64
_FMIX_C1 = _U64(0xFF51AFD7ED558CCD)
_FMIX_C2 = _U64(0xC4CEB9FE1A85EC53)
_SHIFT_33 = _U64(33)
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_SEED = _U64(0x243F6A8885A308D3)
_BYTE_MASKS = np.array([(1 << (8 * r)) - 1 for r in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_STRING_CHUNK = 1 << 16
_TWO_53 = float(2**53)

Hashes = npt.NDArray[np.uint64]


def mix64(z: Hashes) -> Hashes:
    """Scramble 64-bit words in place with MurmurHash3's finaliser (a bijection) and return them."""
    scratch = np.empty_like(z)
    for multiplier in (_FMIX_C1, _FMIX_C2):
        np.right_shift(z, _SHIFT_33, out=scratch)
        z ^= scratch
        z *= multiplier
    np.right_shift(z, _SHIFT_33, out=scratch)
    z ^= scratch
    return z


def hash_values(column: pa.Array | pa.ChunkedArray) -> Hashes:
    """Hash every value of a column to 64 bits, vectorised.

    Equal values get equal hashes, in every process (no per-process salt), so hashes of two
    partitions can be combined. Numbers hash by value: an integer hashes as the float it equals
    (a pandas integer column with missing values arrives as floats; integers beyond 2^53 hash as
    themselves). Timestamps hash as nanoseconds and dates as days, whatever their unit. The hash
    of a null slot is meaningless: callers mask nulls themselves.

    Args:
        column: An integer, float, boolean, string, binary, dictionary, timestamp or date column.

    Returns:
        One ``uint64`` per row.

    Raises:
        InvalidInputError: The column's type cannot be hashed (lists, structs, ...).
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [_hash_array(chunk) for chunk in chunks]
    if not parts:
        return np.empty(0, dtype=np.uint64)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _hash_array(array: pa.Array) -> Hashes:
    t = array.type
    if pa.types.is_dictionary(array.type):
        dictionary_hashes = _hash_array(array.dictionary)
        indices = array.indices.fill_null(0).to_numpy(zero_copy_only=False)
        if len(dictionary_hashes) == 0:
            return np.zeros(len(array), dtype=np.uint64)
        hashes: Hashes = dictionary_hashes[np.asarray(indices, dtype=np.intp)]
        return hashes
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return _hash_binary(array)
    if _is_string_view(t):
        return _hash_binary(array.cast(pa.large_string()))
    if pa.types.is_boolean(t):
        return _hash_integers(array.fill_null(False).to_numpy(zero_copy_only=False).astype(np.int64))
    if pa.types.is_integer(t):
        return _hash_integers(array.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False))
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        floats = array.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        return _hash_floats(floats)
    if pa.types.is_timestamp(t):
        factor = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[t.unit]
        ints = array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False) * factor
        return mix64(ints.view(np.uint64) ^ _SEED)
    if pa.types.is_date32(t):
        days = array.cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        return mix64(days.view(np.uint64) ^ _SEED)
    if pa.types.is_date64(t):
        days = array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False) // 86_400_000
        return mix64(days.view(np.uint64) ^ _SEED)
    raise InvalidInputError(f"cannot hash values of type {t}")


def _hash_floats(floats: npt.NDArray[np.float64]) -> Hashes:
    # Floats hash by their bits (-0.0 as 0.0); integers hash as the float they equal (below),
    # so 3.0 and 3 are one value.
    words = (floats + 0.0).view(np.uint64)
    words ^= _SEED
    return mix64(words)


def _hash_integers(ints: npt.NDArray[np.int64]) -> Hashes:
    floats = ints.astype(np.float64)
    exact = np.abs(floats) <= _TWO_53
    words = (floats + 0.0).view(np.uint64)
    if not exact.all():  # beyond 2^53 a float cannot hold every integer: hash the integer itself
        words[~exact] = ints[~exact].view(np.uint64)
    words ^= _SEED
    return mix64(words)


def _hash_binary(array: pa.Array) -> Hashes:
    """Hash variable-length strings or bytes word by word (8 bytes a step) over Arrow's buffers."""
    n = len(array)
    out = np.empty(n, dtype=np.uint64)
    if n == 0:
        return out
    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    offset_type = np.int64 if large else np.int32
    buffers = array.buffers()
    offsets = np.frombuffer(
        buffers[1], dtype=offset_type, count=n + 1, offset=array.offset * np.dtype(offset_type).itemsize
    ).astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    # In chunks, so the padded copy and the per-word temporaries stay small.
    for start in range(0, n, _STRING_CHUNK):
        bounds = offsets[start : start + _STRING_CHUNK + 1]
        out[start : start + len(bounds) - 1] = _hash_binary_chunk(data, bounds)
    return out


def _hash_binary_chunk(data: npt.NDArray[np.uint8], bounds: npt.NDArray[np.int64]) -> Hashes:
    lo, hi = int(bounds[0]), int(bounds[-1])
    lengths = np.diff(bounds)
    relative = bounds[:-1] - lo
    padded = np.zeros(hi - lo + 8, dtype=np.uint8)
    padded[: hi - lo] = data[lo:hi]
    # An unaligned little-endian uint64 starting at every byte: words[i] = bytes i..i+7.
    words = np.ndarray(shape=(hi - lo + 1,), dtype="<u8", buffer=padded, strides=(1,))
    state = lengths.astype(np.uint64) * _GOLDEN + _SEED
    word_counts = (lengths + 7) // 8
    for w in range(int(word_counts.max()) if len(word_counts) else 0):
        active = word_counts > w
        if active.all():
            word = words[relative + 8 * w] & _BYTE_MASKS[np.minimum(lengths - 8 * w, 8)]
            state ^= word
            mix64(state)
        else:
            rows = np.flatnonzero(active)
            word = words[relative[rows] + 8 * w] & _BYTE_MASKS[np.minimum(lengths[rows] - 8 * w, 8)]
            state[rows] = mix64(state[rows] ^ word)
    return mix64(state)
