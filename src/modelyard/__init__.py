"""modelyard: one platform for the whole machine-learning lifecycle.

The public fluent API lives here as lazy re-exports: ``import modelyard`` stays fast (it imports
neither pandas, SQLAlchemy nor pydantic); each name loads its module on first use.

Example::

    import modelyard as yard

    with yard.start_run(name="baseline"):
        yard.log_params({"C": 1.0})
        yard.log_metric("loss", 0.31, step=1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelyard._version import __version__

if TYPE_CHECKING:
    from modelyard import data, models, pipelines, registry
    from modelyard.client import Client
    from modelyard.entities import ArtifactInfo, DatasetVersion, Metric, ModelVersion, Project, Run, RunStatus
    from modelyard.pipelines import pipeline, step
    from modelyard.registry import lineage, log_model
    from modelyard.tracking import (
        ActiveRun,
        active_run,
        autolog,
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

__all__ = [
    "ActiveRun",
    "ArtifactInfo",
    "Client",
    "DatasetVersion",
    "Metric",
    "ModelVersion",
    "Project",
    "Run",
    "RunStatus",
    "__version__",
    "active_run",
    "autolog",
    "data",
    "end_run",
    "flush",
    "get_client",
    "lineage",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "models",
    "pipeline",
    "pipelines",
    "registry",
    "set_project",
    "set_tag",
    "set_tags",
    "set_uri",
    "start_run",
    "step",
]

_LAZY = {
    "Client": "modelyard.client",
    "DatasetVersion": "modelyard.entities",
    "ArtifactInfo": "modelyard.entities",
    "Metric": "modelyard.entities",
    "ModelVersion": "modelyard.entities",
    "log_model": "modelyard.registry",
    "lineage": "modelyard.registry",
    "pipeline": "modelyard.pipelines",
    "step": "modelyard.pipelines",
    "Project": "modelyard.entities",
    "Run": "modelyard.entities",
    "RunStatus": "modelyard.entities",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use."""
    if name in ("data", "models", "pipelines", "registry"):
        import importlib

        module = importlib.import_module(f"modelyard.{name}")
        globals()[name] = module
        return module
    module_name = _LAZY.get(name)
    if module_name is None:
        if name not in __all__:
            raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
        module_name = "modelyard.tracking"
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
