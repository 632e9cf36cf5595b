"""Shared fixtures: stores on embedded SQLite and on a real PostgreSQL.

PostgreSQL tests use ``MODELYARD_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``): a fresh database is created for the session
and dropped at the end. Without a reachable server they are skipped with the reason, unless
``MODELYARD_TEST_POSTGRES=required`` (as in CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelyard
from modelyard.client import Client
from modelyard.settings import Settings

PG_ADMIN_URL = os.environ.get("MODELYARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_REQUIRED = os.environ.get("MODELYARD_TEST_POSTGRES") == "required"


def _pg_admin() -> object | None:
    try:
        import psycopg

        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        if PG_REQUIRED:
            raise RuntimeError(f"PostgreSQL required but unreachable at {PG_ADMIN_URL}: {exc}") from exc
        return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session (skips when unreachable)."""
    admin = _pg_admin()
    if admin is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}; set MODELYARD_TEST_POSTGRES_URL to run these tests")
    name = f"modelyard_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        from sqlalchemy import create_engine

        # Close pooled connections of engines the tests opened, then drop the database.
        admin.execute(  # type: ignore[attr-defined]
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]
        del create_engine


def _truncate_postgres(url: str) -> None:
    import sqlalchemy as sa

    from modelyard.store.sql.schema import metadata

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table("runs"):
                names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A real ``modelyard server`` subprocess on a free port."""

    def __init__(self, root: Path, *extra: str, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.blobs = root / "blobs"
        self.log = (root / "server.log").open("a")
        self._offset = self.log.tell()  # a restarted server appends; output() shows this run only
        command = [
            sys.executable, "-m", "modelyard", "server", "--host", "127.0.0.1", "--port", str(self.port),
            "--store", str(root / "store"), "--blobs", str(self.blobs), *extra,
        ]  # fmt: skip
        full_env = {**os.environ, "MODELYARD_HOME": str(root / "home"), **(env or {})}
        full_env.pop("MODELYARD_URI", None)
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        self._wait()

    def _wait(self) -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.root / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in 60 s")

    def output(self) -> str:
        return (self.root / "server.log").read_text()[self._offset :]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server (embedded SQLite store, auth off on loopback) shared by the HTTP contract tests."""
    server = ServerProcess(tmp_path_factory.mktemp("server"), "--no-auth")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql", "http"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URI: embedded SQLite, the session's PostgreSQL database (emptied), or a real server."""
    if request.param == "sqlite":
        return str(tmp_path / "store")
    if request.param == "http":
        server: ServerProcess = request.getfixturevalue("http_server")
        return server.url
    url: str = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def settings(store_uri: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings isolated in ``tmp_path``; against the shared server, a project of the test's own."""
    if store_uri.startswith("http"):
        server: ServerProcess = request.getfixturevalue("http_server")
        project = f"t{uuid.uuid4().hex[:12]}"
        return Settings(home=tmp_path / "home", blobs=str(server.blobs), project=project)
    return Settings(home=tmp_path / "home", blobs=str(tmp_path / "blobs"), project="test")


@pytest.fixture
def client(store_uri: str, settings: Settings) -> Iterator[Client]:
    """A client over each backend (the backend contract runs against every one)."""
    c = Client(store_uri, settings=settings)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def fluent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """The fluent API pointed at a fresh embedded store; yields its client."""
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "fluent-home"))
    monkeypatch.delenv("MODELYARD_URI", raising=False)
    monkeypatch.delenv("MODELYARD_PROJECT", raising=False)
    modelyard.set_uri(str(tmp_path / "fluent"))
    modelyard.set_project("default")
    try:
        yield modelyard.get_client()
    finally:
        while modelyard.active_run() is not None:
            modelyard.end_run()
        modelyard.get_client().close()
        modelyard.set_uri(None)
