"""A real app (embedded SQLite store, auth on) seeded through the services, for the UI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from modelyard.accounts import AccountService
from modelyard.audit import Caller
from modelyard.client import Client
from modelyard.entities import Role, RunStatus
from modelyard.ids import new_run_id
from modelyard.server import create_app
from modelyard.settings import Settings
from modelyard.tracking import TrackingService

PASSWORD = "correct horse battery"
XSS = "<img src=x onerror=alert(1)>"


class UiEnv:
    """The app, a TestClient, and helpers to add users, runs and datasets."""

    def __init__(self, root: Path) -> None:
        self.settings = Settings(home=root / "home", uri=str(root / "store"), blobs=str(root / "blobs"))
        self.root = root
        self.app = create_app(self.settings)
        self.state = self.app.state.modelyard
        self.http = TestClient(self.app)
        self.accounts = AccountService(self.state.store, Caller(user="test"))
        created = self.accounts.bootstrap_admin()
        assert created is not None
        self.admin_password = created[1]
        self.tracking = TrackingService(self.state.store, self.state.blobs, Caller(user="admin"))
        self.ids: dict[str, str] = {}  # notable runs of a seeded store (tests.ui._seed)

    def user(self, name: str, role: Role | None = None, project: str = "p1") -> None:
        self.accounts.create_user(name, PASSWORD)
        if role is not None:
            self.accounts.set_role(name, project, role)

    def sign_in(self, name: str = "admin") -> str:
        """Start a session on the test client; returns its CSRF token."""
        password = self.admin_password if name == "admin" else PASSWORD
        r = self.http.post("/api/v1/auth/login", json={"name": name, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["csrf_token"])

    def run(
        self,
        project: str = "p1",
        name: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        metrics: dict[str, list[float]] | None = None,
        tags: dict[str, str] | None = None,
        parent: str | None = None,
        finish: bool = True,
    ) -> str:
        run_id = new_run_id()
        self.tracking.create_run(run_id=run_id, project=project, name=name, tags=tags, parent_id=parent)
        points = [
            (key, float(v), 1_700_000_000_000 + step * 1000, step)
            for key, values in (metrics or {}).items()
            for step, v in enumerate(values)
        ]
        self.tracking.log_batch(run_id, points, params=params or {})
        if finish:
            self.tracking.update_run(run_id, status=RunStatus.FINISHED)
        return run_id

    def client(self, project: str = "p1") -> Client:
        """A Python client on the same store (for datasets), acting as the admin."""
        return Client(str(self.root / "store"), project=project, settings=self.settings)

    def close(self) -> None:
        self.state.store.close()
