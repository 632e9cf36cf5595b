"""Metric points, latest values and write-time rollups in SQL.

A batch of points for one (run, key) series is written as: one upsert of ``metric_series`` that
reserves a range of ``seq`` numbers (the row lock serialises concurrent writers of one series),
one bulk insert of the points, and one bulk upsert of the rollup buckets they touch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING

import sqlalchemy as sa

from modelyard.entities import Metric, MetricBucket
from modelyard.store.sql import schema as t
from modelyard.store.sql._rows import db_float, now_ms, py_float, upsert
from modelyard.types import MetricPoint

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MetricRows"]

RAW_LIMIT = 50_000

# Plain SQL (identical on SQLite and PostgreSQL): built once, these run for every series of every
# batch. In SET, ``metric_series.*`` is the row before the update, ``excluded.*`` the new values.
_NEWER = (
    "excluded.step > metric_series.step OR "
    '(excluded.step = metric_series.step AND excluded."timestamp" >= metric_series."timestamp")'
)
_RESERVE = sa.text(
    'INSERT INTO metric_series (run_id, "key", value, step, "timestamp", "count") '
    "VALUES (:run_id, :key, :value, :step, :ts, :n) "
    'ON CONFLICT (run_id, "key") DO UPDATE SET '
    f"value = CASE WHEN {_NEWER} THEN excluded.value ELSE metric_series.value END, "
    f"step = CASE WHEN {_NEWER} THEN excluded.step ELSE metric_series.step END, "
    f'"timestamp" = CASE WHEN {_NEWER} THEN excluded."timestamp" ELSE metric_series."timestamp" END, '
    '"count" = metric_series."count" + excluded."count" '
    'RETURNING id, "count"'
)


def _extreme(column: str, op: str) -> str:
    new, old = f"excluded.{column}", f"metric_rollups.{column}"
    return (
        f"{column} = CASE WHEN {new} IS NULL THEN {old} WHEN {old} IS NULL THEN {new} "
        f"WHEN {new} {op} {old} THEN {new} ELSE {old} END"
    )


_UPSERT_ROLLUP = sa.text(
    "INSERT INTO metric_rollups (series_id, level, bucket, step_min, step_max, value_min, value_max, "
    'value_sum, value_count, "count") VALUES (:series_id, :level, :bucket, :step_min, :step_max, '
    ":value_min, :value_max, :value_sum, :value_count, :count) "
    "ON CONFLICT (series_id, level, bucket) DO UPDATE SET "
    + ", ".join(
        [
            _extreme("step_min", "<"),
            _extreme("step_max", ">"),
            _extreme("value_min", "<"),
            _extreme("value_max", ">"),
            "value_sum = CASE WHEN excluded.value_sum IS NULL THEN metric_rollups.value_sum "
            "WHEN metric_rollups.value_sum IS NULL THEN excluded.value_sum "
            "ELSE metric_rollups.value_sum + excluded.value_sum END",
            "value_count = metric_rollups.value_count + excluded.value_count",
            '"count" = metric_rollups."count" + excluded."count"',
        ]
    )
)
"""Series up to this length are downsampled from their raw points when rollups are too coarse."""


class MetricRows:
    """Operations on metric series within one transaction."""

    conn: sa.Connection

    def claim_batch(self, run_id: str, batch_id: str) -> bool:
        """Record a batch id; return False when it was already applied (a retried batch)."""
        stmt = (
            upsert(self.conn, t.metric_batches)
            .values(batch_id=batch_id, run_id=run_id, created_at=now_ms())
            .on_conflict_do_nothing(index_elements=["batch_id"])
            .returning(t.metric_batches.c.batch_id)
        )
        return self.conn.execute(stmt).first() is not None

    def insert_points(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        """Append points ``(key, value, timestamp_ms, step)`` to their series."""
        keys = set(map(itemgetter(0), points))
        if len(keys) == 1:
            groups: dict[str, Sequence[MetricPoint]] = {next(iter(keys)): points}
        else:
            grouped: dict[str, list[MetricPoint]] = defaultdict(list)
            for point in points:
                grouped[point[0]].append(point)
            groups = dict(grouped)
        p = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO metrics (series_id, seq, step, timestamp, value) VALUES ({p}, {p}, {p}, {p}, {p})"
        rollups: list[dict[str, object]] = []
        for key, series in groups.items():
            values = list(map(itemgetter(1), series))
            stamps = list(map(itemgetter(2), series))
            steps = list(map(itemgetter(3), series))
            import numpy as np  # vectorised rollups; imported on the first write, not at start-up

            values_np = np.fromiter(values, dtype=np.float64, count=len(values))
            steps_np = np.fromiter(steps, dtype=np.int64, count=len(steps))
            latest = _latest_index(steps_np, np.fromiter(stamps, dtype=np.int64, count=len(stamps)))
            series_id, start = self._reserve(run_id, key, series[latest], len(series))
            stored = [v if v == v else None for v in values]  # NaN -> NULL
            rows = zip(repeat(series_id), range(start, start + len(series)), steps, stamps, stored)
            self.conn.exec_driver_sql(sql, list(rows))
            rollups.extend(_rollup_rows(series_id, start, values_np, steps_np))
        self._upsert_rollups(rollups)

    def _reserve(self, run_id: str, key: str, latest: MetricPoint, n: int) -> tuple[int, int]:
        """Create or update the series row; return its id and the first ``seq`` reserved for ``n`` points."""
        _, value, ts, step = latest
        params = {"run_id": run_id, "key": key, "value": db_float(value), "step": step, "ts": ts, "n": n}
        series_id, total = self.conn.execute(_RESERVE, params).one()
        return int(series_id), int(total) - n

    def _upsert_rollups(self, rows: list[dict[str, object]]) -> None:
        if rows:
            self.conn.execute(_UPSERT_ROLLUP, rows)

    # reading ------------------------------------------------------------------------------
    def _series(self, run_id: str, key: str) -> tuple[int, int] | None:
        ms = t.metric_series
        row = self.conn.execute(sa.select(ms.c.id, ms.c.count).where(ms.c.run_id == run_id, ms.c.key == key)).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a series, ordered by step (then arrival)."""
        series = self._series(run_id, key)
        if series is None:
            return []
        m = t.metrics
        rows = self.conn.execute(
            sa.select(m.c.step, m.c.timestamp, m.c.value).where(m.c.series_id == series[0]).order_by(m.c.step, m.c.seq)
        )
        return [Metric.model_construct(key=key, value=py_float(v), step=s, timestamp=ts) for s, ts, v in rows]

    def metric_keys(self, run_id: str) -> list[str]:
        """Keys of every metric series of a run."""
        ms = t.metric_series
        return list(self.conn.execute(sa.select(ms.c.key).where(ms.c.run_id == run_id).order_by(ms.c.key)).scalars())

    def downsample(self, run_id: str, key: str, max_buckets: int) -> list[MetricBucket]:
        """At most ``max_buckets`` buckets covering the series in arrival order, each with its min and max.

        Reads the coarsest rollup level that still gives at least half the buckets asked for
        (about a thousand rows for a million points), or the raw points of a short series.
        """
        series = self._series(run_id, key)
        if series is None:
            return []
        series_id, total = series
        level = next(
            (lvl for lvl in reversed(range(len(t.ROLLUP_SIZES))) if total / t.ROLLUP_SIZES[lvl] >= max_buckets / 2),
            None,
        )
        if level is None and total <= RAW_LIMIT:
            m = t.metrics
            rows = self.conn.execute(sa.select(m.c.step, m.c.value).where(m.c.series_id == series_id).order_by(m.c.seq))
            parts = [(s, s, v, v, v, 0 if v is None else 1, 1) for s, v in rows]
        else:
            r = t.metric_rollups
            parts = [
                tuple(row)
                for row in self.conn.execute(
                    sa.select(
                        r.c.step_min,
                        r.c.step_max,
                        r.c.value_min,
                        r.c.value_max,
                        r.c.value_sum,
                        r.c.value_count,
                        r.c.count,
                    )
                    .where(r.c.series_id == series_id, r.c.level == (level or 0))
                    .order_by(r.c.bucket)
                )
            ]
        return _merge(parts, max_buckets)


def _merge(
    parts: list[tuple[int, int, float | None, float | None, float | None, int, int]], max_buckets: int
) -> list[MetricBucket]:
    """Merge consecutive parts into at most ``max_buckets`` buckets."""
    per = max(1, -(-len(parts) // max_buckets))
    out: list[MetricBucket] = []
    for i in range(0, len(parts), per):
        group = parts[i : i + per]
        mins = [g[2] for g in group if g[2] is not None]
        maxs = [g[3] for g in group if g[3] is not None]
        vsum = sum(g[4] or 0.0 for g in group)
        vcount = sum(g[5] for g in group)
        out.append(
            MetricBucket(
                step_min=min(g[0] for g in group),
                step_max=max(g[1] for g in group),
                value_min=min(mins) if mins else None,
                value_max=max(maxs) if maxs else None,
                value_avg=vsum / vcount if vcount else None,
                count=sum(g[6] for g in group),
            )
        )
    return out


def _latest_index(steps: np.ndarray, stamps: np.ndarray) -> int:
    """Index of the latest point: highest step, then newest timestamp, then last logged."""
    import numpy as np

    candidates = np.flatnonzero(steps == steps.max())
    best = stamps[candidates]
    return int(candidates[np.flatnonzero(best == best.max())[-1]])


def _rollup_rows(series_id: int, start: int, values: np.ndarray, steps: np.ndarray) -> list[dict[str, object]]:
    """Aggregate a contiguous run of points (seq ``start`` onwards) into rollup buckets per level."""
    import numpy as np

    n = len(values)
    seqs = np.arange(start, start + n, dtype=np.int64)
    finite = ~np.isnan(values)
    summable = np.where(finite, values, 0.0)
    rows: list[dict[str, object]] = []
    with np.errstate(invalid="ignore"):
        for level, size in enumerate(t.ROLLUP_SIZES):
            buckets = seqs // size
            starts = np.concatenate(([0], np.flatnonzero(np.diff(buckets)) + 1))
            counts = np.diff(np.concatenate((starts, [n])))
            vmin = np.fmin.reduceat(values, starts)
            vmax = np.fmax.reduceat(values, starts)
            vsum = np.add.reduceat(summable, starts)
            vcount = np.add.reduceat(finite.astype(np.int64), starts)
            smin = np.minimum.reduceat(steps, starts)
            smax = np.maximum.reduceat(steps, starts)
            for j, s in enumerate(starts.tolist()):
                rows.append(
                    {
                        "series_id": series_id,
                        "level": level,
                        "bucket": int(buckets[s]),
                        "step_min": int(smin[j]),
                        "step_max": int(smax[j]),
                        "value_min": db_float(float(vmin[j])),
                        "value_max": db_float(float(vmax[j])),
                        "value_sum": db_float(float(vsum[j])) if vcount[j] else None,
                        "value_count": int(vcount[j]),
                        "count": int(counts[j]),
                    }
                )
    return rows
