"""Health, readiness and version: public routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from modelyard._version import __version__
from modelyard.errors import IncompatibleVersionError
from modelyard.server._auth import PUBLIC, requires
from modelyard.server._context import Principal, app_state

__all__ = ["API_VERSION", "MIN_CLIENT_VERSION", "check_client_version", "router"]

API_VERSION = 1
"""Bumped on an incompatible change of the REST API."""
MIN_CLIENT_VERSION = "0.1.0"

router = APIRouter()
Public = Annotated[Principal, Depends(requires(PUBLIC))]


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())


async def check_client_version(request: Request) -> None:
    """Refuse clients older than :data:`MIN_CLIENT_VERSION` (they send ``X-Modelyard-Client``)."""
    sent = request.headers.get("x-modelyard-client")
    if sent and _version_tuple(sent) < _version_tuple(MIN_CLIENT_VERSION):
        raise IncompatibleVersionError(
            f"This server (modelyard {__version__}) needs clients >= {MIN_CLIENT_VERSION}, got {sent[:20]}: "
            "upgrade the client (pip install -U modelyard)."
        )


@router.get("/health", tags=["system"])
def health(_: Public) -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", tags=["system"])
def ready(request: Request, _: Public) -> dict[str, str]:
    """Readiness: the metadata store answers."""
    with app_state(request).store.read() as tx:
        tx.project_exists("default")
    return {"status": "ready"}


@router.get("/api/v1/version", tags=["system"])
def version(_: Public) -> dict[str, Any]:
    """Server version, REST API version and the oldest client it accepts."""
    return {"version": __version__, "api_version": API_VERSION, "min_client_version": MIN_CLIENT_VERSION}
