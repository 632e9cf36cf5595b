"""Sign-in, sessions, users and API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from modelyard._version import __version__
from modelyard.entities import ApiToken, User
from modelyard.errors import PermissionDeniedError
from modelyard.server._auth import AUTHENTICATED, GLOBAL_ADMIN, PUBLIC, SESSION_COOKIE, authenticate, requires
from modelyard.server._context import Principal
from modelyard.server._schemas import LoginRequest, TokenCreate, UserCreate, UserUpdate
from modelyard.server.routers._deps import accounts

__all__ = ["router"]

router = APIRouter(tags=["accounts"])
Public = Annotated[Principal, Depends(requires(PUBLIC))]
SignedIn = Annotated[Principal, Depends(requires(AUTHENTICATED))]
Admin = Annotated[Principal, Depends(requires(GLOBAL_ADMIN))]


def _set_session(request: Request, response: Response, user: User, principal: Principal) -> str:
    secret, csrf = accounts(request, principal).create_session(user)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
        path="/",
    )
    return str(csrf)


@router.post("/api/v1/auth/login")
def login(body: LoginRequest, request: Request, response: Response, _: Public) -> dict[str, Any]:
    """Sign in with a password; sets the session cookie and returns the CSRF token for form posts."""
    actor = Principal(name=body.name, is_admin=False)
    user = accounts(request, actor).authenticate_password(body.name, body.password)
    csrf = _set_session(request, response, user, actor)
    return {"user": user.name, "csrf_token": csrf}


@router.post("/api/v1/auth/logout", status_code=204)
def logout(request: Request, principal: SignedIn) -> Response:
    """Sign out: the session is invalidated on the server, not only forgotten by the browser."""
    response = Response(status_code=204)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts(request, principal).revoke_session(cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/api/v1/auth/whoami")
def whoami(principal: SignedIn) -> dict[str, Any]:
    """Who the caller is."""
    return {"name": principal.name, "is_admin": principal.is_admin, "via": principal.via}


@router.get("/auth/link", include_in_schema=False)
def redeem_link(request: Request, _: Public, token: Annotated[str, Query(max_length=200)]) -> Response:
    """Redeem a one-time sign-in link: start a session and go to the home page."""
    actor = Principal(name="signin-link", is_admin=False)
    user = accounts(request, actor).redeem_signin_link(token)
    response = RedirectResponse("/", status_code=303)
    _set_session(request, response, user, Principal(name=user.name, is_admin=user.is_admin, user=user))
    return response


@router.get("/", include_in_schema=False)
def home(request: Request, _: Public) -> Response:
    """A minimal landing page until the web UI arrives; unauthenticated visits go to sign-in."""
    try:
        principal = authenticate(request)
    except Exception:  # noqa: BLE001 - any failure to authenticate means "not signed in"
        return HTMLResponse(
            "<!doctype html><title>modelyard</title><h1>modelyard</h1>"
            "<p>Sign in with the one-time link the server printed, or use an API token.</p>",
            status_code=401,
        )
    return HTMLResponse(
        f"<!doctype html><title>modelyard</title><h1>modelyard {__version__}</h1>"
        f"<p>Signed in as <b>{_escape(principal.name)}</b>. API: <a href='/api/v1/docs'>/api/v1/docs</a></p>"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@router.get("/api/v1/users")
def list_users(request: Request, principal: Admin) -> list[User]:
    """Every user (global admins)."""
    users: list[User] = accounts(request, principal).list_users()
    return users


@router.post("/api/v1/users", status_code=201)
def create_user(body: UserCreate, request: Request, principal: Admin) -> User:
    """Create a user or a service account (global admins)."""
    user: User = accounts(request, principal).create_user(
        body.name, body.password, admin=body.admin, service_account=body.service_account
    )
    return user


@router.patch("/api/v1/users/{name}")
def update_user(name: str, body: UserUpdate, request: Request, principal: Admin) -> User:
    """Disable or enable a user, or change global admin (global admins)."""
    service = accounts(request, principal)
    user: User = service.get_user(name)
    if body.disabled is not None:
        user = service.set_disabled(name, body.disabled)
    if body.admin is not None:
        user = service.set_admin(name, body.admin)
    return user


@router.post("/api/v1/tokens", status_code=201)
def create_token(body: TokenCreate, request: Request, principal: SignedIn) -> dict[str, Any]:
    """Create an API token; the secret is in this response only."""
    owner = body.user or principal.name
    if owner != principal.name and not principal.is_admin:
        raise PermissionDeniedError("Only global admins create tokens for other users.")
    token, secret = accounts(request, principal).create_token(owner, body.name, body.expires_in_days)
    return {"token": token.model_dump(mode="json"), "secret": secret}


@router.get("/api/v1/tokens")
def list_tokens(
    request: Request, principal: SignedIn, user: Annotated[str | None, Query(max_length=128)] = None
) -> list[ApiToken]:
    """API tokens (never their secrets): your own, or anyone's for global admins."""
    if not principal.is_admin:
        user = principal.name
    tokens: list[ApiToken] = accounts(request, principal).list_tokens(user)
    return tokens


@router.delete("/api/v1/tokens/{token_id}")
def revoke_token(token_id: int, request: Request, principal: SignedIn) -> ApiToken:
    """Revoke a token (your own, or any for global admins)."""
    service = accounts(request, principal)
    if not principal.is_admin:
        mine = {t.id for t in service.list_tokens(principal.name)}
        if token_id not in mine:
            raise PermissionDeniedError(f"Token {token_id} is not yours to revoke.")
    token: ApiToken = service.revoke_token(token_id)
    return token
