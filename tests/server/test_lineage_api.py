"""Lineage and model cards over the API: roles decide what a caller sees and may edit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelyard.accounts import AccountService
from modelyard.audit import Caller
from modelyard.client import Client
from modelyard.entities import Role
from modelyard.server import create_app
from modelyard.settings import Settings


class Env:
    """A server app and an embedded client on the same store: data in ``shared``, a model in ``team``."""

    def __init__(self, tmp_path: Path) -> None:
        self.settings = Settings(home=tmp_path / "home", uri=str(tmp_path / "store"), blobs=str(tmp_path / "blobs"))
        self.app = create_app(self.settings)
        self.http = TestClient(self.app)
        self.accounts = AccountService(self.app.state.modelyard.store, Caller(user="test"))
        created = self.accounts.bootstrap_admin()
        assert created is not None
        self.tokens = {"admin": created[2]}

    def user(self, name: str, roles: dict[str, Role]) -> None:
        self.accounts.create_user(name, "correct horse battery")
        for project, role in roles.items():
            self.accounts.set_role(name, project, role)
        self.tokens[name] = self.accounts.create_token(name, "t")[1]

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    X, y = load_iris(return_X_y=True, as_frame=True)
    c = Client(str(tmp_path / "store"), project="shared", settings=e.settings)
    try:
        data = c.data.add(X.assign(target=y), "iris")
        c.project = "team"
        run = c.create_run("train")
        c.log_input(run.id, data, role="train", project="shared")
        c.log_model(run.id, LogisticRegression(max_iter=1000).fit(X, y), "iris", input_example=X[:3])
        c.end_run(run.id)
    finally:
        c.close()
    e.user("alice", {"team": Role.VIEWER})
    e.user("bob", {"team": Role.EDITOR, "shared": Role.VIEWER})
    with e.http:
        yield e


def _lineage(env: Env, who: str, **params: str) -> dict[str, object]:
    r = env.http.get("/api/v1/lineage", params=params, headers=env.as_(who))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_nodes_of_projects_the_caller_cannot_read_are_hidden(env: Env) -> None:
    query = {"project": "team", "kind": "model_version", "ref": "iris@1"}
    seen_by_bob = _lineage(env, "bob", **query)
    assert sorted(n["label"] for n in seen_by_bob["nodes"]) == ["iris@1", "iris@1", "train"]  # type: ignore[index]
    assert {n["kind"] for n in seen_by_bob["nodes"]} == {"model_version", "run", "dataset_version"}  # type: ignore[index]
    assert seen_by_bob["hidden"] == 0
    seen_by_alice = _lineage(env, "alice", **query)
    assert {n["kind"] for n in seen_by_alice["nodes"]} == {"model_version", "run"}  # type: ignore[index]
    assert seen_by_alice["hidden"] == 1
    assert all("shared" not in str(e) for e in seen_by_alice["edges"])  # type: ignore[union-attr]
    # Starting in a project without a role is refused outright.
    r = env.http.get(
        "/api/v1/lineage",
        params={"project": "shared", "kind": "dataset_version", "ref": "iris@1"},
        headers=env.as_("alice"),
    )
    assert r.status_code == 403


def test_bad_lineage_queries_get_clear_errors(env: Env) -> None:
    r = env.http.get(
        "/api/v1/lineage", params={"project": "team", "kind": "pipeline", "ref": "x"}, headers=env.as_("bob")
    )
    assert r.status_code == 422
    r = env.http.get(
        "/api/v1/lineage", params={"project": "team", "kind": "model_version", "ref": "iris@7"}, headers=env.as_("bob")
    )
    assert r.status_code == 404 and "no version 7" in r.json()["error"]["message"]
    r = env.http.get(
        "/api/v1/lineage", params={"project": "team", "kind": "run", "ref": "0" * 32}, headers=env.as_("bob")
    )
    assert r.status_code == 404


def test_viewers_read_cards_and_editors_edit_them(env: Env) -> None:
    url = "/api/v1/models/team/iris/versions/1/card"
    r = env.http.get(url, params={"format": "html"}, headers=env.as_("alice"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<h1>Model card: iris version 1</h1>" in r.text
    r = env.http.get(url, params={"format": "md"}, headers=env.as_("alice"))
    assert r.headers["content-type"].startswith("text/markdown") and r.text.startswith("# Model card")
    denied = env.http.patch(url, json={"fields": {"overview": "x"}}, headers=env.as_("alice"))
    assert denied.status_code == 403
    r = env.http.patch(url, json={"fields": {"overview": "Scores iris"}}, headers=env.as_("bob"))
    assert r.status_code == 200 and r.json()["model_details"]["overview"] == "Scores iris"
    bad = env.http.patch(url, json={"fields": {"colour": "blue"}}, headers=env.as_("bob"))
    assert bad.status_code == 400 and "colour" in bad.json()["error"]["message"]
    assert env.http.get(url, headers=env.as_("alice")).json()["model_details"]["overview"] == "Scores iris"
