"""Services bound to the caller of a request."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from modelyard.data import DatasetService
from modelyard.server._context import Principal, app_state, caller_for
from modelyard.tracking import TrackingService

__all__ = ["accounts", "datasets", "tracking"]


def tracking(request: Request, principal: Principal) -> TrackingService:
    """The tracking service acting for ``principal``."""
    state = app_state(request)
    return TrackingService(state.store, state.blobs, caller_for(request, principal))


def datasets(request: Request, principal: Principal) -> DatasetService:
    """The dataset service acting for ``principal``."""
    state = app_state(request)
    return DatasetService(state.store, state.blobs, caller_for(request, principal))


def accounts(request: Request, principal: Principal) -> Any:
    """The account service acting for ``principal``."""
    from modelyard.accounts import AccountService

    return AccountService(app_state(request).store, caller_for(request, principal))
