"""The one place where errors become HTTP responses.

Every :class:`~modelyard.errors.ModelyardError` maps to a status by its class (the most specific
class listed wins); the body is always ``{"error": {"code": ..., "message": ...}}`` — never a stack
trace or a server path. Unexpected exceptions become a 500 with a request id to quote.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelyard.errors import (
    BlobCorruptedError,
    ConflictError,
    IncompatibleVersionError,
    IntegrityError,
    InvalidInputError,
    ModelyardError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
    ValidationError,
)

__all__ = [
    "PayloadTooLargeError",
    "UnsupportedMediaTypeError",
    "error_response",
    "install_error_handlers",
    "status_for",
    "wants_page",
]

_log = logging.getLogger("modelyard.server")


class PayloadTooLargeError(InvalidInputError):
    """A request body or upload is larger than the server accepts."""

    code = "payload_too_large"


class UnsupportedMediaTypeError(InvalidInputError):
    """A state-changing request has a content type the route does not accept."""

    code = "unsupported_media_type"


def _authentication_error() -> type[ModelyardError] | None:
    import modelyard.errors as errors

    return getattr(errors, "AuthenticationError", None)


def status_for(exc: ModelyardError) -> int:
    """HTTP status of an error, chosen by its class."""
    auth = _authentication_error()
    table: list[tuple[type[ModelyardError], int]] = [
        (PayloadTooLargeError, 413),
        (UnsupportedMediaTypeError, 415),
        (BlobCorruptedError, 500),
        (IntegrityError, 400),
        (IncompatibleVersionError, 400),
        (ValidationError, 422),
        (InvalidInputError, 400),
        (PermissionDeniedError, 403),
        (NotFoundError, 404),
        (ConflictError, 409),
        (StoreError, 503),
    ]
    if auth is not None:
        table.insert(0, (auth, 401))
    for cls, status in table:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The JSON error body every failure uses."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


def _describe(errors: Sequence[Any]) -> list[str]:
    """Validation errors as ``field: problem`` phrases (the input itself is never echoed)."""
    parts = []
    for err in errors[:5]:
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            # loc is ("body", <character offset>): say where the JSON breaks, not "body.17".
            offset = loc[1] if len(loc) > 1 else "?"
            reason = (err.get("ctx") or {}).get("error", "malformed")
            parts.append(f"body: invalid JSON at character {offset} ({reason})")
            continue
        where = ".".join(str(p) for p in loc if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return parts


class _Redactor:
    """Replaces the server's own paths (home, store, blobs, upload temp files) in error messages.

    Service messages name paths to help a local user; through the server those paths belong to
    the server's host and are not the client's business.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.pattern: re.Pattern[str] | None = None

    def _compile(self) -> re.Pattern[str] | None:
        state = getattr(self.app.state, "modelyard", None)
        if state is None:
            return None
        settings = state.settings
        location = settings.location()
        roots = {
            str(settings.home.expanduser().absolute()),
            location.blobs_url.removeprefix("file://"),
            os.path.join(tempfile.gettempdir(), "modelyard-"),
        }
        if location.home is not None:
            roots.add(str(location.home))
        if location.is_sqlite:
            roots.add(location.db_url.removeprefix("sqlite:///"))
        roots = {root for root in roots if len(root) > 1}
        alternatives = "|".join(re.escape(root) for root in sorted(roots, key=len, reverse=True))
        return re.compile(f"(?:file://)?(?:{alternatives})[^\\s'\"(),;:]*")

    def __call__(self, message: str) -> str:
        """``message`` with every server path replaced by ``<server path>``."""
        if self.pattern is None:
            self.pattern = self._compile()
            if self.pattern is None:
                return message
        return self.pattern.sub("<server path>", message)


_MACHINE_PATHS = ("/api/", "/v2/", "/health", "/ready", "/metrics", "/invocations", "/static/")


def wants_page(request: Request) -> bool:
    """Whether an error for this request should be a web UI page rather than a JSON body.

    Addresses outside the API (and the other machine endpoints) are the web UI's: a browser
    gets a page there, unless the client asks for JSON only (``Accept: application/json``).
    """
    path = request.url.path
    if path.startswith(_MACHINE_PATHS) or path in ("/health", "/ready", "/metrics", "/invocations"):
        return False
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept or "json" not in accept


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into JSON errors."""
    redact = _Redactor(app)

    @app.exception_handler(ModelyardError)
    async def _modelyard(request: Request, exc: ModelyardError) -> JSONResponse:
        status = status_for(exc)
        headers = {"Retry-After": "1"} if status == 503 else None
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        if status >= 500:  # the operator's problem: the full message goes to the log
            _log.error("%s in request %s: %s", exc.code, getattr(request.state, "request_id", "-"), exc.message)
        return error_response(status, exc.code, redact(exc.message), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", "Invalid request: " + "; ".join(_describe(exc.errors())) + ".")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405) and wants_page(request):
            from modelyard.server.ui._render import no_route_page  # the web UI's page for a wrong address

            return no_route_page(request, exc.status_code, exc.headers)
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = f"No route {request.url.path}; see /api/v1/openapi.json."
        elif exc.status_code == 400 and message == "There was an error parsing the body":
            message = "Invalid request: body: cannot be parsed (malformed, or nested too deeply)."
        return error_response(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), message, exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "-")
        _log.exception("Unhandled error in request %s", request_id)
        return error_response(500, "internal_error", f"Internal server error (request id {request_id}).")
