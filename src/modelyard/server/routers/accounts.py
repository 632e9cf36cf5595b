"""Sign-in, sessions, users and API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from modelyard.entities import ApiToken, User
from modelyard.errors import PermissionDeniedError
from modelyard.server._auth import AUTHENTICATED, GLOBAL_ADMIN, PUBLIC, SESSION_COOKIE, requires
from modelyard.server._context import Principal
from modelyard.server._schemas import LoginRequest, TokenCreate, UserCreate, UserUpdate
from modelyard.server.routers._deps import accounts

__all__ = ["router", "set_session"]

router = APIRouter(tags=["accounts"])
Public = Annotated[Principal, Depends(requires(PUBLIC))]
SignedIn = Annotated[Principal, Depends(requires(AUTHENTICATED))]
Admin = Annotated[Principal, Depends(requires(GLOBAL_ADMIN))]


def set_session(request: Request, response: Response, user: User, principal: Principal) -> str:
    """Start a session for ``user``: set the session cookie on ``response``; return the CSRF token."""
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
    csrf = set_session(request, response, user, actor)
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
