"""Datasets through the real app: roles, write-only blobs, project-scoped existence checks, streamed files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.accounts import AccountService
from modelyard.audit import Caller
from modelyard.blobs import hash_bytes
from modelyard.entities import Role
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
        self.tokens: dict[str, str] = {"admin": created[2]}

    def user(self, name: str, role: Role | None = None, project: str = "p1") -> None:
        self.accounts.create_user(name, "correct horse battery")
        if role is not None:
            self.accounts.set_role(name, project, role)
        self.tokens[name] = self.accounts.create_token(name, "t")[1]

    def as_(self, name: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}", **extra}

    def upload(self, who: str, data: bytes, project: str = "p1") -> int:
        digest = hash_bytes(data).digest
        r = self.http.put(
            f"/api/v1/datasets/blobs/{digest}",
            params={"project": project},
            content=data,
            headers=self.as_(who, **{"Content-Type": "application/octet-stream"}),
        )
        return r.status_code

    def add_version(self, who: str, name: str, files: dict[str, bytes], project: str = "p1") -> dict[str, object]:
        for data in files.values():
            assert self.upload(who, data, project) == 201
        body = {
            "project": project,
            "name": name,
            "files": [{"path": p, "size": len(d), "digest": hash_bytes(d).digest} for p, d in files.items()],
        }
        r = self.http.post("/api/v1/datasets/versions", json=body, headers=self.as_(who))
        assert r.status_code == 201, r.text
        result: dict[str, object] = r.json()
        return result


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    with e.http:
        assert e.http.post("/api/v1/projects", json={"name": "p1"}, headers=e.as_("admin")).status_code == 201
        yield e


def test_roles_decide_who_reads_writes_and_deletes(env: Env) -> None:
    env.user("alice", Role.EDITOR)
    env.user("bob", Role.VIEWER)
    env.user("carol")
    created = env.add_version("alice", "churn", {"a.csv": b"x\n1\n"})
    assert created["created"] is True
    assert env.http.get("/api/v1/datasets", params={"project": "p1"}, headers=env.as_("bob")).status_code == 200
    assert env.http.get("/api/v1/datasets/p1/churn@1", headers=env.as_("bob")).json()["version"] == 1
    r = env.http.get("/api/v1/datasets/p1/churn@1/files/a.csv", headers=env.as_("bob"))
    assert r.status_code == 200 and r.content == b"x\n1\n"
    assert r.headers["x-content-digest"] == hash_bytes(b"x\n1\n").digest
    assert env.upload("bob", b"nope") == 403
    body = {"project": "p1", "digests": [hash_bytes(b"x").digest]}
    assert env.http.post("/api/v1/datasets/missing-blobs", json=body, headers=env.as_("bob")).status_code == 403
    assert env.http.get("/api/v1/datasets/p1/churn", headers=env.as_("carol")).status_code == 403
    assert env.http.delete("/api/v1/datasets/p1/churn@1", headers=env.as_("alice")).status_code == 403
    r = env.http.delete("/api/v1/datasets/p1/churn@1", headers=env.as_("admin"))
    assert r.status_code == 200 and r.json()["versions"] == [1]


def test_blobs_are_write_only_and_existence_is_scoped_to_the_project(env: Env) -> None:
    env.user("alice", Role.EDITOR)
    assert env.http.post("/api/v1/projects", json={"name": "p2"}, headers=env.as_("admin")).status_code == 201
    env.user("mallory", Role.EDITOR, project="p2")
    secret = b"salary,42\n"
    env.add_version("alice", "payroll", {"pay.csv": secret})
    digest = hash_bytes(secret).digest
    # no route serves a blob by its digest
    for url in (f"/api/v1/datasets/blobs/{digest}", f"/api/v1/datasets/p2/blobs/files/{digest}"):
        assert env.http.get(url, headers=env.as_("mallory")).status_code in (403, 404, 405)
    # p1 sees its blob as present; p2 is told to upload it, so it learns nothing about p1's data
    ask = {"digests": [digest]}
    r = env.http.post("/api/v1/datasets/missing-blobs", json={"project": "p1", **ask}, headers=env.as_("alice"))
    assert r.json() == {"missing": []}
    r = env.http.post("/api/v1/datasets/missing-blobs", json={"project": "p2", **ask}, headers=env.as_("mallory"))
    assert r.json() == {"missing": [digest]}


def test_a_version_cannot_reference_another_projects_blob_by_digest_alone(env: Env) -> None:
    """Knowing a digest is not having the data: only uploaded (or already referenced) blobs may be used."""
    env.user("alice", Role.EDITOR)
    assert env.http.post("/api/v1/projects", json={"name": "p2"}, headers=env.as_("admin")).status_code == 201
    env.user("mallory", Role.EDITOR, project="p2")
    secret = b"salary,42\n"
    env.add_version("alice", "payroll", {"pay.csv": secret})
    digest = hash_bytes(secret).digest
    stolen = {"project": "p2", "name": "loot", "files": [{"path": "pay.csv", "size": len(secret), "digest": digest}]}
    r = env.http.post("/api/v1/datasets/versions", json=stolen, headers=env.as_("mallory"))
    assert r.status_code == 400
    assert (
        "dataset 'loot': file 'pay.csv' (blob" in r.json()["error"]["message"]
        and "project 'p2'" in r.json()["error"]["message"]
    )
    assert env.http.get("/api/v1/datasets/p2/loot@1/files/pay.csv", headers=env.as_("mallory")).status_code == 404
    # Uploading the bytes proves possession: then the same version is fine (and dedup still stores one copy).
    assert env.upload("mallory", secret, project="p2") == 201
    r = env.http.post("/api/v1/datasets/versions", json=stolen, headers=env.as_("mallory"))
    assert r.status_code == 201, r.text
    ask = {"project": "p2", "digests": [digest]}
    assert env.http.post("/api/v1/datasets/missing-blobs", json=ask, headers=env.as_("mallory")).json() == {
        "missing": []
    }
    # A manifest uploaded as a blob follows the same rule.
    r = env.http.post(
        "/api/v1/datasets/versions",
        json={"project": "p2", "name": "big", "manifest": hash_bytes(b"x").digest},
        headers=env.as_("mallory"),
    )
    assert r.status_code == 400 and "manifest" in r.json()["error"]["message"]


def test_uploads_are_checked_against_their_digest_and_content_type(env: Env) -> None:
    wrong = hash_bytes(b"other").digest
    r = env.http.put(
        f"/api/v1/datasets/blobs/{wrong}",
        params={"project": "p1"},
        content=b"data",
        headers=env.as_("admin", **{"Content-Type": "application/octet-stream"}),
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "integrity_error"
    r = env.http.put(
        f"/api/v1/datasets/blobs/{hash_bytes(b'data').digest}",
        params={"project": "p1"},
        content=b"data",
        headers=env.as_("admin", **{"Content-Type": "application/json"}),
    )
    assert r.status_code == 415
    r = env.http.put(
        "/api/v1/datasets/blobs/not-a-digest",
        params={"project": "p1"},
        content=b"data",
        headers=env.as_("admin", **{"Content-Type": "application/octet-stream"}),
    )
    assert r.status_code == 400


def test_a_version_needs_its_blobs(env: Env) -> None:
    body = {"project": "p1", "name": "ghost", "files": [{"path": "a", "size": 1, "digest": hash_bytes(b"a").digest}]}
    r = env.http.post("/api/v1/datasets/versions", json=body, headers=env.as_("admin"))
    assert r.status_code == 400 and "'a'" in r.json()["error"]["message"]
    assert env.http.get("/api/v1/datasets", params={"project": "p1"}, headers=env.as_("admin")).json() == []


def test_run_inputs_of_another_project_need_a_role_there(env: Env) -> None:
    env.user("alice", Role.EDITOR)
    env.add_version("admin", "shared", {"s.csv": b"s\n"}, project="p1")
    assert env.http.post("/api/v1/projects", json={"name": "p2"}, headers=env.as_("admin")).status_code == 201
    env.add_version("admin", "hidden", {"h.csv": b"h\n"}, project="p2")
    run_id = "0" * 31 + "1"
    r = env.http.post("/api/v1/runs", json={"run_id": run_id, "project": "p1"}, headers=env.as_("alice"))
    assert r.status_code == 201
    ok = env.http.post(
        f"/api/v1/runs/{run_id}/inputs",
        json={"project": "p1", "ref": "shared", "role": "train"},
        headers=env.as_("alice"),
    )
    assert ok.status_code == 201 and ok.json()["version"] == 1
    denied = env.http.post(
        f"/api/v1/runs/{run_id}/inputs", json={"project": "p2", "ref": "hidden"}, headers=env.as_("alice")
    )
    assert denied.status_code == 403
    inputs = env.http.get(f"/api/v1/runs/{run_id}/inputs", headers=env.as_("alice")).json()
    assert [(i["dataset"], i["role"]) for i in inputs] == [("shared", "train")]


def test_only_project_admins_restore_and_the_restore_is_audited(env: Env) -> None:
    env.user("alice", Role.EDITOR)
    env.add_version("alice", "churn", {"a.csv": b"x\n1\n"})
    assert env.http.delete("/api/v1/datasets/p1/churn@1", headers=env.as_("admin")).status_code == 200
    assert env.http.post("/api/v1/datasets/p1/churn@1/restore", headers=env.as_("alice")).status_code == 403
    r = env.http.post("/api/v1/datasets/p1/churn@1/restore", headers=env.as_("admin"))
    assert r.status_code == 200 and [(v["version"], v["deleted"]) for v in r.json()] == [(1, False)]
    again = env.http.post("/api/v1/datasets/p1/churn@1/restore", headers=env.as_("admin"))
    assert again.status_code == 409 and "not deleted" in again.json()["error"]["message"]
    events = env.http.get("/api/v1/audit", params={"project": "p1", "object_type": "dataset"}, headers=env.as_("admin"))
    assert [(e["action"], e["actor"]) for e in events.json()][:2] == [
        ("dataset.restore", "admin"),
        ("dataset.delete", "admin"),
    ]


def test_a_manifest_blob_replaces_the_file_list(env: Env) -> None:
    files = {"b.csv": b"b\n", "a.csv": b"a\n"}
    for data in files.values():
        assert env.upload("admin", data) == 201
    listed = [{"path": p, "size": len(d), "digest": hash_bytes(d).digest} for p, d in sorted(files.items())]
    text = "".join(f"{f['path']}\t{f['digest']}\t{f['size']}\n" for f in listed).encode()
    digest = hash_bytes(text).digest
    body = {"project": "p1", "name": "m", "manifest": digest}
    missing = env.http.post("/api/v1/datasets/versions", json=body, headers=env.as_("admin"))
    assert missing.status_code == 400 and "is not uploaded" in missing.json()["error"]["message"]
    assert env.upload("admin", text) == 201
    both = env.http.post("/api/v1/datasets/versions", json={**body, "files": listed}, headers=env.as_("admin"))
    assert both.status_code == 400 and "not both" in both.json()["error"]["message"]
    r = env.http.post("/api/v1/datasets/versions", json=body, headers=env.as_("admin"))
    assert r.status_code == 201, r.text
    version = r.json()["version"]
    assert (version["digest"], version["num_files"], version["files"]) == (digest, 2, [])
    shown = env.http.get("/api/v1/datasets/p1/m@1", headers=env.as_("admin")).json()
    assert shown["files"] == listed
    junk = b"not a manifest\n"
    assert env.upload("admin", junk) == 201
    r = env.http.post(
        "/api/v1/datasets/versions", json={**body, "manifest": hash_bytes(junk).digest}, headers=env.as_("admin")
    )
    assert r.status_code == 400 and "path<TAB>digest<TAB>size" in r.json()["error"]["message"]
