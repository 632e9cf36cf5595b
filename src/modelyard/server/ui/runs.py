"""The runs table of a project and the comparison of runs.

The table is one ``search_runs`` call: keyset page tokens, sorting by any column, the filter box in
the search language (a parse error is shown inline with status 400), a column picker over the
params/metrics/tags of the runs on the page, and nested runs grouped under their parents.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from modelyard.entities import Role, Run
from modelyard.errors import InvalidInputError
from modelyard.names import validate_run_id
from modelyard.server._auth import requires
from modelyard.server._context import Principal
from modelyard.server.routers._deps import tracking
from modelyard.server.ui._render import UiRoute, render

__all__ = ["order_clause", "router"]

router = APIRouter(include_in_schema=False, route_class=UiRoute)
ProjectViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="path"))]

PAGE_SIZES = (25, 50, 100, 250)
ATTRIBUTE_COLUMNS = {"name": "Name", "status": "Status", "user": "User", "start_time": "Started", "end_time": "Ended"}
MAX_COMPARE = 20
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-./:]+$")
_COLUMN = re.compile(r"^(params|metrics|tags)\.(.+)$")


def order_clause(column: str, descending: bool) -> str:
    """The ``order_by`` clause for a table column (``start_time``, ``metrics.loss``, ...)."""
    match = _COLUMN.match(column)
    if match is None:
        if column not in ATTRIBUTE_COLUMNS:
            raise InvalidInputError(f"sort: unknown column {column!r}; use an attribute or params./metrics./tags.KEY.")
        name = column
    else:
        prefix, key = match.groups()
        if not _PLAIN_KEY.match(key):
            if "`" in key:
                raise InvalidInputError(f"sort: cannot sort by a key containing a backtick ({key!r}).")
            key = f"`{key}`"
        name = f"{prefix}.{key}"
    return f"{name} {'desc' if descending else 'asc'}"


def _value(run: Run, column: str) -> Any:
    kind, _, key = column.partition(".")
    sources: dict[str, dict[str, Any]] = {"params": run.params, "metrics": run.metrics, "tags": run.tags}
    source = sources[kind]
    return source.get(key)


def _tree(runs: list[Run]) -> list[tuple[Run, int, bool]]:
    """Rows in display order: each run followed by its children on this page, with depth and has-children."""
    on_page = {r.id for r in runs}
    children: dict[str, list[Run]] = {}
    roots = []
    for run in runs:
        if run.parent_id is not None and run.parent_id in on_page:
            children.setdefault(run.parent_id, []).append(run)
        else:
            roots.append(run)
    rows: list[tuple[Run, int, bool]] = []

    def visit(run: Run, depth: int) -> None:
        kids = children.get(run.id, [])
        rows.append((run, depth, bool(kids)))
        if depth < 8:
            for kid in kids:
                visit(kid, depth + 1)

    for root in roots:
        visit(root, 0)
    return rows


def _available(runs: list[Run], chosen: list[str]) -> dict[str, list[str]]:
    keys: dict[str, set[str]] = {"metrics": set(), "params": set(), "tags": set()}
    for run in runs:
        keys["metrics"].update(run.metrics)
        keys["params"].update(run.params)
        keys["tags"].update(k for k in run.tags if not k.startswith("modelyard."))
    for column in chosen:
        kind, _, key = column.partition(".")
        keys[kind].add(key)
    return {kind: sorted(values)[:200] for kind, values in keys.items()}


@router.get("/projects/{project}/runs")
def runs_page(
    project: str,
    request: Request,
    principal: ProjectViewer,
    q: Annotated[str, Query(max_length=4000)] = "",
    sort: Annotated[str, Query(max_length=300)] = "start_time",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    col: Annotated[list[str] | None, Query(max_length=300)] = None,
    page: Annotated[str | None, Query(max_length=4000)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZES[-1])] = 50,
) -> Response:
    """One page of a project's runs (server-side filter, sort and keyset pagination)."""
    chosen = [c for c in (col or []) if _COLUMN.match(c)][:30]
    error = None
    runs: list[Run] = []
    next_page = None
    try:
        clause = order_clause(sort, order == "desc")
        found = tracking(request, principal).search_runs(project, q or None, [clause], limit, page)
        runs, next_page = list(found), found.next_page_token
    except InvalidInputError as exc:  # a malformed filter, sort or page token: shown next to the box
        error = exc.message
    if not chosen and col is None:
        available = _available(runs, [])
        chosen = [f"metrics.{k}" for k in available["metrics"] if not k.startswith("system/")][:4]
        chosen += [f"params.{k}" for k in available["params"]][:3]
    params = {"q": q, "sort": sort, "order": order, "col": chosen or ["-"], "limit": limit}
    context = {
        "title": f"Runs · {project}",
        "project": project,
        "rows": _tree(runs),
        "columns": chosen,
        "value": _value,
        "available": _available(runs, chosen),
        "attributes": ATTRIBUTE_COLUMNS,
        "params": params,
        "error": error,
        "next_page": next_page,
        "first_page": page is not None,
        "page_sizes": PAGE_SIZES,
    }
    return render(request, "runs.html", context, status=400 if error else 200)


@router.get("/projects/{project}/compare")
def compare_page(
    project: str,
    request: Request,
    principal: ProjectViewer,
    run: Annotated[list[str] | None, Query(max_length=64)] = None,
) -> Response:
    """Compare runs of a project: overlaid metrics, a diff of params, parallel coordinates, a scatter."""
    ids = list(dict.fromkeys(run or []))
    if len(ids) < 2:
        raise InvalidInputError("Select at least two runs to compare (tick them in the runs table).")
    if len(ids) > MAX_COMPARE:
        raise InvalidInputError(f"Compare at most {MAX_COMPARE} runs at once; you selected {len(ids)}.")
    for run_id in ids:
        validate_run_id(run_id)  # hex only: safe to put in the filter below
    listed = ", ".join(f"'{i}'" for i in ids)
    found = tracking(request, principal).search_runs(project, f"attributes.id in ({listed})", None, MAX_COMPARE)
    by_id = {r.id: r for r in found}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise InvalidInputError(f"Run(s) {', '.join(missing)} are not runs of project {project!r}.")
    runs = [by_id[i] for i in ids]
    param_keys = sorted({k for r in runs for k in r.params})
    metric_keys = sorted({k for r in runs for k in r.metrics})
    differing = {k for k in param_keys if len({r.params.get(k) for r in runs}) > 1}
    data = {
        "runs": [
            {"id": r.id, "name": r.name, "params": r.params, "metrics": {k: _finite(v) for k, v in r.metrics.items()}}
            for r in runs
        ],
        "params": param_keys,
        "metrics": metric_keys,
    }
    context = {
        "title": f"Compare {len(runs)} runs · {project}",
        "project": project,
        "runs": runs,
        "param_keys": param_keys,
        "metric_keys": metric_keys,
        "differing": differing,
        "data": data,
    }
    return render(request, "compare.html", context)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
