"""Model registry pages: models, a model's versions, aliases, environments and history, a version.

A model's page shows its versions with metrics, aliases and environments, promotion requests and
the alias history timeline; a version's page its card, signature, files and lineage.

Actions are forms over the same service calls as the API: moving an alias and asking for a promotion
need the editor role (declared by ``requires``); approving or rejecting needs the approver role
(``MODELYARD_MODEL_APPROVER_ROLE``), which the registry service checks itself.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from modelyard.entities import Role
from modelyard.errors import InvalidInputError
from modelyard.registry._cards import CARD_FIELDS, ModelCardService
from modelyard.server._auth import requires
from modelyard.server._context import Principal, app_state
from modelyard.server.routers._deps import accounts, datasets, tracking
from modelyard.server.routers.models import registry
from modelyard.server.ui._lineage import lineage_of, lineage_view, visible_lineage
from modelyard.server.ui._render import UiRoute, form_value, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False, route_class=UiRoute)
Viewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="path"))]
Editor = Annotated[Principal, Depends(requires(Role.EDITOR, project_from="path"))]

NOTICES = {
    "alias_set": "Alias moved.",
    "alias_deleted": "Alias removed.",
    "promotion_requested": "Promotion requested; an approver decides.",
    "promotion_approved": "Promotion approved: the environment now serves that version.",
    "promotion_rejected": "Promotion rejected.",
    "card_saved": "Model card saved.",
}


def _role(request: Request, principal: Principal, project: str) -> Role | None:
    if principal.is_admin:
        return Role.ADMIN
    if principal.user is None:
        return None
    role: Role | None = accounts(request, principal).role_for(principal.user, project)
    return role


def _back(project: str, name: str, notice: str) -> Response:
    url = f"/projects/{quote(project, safe='')}/models/{quote(name, safe='')}?notice={notice}"
    return RedirectResponse(url, status_code=303)


@router.get("/projects/{project}/models")
def models_page(project: str, request: Request, principal: Viewer) -> Response:
    """Registered models of a project with their newest version, aliases and environments."""
    models = registry(request, principal).list_models(project)
    return render(request, "models.html", {"title": f"Models · {project}", "project": project, "models": models})


@router.get("/projects/{project}/models/{name}")
def model_page(project: str, name: str, request: Request, principal: Viewer) -> Response:
    """A model: versions with metrics, aliases and environments (with actions), promotions, history."""
    service = registry(request, principal)
    model = service.get_model(project, name)
    versions = service.list_versions(project, name)
    role = _role(request, principal, project)
    approver = Role(app_state(request).settings.model_approver_role)
    context = {
        "title": f"{model.name} · {project}",
        "project": project,
        "model": model,
        "versions": versions,
        "metric_keys": sorted({k for v in versions for k in v.metrics})[:8],
        "promotions": service.list_promotions(project, model.name),
        "history": list(reversed(service.history(project, model.name))),
        "environments": service.environments,
        "can_edit": role is not None and role.allows(Role.EDITOR),
        "can_approve": role is not None and role.allows(approver),
        "notice": NOTICES.get(request.query_params.get("notice", "")),
    }
    return render(request, "model.html", context)


@router.get("/projects/{project}/models/{name}/{version}")
def version_page(project: str, name: str, version: int, request: Request, principal: Viewer) -> Response:
    """One version: its model card (generated, with editable fields), signature, files and lineage."""
    found = registry(request, principal).get_version(project, f"{name}@{version}")
    card = _cards(request, principal).card(project, found.ref)
    graph = card.lineage or lineage_of(request, principal, "model_version", project, found.ref)
    card.lineage = graph = visible_lineage(request, principal, graph)
    role = _role(request, principal, project)
    context = {
        "title": f"{found.name}@{found.version} · {project}",
        "project": project,
        "v": found,
        "lineage": lineage_view(graph, {found.ref: found.environments}),
        "card": card,
        "card_fields": CARD_FIELDS,
        "importance": sorted((found.importance or {}).items(), key=lambda kv: -kv[1].get("mean", 0.0))[:20],
        "can_edit": role is not None and role.allows(Role.EDITOR),
        "notice": NOTICES.get(request.query_params.get("notice", "")),
    }
    return render(request, "model_version.html", context)


@router.post("/projects/{project}/models/{name}/{version}/card")
def card_action(project: str, name: str, version: int, request: Request, principal: Editor) -> Response:
    """Save the free-text fields of a version's model card (editors)."""
    fields = {key: form_value(request, key).strip() for key in CARD_FIELDS}
    _cards(request, principal).update(project, f"{name}@{version}", fields)
    url = f"/projects/{quote(project, safe='')}/models/{quote(name, safe='')}/{version}?notice=card_saved"
    return RedirectResponse(url, status_code=303)


def _cards(request: Request, principal: Principal) -> ModelCardService:
    return ModelCardService(registry(request, principal), tracking(request, principal), datasets(request, principal))


@router.post("/projects/{project}/models/{name}/aliases")
def alias_action(project: str, name: str, request: Request, principal: Editor) -> Response:
    """Point an alias at a version, or remove it (editors)."""
    service = registry(request, principal)
    alias = form_value(request, "alias").strip()
    if form_value(request, "action") == "delete":
        service.delete_alias(project, name, alias)
        return _back(project, name, "alias_deleted")
    version = form_value(request, "version")
    if not version.isdigit():
        raise InvalidInputError(f"version: {version!r} is not a version number.")
    service.set_alias(project, name, alias, int(version))
    return _back(project, name, "alias_set")


@router.post("/projects/{project}/models/{name}/promotions")
def request_promotion(project: str, name: str, request: Request, principal: Editor) -> Response:
    """Ask for a version to enter an environment (editors); an approver decides."""
    ref = f"{name}@{form_value(request, 'version')}"
    registry(request, principal).request_promotion(
        project, ref, form_value(request, "environment"), form_value(request, "reason")
    )
    return _back(project, name, "promotion_requested")


@router.post("/projects/{project}/models/{name}/promotions/{request_id}")
def decide_promotion(project: str, name: str, request_id: int, request: Request, principal: Viewer) -> Response:
    """Approve or reject a pending promotion (the approver role, checked by the service)."""
    approve = form_value(request, "decision") == "approve"
    registry(request, principal).decide_promotion(
        project, request_id, approve=approve, reason=form_value(request, "reason")
    )
    return _back(project, name, "promotion_approved" if approve else "promotion_rejected")
