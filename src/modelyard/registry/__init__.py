"""Model registry: registered models, numbered versions, aliases, environments with approvals, history.

``yard.log_model(model, "churn")`` packages a model on the active run and registers the next
version; ``yard.registry.set_alias("churn", "champion", 3)`` moves an alias;
``yard.models.load("models:/churn@champion")`` loads a version, verified and cached. References:
``churn``, ``churn@3``, ``churn@champion``, ``models:/churn/3``, ``models:/churn@champion``,
``runs:/<run id>/model``.
"""

from __future__ import annotations

from modelyard.registry._cards import CARD_FIELDS, ModelCard, ModelCardService, render_card
from modelyard.registry._client import MODEL_ARTIFACT_PATH, RegistryClient
from modelyard.registry._explore import card, lineage, update_card
from modelyard.registry._fluent import (
    approve,
    archive,
    delete_alias,
    get_model,
    get_version,
    history,
    list_models,
    list_versions,
    load,
    log_model,
    reject,
    request_promotion,
    restore,
    rollback,
    set_alias,
)
from modelyard.registry._lineage import LineageEdge, LineageGraph, LineageNode
from modelyard.registry._refs import ModelRef, model_key, parse_model_ref, validate_alias
from modelyard.registry._service import DEFAULT_ENVIRONMENTS, RegistryService

__all__ = [
    "CARD_FIELDS",
    "DEFAULT_ENVIRONMENTS",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "MODEL_ARTIFACT_PATH",
    "ModelCard",
    "ModelCardService",
    "ModelRef",
    "RegistryClient",
    "RegistryService",
    "approve",
    "archive",
    "card",
    "delete_alias",
    "get_model",
    "get_version",
    "history",
    "lineage",
    "list_models",
    "list_versions",
    "load",
    "log_model",
    "model_key",
    "parse_model_ref",
    "reject",
    "render_card",
    "request_promotion",
    "restore",
    "rollback",
    "set_alias",
    "update_card",
    "validate_alias",
]
