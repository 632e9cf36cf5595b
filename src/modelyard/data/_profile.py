"""Statistics profiles of tabular data, built from mergeable sketches.

A profile is a JSON-able dict stored with each tabular dataset version and reused later as the
drift reference, so monitoring never needs the raw data again. Per column it gives ``count``
(non-null values), ``nulls``, ``distinct`` and ``distinct_exact``; ``min``/``max`` for numbers,
dates and timestamps (ISO strings); for numbers ``mean``, ``std`` (sample, ``ddof=1``),
``quantiles`` (p1 … p99), a ``histogram`` and ``infinite`` (floats: infinities are left out of
the other statistics); ``top_k`` most frequent values for strings, categories, booleans and
numbers with few distinct values; ``min_length``/``max_length`` for strings. PII columns give
``count`` and ``nulls`` only: no values, no sketches. Other types (lists, binary, ...) give counts
only too.

Every statistic comes from a sketch kept under ``sketches``, and :func:`merge_profiles` merges
those, so profiles of partitions or time windows combine as the whole would:

- counts, nulls, min/max add and combine exactly; ``mean``/``std`` combine exactly through the
  parallel-variance formula (count, mean and sum of squared deviations are kept).
- Histograms use a canonical edge scheme: bins are aligned multiples of a power of two,
  ``[k·2^e, (k+1)·2^e)``, with ``e`` the smallest exponent for which the bins covering
  ``[min, max]`` number at most ``bins`` (and not below 0 for integer columns, nor below the
  precision of the largest magnitude for floats). Grids of different ``e`` nest, so merging
  re-bins the finer histogram onto the coarser grid by adding counts, then coarsens until the
  union fits: the result is exactly the histogram of the whole. The price: widths are powers of
  two, and a histogram has at most ``bins`` bins but may have about half as many.
- Quantiles come from Apache DataSketches' KLL sketch (``k = 200``: normalised rank error about
  1.7 %, serialised in base64); merged sketches answer within the same error. KLL compacts at
  random, so profiling the same data twice may give quantiles that differ within that error.
- Distinct counts come from a HyperLogLog sketch of 4,096 registers over 64-bit hashes, computed
  with numpy (standard error about 1.6 %; Ertl's estimator, accurate for small counts too). The
  registers of merged sketches are exactly those of the whole. Up to 256 distinct values the
  sketch also keeps their hashes, so small counts stay exact through merges. A single profile
  counts exactly what is cheap to count (strings, categories, booleans, and numbers and dates
  with at most 10,000 distinct values).
- Frequencies: a summary of the most frequent values (four times ``top_k``, at least 32) with
  an error bound per value and a bound on any value left out; complete (hence exact, and exactly
  mergeable) when a column has no more distinct values than that.

Profiling is vectorised (pyarrow.compute and numpy; no Python loop per row), a few columns at a
time in threads.
"""

from __future__ import annotations

import base64
import math
import os
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dt_time
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.data._tables import Hashes, LogicalType, hash_values, logical_type, read_table
from modelyard.errors import InvalidInputError

__all__ = ["PROFILE_FORMAT", "QUANTILES", "merge_profiles", "profile"]

PROFILE_FORMAT = "modelyard.profile/1"
QUANTILES = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
"""The quantiles a profile reports, by name."""

KLL_K = 200
HLL_PRECISION = 12
EXACT_HASHES = 256
"""Up to this many distinct values, the distinct-count sketch keeps their hashes: exact through merges."""
EXACT_DISTINCT_LIMIT = 10_000
"""Numbers and dates with at most this many distinct values (by the sketch) are counted exactly."""
_LOW_CARDINALITY_SAMPLE = 10_000
_LOW_CARDINALITY = 1_000
_KLL_SLICE = 1 << 16
_MAX_THREADS = 4
_PARALLEL_ROWS = 100_000

_NUMERIC = (LogicalType.INTEGER, LogicalType.FLOAT)
_TEMPORAL = (LogicalType.DATETIME, LogicalType.DATE)
_TEXT = (LogicalType.STRING, LogicalType.CATEGORICAL)


# --------------------------------------------------------------------------------------------
# sketches


@dataclass
class Moments:
    """Count, mean and sum of squared deviations: mergeable exactly (Chan et al.)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, values: npt.NDArray[np.float64]) -> Moments:
        """Compute the moments of finite values (two passes, for accuracy)."""
        if len(values) == 0:
            return cls()
        mean = float(values.mean())
        deviations = values - mean
        return cls(len(values), mean, float(np.dot(deviations, deviations)))

    def merge(self, other: Moments) -> Moments:
        """Combine with the moments of other values."""
        n = self.n + other.n
        if n == 0:
            return Moments()
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        return Moments(n, mean, self.m2 + other.m2 + delta * delta * self.n * other.n / n)

    @property
    def std(self) -> float | None:
        """The sample standard deviation (``ddof=1``), or ``None`` below two values."""
        return math.sqrt(max(self.m2, 0.0) / (self.n - 1)) if self.n > 1 else None


@dataclass
class Histogram:
    """Counts in aligned bins ``[k·2^e, (k+1)·2^e)`` for ``k`` from ``start``."""

    exponent: int
    start: int
    counts: list[int]
    max_bins: int

    @classmethod
    def of(cls, values: npt.NDArray[np.float64], lo: float, hi: float, *, integer: bool, max_bins: int) -> Histogram:
        """Bin finite values whose min and max are ``lo`` and ``hi``."""
        exponent = _choose_exponent(lo, hi, max_bins, _exponent_floor(lo, hi, integer=integer))
        start = math.floor(math.ldexp(lo, -exponent))
        size = _bins_needed(lo, hi, exponent)
        scaled = np.ldexp(values, -exponent)  # exact: a power-of-two scaling
        np.floor(scaled, out=scaled)
        scaled -= start  # every value lies in [lo, hi], so in bins 0 .. size - 1
        return cls(exponent, start, np.bincount(scaled.astype(np.intp), minlength=size).tolist(), max_bins)

    @property
    def edges(self) -> list[float]:
        """The bin edges (one more than the counts)."""
        return [math.ldexp(self.start + i, self.exponent) for i in range(len(self.counts) + 1)]

    @staticmethod
    def merge(parts: Sequence[Histogram], lo: float, hi: float, *, integer: bool) -> Histogram:
        """Merge histograms of parts whose union has min ``lo`` and max ``hi``."""
        max_bins = min(p.max_bins for p in parts)
        exponent = max([_exponent_floor(lo, hi, integer=integer)] + [p.exponent for p in parts])
        while _bins_needed(lo, hi, exponent) > max_bins:
            exponent += 1
        start = math.floor(math.ldexp(lo, -exponent))
        counts = [0] * _bins_needed(lo, hi, exponent)
        for part in parts:
            shift = exponent - part.exponent
            for i, count in enumerate(part.counts):
                counts[((part.start + i) >> shift) - start] += count
        return Histogram(exponent, start, counts, max_bins)


def _exponent_floor(lo: float, hi: float, *, integer: bool) -> int:
    # Monotone in the range, which is what makes merged histograms equal the whole's.
    if integer:
        return 0
    magnitude = max(abs(lo), abs(hi))
    return -1074 if magnitude == 0 else max(math.frexp(magnitude)[1] - 53, -1074)


def _bins_needed(lo: float, hi: float, exponent: int) -> int:
    return math.floor(math.ldexp(hi, -exponent)) - math.floor(math.ldexp(lo, -exponent)) + 1


def _choose_exponent(lo: float, hi: float, max_bins: int, floor: int) -> int:
    span = hi - lo
    guess = math.frexp(span)[1] - math.frexp(max_bins)[1] - 1 if 0 < span < math.inf else floor
    exponent = max(floor, guess)
    while _bins_needed(lo, hi, exponent) > max_bins:
        exponent += 1
    while exponent - 1 >= floor and _bins_needed(lo, hi, exponent - 1) <= max_bins:
        exponent -= 1
    return exponent


@dataclass
class HyperLogLog:
    """A HyperLogLog sketch of ``2^HLL_PRECISION`` registers over 64-bit hashes.

    While a column has at most :data:`EXACT_HASHES` distinct values the sketch also keeps their
    hashes (as HyperLogLog++ keeps a sparse list), so small distinct counts stay exact through
    merges.
    """

    registers: npt.NDArray[np.uint8] = field(default_factory=lambda: np.zeros(1 << HLL_PRECISION, np.uint8))
    hashes: npt.NDArray[np.uint64] | None = field(default_factory=lambda: np.empty(0, np.uint64))

    @classmethod
    def of(cls, hashes: Hashes, *, distinct: bool = False) -> HyperLogLog:
        """Build the sketch of hashed values (vectorised); ``distinct`` says the hashes are unique."""
        p = HLL_PRECISION
        m = 1 << p
        if len(hashes) == 0:
            return cls()
        index = (hashes >> np.uint64(64 - p)).view(np.int64)
        word = hashes << np.uint64(p)
        word |= np.uint64(1 << (p - 1))  # a sentinel bit caps the rank at 65 - p
        word >>= np.uint64(1)  # now below 2^63: converts to a float as a signed integer, which is fast
        # rank = leading zeros + 1 = 64 - bit length of the halved word, read from the exponent
        # of its float. The conversion may round a word just below a power of two up (odds
        # 2^-53): harmless, and deterministic, so merged sketches equal the whole's.
        rank = word.view(np.int64).astype(np.float64).view(np.int64)
        rank >>= 52
        np.subtract(64 + 1022, rank, out=rank)
        maxima = np.zeros(m, dtype=np.int64)
        np.maximum.at(maxima, index, rank)
        exact = None
        if len(hashes) <= (EXACT_HASHES if distinct else 4 * EXACT_HASHES):
            unique = np.unique(hashes)
            exact = unique if len(unique) <= EXACT_HASHES else None
        return cls(maxima.astype(np.uint8), exact)

    def merge(self, other: HyperLogLog) -> HyperLogLog:
        """The sketch of the union: register-wise maxima (and the union of the hashes kept)."""
        exact = None
        if self.hashes is not None and other.hashes is not None:
            union = np.union1d(self.hashes, other.hashes)
            exact = union if len(union) <= EXACT_HASHES else None
        return HyperLogLog(np.maximum(self.registers, other.registers), exact)

    @property
    def exact(self) -> bool:
        """Whether :meth:`estimate` is an exact count (the hashes are kept)."""
        return self.hashes is not None

    def estimate(self) -> float:
        """Estimate the distinct count (Ertl 2017, improved raw estimator), or count it when exact."""
        if self.hashes is not None:
            return float(len(self.hashes))
        m = len(self.registers)
        q = 64 - HLL_PRECISION
        histogram = np.bincount(self.registers, minlength=q + 2).astype(float)
        z = m * _tau(1 - histogram[q + 1] / m)
        for k in range(q, 0, -1):
            z = 0.5 * (z + histogram[k])
        z += m * _sigma(histogram[0] / m)
        return 0.0 if math.isinf(z) else m * m / (2 * math.log(2)) / z

    def to_json(self) -> dict[str, str]:
        """Serialise: base64 of the zlib-compressed registers (and of the hashes kept)."""
        out = {"registers": _pack(self.registers.tobytes())}
        if self.hashes is not None:
            out["hashes"] = _pack(self.hashes.astype("<u8").tobytes())
        return out

    @classmethod
    def from_json(cls, data: dict[str, str]) -> HyperLogLog:
        """Read a sketch serialised by :meth:`to_json`."""
        registers = np.frombuffer(_unpack(data["registers"]), dtype=np.uint8).copy()
        if len(registers) != 1 << HLL_PRECISION:
            raise ValueError("wrong number of HyperLogLog registers")
        hashes = np.frombuffer(_unpack(data["hashes"]), dtype="<u8").astype(np.uint64) if "hashes" in data else None
        return cls(registers, hashes)


def _pack(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def _unpack(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text))


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if z == previous:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if z == previous:
            return z / 3


@dataclass
class Frequencies:
    """The most frequent values with counts, as a mergeable summary.

    ``items`` maps a value to ``(count, error)``: the true frequency lies in
    ``[count, count + error]``. ``rest`` bounds the frequency of any value not listed; 0 means
    the summary is complete (every value listed, exactly).
    """

    capacity: int
    items: dict[Any, tuple[int, int]]
    rest: int = 0

    @classmethod
    def of(cls, values: pa.Array | list[Any], counts: npt.NDArray[np.int64], capacity: int) -> Frequencies:
        """Summarise exact counts of distinct values (only the most frequent become Python objects)."""
        full = len(counts) > capacity
        chosen = np.argpartition(-counts, capacity)[: capacity + 1] if full else np.arange(len(counts))
        if isinstance(values, pa.Array):
            picked = values.take(pa.array(chosen)).to_pylist()
        else:
            picked = [values[i] for i in chosen.tolist()]
        pairs = zip(counts[chosen].tolist(), (_plain(v) for v in picked), strict=True)
        ranked = sorted(pairs, key=lambda cv: (-cv[0], _order(cv[1])))
        items = {v: (int(c), 0) for c, v in ranked[:capacity]}
        return cls(capacity, items, int(ranked[capacity][0]) if full else 0)

    @property
    def complete(self) -> bool:
        """Whether every value is listed with its exact count."""
        return self.rest == 0 and all(error == 0 for _, error in self.items.values())

    @staticmethod
    def merge(parts: Sequence[Frequencies]) -> Frequencies:
        """Merge summaries of parts: counts add, errors add the parts' bounds for absent values."""
        capacity = min(p.capacity for p in parts)
        merged: dict[Any, tuple[int, int]] = {}
        for value in dict.fromkeys(v for p in parts for v in p.items):
            count = error = 0
            for part in parts:
                c, e = part.items.get(value, (0, part.rest))
                count, error = count + c, error + e
            merged[value] = (count, error)
        ranked = sorted(merged.items(), key=lambda item: (-item[1][0], _order(item[0])))
        rest = sum(p.rest for p in parts)
        for _, (count, error) in ranked[capacity:]:
            rest = max(rest, count + error)
        return Frequencies(capacity, dict(ranked[:capacity]), rest)

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON."""
        return {"capacity": self.capacity, "rest": self.rest, "items": [[v, c, e] for v, (c, e) in self.items.items()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Frequencies:
        """Read a summary written by :meth:`to_json`."""
        return cls(int(data["capacity"]), {v: (int(c), int(e)) for v, c, e in data["items"]}, int(data["rest"]))


def _order(value: Any) -> tuple[str, str]:
    return type(value).__name__, str(value)


def _plain(value: Any) -> Any:
    """A value as JSON holds it (and as it comes back from a stored profile)."""
    if isinstance(value, datetime | date | dt_time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _kll_of(values: npt.NDArray[np.float64]) -> Any:
    from datasketches import kll_doubles_sketch

    sketch = kll_doubles_sketch(KLL_K)
    # In slices: the binding holds the GIL while it updates, so short calls let the other
    # columns' threads run in between. It takes writable arrays only: read-only (Arrow-owned)
    # values are copied a slice at a time.
    copy = not (values.flags.writeable and values.flags.c_contiguous)
    for start in range(0, len(values), _KLL_SLICE):
        piece = values[start : start + _KLL_SLICE]
        sketch.update(np.array(piece, dtype=np.float64) if copy else piece)
    return sketch


def _kll_decode(text: str) -> Any:
    from datasketches import kll_doubles_sketch

    return kll_doubles_sketch.deserialize(base64.b64decode(text))


def _kll_encode(sketch: Any) -> str:
    return base64.b64encode(sketch.serialize()).decode("ascii")


# --------------------------------------------------------------------------------------------
# column state


@dataclass
class _Column:
    """Everything a profile keeps of one column; rendered by :meth:`to_json`."""

    type: LogicalType
    pii: bool
    count: int
    nulls: int
    min: Any = None
    max: Any = None
    infinite: int = 0
    exact_distinct: int | None = None
    moments: Moments | None = None
    histogram: Histogram | None = None
    kll: Any = None
    hll: HyperLogLog | None = None
    frequencies: Frequencies | None = None
    lengths: tuple[int, int] | None = None

    def to_json(self, top_k: int) -> dict[str, Any]:
        out: dict[str, Any] = {"type": str(self.type), "pii": self.pii, "count": self.count, "nulls": self.nulls}
        if self.pii or self.type is LogicalType.OTHER:
            return out
        out.update(self._distinct())
        if self.type in _NUMERIC or self.type in _TEMPORAL:
            out["min"], out["max"] = _render(self.min), _render(self.max)
        if self.type is LogicalType.FLOAT:
            out["infinite"] = self.infinite
        if self.moments is not None:
            out["mean"] = self.moments.mean if self.moments.n else None
            out["std"] = self.moments.std
        if self.kll is not None:
            empty = self.kll.is_empty()
            quantiles = [None] * len(QUANTILES) if empty else self.kll.get_quantiles(list(QUANTILES.values()))
            out["quantiles"] = {
                name: (None if q is None else float(q)) for name, q in zip(QUANTILES, quantiles, strict=True)
            }
        if self.histogram is not None:
            out["histogram"] = {"edges": self.histogram.edges, "counts": list(self.histogram.counts)}
        if self.lengths is not None:
            out["min_length"], out["max_length"] = self.lengths
        if self.frequencies is not None:
            top = list(self.frequencies.items.items())[:top_k]
            out["top_k"] = [{"value": v, "count": c} for v, (c, _) in top]
        out["sketches"] = self._sketches()
        return out

    def _distinct(self) -> dict[str, Any]:
        if self.exact_distinct is not None:
            return {"distinct": self.exact_distinct, "distinct_exact": True}
        if self.frequencies is not None and self.frequencies.complete:
            return {"distinct": len(self.frequencies.items), "distinct_exact": True}
        if self.hll is not None:
            return {"distinct": round(self.hll.estimate()), "distinct_exact": self.hll.exact}
        return {"distinct": None, "distinct_exact": False}

    def _sketches(self) -> dict[str, Any]:
        sketches: dict[str, Any] = {}
        if self.moments is not None:
            sketches["moments"] = {"n": self.moments.n, "mean": self.moments.mean, "m2": self.moments.m2}
        if self.histogram is not None:
            h = self.histogram
            sketches["histogram"] = {
                "exponent": h.exponent,
                "start": h.start,
                "counts": h.counts,
                "max_bins": h.max_bins,
            }
        if self.kll is not None:
            sketches["kll"] = _kll_encode(self.kll)
        if self.hll is not None:
            sketches["hll"] = self.hll.to_json()
        if self.frequencies is not None:
            sketches["frequencies"] = self.frequencies.to_json()
        return sketches

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Column:
        column = cls(LogicalType(data["type"]), bool(data["pii"]), int(data["count"]), int(data["nulls"]))
        if column.pii:
            return column
        if column.type in _NUMERIC or column.type in _TEMPORAL:
            column.min, column.max = data.get("min"), data.get("max")
        column.infinite = int(data.get("infinite", 0))
        column.lengths = (data["min_length"], data["max_length"]) if "min_length" in data else None
        sketches = data.get("sketches", {})
        if "moments" in sketches:
            column.moments = Moments(**sketches["moments"])
        if "histogram" in sketches:
            column.histogram = Histogram(**sketches["histogram"])
        if "kll" in sketches:
            column.kll = _kll_decode(sketches["kll"])
        if "hll" in sketches:
            column.hll = HyperLogLog.from_json(sketches["hll"])
        if "frequencies" in sketches:
            column.frequencies = Frequencies.from_json(sketches["frequencies"])
        return column


def _render(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


# --------------------------------------------------------------------------------------------
# profile


def profile(data: Any, *, pii: Iterable[str] = (), bins: int = 20, top_k: int = 10) -> dict[str, Any]:
    """Profile tabular data: per-column statistics backed by mergeable sketches.

    Args:
        data: Anything :func:`~modelyard.data._tables.read_table` reads.
        pii: Names of the columns holding personal data: only their counts and nulls are kept.
        bins: The most histogram bins per numeric column (at least 2).
        top_k: How many of the most frequent values to report per string, categorical or
            boolean column (the summary keeps four times as many, at least 32, for merges).

    Returns:
        The profile: ``format``, ``num_rows``, ``num_columns``, ``bins``, ``top_k`` and
        ``columns`` (a dict by column name; see the module docstring).

    Raises:
        InvalidInputError: The data cannot be read, ``pii`` names a missing column, or
            ``bins``/``top_k`` are out of range.
    """
    if bins < 2:
        raise InvalidInputError(f"bins must be at least 2, not {bins}")
    if top_k < 0:
        raise InvalidInputError(f"top_k must be 0 or more, not {top_k}")
    table = read_table(data)
    pii_names = {pii} if isinstance(pii, str) else set(pii)
    unknown = sorted(pii_names - set(table.column_names))
    if unknown:
        raise InvalidInputError(f"pii names columns the data lacks: {', '.join(unknown)}")
    capacity = max(4 * top_k, 32)

    def one(name: str) -> dict[str, Any]:
        column = _profile_column(table.column(name), pii=name in pii_names, bins=bins, capacity=capacity)
        return column.to_json(top_k)

    # Columns in parallel: numpy and Arrow kernels release the GIL, so one column's vectorised
    # work overlaps another's KLL updates (which hold it). Few threads keep the memory bounded.
    workers = min(_MAX_THREADS, _usable_cpus(), max(table.num_columns, 1))
    if workers > 1 and table.num_rows >= _PARALLEL_ROWS:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelyard-profile") as pool:
            results = list(pool.map(one, table.column_names))
    else:
        results = [one(name) for name in table.column_names]
    columns = dict(zip(table.column_names, results, strict=True))
    return {
        "format": PROFILE_FORMAT,
        "num_rows": table.num_rows,
        "num_columns": table.num_columns,
        "bins": bins,
        "top_k": top_k,
        "columns": columns,
    }


def _usable_cpus() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _profile_column(column: pa.ChunkedArray, *, pii: bool, bins: int, capacity: int) -> _Column:
    kind = logical_type(column.type)
    state = _Column(kind, pii, len(column) - column.null_count, column.null_count)
    if pii or kind is LogicalType.OTHER:
        return state
    present = pc.drop_null(column) if column.null_count else column
    if kind in _NUMERIC:
        _profile_numbers(state, present, bins=bins, capacity=capacity)
    elif kind in _TEMPORAL:
        _profile_temporal(state, present)
    elif kind is LogicalType.CATEGORICAL:
        _profile_dictionary(state, present, capacity=capacity)
    elif kind is LogicalType.STRING:
        _profile_strings(state, present, capacity=capacity)
    elif kind is LogicalType.BOOLEAN:
        trues = int(pc.sum(present).as_py() or 0)
        counts = {True: trues, False: state.count - trues}
        values = [v for v, c in counts.items() if c]
        state.frequencies = Frequencies.of(values, np.array([counts[v] for v in values], np.int64), capacity)
        state.hll = HyperLogLog.of(hash_values(pa.array(values, pa.bool_())), distinct=True)
    return state


def _profile_numbers(state: _Column, present: pa.ChunkedArray, *, bins: int, capacity: int) -> None:
    integer = state.type is LogicalType.INTEGER
    if pa.types.is_decimal(present.type):
        present = present.cast(pa.float64())
    values = present.to_numpy() if present.type == pa.float64() else present.cast(pa.float64()).to_numpy()
    if not integer:
        finite = np.isfinite(values)
        if not finite.all():
            state.infinite = int(len(values) - finite.sum())
            values = values[finite]
    state.moments = Moments.of(values)
    state.kll = _kll_of(values)
    if len(values):
        lo, hi = float(values.min()), float(values.max())
        state.histogram = Histogram.of(values, lo, hi, integer=integer, max_bins=bins)
        if integer:
            bounds = pc.min_max(present).as_py()
            state.min, state.max = bounds["min"], bounds["max"]
        else:
            state.min, state.max = lo, hi
    del values
    state.hll = HyperLogLog.of(hash_values(present))
    if state.hll.estimate() <= EXACT_DISTINCT_LIMIT:
        counted = pc.value_counts(present)
        state.exact_distinct = len(counted)
        _keep_hashes(state.hll, counted.field("values"))
        if len(counted) <= capacity:
            state.frequencies = Frequencies.of(counted.field("values"), counted.field("counts").to_numpy(), capacity)


def _profile_temporal(state: _Column, present: pa.ChunkedArray) -> None:
    if state.count:
        bounds = pc.min_max(present).as_py()
        state.min, state.max = bounds["min"], bounds["max"]
    state.hll = HyperLogLog.of(hash_values(present))
    if state.hll.estimate() <= EXACT_DISTINCT_LIMIT:
        unique = pc.unique(present)
        state.exact_distinct = len(unique)
        _keep_hashes(state.hll, unique)


def _keep_hashes(sketch: HyperLogLog, unique: pa.Array) -> None:
    if len(unique) <= EXACT_HASHES:
        sketch.hashes = np.unique(hash_values(unique))


def _profile_dictionary(state: _Column, present: pa.ChunkedArray, *, capacity: int) -> None:
    dictionary = present.chunks[0].dictionary if present.num_chunks else pa.array([], present.type.value_type)
    counts = np.zeros(len(dictionary), dtype=np.int64)
    for chunk in present.chunks:
        counts += np.bincount(chunk.indices.to_numpy(zero_copy_only=False), minlength=len(dictionary))
    used = np.flatnonzero(counts)
    values = dictionary.take(pa.array(used))
    state.exact_distinct = len(used)
    state.frequencies = Frequencies.of(values, counts[used], capacity)
    state.hll = HyperLogLog.of(hash_values(values), distinct=True)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        state.lengths = _lengths(values)


def _profile_strings(state: _Column, present: pa.ChunkedArray, *, capacity: int) -> None:
    if state.count == 0:
        state.exact_distinct = 0
        state.hll = HyperLogLog()
        state.frequencies = Frequencies(capacity, {})
        return
    state.lengths = _lengths(present)
    sample = present.slice(0, _LOW_CARDINALITY_SAMPLE)
    if pc.count_distinct(sample).as_py() <= _LOW_CARDINALITY:
        # Few distinct values: Arrow's hash table stays small and fast.
        counted = pc.value_counts(present)
        values = counted.field("values")
        state.exact_distinct = len(values)
        state.frequencies = Frequencies.of(values, counted.field("counts").to_numpy(), capacity)
        state.hll = HyperLogLog.of(hash_values(values), distinct=True)
        return
    # Many distinct values: sort 64-bit hashes instead (Arrow's hash table is slow to grow).
    hashes = hash_values(present)
    state.hll = HyperLogLog.of(hashes)
    ordered = np.sort(hashes)
    starts = np.concatenate(([0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1))
    counts = np.diff(np.append(starts, len(ordered)))
    unique = ordered[starts]
    del ordered
    state.exact_distinct = len(unique)
    if len(unique) <= EXACT_HASHES:
        state.hll.hashes = unique
    chosen = (
        np.argpartition(-counts, capacity)[: capacity + 1] if len(unique) > capacity + 1 else np.arange(len(unique))
    )
    wanted = unique[chosen]
    rows = np.flatnonzero(np.isin(hashes, wanted))
    _, first = np.unique(hashes[rows], return_index=True)
    representatives = present.take(pa.array(rows[first])).to_pylist()
    by_hash = dict(zip(hashes[rows[first]].tolist(), representatives, strict=True))
    values = [by_hash[h] for h in wanted.tolist()]
    state.frequencies = Frequencies.of(values, counts[chosen], capacity)
    if len(unique) > len(chosen):
        # The summary saw only the chosen values; the largest count left out bounds the rest.
        left_out = np.ones(len(unique), dtype=bool)
        left_out[chosen] = False
        state.frequencies.rest = max(state.frequencies.rest, int(counts[left_out].max()))


def _lengths(values: pa.Array | pa.ChunkedArray) -> tuple[int, int]:
    bounds = pc.min_max(pc.utf8_length(values)).as_py()
    return int(bounds["min"] or 0), int(bounds["max"] or 0)


# --------------------------------------------------------------------------------------------
# merge


def merge_profiles(profiles: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Merge profiles of partitions (or time windows) of one table into the profile of the whole.

    Counts, nulls, min/max, mean/std and histograms come out exactly as profiling the whole
    would give; quantiles and distinct counts within their sketches' error; frequencies exactly
    when the parts' summaries were complete. A column that is PII in any part is PII in the
    result. Integer and float parts merge to float, string and categorical parts to string.

    Args:
        profiles: Profiles made by :func:`profile` (or by this function) with the same columns.

    Returns:
        The merged profile.

    Raises:
        InvalidInputError: No profile is given, one is malformed, or their columns differ.
    """
    if not profiles:
        raise InvalidInputError("merge_profiles needs at least one profile")
    for i, one in enumerate(profiles):
        if not isinstance(one, dict) or one.get("format") != PROFILE_FORMAT or not isinstance(one.get("columns"), dict):
            raise InvalidInputError(f"profile {i} is not a modelyard profile (format {PROFILE_FORMAT!r})")
    names = list(profiles[0]["columns"])
    for i, one in enumerate(profiles[1:], start=1):
        if set(one["columns"]) != set(names):
            differing = sorted(set(one["columns"]) ^ set(names))
            raise InvalidInputError(f"profile {i} has other columns than profile 0: {', '.join(differing)}")
    top_k = min(int(p["top_k"]) for p in profiles)
    columns = {}
    for name in names:
        try:
            parts = [_Column.from_json(p["columns"][name]) for p in profiles]
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise InvalidInputError(f"column {name!r} of a profile is malformed: {exc}") from exc
        columns[name] = _merge_columns(name, parts).to_json(top_k)
    return {
        "format": PROFILE_FORMAT,
        "num_rows": sum(int(p["num_rows"]) for p in profiles),
        "num_columns": len(names),
        "bins": min(int(p["bins"]) for p in profiles),
        "top_k": top_k,
        "columns": columns,
    }


def _merged_type(name: str, types: set[LogicalType]) -> LogicalType:
    if len(types) == 1:
        return types.pop()
    if types <= set(_NUMERIC):
        return LogicalType.FLOAT
    if types <= set(_TEXT):
        return LogicalType.STRING
    raise InvalidInputError(f"column {name!r} has different types in the profiles: {', '.join(sorted(types))}")


def _merge_columns(name: str, parts: list[_Column]) -> _Column:
    kind = _merged_type(name, {p.type for p in parts})
    merged = _Column(kind, any(p.pii for p in parts), sum(p.count for p in parts), sum(p.nulls for p in parts))
    if merged.pii:
        return merged
    valued = [p for p in parts if p.min is not None]
    if valued:
        if kind in _TEMPORAL:
            merged.min = min((p.min for p in valued), key=_parse_temporal)
            merged.max = max((p.max for p in valued), key=_parse_temporal)
        else:
            merged.min, merged.max = min(p.min for p in valued), max(p.max for p in valued)
    merged.infinite = sum(p.infinite for p in parts)
    if all(p.moments is not None for p in parts):
        merged.moments = _reduce([p.moments for p in parts if p.moments is not None], Moments.merge)
    histograms = [p.histogram for p in parts if p.histogram is not None]
    if histograms and valued and kind in _NUMERIC:
        integer = kind is LogicalType.INTEGER
        merged.histogram = Histogram.merge(histograms, float(merged.min), float(merged.max), integer=integer)
    if all(p.kll is not None for p in parts):
        merged.kll = _kll_decode(_kll_encode(parts[0].kll))
        for part in parts[1:]:
            merged.kll.merge(part.kll)
    if all(p.hll is not None for p in parts):
        merged.hll = _reduce([p.hll for p in parts if p.hll is not None], HyperLogLog.merge)
    if all(p.frequencies is not None for p in parts):
        merged.frequencies = Frequencies.merge([p.frequencies for p in parts if p.frequencies is not None])
    lengths = [p.lengths for p in parts if p.lengths is not None]
    if lengths:
        merged.lengths = (min(lo for lo, _ in lengths), max(hi for _, hi in lengths))
    return merged


def _parse_temporal(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if isinstance(parsed, datetime) else datetime.combine(parsed, datetime.min.time())


def _reduce(items: list[Any], combine: Any) -> Any:
    result = items[0]
    for item in items[1:]:
        result = combine(result, item)
    return result
