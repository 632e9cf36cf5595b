"""The registry through a real server with authentication: roles, approvals, verified downloads, clean errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier
from tests.conftest import ServerProcess

from modelyard.blobs import BlobStore
from modelyard.client import Client
from modelyard.entities import ModelVersion, PromotionState, Role
from modelyard.errors import (
    BlobCorruptedError,
    ConflictError,
    InvalidInputError,
    ModelNotFoundError,
    PermissionDeniedError,
    UntrustedModelError,
)
from modelyard.settings import Settings


class Team:
    """A server with auth on, an admin and three users with different roles on project ``churn``."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.server = ServerProcess(root / "srv", env=env)
        self.root = root
        admin_token = self.server.output().split("API token: ")[1].split()[0]
        self.tokens = {"admin": admin_token}
        self.clients: list[Client] = []
        admin = self.client("admin")
        admin.create_project("churn")
        for name, role in (("erin", Role.EDITOR), ("vic", Role.VIEWER), ("max", Role.ADMIN)):
            admin.backend.create_user(name, "correct horse battery staple")
            admin.backend.set_role(name, "churn", role)
            self.tokens[name] = admin.backend.create_token(name, "test")[1]

    def client(self, who: str) -> Client:
        settings = Settings(home=self.root / f"home-{who}", token=self.tokens[who], project="churn")
        client = Client(self.server.url, settings=settings)
        self.clients.append(client)
        return client

    def http(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.server.stop()


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    t = Team(tmp_path_factory.mktemp("models-api"))
    try:
        yield t
    finally:
        t.close()


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


def _log(client: Client, iris: Any, name: str = "churn-model", depth: int = 3) -> ModelVersion:
    X, y = iris
    run = client.create_run("fit")
    version = client.log_model(run.id, DecisionTreeClassifier(max_depth=depth).fit(X, y), name, input_example=X[:5])
    client.end_run(run.id)
    assert isinstance(version, ModelVersion)
    return version


def test_editors_register_viewers_read_and_load(team: Team, iris: Any) -> None:
    erin, vic = team.client("erin"), team.client("vic")
    version = _log(erin, iris, "reader-model")
    assert version.created_by == "erin" and version.version == 1
    assert [m.name for m in vic.registry.list_models()] >= ["reader-model"]
    loaded = vic.load_model("models:/reader-model/1")
    X, _ = iris
    np.testing.assert_array_equal(
        loaded.predict(X[:20]), vic.load_model(f"runs:/{version.run_id}/model").predict(X[:20])
    )
    with pytest.raises(PermissionDeniedError):
        _log(vic, iris, "reader-model")
    with pytest.raises(PermissionDeniedError):
        vic.registry.set_alias("reader-model", "champion", 1)
    assert vic.registry.get_model("reader-model").latest_version == 1  # nothing changed
    # outsiders see nothing
    team.client("admin").backend.create_user("eve", "correct horse battery staple")
    team.tokens["eve"] = team.client("admin").backend.create_token("eve", "t")[1]
    with pytest.raises(PermissionDeniedError):
        team.client("eve").registry.get_version("reader-model@1")


def test_promotion_needs_the_approver_role(team: Team, iris: Any) -> None:
    erin, maxi = team.client("erin"), team.client("max")
    _log(erin, iris, "promoted")
    request = erin.registry.request_promotion("promoted@1", "production", reason="ready")
    with pytest.raises(PermissionDeniedError, match="admin role"):
        erin.registry.approve(request.id)
    with pytest.raises(PermissionDeniedError):
        team.client("vic").registry.reject(request.id, reason="no")
    assert erin.registry.get_model("promoted").environments == {}
    decided = maxi.registry.approve(request.id, reason="four eyes")
    assert (decided.state, decided.decided_by, decided.decision_reason) == (PromotionState.APPROVED, "max", "four eyes")
    assert erin.registry.get_version("promoted@production").version == 1
    with pytest.raises(PermissionDeniedError):
        erin.registry.rollback("promoted", "production")
    events = team.client("admin").list_audit(object_type="model", object_id="promoted", limit=20)
    actions = {(e.action, e.actor) for e in events}
    assert {
        ("model.promotion.request", "erin"),
        ("model.promotion.approve", "max"),
        ("model.environment.set", "max"),
    } <= actions


def test_downloads_are_verified_and_a_corrupted_blob_is_refused(team: Team, iris: Any, tmp_path: Path) -> None:
    erin = team.client("erin")
    version = _log(erin, iris, "fragile")
    out = tmp_path / "out"
    erin.registry.download("fragile@1", out)
    assert sorted(p.name for p in out.iterdir()) == sorted(f.path for f in version.files)
    victim = next(f for f in version.files if f.path != "model.yaml")
    blob_file = Path(BlobStore(str(team.server.blobs))._local_path(victim.digest))
    blob_file.chmod(0o644)
    data = blob_file.read_bytes()
    blob_file.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])
    fresh = team.client("vic")  # an empty cache: the load must download
    with pytest.raises(BlobCorruptedError, match=victim.path):
        fresh.load_model("fragile@1")


def test_bad_input_gets_clear_errors_never_500(team: Team, iris: Any) -> None:
    erin = team.client("erin")
    _log(erin, iris, "strict")
    with pytest.raises(InvalidInputError, match="integers"):
        erin.registry.set_alias("strict", "7", 1)
    with pytest.raises(ModelNotFoundError, match="no version 5"):
        erin.registry.set_alias("strict", "champion", 5)
    with pytest.raises(ConflictError):
        erin.registry.request_promotion("strict@1", "production")
        erin.registry.request_promotion("strict@1", "production")
    with pytest.raises(InvalidInputError):
        erin.registry.get_version("str/ict@1")
    with team.http("erin") as http:
        _check_bad_requests(http)


def test_a_package_references_only_blobs_uploaded_to_its_project(team: Team, iris: Any, tmp_path: Path) -> None:
    """Recording a package by digest needs the bytes uploaded to the run's project: a digest proves nothing."""
    admin, erin = team.client("admin"), team.client("erin")
    admin.create_project("elsewhere")
    secret = tmp_path / "weights.bin"
    secret.write_bytes(b"another project's weights")
    outside = admin.create_run("other", project="elsewhere")
    [stored] = admin.log_artifact(outside.id, secret)  # in project "elsewhere" only
    run = erin.create_run("fit")
    url = f"/api/v1/runs/{run.id}/model-package"
    stolen = {"files": [{"path": "model/weights.bin", "digest": stored.digest, "size": stored.size}]}
    with team.http("erin") as http:
        r = http.post(url, json=stolen)
        assert r.status_code == 400 and "not uploaded to project 'churn'" in r.json()["error"]["message"]
        assert erin.list_artifacts(run.id) == []  # nothing recorded
        with team.http("vic") as viewer:
            assert viewer.post(url, json=stolen).status_code == 403
        # uploading the bytes proves possession; a wrong size is still refused
        r = http.put(
            f"/api/v1/datasets/blobs/{stored.digest}",
            params={"project": "churn"},
            content=secret.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 201, r.text
        wrong = {"files": [{**stolen["files"][0], "size": stored.size + 1}]}
        r = http.post(url, json=wrong)
        assert r.status_code == 400 and "size" in r.json()["error"]["message"]
        for bad in (
            {"files": [{**stolen["files"][0], "path": "../escape"}]},
            {"files": [{**stolen["files"][0], "digest": "not-a-digest"}]},
            {"files": []},
            {**stolen, "register_as": "Ｘ"},
        ):
            r = http.post(url, json=bad)
            assert 400 <= r.status_code < 500 and r.json()["error"]["message"], (bad, r.text)
        r = http.post(url, json=stolen)
        assert r.status_code == 201, r.text
        assert r.json()["version"] is None
    assert [a.path for a in erin.list_artifacts(run.id, "model") if a.path != "model"] == ["model/weights.bin"]


def _check_bad_requests(http: httpx.Client) -> None:
    for method, path, body in (
        ("GET", "/api/v1/models/churn/strict/versions/latest2", None),
        ("GET", "/api/v1/models/churn/..%2Fx", None),
        ("GET", "/api/v1/models/churn/strict/versions/1/files/..%2F..%2Fetc", None),
        ("POST", "/api/v1/models/versions", {"project": "churn", "name": "x", "run_id": "nope"}),
        ("POST", "/api/v1/models/versions", {"project": "churn", "name": "Ｘ", "run_id": "0" * 32}),
        ("PUT", "/api/v1/models/churn/strict/aliases/latest", {"version": 1}),
        ("PUT", "/api/v1/models/churn/strict/aliases/champ", {"version": "one"}),
        ("POST", "/api/v1/models/promotions/1/reject?project=churn", {"reason": ""}),
        ("GET", "/api/v1/models/churn/ghost", None),
    ):
        r = http.request(method, path, json=body)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        assert r.json()["error"]["message"], (method, path)


class Tripler:
    """A custom model: the python function flavor, which needs pickle to load."""

    def predict(self, X: Any) -> Any:
        return np.asarray(X, dtype=float) * 3


def test_pickle_packages_are_trusted_only_as_versions_registered_by_an_authenticated_writer(
    team: Team, http_server: ServerProcess, tmp_path: Path
) -> None:
    X = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    erin, vic = team.client("erin"), team.client("vic")
    run = erin.create_run("custom")
    version = erin.log_model(run.id, Tripler(), "tripler", input_example=X)
    assert isinstance(version, ModelVersion) and version.unsafe_format and version.trusted
    for ref in ("tripler@1", f"runs:/{run.id}/model"):  # a reader loads what an authenticated editor registered
        np.testing.assert_array_equal(vic.load_model(ref).predict(X), X.to_numpy() * 3)
    # a package logged but never registered is not a trusted version: it needs trust=True
    unregistered = erin.create_run("custom, unregistered")
    erin.log_model(unregistered.id, Tripler(), "tripler", input_example=X, register=False)
    with pytest.raises(UntrustedModelError, match="trust=True"):
        vic.load_model(f"runs:/{unregistered.id}/model")
    np.testing.assert_array_equal(
        vic.load_model(f"runs:/{unregistered.id}/model", trust=True).predict(X), X.to_numpy() * 3
    )
    # a reader cannot write a package, nor register one, nor turn a run's package into a version
    with pytest.raises(PermissionDeniedError):
        vic.log_model(unregistered.id, Tripler(), "tripler", input_example=X)
    with pytest.raises(PermissionDeniedError):
        vic.registry.register("tripler", unregistered.id)
    assert [v.version for v in erin.registry.list_versions("tripler")] == [1]
    # unauthenticated callers get nothing at all
    with httpx.Client(base_url=team.server.url) as anonymous:
        assert anonymous.post("/api/v1/models/versions", json={}).status_code == 401
        assert anonymous.get("/api/v1/models/churn/tripler/versions/1").status_code == 401
    # a server with auth off (loopback only) has no authenticated users: what it registers is not trusted
    settings = Settings(home=tmp_path / "home", blobs=str(http_server.blobs), project="open-door")
    open_door = Client(http_server.url, settings=settings)
    try:
        run = open_door.create_run("custom")
        anonymous_version = open_door.log_model(run.id, Tripler(), "tripler", input_example=X)
        assert isinstance(anonymous_version, ModelVersion) and not anonymous_version.trusted
        for ref in ("tripler@1", "models:/tripler/1", f"runs:/{run.id}/model"):
            with pytest.raises(UntrustedModelError, match="authenticated"):
                open_door.load_model(ref)
        np.testing.assert_array_equal(open_door.load_model("tripler@1", trust=True).predict(X), X.to_numpy() * 3)
    finally:
        open_door.close()


def test_environments_and_the_approver_role_are_configurable(tmp_path: Path, iris: Any) -> None:
    team = Team(tmp_path, env={"MODELYARD_MODEL_ENVIRONMENTS": "qa, live", "MODELYARD_MODEL_APPROVER_ROLE": "editor"})
    try:
        erin, vic = team.client("erin"), team.client("vic")
        _log(erin, iris, "configured")
        with pytest.raises(InvalidInputError, match="qa, live"):
            erin.registry.request_promotion("configured@1", "production")
        request = erin.registry.request_promotion("configured@1", "live", reason="ready")
        with pytest.raises(PermissionDeniedError, match="editor role"):
            vic.registry.approve(request.id)
        assert erin.registry.get_model("configured").environments == {}
        decided = erin.registry.approve(request.id, reason="editors approve here")
        assert (decided.state, decided.decided_by) == (PromotionState.APPROVED, "erin")
        assert erin.registry.get_model("configured").environments == {"live": 1}
        with pytest.raises(InvalidInputError, match="environment"):
            erin.registry.set_alias("configured", "qa", 1)  # an environment's name is not an alias
    finally:
        team.close()
