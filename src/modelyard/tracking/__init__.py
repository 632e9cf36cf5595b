"""Experiment tracking: runs, params, metrics, tags, artifacts, autolog and system metrics."""

from __future__ import annotations

from modelyard.tracking._autolog import autolog
from modelyard.tracking._fluent import (
    ActiveRun,
    active_run,
    end_run,
    flush,
    get_client,
    log_artifact,
    log_artifacts,
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_project,
    set_tag,
    set_tags,
    set_uri,
    start_run,
)
from modelyard.tracking._service import TrackingService

__all__ = [
    "ActiveRun",
    "TrackingService",
    "active_run",
    "autolog",
    "end_run",
    "flush",
    "get_client",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_project",
    "set_tag",
    "set_tags",
    "set_uri",
    "start_run",
]
