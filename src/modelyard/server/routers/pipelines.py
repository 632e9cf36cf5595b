"""Pipelines over REST: pipelines, pipeline runs with their DAG and step runs, and what a remote engine writes.

Reads (``GET /api/v1/pipelines``, ``/pipelines/runs``, ``/pipelines/runs/{id}``) give the UI what it
needs to draw the graph: nodes, edges and each step's status. The writes are the engine's
operations (create and start a run, a batch of step records, cache lookups, output blobs), so a
pipeline can run on a machine that only reaches the server. Output blobs go in by digest and come
out only through a step run the caller may read. The server never unpickles an output.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from modelyard.audit import Caller
from modelyard.blobs import check_digest
from modelyard.entities import PipelineInfo, PipelineRun, Role, RunStatus, StepOutputRef
from modelyard.names import validate_name
from modelyard.pipelines._service import PipelineService
from modelyard.server._auth import requires
from modelyard.server._context import Principal, app_state, caller_for
from modelyard.server._uploads import received_upload
from modelyard.server.routers._deps import accounts, datasets

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])

RunViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="run"))]
RunEditor = Annotated[Principal, Depends(requires(Role.EDITOR, project_from="run"))]
QueryViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="query"))]


def _service(request: Request, principal: Principal) -> PipelineService:
    state = app_state(request)
    caller: Caller = caller_for(request, principal)
    return PipelineService(state.store, state.blobs, caller)


class PipelineRunCreate(BaseModel):
    """Body of ``POST /api/v1/pipelines/runs``."""

    model_config = ConfigDict(extra="forbid")
    run_id: str = Field(max_length=32)
    project: str = Field(max_length=128)
    pipeline: str = Field(max_length=128)
    target: str | None = Field(default=None, max_length=1000)
    params: dict[str, Any] = Field(default_factory=dict)
    executor: str = Field(default="thread", max_length=16)
    status: RunStatus = RunStatus.PENDING
    dag: dict[str, Any] = Field(default_factory=dict)


class PipelineRunStart(BaseModel):
    """Body of ``POST /api/v1/pipelines/runs/{run_id}/start``."""

    model_config = ConfigDict(extra="forbid")
    dag: dict[str, Any]
    executor: str = Field(default="thread", max_length=16)


class StepRecords(BaseModel):
    """Body of ``POST /api/v1/pipelines/runs/{run_id}/steps``: a batch of step records."""

    model_config = ConfigDict(extra="forbid")
    records: list[dict[str, Any]] = Field(max_length=10_000)
    finish: dict[str, Any] | None = None


class CacheLookup(BaseModel):
    """Body of ``POST /api/v1/pipelines/cache``."""

    model_config = ConfigDict(extra="forbid")
    project: str = Field(max_length=128)
    keys: list[str] = Field(max_length=10_000)


class CacheHit(BaseModel):
    """One live cache entry."""

    step_run_id: str
    outputs: list[StepOutputRef]


@router.get("")
def list_pipelines(
    request: Request, principal: QueryViewer, project: Annotated[str, Query(max_length=128)]
) -> list[PipelineInfo]:
    """Pipelines that have runs in a project, each with its latest run."""
    return _service(request, principal).list_pipelines(project)


@router.get("/runs")
def list_runs(
    request: Request,
    principal: QueryViewer,
    project: Annotated[str, Query(max_length=128)],
    pipeline: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[PipelineRun]:
    """Pipeline runs of a project, newest first (without step runs)."""
    return _service(request, principal).list_pipeline_runs(project, pipeline, status=status, limit=limit)


@router.post("/runs", status_code=201)
def create_run(
    body: PipelineRunCreate,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.EDITOR, project_from="body", allow_new_project=True))],
) -> PipelineRun:
    """Create a pipeline run (``PENDING`` or ``RUNNING``); idempotent for a given id."""
    run = _service(request, principal).create_pipeline_run(**body.model_dump())
    new_project = getattr(request.state, "new_project", None)
    if new_project and principal.user is not None:  # its creator becomes the new project's admin
        accounts(request, principal).set_role(principal.name, new_project, Role.ADMIN)
    return run


@router.get("/runs/{run_id}")
def get_run(run_id: str, request: Request, principal: RunViewer) -> PipelineRun:
    """A pipeline run: params, status, DAG (nodes and edges) and the latest step run of each step."""
    return _service(request, principal).get_pipeline_run(run_id)


@router.post("/runs/{run_id}/start")
def start_run(run_id: str, body: PipelineRunStart, request: Request, principal: RunEditor) -> PipelineRun:
    """Mark a queued, failed or cancelled run ``RUNNING`` with its traced DAG (execute or resume)."""
    return _service(request, principal).start_pipeline_run(run_id, dag=body.dag, executor=body.executor)


@router.post("/runs/{run_id}/steps")
def record_steps(run_id: str, body: StepRecords, request: Request, principal: RunEditor) -> dict[str, bool]:
    """Write a batch of step records (and optionally the run's final status) in one transaction."""
    cancel = _service(request, principal).record_steps(run_id, body.records, finish=body.finish, scoped=True)
    return {"cancel_requested": cancel}


@router.post("/runs/{run_id}/cancel")
def cancel_run(run_id: str, request: Request, principal: RunEditor) -> PipelineRun:
    """Ask a run to stop: a queued run ends ``KILLED`` now, a running one before its next step."""
    return _service(request, principal).request_cancel(run_id)


@router.post("/cache")
def lookup_cache(
    body: CacheLookup,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="body"))],
) -> dict[str, CacheHit]:
    """Live step-cache entries of a project for the given cache keys."""
    hits = _service(request, principal).cache_lookup(body.project, body.keys)
    return {key: CacheHit(step_run_id=run_id, outputs=outputs) for key, (run_id, outputs) in hits.items()}


@router.put("/blobs/{digest}", status_code=201)
async def upload_output_blob(
    digest: str,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.EDITOR, project_from="query"))],
    project: Annotated[str, Query(max_length=128)],
) -> dict[str, str | int]:
    """Upload a step output's bytes (``application/octet-stream``) whose BLAKE3 digest must be ``digest``."""
    from starlette.concurrency import run_in_threadpool

    check_digest(digest)
    validate_name(project, "project name")
    limit = app_state(request).settings.max_upload_bytes
    async with received_upload(request, f"blob {digest[:12]}", limit, digest) as (tmp, _, _):
        info = await run_in_threadpool(datasets(request, principal).put_uploaded_blob, tmp, digest, project)
    return {"digest": info.digest, "size": info.size}


@router.get("/runs/{run_id}/outputs/{digest}")
def download_output_blob(run_id: str, digest: str, request: Request, principal: RunViewer) -> Response:
    """The bytes of a blob output of the step run ``run_id`` (never a blob by digest alone)."""
    check_digest(digest)
    data = _service(request, principal).read_output_blob(run_id, digest)
    return Response(content=data, media_type="application/octet-stream")
