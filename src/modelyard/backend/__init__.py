"""The seam between front doors (fluent API, Client, CLI) and the services.

Backends are chosen by URI scheme through a small table; each is imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelyard.backend.base import Backend
    from modelyard.settings import Settings

__all__ = ["open_backend"]


def open_backend(uri: str | None, settings: Settings) -> Backend:
    """Open the backend for ``uri`` (``None``: the settings' URI, then ``MODELYARD_HOME``)."""
    uri = uri or settings.uri
    if uri and uri.startswith(("http://", "https://")):
        from modelyard.backend.http import HttpBackend

        return HttpBackend(uri, settings)
    from modelyard.backend.local import LocalBackend

    return LocalBackend(settings.location(uri), settings)
