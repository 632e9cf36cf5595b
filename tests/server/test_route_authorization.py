"""Every route and method of the server has an explicit authorization decision.

A route's decision is a dependency made by ``requires(...)``, recognised by its ``__authz__``
marker, anywhere in the route's dependency tree (directly, or inside another dependency). The only
routes without one are the API description FastAPI serves, listed here by name so that a new
exemption is a visible change to this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from modelyard.entities import Role
from modelyard.server import create_app
from modelyard.server._auth import AUTHENTICATED, GLOBAL_ADMIN, PUBLIC
from modelyard.settings import Settings

# The OpenAPI document and its viewer: public by design, served by FastAPI itself.
EXEMPT = {
    ("GET", "/api/v1/openapi.json"),
    ("HEAD", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("HEAD", "/api/v1/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("HEAD", "/docs/oauth2-redirect"),
}
RULES = {PUBLIC, AUTHENTICATED, GLOBAL_ADMIN, *Role}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    root: Path = tmp_path_factory.mktemp("authz")
    app = create_app(Settings(home=root / "home", blobs=str(root / "blobs"), uri=str(root / "store")))
    try:
        yield app
    finally:
        app.state.modelyard.store.close()


def _routes(app: FastAPI) -> Iterator[tuple[BaseRoute, Dependant | None]]:
    """Every concrete route of the app with its (effective) dependency tree, included routers flattened."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: app.routes is already flat
        for route in app.routes:
            yield route, getattr(route, "dependant", None)
        return
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        # The effective context carries the dependencies the inclusion added; plain routes have none.
        dependant = getattr(context, "dependant", None) if isinstance(route, APIRoute) else None
        yield route, dependant


def _authz_rules(dependant: Dependant | None) -> list[Any]:
    """``__authz__`` markers anywhere in a dependency tree."""
    if dependant is None:
        return []
    found = []
    for sub in dependant.dependencies:
        marker = getattr(sub.call, "__authz__", None)
        if marker is not None:
            found.append(marker)
        found.extend(_authz_rules(sub))
    return found


def _table(app: FastAPI) -> dict[tuple[str, str], list[Any]]:
    table: dict[tuple[str, str], list[Any]] = {}
    for route, dependant in _routes(app):
        assert isinstance(route, (APIRoute, Route)), f"unexpected route type {type(route).__name__}: {route!r}"
        for method in sorted(route.methods or ()):
            key = (method, route.path)
            assert key not in table, f"{method} {route.path} is declared twice"
            table[key] = _authz_rules(dependant)
    return table


def test_every_route_has_an_authorization_decision(app: FastAPI) -> None:
    table = _table(app)
    assert len(table) > len(EXEMPT), "route enumeration found nothing: has FastAPI's routing changed?"
    missing = sorted(f"{m} {p}" for (m, p), rules in table.items() if not rules and (m, p) not in EXEMPT)
    assert not missing, f"routes without requires(...): {missing}"


def test_each_route_has_exactly_one_known_rule(app: FastAPI) -> None:
    for (method, path), rules in _table(app).items():
        if (method, path) in EXEMPT:
            continue
        assert len(rules) == 1, f"{method} {path} has {len(rules)} authorization rules: {rules}"
        rule, project_from = rules[0]
        assert rule in RULES, f"{method} {path}: unknown rule {rule!r}"
        if isinstance(rule, Role):
            assert project_from in ("path", "run", "query", "body"), f"{method} {path}: role rule without a project"


def test_only_the_api_description_is_exempt(app: FastAPI) -> None:
    table = _table(app)
    exempt = {key for key, rules in table.items() if not rules}
    assert exempt == EXEMPT & table.keys(), f"unexpected exemptions: {sorted(exempt - EXEMPT)}"
    # and every listed exemption still exists (a stale list hides nothing, but says something false)
    assert EXEMPT <= table.keys(), f"listed but gone: {sorted(EXEMPT - table.keys())}"


# State-changing routes anyone may call: signing in and out (their own checks: password, login-CSRF
# form token, the session cookie itself). A new one must be added here on purpose.
PUBLIC_WRITES = {"POST /api/v1/auth/login", "POST /signin", "POST /signout"}


def test_state_changing_routes_are_not_public(app: FastAPI) -> None:
    public_writes = {
        f"{m} {p}"
        for (m, p), rules in _table(app).items()
        if m in ("POST", "PUT", "PATCH", "DELETE") and any(rule == PUBLIC for rule, _ in rules)
    }
    assert public_writes == PUBLIC_WRITES


def test_pipeline_schedule_routes_need_a_role_on_the_project(app: FastAPI) -> None:
    table = _table(app)
    expected = {
        ("GET", "/api/v1/pipelines/schedules"): (Role.VIEWER, "query"),
        ("POST", "/api/v1/pipelines/schedules"): (Role.EDITOR, "body"),
        ("DELETE", "/api/v1/pipelines/schedules/{project}/{pipeline}"): (Role.EDITOR, "path"),
        ("GET", "/api/v1/pipelines/triggers"): (Role.VIEWER, "query"),
        ("POST", "/api/v1/pipelines/triggers"): (Role.EDITOR, "body"),
        ("DELETE", "/api/v1/pipelines/triggers/{project}/{pipeline}"): (Role.EDITOR, "path"),
        ("GET", "/api/v1/pipelines/queue"): (Role.VIEWER, "query"),
        ("POST", "/api/v1/pipelines/queue"): (Role.EDITOR, "body"),
    }
    for key, rule in expected.items():
        assert table[key] == [rule], f"{key}: {table.get(key)}"


def test_pipeline_run_routes_need_a_role_on_the_project(app: FastAPI) -> None:
    table = _table(app)
    expected = {
        ("GET", "/api/v1/pipelines"): (Role.VIEWER, "query"),
        ("GET", "/api/v1/pipelines/runs"): (Role.VIEWER, "query"),
        ("POST", "/api/v1/pipelines/runs"): (Role.EDITOR, "body"),
        ("GET", "/api/v1/pipelines/runs/{run_id}"): (Role.VIEWER, "run"),
        ("POST", "/api/v1/pipelines/runs/{run_id}/start"): (Role.EDITOR, "run"),
        ("POST", "/api/v1/pipelines/runs/{run_id}/steps"): (Role.EDITOR, "run"),
        ("POST", "/api/v1/pipelines/runs/{run_id}/cancel"): (Role.EDITOR, "run"),
        ("POST", "/api/v1/pipelines/cache"): (Role.VIEWER, "body"),
        ("PUT", "/api/v1/pipelines/blobs/{digest}"): (Role.EDITOR, "query"),
        ("GET", "/api/v1/pipelines/runs/{run_id}/outputs/{digest}"): (Role.VIEWER, "run"),
    }
    for key, rule in expected.items():
        assert table[key] == [rule], f"{key}: {table.get(key)}"


def test_model_registry_routes_need_a_role_on_the_project(app: FastAPI) -> None:
    """Reads need viewer, changes editor; approve/reject let any member in and the service checks the
    configured approver role (MODELYARD_MODEL_APPROVER_ROLE), which a route rule cannot read."""
    table = _table(app)
    base = "/api/v1/models/{project}/{name}"
    expected = {
        ("GET", "/api/v1/models"): (Role.VIEWER, "query"),
        ("POST", "/api/v1/models/versions"): (Role.EDITOR, "body"),
        ("GET", "/api/v1/models/promotions"): (Role.VIEWER, "query"),
        ("POST", "/api/v1/models/promotions/{request_id}/approve"): (Role.VIEWER, "query"),
        ("POST", "/api/v1/models/promotions/{request_id}/reject"): (Role.VIEWER, "query"),
        ("GET", base): (Role.VIEWER, "path"),
        ("PATCH", base): (Role.EDITOR, "path"),
        ("GET", f"{base}/versions"): (Role.VIEWER, "path"),
        ("GET", f"{base}/versions/{{selector}}"): (Role.VIEWER, "path"),
        ("GET", f"{base}/versions/{{selector}}/files/{{path:path}}"): (Role.VIEWER, "path"),
        ("GET", f"{base}/versions/{{selector}}/card"): (Role.VIEWER, "path"),
        ("PATCH", f"{base}/versions/{{selector}}/card"): (Role.EDITOR, "path"),
        ("POST", f"{base}/versions/{{selector}}/archive"): (Role.EDITOR, "path"),
        ("POST", f"{base}/versions/{{selector}}/restore"): (Role.EDITOR, "path"),
        ("PUT", f"{base}/aliases/{{alias}}"): (Role.EDITOR, "path"),
        ("DELETE", f"{base}/aliases/{{alias}}"): (Role.EDITOR, "path"),
        ("POST", f"{base}/promotions"): (Role.EDITOR, "path"),
        ("GET", f"{base}/history"): (Role.VIEWER, "path"),
        ("POST", f"{base}/rollback"): (Role.EDITOR, "path"),
        ("GET", "/api/v1/runs/{run_id}/models"): (Role.VIEWER, "run"),
        ("POST", "/api/v1/runs/{run_id}/model-package"): (Role.EDITOR, "run"),
    }
    for key, rule in expected.items():
        assert table[key] == [rule], f"{key}: {table.get(key)}"
    # every other registry route (cards, lineage) reads or writes one project's models: a role rule
    for (method, path), rules in table.items():
        if path.startswith("/api/v1/models"):
            assert len(rules) == 1 and isinstance(rules[0][0], Role), f"{method} {path}: {rules}"


def test_lineage_needs_a_role_on_the_project_it_starts_from(app: FastAPI) -> None:
    """Nodes of other projects are filtered by the route itself (see tests/server/test_lineage_api.py)."""
    assert _table(app)[("GET", "/api/v1/lineage")] == [(Role.VIEWER, "query")]
