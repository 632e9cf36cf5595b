"""Server-rendered pages: sign-in, sign-out, one-time links, and the home page.

Unauthenticated visits to UI pages redirect to ``/signin`` (with ``next`` = where they were going).
The sign-in form is protected against login CSRF with a double-submit token (a SameSite=Strict
cookie that must match the form field). The other pages live in :mod:`modelyard.server.ui`.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from modelyard.errors import AuthenticationError, ModelyardError
from modelyard.server._auth import PUBLIC, SESSION_COOKIE, authenticate, requires
from modelyard.server._context import Principal
from modelyard.server.routers._deps import accounts
from modelyard.server.routers.accounts import set_session
from modelyard.server.ui._render import UiRoute, render, signin_redirect

__all__ = ["router"]

router = APIRouter(include_in_schema=False, route_class=UiRoute)
Public = Annotated[Principal, Depends(requires(PUBLIC))]
_FORM_COOKIE = "modelyard_signin"


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a local path only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _signin_form(request: Request, error: str | None = None, status: int = 200, next_url: str = "/") -> Response:
    token = secrets.token_urlsafe(24)
    context = {"title": "Sign in", "error": error, "form_token": token, "next": _safe_next(next_url)}
    response = render(request, "signin.html", context, status=status)
    response.set_cookie(_FORM_COOKIE, token, httponly=True, samesite="strict", max_age=3600, path="/signin")
    return response


@router.get("/signin")
def signin_page(request: Request, _: Public, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    """The sign-in form."""
    return _signin_form(request, next_url=next or "/")


@router.post("/signin")
async def signin(request: Request, _: Public) -> Response:
    """Sign in from the form: start a session and go where the visit was going (home by default)."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    next_url = _safe_next(form.get("next"))
    expected = request.cookies.get(_FORM_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("form_token", ""), expected):
        return _signin_form(request, "The form expired; please try again.", status=400, next_url=next_url)
    actor = Principal(name=form.get("name", "")[:128], is_admin=False)
    try:
        user = accounts(request, actor).authenticate_password(form.get("name", ""), form.get("password", ""))
    except ModelyardError as exc:
        return _signin_form(request, exc.message, status=401, next_url=next_url)
    response = RedirectResponse(next_url, status_code=303)
    set_session(request, response, user, actor)
    response.delete_cookie(_FORM_COOKIE, path="/signin")
    return response


@router.get("/auth/link")
def redeem_link(request: Request, _: Public, token: Annotated[str, Query(max_length=200)]) -> Response:
    """Redeem a one-time sign-in link: start a session and go to the home page."""
    actor = Principal(name="signin-link", is_admin=False)
    try:
        user = accounts(request, actor).redeem_signin_link(token)
    except AuthenticationError as exc:
        return render(request, "signin.html", {"title": "Sign-in link", "link_error": exc.message}, status=401)
    response = RedirectResponse("/", status_code=303)
    set_session(request, response, user, Principal(name=user.name, is_admin=user.is_admin, user=user))
    return response


@router.post("/signout")
def signout(request: Request, _: Public) -> Response:
    """Sign out: the session is revoked on the server, then back to the sign-in page."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts(request, Principal(name="signout", is_admin=False)).revoke_session(cookie)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request, _: Public) -> Response:
    """The home page: the projects the user can read; unauthenticated visits go to sign-in."""
    try:
        authenticate(request)
    except ModelyardError:
        return signin_redirect(request)
    from modelyard.server.ui.projects import projects_page

    return projects_page(request)
