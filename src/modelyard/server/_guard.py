"""Request hardening, as one pure ASGI middleware (cheap on the hot path).

- the ``Host`` header must be on the allow-list (DNS-rebinding protection), else 400;
- a request id on every request (``X-Request-ID``, echoed back), used by the audit log;
- state-changing API requests must be JSON (uploads: ``application/octet-stream``), else 415;
- request bodies larger than the limit get 413 before they are read whole, with or without
  ``Content-Length``;
- more requests in flight than the limit get 503 with ``Retry-After`` instead of an unbounded queue
  (``/health`` is exempt: a busy server is still alive);
- security headers on every response (``nosniff``, ``DENY`` framing, a Content-Security-Policy on HTML).

Every refusal here carries the same JSON error body as the app's own errors.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from modelyard.server._errors import PayloadTooLargeError

__all__ = ["GuardMiddleware", "host_allowed"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UNLIMITED = frozenset({"/health"})
_BLOB_UPLOADS = ("/api/v1/datasets/blobs/", "/api/v1/pipelines/blobs/")  # streamed uploads, like artifacts
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CSP = (
    # The web UI has no inline script or style (its JS sets styles through the CSSOM, which
    # style-src does not govern), so neither needs 'unsafe-inline'.
    b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    b"object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def _host_name(header: str) -> str:
    """The host of a ``Host`` header, lower-cased, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header  # a bare name, or a bare IPv6 address (invalid in a Host header, but unambiguous)


def host_allowed(header: str, allowed: Iterable[str]) -> bool:
    """Whether a ``Host`` header names an allowed host.

    ``allowed`` holds host names or addresses (IPv6 with or without brackets), ``*.example.com``
    patterns for subdomains, or ``*`` for any host.
    """
    host = _host_name(header)
    if not host:
        return False
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern == "*":
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if host == pattern.strip("[]"):
            return True
    return False


class GuardMiddleware:
    """Host allow-list, request id, content-type and size checks, concurrency limit, security headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        max_concurrent: int,
        allowed_hosts: Iterable[str] = ("*",),
    ) -> None:
        """Wrap ``app`` with the given limits and ``Host`` allow-list (``*`` allows any host)."""
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        self.max_concurrent = max_concurrent
        self.allowed_hosts = tuple(h for h in allowed_hosts if h.strip())
        self.any_host = "*" in self.allowed_hosts
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if scope["type"] == "websocket":
            if self.any_host or host_allowed(headers.get("host", ""), self.allowed_hosts):
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        request_id = headers.get("x-request-id", "")
        if not _REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                names = {k.lower() for k, _ in raw}
                raw.append((b"x-request-id", request_id.encode()))
                raw.append((b"x-content-type-options", b"nosniff"))
                raw.append((b"x-frame-options", b"DENY"))
                raw.append((b"referrer-policy", b"same-origin"))
                content_type = next((v for k, v in raw if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") and b"content-security-policy" not in names:
                    raw.append((b"content-security-policy", _CSP))
                message["headers"] = raw
            await send(message)

        if not self.any_host and not host_allowed(headers.get("host", ""), self.allowed_hosts):
            await _error(
                send_with_headers, 400, "invalid_host",
                "Host header is not allowed by this server; add it to MODELYARD_ALLOWED_HOSTS.",
            )  # fmt: skip
            return
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        is_upload = method == "PUT" and ("/artifacts/" in path or path.startswith(_BLOB_UPLOADS))
        limit = self.max_upload if is_upload else self.max_body
        if path.startswith("/api/") and method in _UNSAFE:
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
            allowed = ("application/octet-stream",) if is_upload else ("application/json",)
            if has_body and content_type not in allowed:
                await _error(
                    send_with_headers, 415, "unsupported_media_type",
                    f"Content-Type must be {allowed[0]} for {method} {path}, got {content_type or 'none'}.",
                )  # fmt: skip
                return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _error(send_with_headers, 413, "payload_too_large", f"Request body is larger than {limit} bytes.")
            return
        counted = path not in _UNLIMITED
        if counted and self.in_flight >= self.max_concurrent:
            await _error(
                send_with_headers, 503, "overloaded", "The server is busy; retry shortly.", retry_after=True
            )  # fmt: skip
            return
        self.in_flight += counted
        try:
            if declared is None and not is_upload:
                # A body without Content-Length (chunked): read it here, within the limit, so an
                # oversized one is a clean 413 (the app would read it whole anyway; uploads stream).
                body = await _read_body(receive, limit)
                if body is None:
                    await _error(
                        send_with_headers, 413, "payload_too_large", f"Request body is larger than {limit} bytes."
                    )  # fmt: skip
                    return
                receive = _replay(body, receive)
            await self.app(scope, _limited(receive, limit), send_with_headers)
        finally:
            self.in_flight -= counted


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or ``None`` when it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the app sees an empty body and its reply goes nowhere
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` once, then defers to the real one (for disconnects)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _limited(receive: Receive, limit: int) -> Receive:
    """A ``receive`` that raises :class:`PayloadTooLargeError` once more than ``limit`` bytes arrived."""
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # A ModelyardError, so the app's handler answers 413 wherever it is raised.
                raise PayloadTooLargeError(f"Request body is larger than {limit} bytes.")
        return message

    return limited_receive


async def _error(send: Send, status: int, code: str, message: str, *, retry_after: bool = False) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
