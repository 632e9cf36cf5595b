"""Project pages: the list (run counts, last activity, members) and member management."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from modelyard.entities import Role
from modelyard.server._auth import AUTHENTICATED, requires
from modelyard.server._context import Principal
from modelyard.server.routers._deps import accounts, tracking
from modelyard.server.ui._render import UiRoute, form_value, render

__all__ = ["projects_page", "router"]

router = APIRouter(include_in_schema=False, route_class=UiRoute)
SignedIn = Annotated[Principal, Depends(requires(AUTHENTICATED))]
ProjectViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="path"))]
ProjectAdmin = Annotated[Principal, Depends(requires(Role.ADMIN, project_from="path"))]

NOTICES = {
    "role_saved": "Role saved.",
    "member_removed": "Member removed.",
    "project_created": "Project created.",
}


def projects_page(request: Request) -> Response:
    """The projects the caller can read, with run counts, last activity and members (two queries)."""
    principal: Principal = request.state.principal
    projects = tracking(request, principal).list_projects()
    memberships = accounts(request, principal).list_all_memberships()
    members: dict[str, list[str]] = defaultdict(list)
    mine: dict[str, str] = {}
    for m in memberships:
        members[m.project].append(f"{m.user} ({m.role.value})")
        if m.user == principal.name:
            mine[m.project] = m.role.value
    if not principal.is_admin:
        projects = [p for p in projects if p.name in mine]
    context = {
        "title": "Projects",
        "projects": projects,
        "members": members,
        "mine": mine,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
    }
    return render(request, "projects.html", context)


@router.get("/projects")
def list_projects(request: Request, _: SignedIn) -> Response:
    """The project list."""
    return projects_page(request)


@router.post("/projects")
def create_project(request: Request, principal: SignedIn) -> Response:
    """Create a project from the form; the creator becomes its admin."""
    name = form_value(request, "name").strip()
    tracking(request, principal).create_project(name, form_value(request, "description").strip())
    if principal.user is not None and not principal.is_admin:
        accounts(request, principal).set_role(principal.name, name, Role.ADMIN)
    return RedirectResponse(f"/projects/{quote(name, safe='')}/runs", status_code=303)


@router.get("/projects/{project}")
def project_home(project: str, _: ProjectViewer) -> Response:
    """A project's home is its runs table."""
    return RedirectResponse(f"/projects/{quote(project, safe='')}/runs", status_code=303)


@router.get("/projects/{project}/members")
def members_page(project: str, request: Request, principal: ProjectViewer) -> Response:
    """Members of a project and their roles; project admins also manage them here."""
    members = accounts(request, principal).list_members(project)
    is_admin = principal.is_admin or any(m.user == principal.name and m.role == Role.ADMIN for m in members)
    context = {
        "title": f"Members · {project}",
        "project": project,
        "members": members,
        "can_manage": is_admin,
        "roles": [r.value for r in Role],
        "notice": NOTICES.get(request.query_params.get("notice", "")),
    }
    return render(request, "members.html", context)


@router.post("/projects/{project}/members")
def set_member(project: str, request: Request, principal: ProjectAdmin) -> Response:
    """Give a user a role on the project, or remove it (role ``none``); project admins only."""
    role = form_value(request, "role")
    user = form_value(request, "user").strip()
    accounts(request, principal).set_role(user, project, None if role == "none" else role)
    notice = "member_removed" if role == "none" else "role_saved"
    return RedirectResponse(f"/projects/{quote(project, safe='')}/members?notice={notice}", status_code=303)
