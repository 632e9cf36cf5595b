"""Pipeline pages: a project's pipelines, schedules and recent runs; one run's DAG, steps and logs.

A pipeline run is a run, so its pages take their authorization from the run (``project_from="run"``).
The status route is what the DAG view polls while the run is still going.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from modelyard.entities import PipelineInfo, PipelineRun, Role
from modelyard.pipelines._scheduling import SchedulingService
from modelyard.pipelines._service import PipelineService
from modelyard.server._auth import requires
from modelyard.server._context import Principal, app_state, caller_for
from modelyard.server.ui._render import UiRoute, render

__all__ = ["dag_data", "router"]

router = APIRouter(include_in_schema=False, route_class=UiRoute)
ProjectViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="path"))]
RunViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="run"))]
MAX_LOG_CHARS = 20_000


def _service(request: Request, principal: Principal) -> PipelineService:
    state = app_state(request)
    return PipelineService(state.store, state.blobs, caller_for(request, principal))


def dag_data(run: PipelineRun) -> dict[str, Any]:
    """The DAG view's data: nodes, edges, and each step's latest status."""
    nodes = [str(n.get("name")) for n in run.dag.get("nodes", []) if isinstance(n, dict)]
    edges = [[str(a), str(b)] for a, b in run.dag.get("edges", []) if a in nodes and b in nodes]
    return {
        "status": run.status.value,
        "nodes": nodes,
        "edges": edges,
        "steps": {s.name: s.status.value for s in run.steps},
    }


@router.get("/projects/{project}/pipelines")
def pipelines_page(project: str, request: Request, principal: ProjectViewer) -> Response:
    """Pipelines of a project (those that ran and those registered for the scheduler), schedules, triggers, runs."""
    service = _service(request, principal)
    scheduling = SchedulingService(app_state(request).store, caller_for(request, principal))
    schedules = scheduling.list_schedules(project)
    triggers = scheduling.list_triggers(project)
    pipelines = service.list_pipelines(project)
    known = {p.name for p in pipelines}
    registered = [(s.pipeline, s.target) for s in schedules] + [(t.pipeline, t.target) for t in triggers]
    for name, target in registered:  # registered for the scheduler, not run yet: still a definition
        if name not in known:
            known.add(name)
            pipelines.append(PipelineInfo(name=name, project=project, target=target))
    context = {
        "title": f"Pipelines · {project}",
        "project": project,
        "pipelines": pipelines,
        "runs": service.list_pipeline_runs(project, limit=50),
        "schedules": schedules,
        "triggers": triggers,
    }
    return render(request, "pipelines.html", context)


@router.get("/pipelines/runs/{run_id}")
def pipeline_run_page(run_id: str, request: Request, principal: RunViewer) -> Response:
    """A pipeline run: the DAG with step status (updated live while it runs), steps and their logs."""
    run = _service(request, principal).get_pipeline_run(run_id)
    context = {
        "title": f"{run.pipeline} · {run.project}",
        "run": run,
        "dag": dag_data(run),
        "max_log": MAX_LOG_CHARS,
    }
    return render(request, "pipeline_run.html", context)


@router.get("/pipelines/runs/{run_id}/status")
def pipeline_run_status(run_id: str, request: Request, principal: RunViewer) -> Response:
    """The run's and its steps' status, as JSON (polled by the DAG view)."""
    data = dag_data(_service(request, principal).get_pipeline_run(run_id))
    return Response(json.dumps(data), media_type="application/json", headers={"Cache-Control": "no-store"})
