"""The pipeline schedule, trigger and queue operations of :class:`~modelyard.backend.http.HttpBackend`.

They map one to one onto ``/api/v1/pipelines/{schedules,triggers,queue}``; the server stores them and
its scheduler loop enqueues runs for ``modelyard worker`` processes (which talk to the database).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from modelyard.entities import PipelineSchedule, PipelineTrigger, QueuedPipelineRun

__all__ = ["SchedulingCalls"]


def _seg(value: str) -> str:
    return quote(value, safe="")


class SchedulingCalls:
    """Schedules, triggers and the run queue over REST; mixed into ``HttpBackend``."""

    _call: Callable[..., Any]

    def schedule_pipeline(
        self,
        project: str,
        pipeline: str,
        target: str,
        cron: str,
        *,
        timezone: str = "UTC",
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
        missed: str = "skip",
    ) -> PipelineSchedule:
        """Schedule a pipeline on a cron expression; replaces its schedule."""
        body = {
            "project": project, "pipeline": pipeline, "target": target, "cron": cron, "timezone": timezone,
            "params": dict(params or {}), "executor": executor, "missed": missed,
        }  # fmt: skip
        return PipelineSchedule.model_validate(self._call("POST", "/api/v1/pipelines/schedules", json=body))

    def unschedule_pipeline(self, project: str, pipeline: str) -> PipelineSchedule:
        """Remove a pipeline's schedule; return it as it was."""
        return PipelineSchedule.model_validate(
            self._call("DELETE", f"/api/v1/pipelines/schedules/{_seg(project)}/{_seg(pipeline)}")
        )

    def list_pipeline_schedules(self, project: str) -> list[PipelineSchedule]:
        """Schedules of a project."""
        data = self._call("GET", "/api/v1/pipelines/schedules", params={"project": project})
        return [PipelineSchedule.model_validate(s) for s in data]

    def add_pipeline_trigger(
        self,
        project: str,
        pipeline: str,
        target: str,
        kind: str,
        source: str,
        *,
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
    ) -> PipelineTrigger:
        """Enqueue a pipeline on each new version of dataset ``source``, or each firing of alert ``source``."""
        body = {
            "project": project, "pipeline": pipeline, "target": target, "kind": kind, "source": source,
            "params": dict(params or {}), "executor": executor,
        }  # fmt: skip
        return PipelineTrigger.model_validate(self._call("POST", "/api/v1/pipelines/triggers", json=body))

    def remove_pipeline_trigger(self, project: str, pipeline: str, kind: str, source: str) -> None:
        """Remove a trigger."""
        self._call(
            "DELETE",
            f"/api/v1/pipelines/triggers/{_seg(project)}/{_seg(pipeline)}",
            params={"kind": kind, "source": source},
        )

    def list_pipeline_triggers(self, project: str) -> list[PipelineTrigger]:
        """Triggers of a project."""
        data = self._call("GET", "/api/v1/pipelines/triggers", params={"project": project})
        return [PipelineTrigger.model_validate(t) for t in data]

    def enqueue_pipeline_run(
        self,
        project: str,
        pipeline: str,
        target: str,
        *,
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
    ) -> QueuedPipelineRun:
        """Put a manual run of a pipeline in the queue, for a worker."""
        body = {
            "project": project, "pipeline": pipeline, "target": target, "params": dict(params or {}),
            "executor": executor,
        }  # fmt: skip
        return QueuedPipelineRun.model_validate(self._call("POST", "/api/v1/pipelines/queue", json=body))

    def list_pipeline_queue(self, project: str, status: str | None = None, limit: int = 100) -> list[QueuedPipelineRun]:
        """Queued pipeline runs of a project, newest first."""
        query: dict[str, Any] = {"project": project, "limit": limit}
        if status is not None:
            query["status"] = status
        return [QueuedPipelineRun.model_validate(q) for q in self._call("GET", "/api/v1/pipelines/queue", params=query)]
