"""Pipeline schedules, triggers and the run queue under ``/api/v1/pipelines/{schedules,triggers,queue}``.

The server only stores them: the scheduler loop turns due schedules and new dataset versions into
``PENDING`` queued runs, and ``modelyard worker`` processes execute them (user code never runs
in the API server). Readers need ``viewer`` on the project, changes ``editor``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from modelyard.entities import PipelineSchedule, PipelineTrigger, QueuedPipelineRun, Role
from modelyard.pipelines._scheduling import SchedulingService
from modelyard.server._auth import requires
from modelyard.server._context import Principal, app_state, caller_for
from modelyard.server.routers._deps import accounts

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipeline schedules"])

ProjectQuery = Annotated[str, Query(max_length=128)]
Viewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="query"))]
EditorBody = Annotated[Principal, Depends(requires(Role.EDITOR, project_from="body", allow_new_project=True))]
EditorPath = Annotated[Principal, Depends(requires(Role.EDITOR, project_from="path"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = Field(max_length=128)
    pipeline: str = Field(max_length=128)
    target: str = Field(max_length=512, description="Import path of the pipeline, 'package.module:function'.")
    params: dict[str, Any] = Field(default_factory=dict)
    executor: Literal["thread", "process", "ray"] = "thread"


class ScheduleCreate(_Body):
    """A cron schedule of a pipeline (replaces the pipeline's schedule, if any)."""

    cron: str = Field(max_length=128)
    timezone: str = Field(default="UTC", max_length=64)
    missed: str = Field(default="skip", max_length=16, description="'skip' or 'catch_up_once'.")


class TriggerCreate(_Body):
    """A trigger: a new version of dataset ``source``, or the monitoring alert ``source``."""

    kind: Literal["dataset", "alert"]
    source: str = Field(max_length=128)


class QueuedRunCreate(_Body):
    """A manual run, put in the queue for a worker."""


def _service(request: Request, principal: Principal) -> SchedulingService:
    return SchedulingService(app_state(request).store, caller_for(request, principal))


def _claim_new_project(request: Request, principal: Principal) -> None:
    new_project = getattr(request.state, "new_project", None)
    if new_project and principal.user is not None:
        accounts(request, principal).set_role(principal.name, new_project, Role.ADMIN)


@router.get("/schedules")
def list_schedules(request: Request, principal: Viewer, project: ProjectQuery) -> list[PipelineSchedule]:
    """Schedules of a project."""
    return _service(request, principal).list_schedules(project)


@router.post("/schedules", status_code=201)
def create_schedule(body: ScheduleCreate, request: Request, principal: EditorBody) -> PipelineSchedule:
    """Schedule a pipeline on a cron expression (time-zone aware)."""
    found = _service(request, principal).schedule(
        body.project, body.pipeline, body.target, body.cron,
        timezone=body.timezone, params=body.params, executor=body.executor, missed=body.missed,
    )  # fmt: skip
    _claim_new_project(request, principal)
    return found


@router.delete("/schedules/{project}/{pipeline}")
def delete_schedule(project: str, pipeline: str, request: Request, principal: EditorPath) -> PipelineSchedule:
    """Remove a pipeline's schedule; returns it as it was."""
    return _service(request, principal).unschedule(project, pipeline)


@router.get("/triggers")
def list_triggers(request: Request, principal: Viewer, project: ProjectQuery) -> list[PipelineTrigger]:
    """Triggers of a project."""
    return _service(request, principal).list_triggers(project)


@router.post("/triggers", status_code=201)
def create_trigger(body: TriggerCreate, request: Request, principal: EditorBody) -> PipelineTrigger:
    """Enqueue a pipeline on every new version of a dataset, or whenever a monitoring alert fires."""
    found = _service(request, principal).add_trigger(
        body.project, body.pipeline, body.target, body.kind, body.source, params=body.params, executor=body.executor
    )
    _claim_new_project(request, principal)
    return found


@router.delete("/triggers/{project}/{pipeline}", status_code=204)
def delete_trigger(
    project: str,
    pipeline: str,
    request: Request,
    principal: EditorPath,
    kind: Annotated[Literal["dataset", "alert"], Query()],
    source: Annotated[str, Query(max_length=128)],
) -> None:
    """Remove a trigger of a pipeline."""
    _service(request, principal).remove_trigger(project, pipeline, kind, source)


@router.get("/queue")
def list_queue(
    request: Request,
    principal: Viewer,
    project: ProjectQuery,
    status: Annotated[Literal["PENDING", "RUNNING", "FINISHED", "FAILED", "KILLED"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[QueuedPipelineRun]:
    """Queued pipeline runs of a project, newest first."""
    return _service(request, principal).list_queue(project, status, limit)


@router.post("/queue", status_code=201)
def enqueue(body: QueuedRunCreate, request: Request, principal: EditorBody) -> QueuedPipelineRun:
    """Put a manual run of a pipeline in the queue; a worker executes it."""
    found = _service(request, principal).enqueue(
        body.project, body.pipeline, body.target, params=body.params, executor=body.executor
    )
    _claim_new_project(request, principal)
    return found
