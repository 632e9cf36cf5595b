"""Projects and their members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from modelyard.entities import Membership, Project, Role
from modelyard.server._auth import AUTHENTICATED, requires
from modelyard.server._context import Principal
from modelyard.server._schemas import MemberRequest, ProjectCreate
from modelyard.server.routers._deps import accounts, tracking

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


@router.get("")
def list_projects(request: Request, principal: Annotated[Principal, Depends(requires(AUTHENTICATED))]) -> list[Project]:
    """Projects the caller can read, with run counts and last activity."""
    projects = tracking(request, principal).list_projects()
    if principal.is_admin:
        return projects
    service = accounts(request, principal)
    return [p for p in projects if service.role_for(principal.user, p.name) is not None]


@router.post("", status_code=201)
def create_project(
    body: ProjectCreate, request: Request, principal: Annotated[Principal, Depends(requires(AUTHENTICATED))]
) -> Project:
    """Create a project; the creator becomes its admin."""
    project = tracking(request, principal).create_project(body.name, body.description)
    if principal.user is not None and not principal.is_admin:
        accounts(request, principal).set_role(principal.name, body.name, Role.ADMIN)
    return project


@router.get("/{project}/members")
def list_members(
    project: str,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="path"))],
) -> list[Membership]:
    """Members of a project and their roles."""
    members: list[Membership] = accounts(request, principal).list_members(project)
    return members


@router.put("/{project}/members/{user}")
def set_member(
    project: str,
    user: str,
    body: MemberRequest,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.ADMIN, project_from="path"))],
) -> Membership | None:
    """Give a user a role on the project, or remove it (``role: null``); project admins only."""
    membership: Membership | None = accounts(request, principal).set_role(user, project, body.role)
    return membership
