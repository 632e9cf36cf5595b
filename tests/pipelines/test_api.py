"""``/api/v1/pipelines`` on a real server: the graph for the UI, errors as 4xx with a JSON body, never 500."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from modelyard.client import Client
from modelyard.settings import Settings
from tests.conftest import ServerProcess
from tests.pipelines import example_pipelines as ex


@pytest.fixture
def project() -> str:
    return f"api{uuid.uuid4().hex[:10]}"


def test_a_run_reads_back_with_its_dag_and_step_statuses(
    http_server: ServerProcess, tmp_path: Path, project: str
) -> None:
    client = Client(http_server.url, settings=Settings(home=tmp_path / "home", blobs=str(http_server.blobs)))
    try:
        run = ex.gated.run(
            params={"marker": str(tmp_path / "absent")}, client=client, project=project, raise_on_failure=False
        )
    finally:
        client.close()
    with httpx.Client(base_url=http_server.url) as http:
        body = http.get(f"/api/v1/pipelines/runs/{run.id}").json()
        assert body["status"] == "FAILED" and body["pipeline"] == "gated" and body["project"] == project
        assert [n["name"] for n in body["dag"]["nodes"]] == ["add", "fail_unless", "add_2"]
        assert body["dag"]["edges"] == [["add", "fail_unless"], ["fail_unless", "add_2"]]
        assert {s["name"]: s["status"] for s in body["steps"]} == {
            "add": "FINISHED",
            "fail_unless": "FAILED",
            "add_2": "SKIPPED",
        }
        listed = http.get("/api/v1/pipelines", params={"project": project}).json()
        assert [(p["name"], p["last_status"]) for p in listed] == [("gated", "FAILED")]
        runs = http.get("/api/v1/pipelines/runs", params={"project": project, "status": "FAILED"}).json()
        assert [r["id"] for r in runs] == [run.id]
        step_id = body["steps"][0]["run_id"]
        missing = http.get(f"/api/v1/pipelines/runs/{step_id}")  # a step run is not a pipeline run
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "pipeline_not_found"


@pytest.mark.parametrize(
    "records",
    [
        [{"run_id": "x"}],
        [{"run_id": "0" * 32, "name": "s", "status": "NOPE", "start_time": 1}],
        [{"run_id": "0" * 32, "name": "s", "status": "FINISHED", "start_time": -5}],
        [{"run_id": "0" * 32, "name": "s", "status": "FINISHED", "start_time": 1, "outputs": [{"kind": 3}]}],
        [{"run_id": "0" * 32, "name": "s", "status": "FINISHED", "start_time": 1, "bogus": 1}],
        ["not an object"],
    ],
)
def test_bad_step_records_are_refused_with_400(
    http_server: ServerProcess, tmp_path: Path, project: str, records: list[object]
) -> None:
    client = Client(http_server.url, settings=Settings(home=tmp_path / "home", blobs=str(http_server.blobs)))
    try:
        run = ex.numbers.run(params={"n": 2}, client=client, project=project)
    finally:
        client.close()
    with httpx.Client(base_url=http_server.url) as http:
        response = http.post(f"/api/v1/pipelines/runs/{run.id}/steps", json={"records": records})
        assert response.status_code in (400, 404, 422), response.text  # never 500
        assert "error" in response.json()
        after = http.get(f"/api/v1/pipelines/runs/{run.id}").json()
        assert {s["status"] for s in after["steps"]} == {"FINISHED"}  # nothing changed


def test_a_step_output_cannot_point_at_another_projects_blob(
    http_server: ServerProcess, tmp_path: Path, project: str
) -> None:
    """Output blobs go in by upload; a record naming a digest the project never uploaded is refused."""
    secret = b"another project's bytes " + uuid.uuid4().bytes
    client = Client(http_server.url, settings=Settings(home=tmp_path / "home", blobs=str(http_server.blobs)))
    try:
        source = tmp_path / "secret.bin"
        source.write_bytes(secret)
        client.data.add(source, "secret", project=f"{project}-other")
        run = ex.numbers.run(params={"n": 2}, client=client, project=project)
    finally:
        client.close()
    from modelyard.blobs import hash_bytes

    digest = hash_bytes(secret).digest
    output = {"index": 0, "kind": "pickle", "type": "builtins.bytes", "digest": digest, "size": len(secret)}
    record = {"run_id": uuid.uuid4().hex, "name": "steal", "status": "FINISHED", "start_time": 1, "outputs": [output]}
    with httpx.Client(base_url=http_server.url) as http:
        response = http.post(f"/api/v1/pipelines/runs/{run.id}/steps", json={"records": [record]})
        assert response.status_code == 400 and "not uploaded to project" in response.json()["error"]["message"]
        assert http.get(f"/api/v1/pipelines/runs/{record['run_id']}/outputs/{digest}").status_code in (400, 404)
        # Uploading the bytes to this project makes the same record acceptable.
        put = http.put(
            f"/api/v1/pipelines/blobs/{digest}",
            params={"project": project},
            content=secret,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 201, put.text
        assert http.post(f"/api/v1/pipelines/runs/{run.id}/steps", json={"records": [record]}).status_code == 200
