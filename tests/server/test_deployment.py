"""Deployment shapes: several servers on one PostgreSQL, uvicorn workers, schema checks, versions."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import ServerProcess, _truncate_postgres

from modelyard.backend.http import HttpBackend
from modelyard.client import Client
from modelyard.errors import IncompatibleVersionError
from modelyard.settings import Settings
from modelyard.store.sql import HEAD_REVISION


def test_two_servers_on_one_postgres_serve_consistent_data(postgres_url: str, tmp_path: Path) -> None:
    _truncate_postgres(postgres_url)
    blobs = tmp_path / "shared-blobs"
    a = ServerProcess(tmp_path / "a", "--no-auth", "--store", postgres_url, "--blobs", str(blobs))
    b = ServerProcess(tmp_path / "b", "--no-auth", "--store", postgres_url, "--blobs", str(blobs))
    try:
        settings = Settings(home=tmp_path / "home", project="shared")
        via_a, via_b = Client(a.url, settings=settings), Client(b.url, settings=settings)
        run = via_a.create_run("written-through-a")
        via_a.log_params(run.id, {"lr": 0.1})
        for i in range(100):
            via_a.log_metric(run.id, "loss", 1 / (i + 1), step=i)
        src = tmp_path / "f.txt"
        src.write_text("shared")
        via_a.log_artifact(run.id, src)
        via_a.end_run(run.id)
        seen = via_b.get_run(run.id)
        assert seen.status == "FINISHED" and seen.params == {"lr": "0.1"}
        assert len(via_b.get_metric_history(run.id, "loss")) == 100
        assert via_b.download_artifacts(run.id, "f.txt", tmp_path / "out").read_text() == "shared"
        via_a.close()
        via_b.close()
    finally:
        a.stop()
        b.stop()


def test_several_workers_serve_one_store_safely(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "w", "--no-auth", "--workers", "2")
    try:
        settings = Settings(home=tmp_path / "home", project="workers", flush_interval=0.05)

        def write(i: int) -> str:
            client = Client(server.url, settings=settings)
            run = client.create_run(f"w{i}")
            client.backend.log_batch(run.id, [("m", float(j), 1000 + j, j) for j in range(500)])
            client.close()
            return run.id

        with ThreadPoolExecutor(8) as pool:
            run_ids = list(pool.map(write, range(16)))
        reader = Client(server.url, settings=settings)
        assert {r.id for r in reader.search_runs(limit=100)} == set(run_ids)
        assert all(len(reader.get_metric_history(r, "m")) == 500 for r in run_ids)
        reader.close()
    finally:
        server.stop()


def test_server_refuses_an_outdated_postgres_schema(postgres_url: str, tmp_path: Path) -> None:
    _truncate_postgres(postgres_url)
    Client(postgres_url, settings=Settings(home=tmp_path / "h")).close()  # make sure the schema exists
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "modelyard", "server", "--no-auth", "--port", "1", "--store", postgres_url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2
        assert "modelyard db upgrade" in result.stderr and "Traceback" not in result.stderr
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": HEAD_REVISION})
        engine.dispose()


def _fake_server(api_version: int, min_client: str = "0.0.1") -> httpx.MockTransport:
    """A server that only answers its version: the one way to meet a server of another release here."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"version": "9.9.9", "api_version": api_version, "min_client_version": min_client}
        )

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("api_version", "min_client", "side"),
    [(0, "0.0.1", "upgrade the server"), (2, "0.0.1", "upgrade the client"), (1, "99.0.0", "upgrade the client")],
)
def test_incompatible_versions_say_which_side_to_upgrade(
    tmp_path: Path, api_version: int, min_client: str, side: str
) -> None:
    with pytest.raises(IncompatibleVersionError, match=side):
        HttpBackend("http://server.test", Settings(home=tmp_path), transport=_fake_server(api_version, min_client))


def test_old_client_is_told_to_upgrade(http_server: ServerProcess) -> None:
    r = httpx.get(http_server.url + "/api/v1/projects", headers={"X-Modelyard-Client": "0.0.1"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "incompatible_version" and "upgrade the client" in r.json()["error"]["message"]
