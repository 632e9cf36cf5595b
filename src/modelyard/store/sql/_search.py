"""Compiling the run search language (see :mod:`modelyard.search`) to parameterized SQL.

Semantics, identical on SQLite and PostgreSQL:
- a run lacking a key never matches a comparison on that key, and sorts last;
- params compare as strings, and numerically when both the stored value and the literal are numbers;
- ``like`` is case-sensitive, ``ilike`` is not;
- pagination is keyset-based: a page token holds the sort values of the last row, so tokens stay
  valid (no duplicates, nothing skipped) while runs are added.
"""

from __future__ import annotations

import base64
import hashlib
import json
import operator
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from modelyard.entities import Run
from modelyard.errors import InvalidInputError
from modelyard.search import And, Comparison, Expr, Not, Or, OrderKey
from modelyard.store.sql import schema as t

__all__ = ["SearchRows"]

_ATTRIBUTES: dict[str, sa.Column[Any]] = {
    "name": t.runs.c.name,
    "status": t.runs.c.status,
    "user": t.runs.c.user,
    "id": t.runs.c.id,
    "parent_id": t.runs.c.parent_id,
    "start_time": t.runs.c.start_time,
    "end_time": t.runs.c.end_time,
}


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


_OPERATORS: dict[str, Any] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "like": lambda c, v: c.like(v),
    "ilike": lambda c, v: c.ilike(v),
    "in": lambda c, v: c.in_(list(v)),
    "not in": lambda c, v: c.not_in(list(v)),
}


def _compare(column: sa.ColumnElement[Any], op: str, value: Any) -> sa.ColumnElement[bool]:
    compare = _OPERATORS.get(op)
    if compare is None:
        raise InvalidInputError(f"Unsupported operator {op!r} in filter.")
    result: sa.ColumnElement[bool] = compare(column, value)
    return result


def _compile(expr: Expr) -> sa.ColumnElement[bool]:
    if isinstance(expr, And):
        return sa.and_(*(_compile(e) for e in expr.items))
    if isinstance(expr, Or):
        return sa.or_(*(_compile(e) for e in expr.items))
    if isinstance(expr, Not):
        return sa.not_(_compile(expr.item))
    return _compile_comparison(expr)


def _compile_comparison(c: Comparison) -> sa.ColumnElement[bool]:
    if c.entity == "attributes":
        return _compare(_ATTRIBUTES[c.key], c.op, c.value)
    if c.entity == "metrics":
        lm = t.metric_series
        cond = _compare(lm.c.value, c.op, c.value)
        return sa.exists().where(lm.c.run_id == t.runs.c.id, lm.c.key == c.key, lm.c.value.is_not(None), cond)
    if c.entity == "tags":
        tg = t.tags
        values = tuple(str(v) for v in c.value) if isinstance(c.value, tuple) else str(c.value)
        return sa.exists().where(tg.c.run_id == t.runs.c.id, tg.c.key == c.key, _compare(tg.c.value, c.op, values))
    p = t.params
    return sa.exists().where(p.c.run_id == t.runs.c.id, p.c.key == c.key, _param_condition(c))


def _param_condition(c: Comparison) -> sa.ColumnElement[bool]:
    p = t.params
    if c.op in ("like", "ilike"):
        return _compare(p.c.value, c.op, c.value)
    if isinstance(c.value, tuple):
        texts = [_text(v) for v in c.value]
        numbers = [n for n in (_as_number(v) for v in c.value) if n is not None]
        if c.op == "in":
            return sa.or_(
                sa.and_(p.c.value_num.is_not(None), p.c.value_num.in_(numbers)) if numbers else sa.false(),
                p.c.value.in_(texts),
            )
        return sa.and_(
            sa.or_(p.c.value_num.is_(None), p.c.value_num.not_in(numbers)) if numbers else sa.true(),
            p.c.value.not_in(texts),
        )
    number = _as_number(c.value)
    if number is None:
        return _compare(p.c.value, c.op, _text(c.value))
    return sa.or_(
        sa.and_(p.c.value_num.is_not(None), _compare(p.c.value_num, c.op, number)),
        sa.and_(p.c.value_num.is_(None), _compare(p.c.value, c.op, _text(c.value))),
    )


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


class _Sort:
    """One sort key: a SQL expression, its direction, and the join it needs."""

    def __init__(self, expr: sa.ColumnElement[Any], descending: bool) -> None:
        self.expr = expr
        self.descending = descending

    def order(self) -> sa.UnaryExpression[Any]:
        return (self.expr.desc() if self.descending else self.expr.asc()).nulls_last()

    def after(self, value: Any) -> sa.ColumnElement[bool]:
        """Rows strictly after ``value`` in this key's order (nulls last)."""
        if value is None:
            return sa.false()
        beyond = self.expr < value if self.descending else self.expr > value
        return sa.or_(beyond, self.expr.is_(None))

    def equal(self, value: Any) -> sa.ColumnElement[bool]:
        return self.expr.is_(None) if value is None else self.expr == value


class SearchRows:
    """Run search within one connection."""

    conn: sa.Connection

    def search_run_rows(
        self,
        project_id: int,
        expr: Expr | None,
        order_by: Sequence[OrderKey],
        limit: int,
        page_token: str | None,
        include_deleted: bool = False,
    ) -> tuple[list[Any], str | None]:
        """Return one page of ``runs`` rows (with a ``project`` column) and the next page token."""
        query = (
            sa.select(t.runs, t.projects.c.name.label("project"))
            .join(t.projects, t.projects.c.id == t.runs.c.project_id)
            .where(t.runs.c.project_id == project_id)
        )
        if not include_deleted:
            query = query.where(t.runs.c.deleted_at.is_(None))
        if expr is not None:
            query = query.where(_compile(expr))
        sorts: list[_Sort] = []
        for i, key in enumerate(order_by):
            query, new = _sort_keys(query, key, i)
            sorts.extend(new)
        if not order_by:
            sorts.append(_Sort(t.runs.c.start_time, True))
        sorts.append(_Sort(t.runs.c.id, sorts[-1].descending))
        fingerprint = _fingerprint(expr, order_by, project_id)
        if page_token:
            values = _decode_token(page_token, fingerprint, len(sorts))
            clauses = []
            for i, sort in enumerate(sorts):
                clauses.append(
                    sa.and_(*(s.equal(v) for s, v in zip(sorts[:i], values, strict=False)), sort.after(values[i]))
                )
            query = query.where(sa.or_(*clauses))
        labelled = [s.expr.label(f"_sort{i}") for i, s in enumerate(sorts)]
        query = query.add_columns(*labelled).order_by(*(s.order() for s in sorts)).limit(limit + 1)
        rows = list(self.conn.execute(query))
        next_token = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_token = _encode_token(fingerprint, [getattr(last, f"_sort{i}") for i in range(len(sorts))])
        return rows, next_token

    def search_runs(self, *args: Any, **kwargs: Any) -> tuple[list[Run], str | None]:
        """Like :meth:`search_run_rows`, returning full :class:`Run` entities."""
        rows, token = self.search_run_rows(*args, **kwargs)
        return self.get_runs(rows), token  # type: ignore[attr-defined]


def _sort_keys(query: sa.Select[Any], key: OrderKey, i: int) -> tuple[sa.Select[Any], list[_Sort]]:
    if key.entity == "attributes":
        return query, [_Sort(_ATTRIBUTES[key.key], key.descending)]
    if key.entity == "metrics":
        lm = t.metric_series.alias(f"sort_m{i}")
        query = query.outerjoin(lm, sa.and_(lm.c.run_id == t.runs.c.id, lm.c.key == key.key))
        return query, [_Sort(lm.c.value, key.descending)]
    if key.entity == "tags":
        tg = t.tags.alias(f"sort_t{i}")
        query = query.outerjoin(tg, sa.and_(tg.c.run_id == t.runs.c.id, tg.c.key == key.key))
        return query, [_Sort(tg.c.value, key.descending)]
    p = t.params.alias(f"sort_p{i}")
    query = query.outerjoin(p, sa.and_(p.c.run_id == t.runs.c.id, p.c.key == key.key))
    # Numbers first, in numeric order; then other values as strings.
    return query, [_Sort(p.c.value_num, key.descending), _Sort(p.c.value, key.descending)]


def _fingerprint(expr: Expr | None, order_by: Sequence[OrderKey], project_id: int) -> str:
    text = repr((expr, list(order_by), project_id))
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _encode_token(fingerprint: str, values: list[Any]) -> str:
    raw = json.dumps({"f": fingerprint, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str, expected: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        values = data["v"]
        ok = data["f"] == fingerprint and isinstance(values, list) and len(values) == expected
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise InvalidInputError(
            "page_token is invalid for this search: pass the token returned by the previous page of the "
            "same search (same project, filter and order_by)."
        )
    return list(values)
