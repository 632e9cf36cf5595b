"""Authentication and roles through the real app: tokens, sessions, CSRF, sign-in links, roles, audit."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import ServerProcess

from modelyard.accounts import AccountService
from modelyard.audit import Caller
from modelyard.entities import Role
from modelyard.ids import new_run_id
from modelyard.server import create_app
from modelyard.settings import Settings


class Env:
    def __init__(self, tmp_path: Path) -> None:
        settings = Settings(home=tmp_path / "home", uri=str(tmp_path / "store"), blobs=str(tmp_path / "blobs"))
        self.app = create_app(settings)
        self.http = TestClient(self.app)
        self.accounts = AccountService(self.app.state.modelyard.store, Caller(user="test"))
        created = self.accounts.bootstrap_admin()
        assert created is not None
        self.admin_token = created[2]
        self.tokens: dict[str, str] = {"admin": self.admin_token}

    def user(self, name: str, role: Role | None = None, project: str = "p1") -> str:
        self.accounts.create_user(name, "correct horse battery")
        if role is not None:
            self.accounts.set_role(name, project, role)
        _, secret = self.accounts.create_token(name, "t")
        self.tokens[name] = secret
        return secret

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def new_run(self, who: str, project: str = "p1") -> str:
        run_id = new_run_id()
        r = self.http.post("/api/v1/runs", json={"run_id": run_id, "project": project}, headers=self.as_(who))
        assert r.status_code == 201, r.text
        return run_id


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    with e.http:
        assert e.http.post("/api/v1/projects", json={"name": "p1"}, headers=e.as_("admin")).status_code == 201
        yield e


def test_unauthenticated_api_calls_get_401(env: Env) -> None:
    for method, url in [("GET", "/api/v1/projects"), ("POST", "/api/v1/runs/search"), ("GET", "/api/v1/users")]:
        r = env.http.request(method, url, json={"project": "p1"} if method == "POST" else None)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthenticated"
    assert env.http.get("/api/v1/projects", headers={"Authorization": "Bearer myd_wrong"}).status_code == 401
    assert env.http.get("/health").status_code == 200  # public


def test_roles_decide_what_each_user_may_do(env: Env) -> None:
    env.user("alice", Role.EDITOR)
    env.user("bob", Role.VIEWER)
    env.user("carol")
    run_id = env.new_run("alice")
    batch = {"metrics": [["m", 1.0, 1, 0]], "params": {"a": "1"}}
    assert env.http.post(f"/api/v1/runs/{run_id}/batch", json=batch, headers=env.as_("alice")).status_code == 200
    assert env.http.get(f"/api/v1/runs/{run_id}", headers=env.as_("bob")).status_code == 200
    r = env.http.post(f"/api/v1/runs/{run_id}/batch", json=batch, headers=env.as_("bob"))
    assert r.status_code == 403 and "editor" in r.json()["error"]["message"]
    r = env.http.post("/api/v1/runs", json={"run_id": new_run_id(), "project": "p1"}, headers=env.as_("bob"))
    assert r.status_code == 403
    assert env.http.get(f"/api/v1/runs/{run_id}", headers=env.as_("carol")).status_code == 403
    assert env.http.post("/api/v1/runs/search", json={"project": "p1"}, headers=env.as_("carol")).status_code == 403
    assert env.http.get("/api/v1/projects", headers=env.as_("carol")).json() == []
    assert [p["name"] for p in env.http.get("/api/v1/projects", headers=env.as_("bob")).json()] == ["p1"]
    assert env.http.delete(f"/api/v1/runs/{run_id}", headers=env.as_("alice")).status_code == 403  # admins only
    assert env.http.delete(f"/api/v1/runs/{run_id}", headers=env.as_("admin")).status_code == 204
    assert env.http.get("/api/v1/users", headers=env.as_("alice")).status_code == 403  # global admins only


def test_project_admins_manage_members(env: Env) -> None:
    env.user("alice", Role.ADMIN)
    env.user("dave")
    r = env.http.put("/api/v1/projects/p1/members/dave", json={"role": "viewer"}, headers=env.as_("alice"))
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    assert env.http.get("/api/v1/projects", headers=env.as_("dave")).json()[0]["name"] == "p1"
    r = env.http.put("/api/v1/projects/p1/members/alice", json={"role": "admin"}, headers=env.as_("dave"))
    assert r.status_code == 403


def test_a_new_project_makes_its_creator_admin(env: Env) -> None:
    env.user("erin")
    run_id = env.new_run("erin", project="erins")
    assert env.http.delete(f"/api/v1/runs/{run_id}", headers=env.as_("erin")).status_code == 204
    assert env.accounts.role_for(env.accounts.get_user("erin"), "erins") == Role.ADMIN


def test_revoked_tokens_and_disabled_users_are_refused(env: Env) -> None:
    env.user("frank", Role.VIEWER)
    assert env.http.get("/api/v1/auth/whoami", headers=env.as_("frank")).json()["name"] == "frank"
    env.accounts.set_disabled("frank", True)
    assert env.http.get("/api/v1/auth/whoami", headers=env.as_("frank")).status_code == 401
    env.accounts.set_disabled("frank", False)
    token = env.accounts.list_tokens("frank")[0]
    r = env.http.delete(f"/api/v1/tokens/{token.id}", headers=env.as_("frank"))
    assert r.status_code == 200
    assert env.http.get("/api/v1/auth/whoami", headers=env.as_("frank")).status_code == 401


def test_sessions_use_strict_httponly_cookies_csrf_and_server_side_logout(env: Env) -> None:
    env.user("gina", Role.EDITOR)
    r = env.http.post("/api/v1/auth/login", json={"name": "gina", "password": "wrong password"})
    assert r.status_code == 401
    r = env.http.post("/api/v1/auth/login", json={"name": "gina", "password": "correct horse battery"})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    csrf = r.json()["csrf_token"]
    assert env.http.get("/api/v1/auth/whoami").json() == {"name": "gina", "is_admin": False, "via": "session"}
    body = {"run_id": new_run_id(), "project": "p1"}
    assert env.http.post("/api/v1/runs", json=body).status_code == 403  # no CSRF token
    assert env.http.post("/api/v1/runs", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    session = env.http.cookies.get("modelyard_session")
    assert env.http.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    env.http.cookies.set("modelyard_session", session or "")  # a stolen cookie is dead after logout
    assert env.http.get("/api/v1/auth/whoami").status_code == 401


def test_signin_link_works_once(env: Env) -> None:
    env.user("hank")
    link = env.accounts.create_signin_link("hank")
    r = env.http.get(f"/auth/link?token={link}", follow_redirects=False)
    assert r.status_code == 303 and "modelyard_session" in r.headers["set-cookie"]
    assert env.http.get("/api/v1/auth/whoami").json()["name"] == "hank"
    env.http.cookies.clear()
    assert env.http.get(f"/auth/link?token={link}", follow_redirects=False).status_code == 401


def test_audit_events_carry_user_request_id_and_address(env: Env) -> None:
    env.user("ivy", Role.EDITOR)
    run_id = new_run_id()
    r = env.http.post(
        "/api/v1/runs", json={"run_id": run_id, "project": "p1"}, headers={**env.as_("ivy"), "X-Request-ID": "req-42"}
    )
    assert r.headers["x-request-id"] == "req-42"
    events = env.http.get(f"/api/v1/audit?object_id={run_id}", headers=env.as_("admin")).json()
    assert events[0]["actor"] == "ivy" and events[0]["action"] == "run.create"
    assert events[0]["request_id"] == "req-42" and events[0]["client_addr"]
    assert env.http.get("/api/v1/audit", headers=env.as_("ivy")).status_code == 403
    assert env.http.get("/api/v1/audit?project=p1", headers=env.as_("ivy")).status_code == 403  # editor, not admin


def test_audit_log_has_no_route_that_changes_it(env: Env) -> None:
    for route in env.app.routes:
        if "/audit" in getattr(route, "path", ""):
            assert getattr(route, "methods", set()) <= {"GET", "HEAD"}


def test_first_start_creates_an_admin_and_prints_a_signin_link(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "s")
    try:
        output = server.output()
        assert "/auth/link?token=" in output and "API token: myd_" in output
        token = output.split("API token: ")[1].split()[0]
        import httpx

        assert httpx.get(server.url + "/api/v1/projects").status_code == 401
        r = httpx.get(server.url + "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
        assert r.json()["name"] == "admin"
    finally:
        server.stop()
    again = ServerProcess(tmp_path / "s")  # same store: no second admin, nothing printed
    try:
        assert "API token" not in again.output()
    finally:
        again.stop()


def test_no_auth_is_refused_off_loopback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modelyard", "server", "--host", "0.0.0.0", "--no-auth"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "loopback" in result.stderr and "Traceback" not in result.stderr


def test_ui_pages_redirect_to_a_signin_form_that_starts_a_session(env: Env) -> None:
    env.user("kim")
    r = env.http.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    page = env.http.get("/signin")
    assert page.status_code == 200 and "content-security-policy" in page.headers
    token = page.text.split("name='form_token' value='")[1].split("'")[0]
    form = {"form_token": token, "name": "kim", "password": "wrong password"}
    assert env.http.post("/signin", data=form, follow_redirects=False).status_code == 401
    page = env.http.get("/signin")
    token = page.text.split("name='form_token' value='")[1].split("'")[0]
    form = {"form_token": token, "name": "kim", "password": "correct horse battery"}
    r = env.http.post("/signin", data=form, follow_redirects=False)
    assert r.status_code == 303 and "modelyard_session" in r.headers["set-cookie"]
    assert "Signed in as <b>kim</b>" in env.http.get("/").text
    assert env.http.post("/signout", follow_redirects=False).status_code == 303
    assert env.http.get("/", follow_redirects=False).status_code == 303


def test_signin_form_needs_its_own_token(env: Env) -> None:
    env.user("lee")
    form = {"form_token": "forged", "name": "lee", "password": "correct horse battery"}
    r = env.http.post("/signin", data=form, follow_redirects=False)
    assert r.status_code == 400 and "modelyard_session" not in r.headers.get("set-cookie", "")
