"""Lineage and model cards over REST (``/api/v1/lineage``, ``/api/v1/models/.../card``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from modelyard.backend._http_models import _version_path
from modelyard.names import validate_name
from modelyard.registry._cards import ModelCard
from modelyard.registry._lineage import LineageGraph, check_kind

__all__ = ["LineageCalls"]


class LineageCalls:
    """Lineage and card operations; mixed into ``HttpBackend``, whose plumbing they use."""

    _call: Callable[..., Any]

    def lineage(self, kind: str, project: str, ref: str) -> LineageGraph:
        """Ancestors and descendants of a dataset version, run or model version."""
        validate_name(project, "project name")
        params = {"project": project, "kind": check_kind(kind), "ref": ref}
        return LineageGraph.model_validate(self._call("GET", "/api/v1/lineage", params=params))

    def model_card(self, project: str, ref: str) -> ModelCard:
        """The card of a model version."""
        return ModelCard.model_validate(self._call("GET", f"{_version_path(project, ref)}/card"))

    def update_model_card(self, project: str, ref: str, fields: Mapping[str, str]) -> ModelCard:
        """Set free-text fields of a model version's card."""
        body = {"fields": dict(fields)}
        return ModelCard.model_validate(self._call("PATCH", f"{_version_path(project, ref)}/card", json=body))
