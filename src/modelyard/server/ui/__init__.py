"""The web UI's routes: server-rendered pages (Jinja2) over the same services as the API.

Each module is a router of thin adapters (parse, call a service, render a template from
:mod:`modelyard.ui`); every route declares its ``requires(...)`` rule like the API's, and errors
render as pages (:class:`~modelyard.server.ui._render.UiRoute`).
"""

from __future__ import annotations

from fastapi import APIRouter

from modelyard.server.ui import admin, datasets, models, pipelines, projects, run_detail, runs, static

__all__ = ["routers"]


def routers() -> list[APIRouter]:
    """The UI's routers, in the order they are mounted."""
    modules = (static, projects, runs, run_detail, datasets, models, pipelines, admin)
    return [module.router for module in modules]
