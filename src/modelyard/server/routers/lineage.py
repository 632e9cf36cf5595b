"""Lineage and model cards: one graph across datasets, runs and models; cards of model versions.

``GET /api/v1/lineage?project=P&kind=model_version&ref=churn@champion`` walks upstream and
downstream from one object; nodes of projects the caller may not read are left out (and counted in
``hidden``). Cards are read as JSON, Markdown or HTML and their free-text fields edited by editors.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from modelyard.entities import Role
from modelyard.errors import RunNotFoundError
from modelyard.registry._cards import ModelCard, ModelCardService, render_card
from modelyard.registry._lineage import LineageGraph, ServiceLineageSource, build_lineage
from modelyard.server._auth import requires
from modelyard.server._context import Principal
from modelyard.server.routers._deps import accounts, datasets, tracking
from modelyard.server.routers.models import registry

__all__ = ["router", "visible_lineage"]

router = APIRouter(prefix="/api/v1", tags=["lineage"])

QueryViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="query"))]
Viewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="path"))]
Editor = Annotated[Principal, Depends(requires(Role.EDITOR, project_from="path"))]
_MEDIA = {"json": "application/json", "md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8"}


class CardUpdate(BaseModel):
    """Free-text fields of a model card to set (an empty string clears one)."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, str] = Field(max_length=32)


def _cards(request: Request, principal: Principal) -> ModelCardService:
    return ModelCardService(registry(request, principal), tracking(request, principal), datasets(request, principal))


@router.get("/lineage")
def get_lineage(
    request: Request,
    principal: QueryViewer,
    project: Annotated[str, Query(max_length=128)],
    kind: Annotated[Literal["dataset_version", "run", "model_version"], Query()],
    ref: Annotated[str, Query(max_length=400)],
) -> LineageGraph:
    """Ancestors and descendants of a dataset version, run or model version of ``project``."""
    cards = _cards(request, principal)
    source = ServiceLineageSource(cards.tracking, cards.datasets, cards.registry)
    if kind == "run" and cards.tracking.get_run(ref).project != project:
        raise RunNotFoundError(f"No run {ref} in project {project!r}.")
    return visible_lineage(request, principal, build_lineage(source, kind, project, ref))


def visible_lineage(request: Request, principal: Principal, graph: LineageGraph) -> LineageGraph:
    """``graph`` without the nodes of projects the caller has no role on (admins and auth-off see all)."""
    if principal.is_admin or principal.user is None:
        return graph
    roles: dict[str, bool] = {}

    def can_read(other: str) -> bool:
        if other not in roles:
            role = accounts(request, principal).role_for(principal.user, other)
            roles[other] = role is not None and role.allows(Role.VIEWER)
        return roles[other]

    return graph.visible_to(can_read)


@router.get("/models/{project}/{name}/versions/{selector}/card", response_model=ModelCard)
def get_card(
    project: str,
    name: str,
    selector: str,
    request: Request,
    principal: Viewer,
    format: Annotated[Literal["json", "md", "html"], Query()] = "json",
) -> Response:
    """The card of a version, as JSON (the default), Markdown or HTML."""
    card = _readable(request, principal, _cards(request, principal).card(project, f"{name}@{selector}"))
    return Response(render_card(card, format), media_type=_MEDIA[format])


def _readable(request: Request, principal: Principal, card: ModelCard) -> ModelCard:
    """The card with its lineage cut to the projects the caller may read (as ``GET /lineage`` does)."""
    if card.lineage is not None:
        card.lineage = visible_lineage(request, principal, card.lineage)
    return card


@router.patch("/models/{project}/{name}/versions/{selector}/card")
def update_card(
    project: str, name: str, selector: str, body: CardUpdate, request: Request, principal: Editor
) -> ModelCard:
    """Set free-text fields of a version's card (overview, limitations, ...)."""
    return _readable(request, principal, _cards(request, principal).update(project, f"{name}@{selector}", body.fields))
