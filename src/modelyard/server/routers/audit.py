"""The audit log, read-only: no route updates or deletes an event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from modelyard.entities import AuditEvent, GcReport, Role
from modelyard.errors import PermissionDeniedError
from modelyard.server._auth import GLOBAL_ADMIN, requires
from modelyard.server._context import Principal
from modelyard.server.routers._deps import tracking

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["audit"])


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


@router.get("/audit")
def list_audit(
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.ADMIN, project_from="query"))],
    user: Annotated[str | None, Query(max_length=250)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=32)] = None,
    object_id: Annotated[str | None, Query(max_length=250)] = None,
    project: Annotated[str | None, Query(max_length=128)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEvent]:
    """Audit events, newest first; project admins see their project's, global admins everything.

    Page backwards with ``before_id`` = the smallest id of the previous page.
    """
    if project is None and not principal.is_admin:
        raise PermissionDeniedError("Only global admins may read the whole audit log; filter by a project you admin.")
    return tracking(request, principal).list_audit(
        actor=user,
        action=action,
        object_type=object_type,
        object_id=object_id,
        project=project,
        since_ms=_ms(since),
        until_ms=_ms(until),
        before_id=before_id,
        limit=limit,
    )


@router.post("/gc")
def gc(
    request: Request,
    principal: Annotated[Principal, Depends(requires(GLOBAL_ADMIN))],
    dry_run: bool = True,
    grace_seconds: Annotated[int | None, Query(ge=0)] = None,
) -> GcReport:
    """Remove blobs no live object references (global admins)."""
    from modelyard.server._context import app_state

    grace = app_state(request).settings.gc_grace_seconds if grace_seconds is None else grace_seconds
    return tracking(request, principal).gc(dry_run=dry_run, grace_seconds=grace)
