"""Authentication and authorization: every route declares its access rule with :func:`requires`.

A route's rule is a FastAPI dependency carrying an ``__authz__`` marker; a test enumerates every
route and method and fails on any route without one. Rules:

- ``requires(PUBLIC)``: anyone (health, version, sign-in);
- ``requires(AUTHENTICATED)``: any signed-in user or token;
- ``requires(GLOBAL_ADMIN)``: global admins (users, audit across projects, gc);
- ``requires(Role.X, project_from=...)``: a role on the project named by a path parameter
  (``project``), a run id in the path (``run_id``), a query parameter or the JSON body.

Credentials: ``Authorization: Bearer <token>`` (API tokens), or the ``modelyard_session`` cookie
(web UI; HttpOnly, SameSite=Strict) whose state-changing requests must carry the session's CSRF
token in ``X-CSRF-Token`` (web UI forms: in a ``csrf_token`` field).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import Request

from modelyard.entities import Role
from modelyard.errors import AuthenticationError, PermissionDeniedError, ProjectNotFoundError
from modelyard.names import validate_name, validate_run_id
from modelyard.server._context import Principal, app_state

__all__ = ["AUTHENTICATED", "GLOBAL_ADMIN", "PUBLIC", "SESSION_COOKIE", "authenticate", "read_form", "requires"]

PUBLIC = "public"
AUTHENTICATED = "authenticated"
GLOBAL_ADMIN = "global_admin"
SESSION_COOKIE = "modelyard_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelyard-auth-touch")

ProjectSource = Literal["path", "run", "query", "body"]


def _accounts(request: Request, principal: Principal | None = None) -> Any:
    from modelyard.accounts import AccountService
    from modelyard.audit import Caller

    state = app_state(request)
    name = principal.name if principal else "anonymous"
    return AccountService(state.store, Caller(user=name, request_id=getattr(request.state, "request_id", None)))


def authenticate(request: Request) -> Principal:
    """Identify the caller from a bearer token or a session cookie (raises 401 without one)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    state = app_state(request)
    principal: Principal
    if not state.auth:
        principal = Principal(name=state.anonymous_user, is_admin=True, via="anonymous")
    else:
        header = request.headers.get("authorization", "")
        cookie = request.cookies.get(SESSION_COOKIE)
        if header.lower().startswith("bearer "):
            # The token's last-used time (written once a minute) is committed off the event loop,
            # so an fsync never stalls the other requests.
            user = _accounts(request).authenticate_token(header[7:].strip(), defer=_BACKGROUND.submit)
            principal = Principal(name=user.name, is_admin=user.is_admin, user=user, via="token")
        elif cookie:
            user, csrf = _accounts(request).session_user(cookie)
            # Web UI forms carry the token in a ``csrf_token`` field (read by ``requires``) instead.
            sent = request.headers.get("x-csrf-token") or _form(request).get("csrf_token", [""])[0]
            if request.method not in _SAFE_METHODS and not hmac.compare_digest(sent, csrf):
                raise PermissionDeniedError("Missing or wrong CSRF token: send the session's X-CSRF-Token header.")
            request.state.csrf = csrf  # the web UI's templates put it in their forms
            principal = Principal(name=user.name, is_admin=user.is_admin, user=user, via="session")
        else:
            raise AuthenticationError(
                "Authentication required: send 'Authorization: Bearer <token>' "
                "(create a token with `modelyard tokens create`)."
            )
    request.state.principal = principal
    return principal


def _form(request: Request) -> dict[str, list[str]]:
    """The URL-encoded form of a web UI post, once :func:`read_form` has read it (else empty)."""
    form: dict[str, list[str]] = getattr(request.state, "form", None) or {}
    return form


async def read_form(request: Request) -> dict[str, list[str]]:
    """Read a web UI form post (``application/x-www-form-urlencoded``) into ``request.state.form``.

    Other requests get an empty form. The body is read once and cached by Starlette, so a route
    can read it again.
    """
    if getattr(request.state, "form", None) is None:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        form: dict[str, list[str]] = {}
        if request.method not in _SAFE_METHODS and content_type == "application/x-www-form-urlencoded":
            form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        request.state.form = form
    return _form(request)


def _project_of_run(request: Request, run_id: str) -> str:
    validate_run_id(run_id)
    with app_state(request).store.read() as tx:
        project: str = tx.run_row(run_id).project
    return project


async def _project_from(request: Request, source: ProjectSource) -> str | None:
    if source == "path":
        return str(request.path_params.get("project"))
    if source == "run":
        return _project_of_run(request, str(request.path_params.get("run_id")))
    if source == "query":
        value = request.query_params.get("project")
        return value
    try:
        body = await request.json()
    except ValueError:
        return None  # the route's own body validation reports the problem
    value = body.get("project") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def check_role(request: Request, principal: Principal, project: str, needed: Role) -> None:
    """Raise :class:`PermissionDeniedError` unless ``principal`` has ``needed`` on ``project``."""
    if principal.is_admin:
        return
    validate_name(project, "project")
    role = _accounts(request, principal).role_for(principal.user, project)
    if role is None or not role.allows(needed):
        with app_state(request).store.read() as tx:
            exists = tx.project_exists(project)
        if not exists:
            raise ProjectNotFoundError(f"No project named {project!r}.")
        raise PermissionDeniedError(
            f"{principal.name} needs the {needed.value} role on project {project!r}"
            + (f" (has {role.value})." if role else " (has no role); ask a project admin.")
        )


def requires(
    rule: str | Role, *, project_from: ProjectSource | None = None, allow_new_project: bool = False
) -> Callable[[Request], Awaitable[Principal]]:
    """The authorization dependency of a route: authenticates, then applies ``rule``.

    Args:
        rule: ``PUBLIC``, ``AUTHENTICATED``, ``GLOBAL_ADMIN`` or a project :class:`Role`.
        project_from: where the project of a role rule comes from.
        allow_new_project: a project that does not exist yet may be created by any signed-in user
            (who becomes its admin).
    """

    async def dependency(request: Request) -> Principal:
        if rule == PUBLIC:
            return Principal(name="anonymous", is_admin=False, via="public")
        await read_form(request)
        principal = authenticate(request)
        if rule == AUTHENTICATED:
            return principal
        if rule == GLOBAL_ADMIN:
            if not principal.is_admin:
                raise PermissionDeniedError(f"{principal.name} is not a global admin.")
            return principal
        assert isinstance(rule, Role) and project_from is not None
        if principal.is_admin:
            return principal  # admin everywhere: no need to look the project up
        project = await _project_from(request, project_from)
        if project is None:
            return principal  # the route's validation rejects the missing project (422)
        if allow_new_project and not principal.is_admin:
            with app_state(request).store.read() as tx:
                if not tx.project_exists(project):
                    request.state.new_project = project
                    return principal
        check_role(request, principal, project, rule)
        return principal

    dependency.__authz__ = (rule, project_from)  # type: ignore[attr-defined]
    return dependency
