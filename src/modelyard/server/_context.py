"""Per-request context: the caller, and services bound to it over the app's shared stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from modelyard.audit import Caller

if TYPE_CHECKING:
    from modelyard.blobs import BlobStore
    from modelyard.entities import User
    from modelyard.settings import Settings
    from modelyard.store.sql import SqlStore

__all__ = ["AppState", "Principal", "app_state", "caller_for"]


@dataclass(slots=True)
class AppState:
    """What the app holds for its lifetime: settings and the shared stores."""

    settings: Settings
    store: SqlStore
    blobs: BlobStore
    auth: bool
    anonymous_user: str


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    name: str
    is_admin: bool
    user: User | None = None
    via: str = "token"  # "token", "session" or "anonymous" (auth off)


def app_state(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request``."""
    state: AppState = request.app.state.modelyard
    return state


def caller_for(request: Request, principal: Principal) -> Caller:
    """The audit caller of a request: user, request id and client address."""
    client: Any = request.client
    return Caller(
        user=principal.name,
        request_id=getattr(request.state, "request_id", None),
        client_addr=client.host if client else None,
    )
