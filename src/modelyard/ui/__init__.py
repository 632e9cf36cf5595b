"""The web UI's assets: Jinja2 templates and static files (CSS, small JS modules, vendored charts).

The pages themselves are rendered by ``modelyard.server.ui``; this package only locates the files
shipped inside the wheel, so nothing here imports a web framework.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC_DIR", "TEMPLATES_DIR"]

_ROOT = Path(__file__).resolve().parent
TEMPLATES_DIR = _ROOT / "templates"
"""Folder of the Jinja2 templates (``base.html`` and one template per page)."""
STATIC_DIR = _ROOT / "static"
"""Folder served at ``/static``: ``app.css``, ``js/*.js`` and ``vendor/`` (uPlot)."""
