"""Client-side schedule and trigger calls: load the pipeline here, check its parameters, then store.

The pipeline is imported where its code lives (the user's machine or CI), never in the server:
its import path must resolve, its parameters are validated and typed by the pipeline's own
annotations, and only then the schedule, trigger or queued run goes to the backend (embedded
store or server). A parameter of the wrong type or an unknown path stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInputError

if TYPE_CHECKING:
    from modelyard.client import Client
    from modelyard.entities import PipelineSchedule, PipelineTrigger, QueuedPipelineRun

__all__ = ["enqueue_pipeline", "schedule_pipeline", "trigger_pipeline"]


def _checked(target: str, params: Mapping[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    """Load the pipeline at ``target`` and return it with the given params, coerced to their types."""
    from modelyard.pipelines._pipeline import load_pipeline

    found = load_pipeline(target)
    given = dict(params or {})
    coerced = found.params.coerce(given)  # raises InvalidPipelineError naming the parameter
    values = {key: coerced[key] for key in given}
    try:
        json.dumps(values, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"pipeline {found.name!r}: scheduled parameters must be JSON values (numbers, strings, lists, maps)."
        ) from None
    return found, values


def _client(client: Client | None) -> Client:
    if client is not None:
        return client
    from modelyard.tracking import get_client

    found: Client = get_client()
    return found


def schedule_pipeline(
    target: str,
    cron: str | None = None,
    *,
    timezone: str = "UTC",
    params: Mapping[str, Any] | None = None,
    executor: str = "thread",
    missed: str = "skip",
    project: str | None = None,
    client: Client | None = None,
) -> PipelineSchedule:
    """Schedule the pipeline at ``target`` on ``cron`` (default: its ``@pipeline(schedule=...)``)."""
    found, values = _checked(target, params)
    cron = cron or found.schedule
    if not cron:
        raise InvalidInputError(
            f"pipeline {found.name!r} has no schedule: pass --cron '0 3 * * *' (or @pipeline(schedule=...))."
        )
    c = _client(client)
    return c.backend.schedule_pipeline(
        project or c.project, found.name, target, cron,
        timezone=timezone, params=values, executor=executor, missed=missed,
    )  # fmt: skip


def trigger_pipeline(
    target: str,
    *,
    on_dataset: str | None = None,
    on_alert: str | None = None,
    params: Mapping[str, Any] | None = None,
    executor: str = "thread",
    project: str | None = None,
    client: Client | None = None,
) -> PipelineTrigger:
    """Run the pipeline at ``target`` on each new version of dataset ``on_dataset``, or each alert ``on_alert``."""
    if (on_dataset is None) == (on_alert is None):
        raise InvalidInputError("give exactly one of --on-dataset NAME or --on-alert NAME.")
    found, values = _checked(target, params)
    kind, source = ("dataset", on_dataset) if on_dataset is not None else ("alert", str(on_alert))
    c = _client(client)
    return c.backend.add_pipeline_trigger(
        project or c.project, found.name, target, kind, source, params=values, executor=executor
    )


def enqueue_pipeline(
    target: str,
    *,
    params: Mapping[str, Any] | None = None,
    executor: str = "thread",
    project: str | None = None,
    client: Client | None = None,
) -> QueuedPipelineRun:
    """Queue a run of the pipeline at ``target`` now (a manual trigger); a worker executes it."""
    found, values = _checked(target, params)
    c = _client(client)
    return c.backend.enqueue_pipeline_run(project or c.project, found.name, target, params=values, executor=executor)
