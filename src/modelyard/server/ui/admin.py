"""Audit log, administration (users, tokens, sign-in links) and the caller's own API tokens.

A secret (a new token or sign-in link) is shown once, on the page that answers the form post; it is
never put in a URL or stored anywhere but as a hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from modelyard.accounts import MIN_PASSWORD_LENGTH
from modelyard.entities import Role
from modelyard.errors import InvalidInputError, PermissionDeniedError
from modelyard.server._auth import AUTHENTICATED, GLOBAL_ADMIN, check_role, requires
from modelyard.server._context import Principal
from modelyard.server.routers._deps import accounts, tracking
from modelyard.server.ui._render import UiRoute, form_value, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False, route_class=UiRoute)
SignedIn = Annotated[Principal, Depends(requires(AUTHENTICATED))]
Admin = Annotated[Principal, Depends(requires(GLOBAL_ADMIN))]
AUDIT_PAGE = 50

NOTICES = {
    "user_created": "User created.",
    "user_updated": "User updated.",
    "token_revoked": "Token revoked.",
}


def _text(value: str | None, limit: int = 250) -> str | None:
    value = (value or "").strip()
    return value[:limit] or None


@router.get("/audit")
def audit_page(
    request: Request,
    principal: SignedIn,
    user: Annotated[str, Query(max_length=250)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    project: Annotated[str, Query(max_length=128)] = "",
    object_id: Annotated[str, Query(max_length=250)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The audit log, newest first: global admins see everything, project admins their project's events."""
    if not principal.is_admin:
        if not project:
            raise PermissionDeniedError(
                "Only global admins read the whole audit log; filter by a project you admin (the project field)."
            )
        check_role(request, principal, project, Role.ADMIN)
    since_ms = None
    if since:
        try:
            since_ms = int(datetime.fromisoformat(since).timestamp() * 1000)
        except ValueError:
            raise InvalidInputError(f"since: {since!r} is not a date; use YYYY-MM-DD or an ISO time.") from None
    events = tracking(request, principal).list_audit(
        actor=_text(user),
        action=_text(action, 64),
        project=_text(project, 128),
        object_id=_text(object_id),
        since_ms=since_ms,
        before_id=before_id,
        limit=AUDIT_PAGE + 1,
    )
    more = len(events) > AUDIT_PAGE
    events = events[:AUDIT_PAGE]
    params = {"user": user, "action": action, "project": project, "object_id": object_id, "since": since}
    context = {
        "title": "Audit log",
        "events": events,
        "params": params,
        "next_before": events[-1].id if more and events else None,
        "paged": before_id is not None,
    }
    return render(request, "audit.html", context)


def _admin_page(request: Request, principal: Principal, secret: dict[str, str] | None = None) -> Response:
    service = accounts(request, principal)
    context = {
        "title": "Admin",
        "users": service.list_users(),
        "tokens": service.list_tokens(None),
        "memberships": service.list_all_memberships(),
        "min_password": MIN_PASSWORD_LENGTH,
        "secret": secret,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
    }
    return render(request, "admin.html", context)


@router.get("/admin")
def admin_page(request: Request, principal: Admin) -> Response:
    """Users, every API token, and project roles (global admins)."""
    return _admin_page(request, principal)


@router.post("/admin/users")
def create_user(request: Request, principal: Admin) -> Response:
    """Create a user (with a password) or a service account."""
    service_account = form_value(request, "kind") == "service"
    accounts(request, principal).create_user(
        form_value(request, "name").strip(),
        None if service_account else form_value(request, "password"),
        admin=form_value(request, "admin") == "on",
        service_account=service_account,
    )
    return RedirectResponse("/admin?notice=user_created", status_code=303)


@router.post("/admin/users/{name}")
def update_user(name: str, request: Request, principal: Admin) -> Response:
    """Disable or enable a user, or give or take global admin."""
    service = accounts(request, principal)
    change = form_value(request, "change")
    if change in ("disable", "enable"):
        service.set_disabled(name, change == "disable")
    elif change in ("make_admin", "drop_admin"):
        service.set_admin(name, change == "make_admin")
    else:
        raise InvalidInputError(f"change: {change!r} is not one of disable, enable, make_admin, drop_admin.")
    return RedirectResponse("/admin?notice=user_updated", status_code=303)


@router.post("/admin/users/{name}/link")
def signin_link(name: str, request: Request, principal: Admin) -> Response:
    """Make a one-time sign-in link for a user; shown once on the answer page."""
    secret = accounts(request, principal).create_signin_link(name)
    url = f"{str(request.base_url).rstrip('/')}/auth/link?token={secret}"
    return _admin_page(request, principal, {"label": f"One-time sign-in link for {name} (15 minutes)", "value": url})


@router.post("/admin/tokens")
def admin_create_token(request: Request, principal: Admin) -> Response:
    """Create an API token for any user (service accounts for CI); the secret is shown once."""
    days = form_value(request, "expires_in_days")
    owner = form_value(request, "user").strip()
    _, secret = accounts(request, principal).create_token(
        owner, form_value(request, "name").strip(), int(days) if days.isdigit() else None
    )
    return _admin_page(request, principal, {"label": f"API token for {owner}", "value": secret})


def _tokens_page(request: Request, principal: Principal, secret: dict[str, str] | None = None) -> Response:
    tokens = accounts(request, principal).list_tokens(principal.name) if principal.user is not None else []
    context = {
        "title": "API tokens",
        "tokens": tokens,
        "secret": secret,
        "can_create": principal.user is not None,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
    }
    return render(request, "tokens.html", context)


@router.get("/tokens")
def tokens_page(request: Request, principal: SignedIn) -> Response:
    """Your API tokens (never their secrets), a form to create one, and revoke buttons."""
    return _tokens_page(request, principal)


@router.post("/tokens")
def create_token(request: Request, principal: SignedIn) -> Response:
    """Create one of your API tokens; the secret is shown once."""
    if principal.user is None:
        raise InvalidInputError("Tokens belong to users; this server runs without authentication.")
    days = form_value(request, "expires_in_days")
    _, secret = accounts(request, principal).create_token(
        principal.name, form_value(request, "name").strip(), int(days) if days.isdigit() else None
    )
    return _tokens_page(request, principal, {"label": "Your new API token", "value": secret})


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: int, request: Request, principal: SignedIn) -> Response:
    """Revoke a token: your own, or any for global admins."""
    service = accounts(request, principal)
    if not principal.is_admin and token_id not in {t.id for t in service.list_tokens(principal.name)}:
        raise PermissionDeniedError(f"Token {token_id} is not yours to revoke.")
    service.revoke_token(token_id)
    back = "/admin" if form_value(request, "back") == "admin" and principal.is_admin else "/tokens"
    return RedirectResponse(f"{back}?notice=token_revoked", status_code=303)
