"""The web UI's static files (``/static/...``): CSS, JS modules and vendored chart libraries.

Served by a plain route rather than a mount so it carries an authorization rule like every other
route (public: the files hold no data). Only files inside the package's ``static`` folder with a
known type are served; the URL carries the package version, so they may be cached for long.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import FileResponse

from modelyard.errors import NotFoundError
from modelyard.server._auth import PUBLIC, requires
from modelyard.server._context import Principal

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@router.get("/static/{path:path}")
def static_file(path: str, _: Annotated[Principal, Depends(requires(PUBLIC))]) -> Response:
    """One static file of the UI (404 for anything outside the static folder or of another type)."""
    from modelyard.ui import STATIC_DIR

    root = STATIC_DIR.resolve()
    target = (root / path).resolve()
    media_type = _TYPES.get(target.suffix)
    if media_type is None or not target.is_relative_to(root) or not target.is_file():
        raise NotFoundError(f"No static file {path!r}.")
    return FileResponse(target, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})
