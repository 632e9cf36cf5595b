"""Dataset pages: datasets, versions, one version (manifest, schema, profile charts, consumers), diffs.

A version's page also shows a validation report: its data checked against the schema stored with
the version before it (by default; any version's schema can be chosen), so a reader sees at once
which columns broke the previous version's types, ranges, categories or null limits. Schemas are
stored with every tabular version, and the report is computed when the page is shown, for versions
up to :data:`MAX_VALIDATE_BYTES` (``modelyard data validate`` checks larger ones).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from modelyard.entities import DatasetVersion, Role
from modelyard.errors import InvalidInputError
from modelyard.server._auth import requires
from modelyard.server._context import Principal
from modelyard.server.routers._deps import datasets
from modelyard.server.ui._render import UiRoute, render

if TYPE_CHECKING:
    from modelyard.data._service import DatasetService

__all__ = ["MAX_VALIDATE_BYTES", "profile_charts", "router", "schema_columns", "validation_report"]

router = APIRouter(include_in_schema=False, route_class=UiRoute)
ProjectViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="path"))]
MAX_FILES_SHOWN = 500
MAX_VALIDATE_BYTES = 16 * 1024 * 1024
"""Tabular versions up to this size are validated when their page is shown (larger ones: the CLI)."""
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


def validation_report(service: DatasetService, version: DatasetVersion, schema: Mapping[str, Any]) -> Any:
    """Validate a tabular version's data against ``schema`` (a stored schema), reading its files.

    Returns:
        The :class:`~modelyard.entities.ValidationReport`.

    Raises:
        InvalidInputError: the version is not tabular, or larger than :data:`MAX_VALIDATE_BYTES`.
    """
    from modelyard.data._schema import Schema
    from modelyard.data._tabular import TABULAR_SUFFIXES, load_frame
    from modelyard.data._validation import validate

    if version.num_rows is None or version.deleted or not version.files:
        raise InvalidInputError(f"{version.ref} is not tabular data (or was deleted): nothing to validate.")
    if version.size > MAX_VALIDATE_BYTES or any(
        PurePosixPath(f.path).suffix.lower() not in TABULAR_SUFFIXES for f in version.files
    ):
        raise InvalidInputError(
            f"{version.ref} is too large to validate in the page ({version.size:,} bytes); run "
            f"`modelyard data validate {version.ref} --schema schema.yaml` instead."
        )
    with tempfile.TemporaryDirectory(prefix="modelyard-validate-") as folder:
        paths = []
        for index, f in enumerate(version.files):
            target = Path(folder) / f"{index}{PurePosixPath(f.path).suffix.lower()}"
            _, chunks = service.iter_file(version.project, version.ref, f.path, verify_up_to=MAX_VALIDATE_BYTES)
            with target.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            paths.append(target)
        frame = load_frame(paths, version.ref)
    return validate(frame, Schema.model_validate(schema))


def _validation(
    service: DatasetService, found: DatasetVersion, versions: list[DatasetVersion], against: int | None
) -> dict[str, Any] | None:
    """The validation section: the report of ``found`` against the schema of version ``against``."""
    if found.num_rows is None or found.deleted:
        return None
    with_schema = [v for v in versions if v.schema is not None and not v.purged]
    if against is None:
        against = found.parent_version if any(v.version == found.parent_version for v in with_schema) else found.version
    source = next((v for v in with_schema if v.version == against), None)
    if source is None or source.schema is None:
        raise InvalidInputError(f"against: version {against} of {found.name} has no schema to validate with.")
    section: dict[str, Any] = {"against": against, "choices": [v.version for v in with_schema], "report": None}
    try:
        section["report"] = validation_report(service, found, source.schema)
    except InvalidInputError as exc:
        section["error"] = exc.message
    return section


@router.get("/projects/{project}/datasets/{name}/{version}")
def version_page(
    project: str,
    name: str,
    version: int,
    request: Request,
    principal: ProjectViewer,
    against: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """One version: manifest, schema, validation report, per-column profile with charts, consumers."""
    service = datasets(request, principal)
    found = service.get_version(project, f"{name}@{version}", include_deleted=True)
    versions = service.list_versions(project, name, include_deleted=True)
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
        "validation": _validation(service, found, versions, against),
    }
    return render(request, "dataset_version.html", context)
