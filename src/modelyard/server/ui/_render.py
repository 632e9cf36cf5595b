"""Rendering of web UI pages: the Jinja2 environment, the page context, and errors as pages.

Every UI route is an :class:`UiRoute`: a :class:`~modelyard.errors.ModelyardError` raised by the
route or its ``requires(...)`` dependency becomes a page with the right status (a missing or expired
session redirects to sign-in) instead of the API's JSON body, and never a stack trace.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from modelyard._version import __version__
from modelyard.errors import AuthenticationError, ModelyardError
from modelyard.server._auth import SESSION_COOKIE
from modelyard.server._context import Principal, app_state
from modelyard.server._errors import status_for

__all__ = [
    "UiRoute",
    "form_value",
    "form_values",
    "no_route_page",
    "render",
    "render_message",
    "signin_redirect",
    "templates",
]


@cache
def templates() -> Jinja2Templates:
    """The template set, built once (autoescaping on for every template: all values are escaped)."""
    import jinja2

    from modelyard.ui import TEMPLATES_DIR

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,  # an optional missing value renders empty, never a 500
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, duration=_duration, num=_num, size=_size, q=_quote)
    env.globals.update(version=__version__, query=_query)
    return Jinja2Templates(env=env)


def _when(value: datetime | int | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        value = datetime.fromtimestamp(value / 1000, tz=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—" if value is None else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.6g}"
    return f"{value:,}"


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"  # pragma: no cover - the loop always returns


def _quote(value: str) -> str:
    return quote(str(value), safe="")


def _query(params: Mapping[str, Any], **changes: Any) -> str:
    """A query string from ``params`` with ``changes`` applied (``None`` removes a key)."""
    merged = {**params, **changes}
    pairs: list[tuple[str, str]] = []
    for key, value in merged.items():
        if value is None or value == "":
            continue
        if isinstance(value, (list, tuple)):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    return "?" + urlencode(pairs) if pairs else "?"


def render(
    request: Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """Render ``template`` with the page context: the signed-in user and the session's CSRF token."""
    principal: Principal | None = getattr(request.state, "principal", None)
    full = {
        "principal": principal if principal is not None and principal.via != "public" else None,
        "csrf": getattr(request.state, "csrf", ""),
        "path": request.url.path,
        "title": "",
        **(context or {}),
    }
    response: HTMLResponse = templates().TemplateResponse(request, template, full, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def render_message(request: Request, title: str, message: str, *, status: int, detail: str = "") -> HTMLResponse:
    """A page that says one thing: an error (404, 403, 400) or a notice."""
    return render(request, "message.html", {"title": title, "message": message, "detail": detail}, status=status)


def signin_redirect(request: Request) -> Response:
    """Send an unauthenticated visit to the sign-in page, remembering where it was going."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/signin" if target == "/" else "/signin?" + urlencode({"next": target})
    response = RedirectResponse(location, status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/")  # expired or revoked: forget it
    return response


_TITLES = {400: "Invalid input", 403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Invalid input"}


def error_page(request: Request, exc: Exception) -> Response:
    """The page for an error raised while serving a UI route."""
    if isinstance(exc, AuthenticationError):
        return signin_redirect(request)
    if isinstance(exc, RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'input'}: {e.get('msg', '')}" for e in exc.errors()
        )
        return render_message(request, "Invalid input", problems or "The request is not valid.", status=400)
    assert isinstance(exc, ModelyardError)
    status = status_for(exc)
    if status >= 500:
        status = 503 if status == 503 else 500
        title = "Something went wrong"
    else:
        title = _TITLES.get(status, "Error")
    return render_message(request, title, exc.message, status=status, detail=exc.code)


def no_route_page(request: Request, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """The page for an address no route serves (404) or a method it does not take (405)."""
    try:  # show the signed-in user's menu when there is a valid session; never fail on it
        from modelyard.server._auth import authenticate

        if request.method in ("GET", "HEAD"):
            authenticate(request)
    except ModelyardError:  # no session, or an expired one: the page renders without the menu
        request.state.principal = None
    if status == 405:
        message = f"{request.url.path} cannot be used with {request.method}; follow a link or a form instead."
        response = render_message(request, "Not allowed here", message, status=405, detail="method_not_allowed")
        if headers and "allow" in {k.lower() for k in headers}:
            response.headers.update(headers)
        return response
    message = f"There is no page at {request.url.path}. Check the address, or start from the projects."
    return render_message(request, "Page not found", message, status=404, detail="not_found")


def _cross_site(request: Request) -> bool:
    """Whether a browser says this request comes from another site (``Sec-Fetch-Site`` or ``Origin``)."""
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        return True
    if app_state(request).auth:
        return False  # session forms carry CSRF tokens; behind a proxy, Host may not match Origin
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


class UiRoute(APIRoute):
    """A route whose errors render as pages (or a redirect to sign-in) rather than JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler (which also runs the ``requires(...)`` dependency)."""
        handler = super().get_route_handler()

        async def ui_handler(request: Request) -> Response:
            if request.method not in ("GET", "HEAD") and _cross_site(request):
                # Also without a session (a server run with --no-auth has no CSRF token to check).
                message = "This form was sent from another site; submit it from modelyard's own pages."
                return render_message(request, "Not allowed", message, status=403, detail="cross_site_request")
            try:
                return await handler(request)
            except (ModelyardError, RequestValidationError) as exc:
                return error_page(request, exc)

        return ui_handler


def form_values(request: Request, name: str) -> list[str]:
    """Every value of a field of the form this request posted (read by ``requires``)."""
    form: dict[str, list[str]] = getattr(request.state, "form", None) or {}
    return form.get(name, [])


def form_value(request: Request, name: str, default: str = "") -> str:
    """The first value of a posted form field, or ``default``."""
    values = form_values(request, name)
    return values[0] if values else default
