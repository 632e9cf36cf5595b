"""The fluent registry API (``yard.log_model``, ``yard.registry.set_alias`` ...) over the fluent client.

Each function works on the client of the fluent API (``yard.set_uri``, ``yard.set_project``) through
its :class:`~modelyard.registry._client.RegistryClient`; hold a ``Client`` and use ``client.registry``
to work against another store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelyard.entities import AliasChange, ModelVersion, PromotionRequest, RegisteredModel
from modelyard.errors import InvalidInputError

if TYPE_CHECKING:
    from modelyard.models import LoadedModel, ModelPackage
    from modelyard.registry._client import RegistryClient

__all__ = [
    "approve",
    "archive",
    "delete_alias",
    "get_model",
    "get_version",
    "history",
    "list_models",
    "list_versions",
    "load",
    "log_model",
    "reject",
    "request_promotion",
    "restore",
    "rollback",
    "set_alias",
]


def _registry() -> RegistryClient:
    from modelyard.tracking import get_client

    return get_client().registry


def log_model(
    model: Any,
    name: str,
    input_example: Any = None,
    signature: Any = None,
    requirements: Sequence[str] | None = None,
    register: bool = True,
    eval_data: Any = None,
    *,
    target: Any = None,
    flavor: str | None = None,
    description: str = "",
    shap: bool | None = None,
) -> ModelVersion | ModelPackage:
    """Package ``model`` on the active run (artifacts ``model/``) and register the next version of ``name``.

    Example::

        with yard.start_run():
            model = LogisticRegression().fit(X, y)
            mv = yard.log_model(model, "churn", input_example=X[:5], eval_data=(X_test, y_test))
            print(mv.uri)   # models:/churn/1

    See :meth:`RegistryClient.log_model <modelyard.registry._client.RegistryClient.log_model>`.

    Raises:
        InvalidInputError: no run is active (start one with ``yard.start_run()``).
    """
    from modelyard.tracking import active_run

    run = active_run()
    if run is None:
        raise InvalidInputError("yard.log_model needs an active run: call it inside `with yard.start_run():`.")
    return _registry().log_model(
        run.id,
        model,
        name,
        input_example=input_example,
        signature=signature,
        requirements=requirements,
        register=register,
        eval_data=eval_data,
        target=target,
        flavor=flavor,
        description=description,
        shap=shap,
    )


def load(ref: str | ModelVersion, *, project: str | None = None, trust: bool = False) -> LoadedModel:
    """Load a model (``models:/churn@champion``, ``churn@3``, ``runs:/<id>/model``), verified and cached."""
    return _registry().load(ref, project=project, trust=trust)


def list_models(project: str | None = None) -> list[RegisteredModel]:
    """Registered models of the current (or given) project."""
    return _registry().list_models(project)


def get_model(name: str, *, project: str | None = None) -> RegisteredModel:
    """A registered model with its aliases and environments."""
    return _registry().get_model(name, project=project)


def list_versions(name: str, *, project: str | None = None) -> list[ModelVersion]:
    """Versions of a model, newest first."""
    return _registry().list_versions(name, project=project)


def get_version(ref: str, *, project: str | None = None) -> ModelVersion:
    """The version a reference names."""
    return _registry().get_version(ref, project=project)


def set_alias(name: str, alias: str, version: int, *, project: str | None = None) -> ModelVersion:
    """Point an alias (``champion``) at a version."""
    return _registry().set_alias(name, alias, version, project=project)


def delete_alias(name: str, alias: str, *, project: str | None = None) -> None:
    """Remove an alias."""
    _registry().delete_alias(name, alias, project=project)


def request_promotion(ref: str, environment: str, *, reason: str = "", project: str | None = None) -> PromotionRequest:
    """Ask for a version to enter an environment (``production``)."""
    return _registry().request_promotion(ref, environment, reason=reason, project=project)


def approve(request_id: int, *, reason: str = "", project: str | None = None) -> PromotionRequest:
    """Approve a pending promotion request."""
    return _registry().approve(request_id, reason=reason, project=project)


def reject(request_id: int, *, reason: str, project: str | None = None) -> PromotionRequest:
    """Reject a pending promotion request."""
    return _registry().reject(request_id, reason=reason, project=project)


def archive(ref: str, *, project: str | None = None) -> ModelVersion:
    """Archive a version."""
    return _registry().archive(ref, project=project)


def restore(ref: str, *, project: str | None = None) -> ModelVersion:
    """Restore an archived version."""
    return _registry().restore(ref, project=project)


def history(name: str, target: str | None = None, *, project: str | None = None) -> list[AliasChange]:
    """Moves of a model's aliases and environments, oldest first."""
    return _registry().history(name, target, project=project)


def rollback(
    name: str, target: str, *, at_ms: int | None = None, reason: str = "", project: str | None = None
) -> ModelVersion:
    """Move an alias or environment back (to the version held at ``at_ms``, or the previous one)."""
    return _registry().rollback(name, target, at_ms=at_ms, reason=reason, project=project)
