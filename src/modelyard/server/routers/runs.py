"""Runs: create, read, update, log batches, tags, metrics, search, delete and restore."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from modelyard.entities import Metric, MetricBucket, Role, Run
from modelyard.server._auth import requires
from modelyard.server._context import Principal
from modelyard.server._schemas import LogBatchRequest, RunCreate, RunPageResponse, RunUpdate, SearchRequest
from modelyard.server.routers._deps import accounts, tracking

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])

RunViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="run"))]
RunEditor = Annotated[Principal, Depends(requires(Role.EDITOR, project_from="run"))]
RunAdmin = Annotated[Principal, Depends(requires(Role.ADMIN, project_from="run"))]


@router.post("", status_code=201)
def create_run(
    body: RunCreate,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.EDITOR, project_from="body", allow_new_project=True))],
) -> Run:
    """Create a run (idempotent for a given ``run_id``); a new project makes the caller its admin."""
    run = tracking(request, principal).create_run(**body.model_dump())
    new_project = getattr(request.state, "new_project", None)
    if new_project and principal.user is not None:
        accounts(request, principal).set_role(principal.name, new_project, Role.ADMIN)
    return run


@router.post("/search")
def search_runs(
    body: SearchRequest,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="body"))],
) -> RunPageResponse:
    """One page of a project's runs matching a filter, in order."""
    page = tracking(request, principal).search_runs(
        body.project, body.filter, body.order_by, body.limit, body.page_token, body.include_deleted
    )
    return RunPageResponse(runs=list(page), next_page_token=page.next_page_token)


@router.get("/{run_id}", response_model=Run)
async def get_run(run_id: str, request: Request, principal: RunViewer) -> Response:
    """A run with its params, latest metric values and tags."""
    # The hottest read: a few indexed queries, run on the event loop (no thread hop) and
    # serialised directly (the entity is already valid, so no second validation).
    run = tracking(request, principal).get_run(run_id)
    return Response(run.model_dump_json(), media_type="application/json")


@router.patch("/{run_id}")
def update_run(run_id: str, body: RunUpdate, request: Request, principal: RunEditor) -> Run:
    """End a run (status), record its error, or rename it."""
    return tracking(request, principal).update_run(run_id, **body.model_dump())


@router.post("/{run_id}/batch")
def log_batch(run_id: str, body: LogBatchRequest, request: Request, principal: RunEditor) -> dict[str, bool]:
    """Log metrics, params and tags atomically; a repeated ``batch_id`` is applied once."""
    applied = tracking(request, principal).log_batch(run_id, body.metrics, body.params, body.tags, body.batch_id)
    return {"applied": applied}


@router.delete("/{run_id}/tags/{key:path}", status_code=204)
def delete_tag(run_id: str, key: str, request: Request, principal: RunEditor) -> Response:
    """Remove a tag."""
    tracking(request, principal).delete_tag(run_id, key)
    return Response(status_code=204)


@router.delete("/{run_id}", status_code=204)
def delete_run(run_id: str, request: Request, principal: RunAdmin) -> Response:
    """Soft-delete a run and its nested runs (project admins)."""
    tracking(request, principal).delete_run(run_id)
    return Response(status_code=204)


@router.post("/{run_id}/restore", status_code=204)
def restore_run(run_id: str, request: Request, principal: RunAdmin) -> Response:
    """Restore a deleted run and its nested runs (project admins)."""
    tracking(request, principal).restore_run(run_id)
    return Response(status_code=204)


@router.get("/{run_id}/metrics/history")
def metric_history(
    run_id: str, request: Request, principal: RunViewer, key: Annotated[str, Query(max_length=250)]
) -> list[Metric]:
    """Every point of a metric series, ordered by step."""
    return tracking(request, principal).get_metric_history(run_id, key)


@router.get("/{run_id}/metrics/buckets")
def metric_buckets(
    run_id: str,
    request: Request,
    principal: RunViewer,
    key: Annotated[str, Query(max_length=250)],
    max_buckets: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> list[MetricBucket]:
    """A downsampled series: at most ``max_buckets`` buckets, each keeping its min and max."""
    return tracking(request, principal).get_metric_buckets(run_id, key, max_buckets)
