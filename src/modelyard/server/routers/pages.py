"""Server-rendered pages: sign-in, sign-out, one-time links, and the home page.

Unauthenticated visits to UI pages redirect to ``/signin``. The sign-in form is protected against
login CSRF with a double-submit token (a SameSite=Strict cookie that must match the form field).
"""

from __future__ import annotations

import hmac
import html
import secrets
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from modelyard._version import __version__
from modelyard.errors import AuthenticationError, ModelyardError
from modelyard.server._auth import PUBLIC, SESSION_COOKIE, authenticate, requires
from modelyard.server._context import Principal
from modelyard.server.routers._deps import accounts
from modelyard.server.routers.accounts import set_session

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Public = Annotated[Principal, Depends(requires(PUBLIC))]
_FORM_COOKIE = "modelyard_signin"

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#1f2933}"
    "input{display:block;width:100%;margin:.3rem 0 1rem;padding:.5rem;font-size:1rem}"
    "button{padding:.5rem 1rem;font-size:1rem}.error{color:#b42318}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{html.escape(title)} · modelyard</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_STYLE}</style>"
        f"<body>{body}</body></html>",
        status_code=status,
    )


def _signin_form(error: str | None = None, status: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    message = f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""
    response = _page(
        "Sign in",
        f"<h1>Sign in to modelyard</h1>{message}<form method='post' action='/signin'>"
        f"<input type='hidden' name='form_token' value='{token}'>"
        "<label>User <input name='name' autocomplete='username' required autofocus></label>"
        "<label>Password <input name='password' type='password' autocomplete='current-password' required></label>"
        "<button type='submit'>Sign in</button></form>"
        "<p>Or open the one-time sign-in link the server printed at its first start.</p>",
        status,
    )
    response.set_cookie(_FORM_COOKIE, token, httponly=True, samesite="strict", max_age=3600, path="/signin")
    return response


@router.get("/signin")
def signin_page(_: Public) -> Response:
    """The sign-in form."""
    return _signin_form()


@router.post("/signin")
async def signin(request: Request, _: Public) -> Response:
    """Sign in from the form: start a session and go home."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    expected = request.cookies.get(_FORM_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("form_token", ""), expected):
        return _signin_form("The form expired; please try again.", status=400)
    actor = Principal(name=form.get("name", "")[:128], is_admin=False)
    try:
        user = accounts(request, actor).authenticate_password(form.get("name", ""), form.get("password", ""))
    except ModelyardError as exc:
        return _signin_form(exc.message, status=401)
    response = RedirectResponse("/", status_code=303)
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
        return _page("Sign-in link", f"<h1>Sign-in link</h1><p class='error'>{html.escape(exc.message)}</p>", 401)
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
    """The home page (the web UI grows here); unauthenticated visits go to sign-in."""
    try:
        principal = authenticate(request)
    except ModelyardError:
        return RedirectResponse("/signin", status_code=303)
    return _page(
        "Home",
        f"<h1>modelyard {__version__}</h1><p>Signed in as <b>{html.escape(principal.name)}</b>.</p>"
        "<p>API: <a href='/api/v1/docs'>/api/v1/docs</a></p>"
        "<form method='post' action='/signout'><button type='submit'>Sign out</button></form>",
    )
