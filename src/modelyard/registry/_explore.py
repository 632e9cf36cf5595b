"""Lineage and model cards from the client side: ``yard.lineage(...)``, ``yard.registry.card(...)``.

These work on any backend (embedded or a server): the graph and the card are assembled by the
services, on the side that owns the data, and come back in one call.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from modelyard.entities import DatasetVersion, ModelVersion, Run
from modelyard.errors import InvalidInputError
from modelyard.registry._cards import ModelCard, render_card
from modelyard.registry._lineage import LineageGraph

if TYPE_CHECKING:
    from modelyard.client import Client

__all__ = ["card", "lineage", "update_card"]

_RUN_ID = re.compile(r"[0-9a-f]{32}")


def _client(client: Client | None) -> Client:
    if client is not None:
        return client
    from modelyard.tracking import get_client

    return get_client()


def lineage(
    obj: DatasetVersion | Run | ModelVersion | str,
    *,
    kind: str | None = None,
    project: str | None = None,
    client: Client | None = None,
) -> LineageGraph:
    """The lineage graph around ``obj``: what it was made from and what was made from it.

    Args:
        obj: a ``DatasetVersion``, ``Run`` or ``ModelVersion``, or a reference: a model version
            (``churn@3``, ``churn@champion``, ``models:/churn/3``), a run (``runs:/<id>`` or the
            bare 32-character run id), or a dataset version with ``kind="dataset_version"``.
        kind: ``dataset_version``, ``run`` or ``model_version``; inferred from ``obj`` when omitted.
        project: the object's project (default: the current project).
        client: the client to use (default: the fluent API's).

    Example::

        graph = yard.lineage("churn@champion")
        [n.label for n in graph.nodes]     # ['churn@3', 'train-2026-11-27', 'churn-train@4']
        events = graph.to_openlineage()   # OpenLineage RunEvents for Marquez
    """
    c = _client(client)
    if isinstance(obj, DatasetVersion):
        return c.backend.lineage("dataset_version", obj.project, obj.ref)
    if isinstance(obj, Run):
        return c.backend.lineage("run", obj.project, obj.id)
    if isinstance(obj, ModelVersion):
        return c.backend.lineage("model_version", obj.project, obj.ref)
    if not isinstance(obj, str) or not obj:
        raise InvalidInputError(
            f"lineage takes a DatasetVersion, Run, ModelVersion or a reference string, got {type(obj).__name__}."
        )
    text = obj.strip()
    if kind is None:
        if text.startswith("runs:/"):
            kind, text = "run", text.removeprefix("runs:/").split("/", 1)[0]
        elif _RUN_ID.fullmatch(text):
            kind = "run"
        else:
            kind = "model_version"
    if kind == "run":
        run = c.backend.get_run(text.removeprefix("runs:/").split("/", 1)[0])
        return c.backend.lineage("run", run.project, run.id)
    return c.backend.lineage(kind, project or c.project, text)


def card(
    ref: str | ModelVersion, *, format: str | None = None, project: str | None = None, client: Client | None = None
) -> ModelCard | str:
    """The model card of a version: a ``ModelCard``, or its text with ``format="md" | "html" | "json"``."""
    c = _client(client)
    if isinstance(ref, ModelVersion):
        project, ref = ref.project, ref.ref
    model_card = c.backend.model_card(project or c.project, ref)
    return model_card if format is None else render_card(model_card, format)


def update_card(
    ref: str | ModelVersion, *, project: str | None = None, client: Client | None = None, **fields: Any
) -> ModelCard:
    """Set free-text fields of a version's card (``overview=``, ``limitations=``, ...; see ``CARD_FIELDS``)."""
    c = _client(client)
    if isinstance(ref, ModelVersion):
        project, ref = ref.project, ref.ref
    return c.backend.update_model_card(project or c.project, ref, fields)
