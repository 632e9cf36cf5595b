"""Dataset pages: datasets, versions, one version (manifest, schema, profile charts, consumers), diffs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from modelyard.entities import DatasetVersion, Role
from modelyard.server._auth import requires
from modelyard.server._context import Principal
from modelyard.server.routers._deps import datasets
from modelyard.server.ui._render import UiRoute, render

__all__ = ["profile_charts", "router", "schema_columns"]

router = APIRouter(include_in_schema=False, route_class=UiRoute)
ProjectViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="path"))]
MAX_FILES_SHOWN = 500
_STATS = ("count", "nulls", "distinct", "min", "max", "mean", "std", "min_length", "max_length")


def profile_charts(version: DatasetVersion) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-column statistics rows and the chart data (histograms, top values) of a version's profile."""
    columns = (version.profile or {}).get("columns") or {}
    rows: list[dict[str, Any]] = []
    charts: dict[str, Any] = {}
    for name, column in columns.items():
        if not isinstance(column, dict):
            continue
        rows.append({"name": name, "type": column.get("type"), "pii": column.get("pii", False),
                     **{s: column.get(s) for s in _STATS}})  # fmt: skip
        chart: dict[str, Any] = {}
        histogram = column.get("histogram")
        if isinstance(histogram, dict) and histogram.get("counts"):
            chart["histogram"] = {"edges": histogram.get("edges", []), "counts": histogram["counts"]}
        if column.get("top_k"):
            chart["top"] = [{"value": str(t.get("value")), "count": t.get("count", 0)} for t in column["top_k"][:10]]
        if chart:
            charts[name] = chart
    return rows, charts


def schema_columns(version: DatasetVersion) -> list[dict[str, Any]]:
    """The schema's columns as a list of dicts with a ``name`` (stored as a list or a name-keyed mapping)."""
    columns = (version.schema or {}).get("columns")
    if isinstance(columns, dict):
        return [{"name": k, **(spec if isinstance(spec, dict) else {"type": spec})} for k, spec in columns.items()]
    if isinstance(columns, list):
        return [c for c in columns if isinstance(c, dict)]
    return []


@router.get("/projects/{project}/datasets")
def datasets_page(project: str, request: Request, principal: ProjectViewer) -> Response:
    """Datasets of a project with their newest version."""
    found = datasets(request, principal).list_datasets(project)
    return render(request, "datasets.html", {"title": f"Datasets · {project}", "project": project, "datasets": found})


@router.get("/projects/{project}/datasets/{name}")
def versions_page(project: str, name: str, request: Request, principal: ProjectViewer) -> Response:
    """Versions of a dataset, newest first, with a form to diff two of them."""
    versions = datasets(request, principal).list_versions(project, name, include_deleted=True)
    context = {"title": f"{name} · {project}", "project": project, "name": name, "versions": versions}
    return render(request, "dataset.html", context)


@router.get("/projects/{project}/datasets/{name}/diff")
def diff_page(
    project: str,
    name: str,
    request: Request,
    principal: ProjectViewer,
    a: Annotated[int, Query(ge=1)],
    b: Annotated[int, Query(ge=1)],
) -> Response:
    """What changed from version ``a`` to version ``b``: files, rows, schema and column statistics."""
    from modelyard.data._diff import diff_versions

    service = datasets(request, principal)
    old = service.get_version(project, f"{name}@{a}", include_deleted=True)
    new = service.get_version(project, f"{name}@{b}", include_deleted=True)
    context = {"title": f"{name}@{a} → @{b}", "project": project, "name": name, "diff": diff_versions(old, new)}
    return render(request, "dataset_diff.html", context)


@router.get("/projects/{project}/datasets/{name}/{version}")
def version_page(project: str, name: str, version: int, request: Request, principal: ProjectViewer) -> Response:
    """One version: manifest, schema, per-column profile with charts, and the runs that used it."""
    service = datasets(request, principal)
    found = service.get_version(project, f"{name}@{version}", include_deleted=True)
    rows, charts = profile_charts(found)
    context = {
        "title": f"{found.ref} · {project}",
        "project": project,
        "v": found,
        "files": found.files[:MAX_FILES_SHOWN],
        "stats": rows,
        "schema_columns": schema_columns(found),
        "charts": charts,
        "consumers": service.lineage(project, found.ref) if not found.deleted else [],
    }
    return render(request, "dataset_version.html", context)
