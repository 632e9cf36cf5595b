"""The FastAPI application: ``create_app(settings)`` builds it; uvicorn serves it."""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.middleware.cors import CORSMiddleware

from modelyard._version import __version__
from modelyard.blobs import BlobStore
from modelyard.server import ui
from modelyard.server._context import AppState
from modelyard.server._errors import install_error_handlers
from modelyard.server._guard import GuardMiddleware
from modelyard.server._schemas import ErrorResponse
from modelyard.server.routers import accounts, artifacts, audit, datasets, models, pages, projects, runs, system
from modelyard.server.routers import lineage as lineage
from modelyard.server.routers import pipeline_schedules as pipeline_schedules
from modelyard.server.routers import pipelines as pipelines
from modelyard.settings import Settings, load_settings
from modelyard.store.sql import SqlStore

__all__ = ["create_app", "create_app_from_env"]


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid input",
        401: "Not authenticated",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Too large",
        415: "Unsupported media type",
        422: "Invalid request",
        503: "Busy or store unavailable (see Retry-After)",
    }.items()
}


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def create_app(settings: Settings, *, store: SqlStore | None = None) -> FastAPI:
    """Build the server for ``settings`` (store, blobs, auth, limits).

    The metadata store is opened (and an outdated PostgreSQL schema refused) when the app is
    built, so a misconfigured server fails at start with a clear message, not on first request.
    """
    location = settings.location()
    store = store or SqlStore.open(location.db_url, busy_timeout=settings.sqlite_busy_timeout)
    blobs = BlobStore(location.blobs_url)
    try:
        anonymous = settings.user or getpass.getuser()
    except (KeyError, OSError):
        anonymous = "local"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if settings.scheduler:
            # Cron schedules and dataset triggers only enqueue PENDING runs; workers execute them.
            from modelyard.pipelines._scheduler import Scheduler

            scheduler = Scheduler.from_settings(store, settings)
            scheduler.start()
        yield
        if scheduler is not None:
            scheduler.stop()
        store.close()

    app = FastAPI(
        title="modelyard",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(system.check_client_version)],
    )
    app.state.modelyard = AppState(
        settings=settings, store=store, blobs=blobs, auth=settings.auth, anonymous_user=anonymous
    )
    install_error_handlers(app)
    # Before any /api/v1/pipelines/{...} route, so /schedules, /triggers and /queue match here.
    app.include_router(pipeline_schedules.router, responses=_ERROR_RESPONSES)
    app.include_router(lineage.router, responses=_ERROR_RESPONSES)  # before models: /models/.../card
    for module in (system, pages, accounts, projects, runs, artifacts, datasets, models, pipelines, audit):
        app.include_router(module.router, responses=_ERROR_RESPONSES)
    for ui_router in ui.routers():  # the web UI's pages (server-rendered; not in the API schema)
        app.include_router(ui_router)
    origins = _split(settings.cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"], allow_credentials=True
        )
    app.add_middleware(
        GuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        max_concurrent=settings.max_concurrent_requests,
        allowed_hosts=_split(settings.allowed_hosts),
    )
    return app


def create_app_from_env() -> FastAPI:
    """App factory for uvicorn workers: settings from ``MODELYARD_*`` variables."""
    return create_app(load_settings())
