"""A run's page (params, tags, inputs, metric charts, artifacts), its chart data and artifact previews.

Chart data comes from the store's rollups (``get_metric_buckets``): at most ~1,000 buckets, each
with its min and max so spikes survive downsampling, sent as compact columns. A short series is
sent point by point, with timestamps, so the chart can also use a time axis.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from modelyard.entities import Role
from modelyard.server._auth import requires
from modelyard.server._context import Principal
from modelyard.server.routers._deps import tracking
from modelyard.server.routers.models import registry
from modelyard.server.ui._lineage import lineage_of, lineage_view
from modelyard.server.ui._render import UiRoute, render

__all__ = ["chart_data", "router"]

router = APIRouter(include_in_schema=False, route_class=UiRoute)
RunViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="run"))]

PREVIEW_BYTES = 256 * 1024
CSV_ROWS = 50
_IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}
_TEXT = {".txt", ".log", ".md", ".yaml", ".yml", ".toml", ".py", ".cfg", ".ini", ".html", ".xml", ".svg", ".sql"}
_CHUNK = 1024 * 1024


@router.get("/runs/{run_id}")
def run_page(run_id: str, request: Request, principal: RunViewer) -> Response:
    """A run: attributes, params, tags, inputs (dataset versions), outputs (model versions), charts, artifacts."""
    service = tracking(request, principal)
    run = service.get_run(run_id)
    children = service.search_runs(run.project, f"attributes.parent_id = '{run.id}'", ["start_time asc"], 100)
    keys = sorted(run.metrics)
    inputs = service.list_run_inputs(run_id)
    outputs = registry(request, principal).versions_of_run(run_id)
    known = {("run", run.id): run, ("inputs", run.id): inputs, ("models", run.id): outputs}
    graph = lineage_of(request, principal, "run", run.project, run.id, known)
    context = {
        "title": f"{run.name} · {run.project}",
        "run": run,
        "inputs": inputs,
        "outputs": outputs,
        "lineage": lineage_view(graph, {f"{m.name}@{m.version}": m.environments for m in outputs}),
        "artifacts": service.list_artifacts(run_id),
        "children": list(children),
        "metric_keys": [k for k in keys if not k.startswith("system/")],
        "system_keys": [k for k in keys if k.startswith("system/")],
        "tags": {k: v for k, v in sorted(run.tags.items())},
    }
    return render(request, "run.html", context)


def chart_data(service: Any, run_id: str, key: str, max_buckets: int) -> dict[str, Any]:
    """The columns a metric chart draws: steps, min, max and average per bucket (and times when raw)."""
    buckets = service.get_metric_buckets(run_id, key, max_buckets)
    raw = all(b.count <= 1 for b in buckets)
    data: dict[str, Any] = {
        "key": key,
        "raw": raw,
        "points": sum(b.count for b in buckets),
        "step": [b.step_min for b in buckets],
        "min": [_finite(b.value_min) for b in buckets],
        "max": [_finite(b.value_max) for b in buckets],
        "avg": [_finite(b.value_avg) for b in buckets],
        "time": None,
    }
    if raw and buckets:
        history = service.get_metric_history(run_id, key)
        if len(history) == len(buckets):
            data["step"] = [m.step for m in history]
            data["avg"] = data["min"] = data["max"] = [_finite(m.value) for m in history]
            data["time"] = [m.timestamp / 1000 for m in history]
    return data


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 9)


@router.get("/runs/{run_id}/chart-data")
def chart_data_route(
    run_id: str,
    request: Request,
    principal: RunViewer,
    key: Annotated[str, Query(max_length=250)],
    buckets: Annotated[int, Query(ge=10, le=5000)] = 1000,
) -> Response:
    """JSON for one metric chart (compact columns, well under 200 KB for any series length)."""
    data = chart_data(tracking(request, principal), run_id, key, buckets)
    body = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


def _preview(name: str, head: bytes, truncated: bool) -> dict[str, Any]:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in _IMAGES:
        return {"kind": "image"}
    text = head.decode("utf-8", "replace")
    if suffix == ".json":
        try:
            return {"kind": "text", "text": json.dumps(json.loads(text), indent=2)[:PREVIEW_BYTES]}
        except ValueError:
            return {"kind": "text", "text": text, "truncated": truncated}
    if suffix in (".csv", ".tsv"):
        lines = text.splitlines()[: CSV_ROWS + 1]
        rows = list(csv.reader(lines, delimiter="\t" if suffix == ".tsv" else ","))
        return {"kind": "table", "header": rows[0] if rows else [], "rows": rows[1:]}
    if suffix in _TEXT or (b"\0" not in head[:4096] and "\ufffd" not in text[:4096]):
        return {"kind": "text", "text": text, "truncated": truncated}
    return {"kind": "binary"}


@router.get("/runs/{run_id}/artifacts/{path:path}")
def artifact_page(run_id: str, path: str, request: Request, principal: RunViewer) -> Response:
    """Preview one artifact: an image, text, pretty JSON or the first rows of a CSV."""
    service = tracking(request, principal)
    run = service.get_run(run_id)
    info, reader = service.open_artifact(run_id, path)
    with reader:
        head = reader.read(PREVIEW_BYTES)
    context = {
        "title": f"{info.path} · {run.name}",
        "run": run,
        "info": info,
        "preview": _preview(info.path, head, info.size > PREVIEW_BYTES),
        "raw_url": f"/runs/{run_id}/raw/{quote(info.path)}",
    }
    return render(request, "artifact.html", context)


@router.get("/runs/{run_id}/raw/{path:path}")
def artifact_raw(run_id: str, path: str, request: Request, principal: RunViewer) -> Response:
    """An artifact's bytes: images inline with their type (for previews), anything else as a download."""
    info, reader = tracking(request, principal).open_artifact(run_id, path)
    media_type = _IMAGES.get(PurePosixPath(info.path).suffix.lower())
    name = quote(info.path.rsplit("/", 1)[-1], safe="")
    disposition = "inline" if media_type else f"attachment; filename*=UTF-8''{name}"

    def chunks() -> Any:
        with reader:
            while chunk := reader.read(_CHUNK):
                yield chunk

    headers = {
        "Content-Length": str(info.size),
        "Content-Disposition": disposition,
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
    }
    return StreamingResponse(chunks(), media_type=media_type or "application/octet-stream", headers=headers)
