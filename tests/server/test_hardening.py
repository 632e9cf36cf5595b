"""Hardening and bad input, through the real app (in-process) and a real server where transport matters.

Every refusal is a 4xx with the JSON error shape ``{"error": {"code", "message"}}``, never a 500, a
stack trace or a server path; nothing is stored by a refused request.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.conftest import ServerProcess

from modelyard.ids import new_run_id
from modelyard.server import create_app
from modelyard.settings import Settings

ClientFactory = Callable[..., TestClient]


def _settings(root: Path, **overrides: Any) -> Settings:
    return Settings(home=root / "home", blobs=str(root / "blobs"), uri=str(root / "store"), auth=False, **overrides)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[ClientFactory]:
    """Build an app (auth off: the caller is an admin) with extra settings, and a client for it."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(_settings(tmp_path, **overrides)), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Home, store and blobs of the app shared by this module's tests with default settings."""
    return tmp_path_factory.mktemp("hardening")


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    """A client of one app with default settings, shared (tests keep to their own project)."""
    with TestClient(create_app(_settings(root)), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def project() -> str:
    """A project of the test's own, so tests sharing an app do not see each other's runs."""
    return f"p{uuid.uuid4().hex[:12]}"


def assert_error(response: httpx.Response, *statuses: int, root: Path | None = None, naming: str = "") -> str:
    """Check the JSON error shape and status; return the message."""
    assert response.status_code in statuses, f"{response.status_code} not in {statuses}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    code, message = body["error"]["code"], body["error"]["message"]
    assert isinstance(code, str) and code and isinstance(message, str) and message
    assert "Traceback" not in response.text and 'File "' not in response.text
    if root is not None:
        assert str(root) not in response.text, "a server path leaked into an error"
    assert naming in message, f"{naming!r} not named in {message!r}"
    return message


def create_run(client: TestClient, project: str) -> str:
    run_id = new_run_id()
    response = client.post("/api/v1/runs", json={"run_id": run_id, "project": project})
    assert response.status_code == 201, response.text
    return run_id


def run_ids(client: TestClient, project: str) -> list[str]:
    response = client.post("/api/v1/runs/search", json={"project": project})
    if response.status_code == 404:  # the project does not exist: no run either
        return []
    assert response.status_code == 200, response.text
    return [run["id"] for run in response.json()["runs"]]


def stored_files(root: Path) -> set[Path]:
    """Files under ``root`` except the metadata database (which changes on every read) and logs."""
    return {
        p for p in root.rglob("*") if p.is_file() and "store" not in p.relative_to(root).parts and p.suffix != ".log"
    }


# --- paths, ids and names --------------------------------------------------------------------------

BAD_ARTIFACT_PATHS = [
    "%2e%2e/evil",
    "%2e%2e%2fevil",
    "%2E%2E%2F%2E%2E%2Fevil",
    "sub/%2e%2e/%2e%2e/evil",
    "%252e%252e/evil",
    "%252e%252e%252fevil",
    "%25252e%25252e/evil",
    "%2525252e%2525252e/evil",
    "%2525252525252525252e/evil",
    "...",
    "sub/.../evil",
    "..%20/evil",
    ". ./evil",
    "x" * 256,
    "..%5cevil",
    "..%5c..%5cevil",
    "%255c%2e%2e%255cevil",
    "%2fetc/passwd",
    "%252fetc%252fpasswd",
    "c:/evil",
    "C:%5cevil",
    "c%3a/evil",
    "a%00b",
    "a%2500b",
    "a%01b",
    "a%0ab",
    "a%0db",
    "a%09b",
    "a%7fb",
]


@pytest.mark.parametrize("path", BAD_ARTIFACT_PATHS)
def test_bad_artifact_paths_are_refused_and_nothing_is_written(
    client: TestClient, root: Path, project: str, path: str
) -> None:
    run_id = create_run(client, project)
    before = stored_files(root.parent)
    upload = client.put(
        f"/api/v1/runs/{run_id}/artifacts/{path}",
        content=b"owned",
        headers={"content-type": "application/octet-stream"},
    )
    assert_error(upload, 400, 404, root=root)
    download = client.get(f"/api/v1/runs/{run_id}/artifacts/{path}")
    assert_error(download, 400, 404, root=root)
    listing = client.get(f"/api/v1/runs/{run_id}/artifacts", params={"path": path})
    assert listing.status_code in (200, 400, 404), listing.text
    assert client.get(f"/api/v1/runs/{run_id}/artifacts").json() == []
    assert stored_files(root.parent) == before  # nothing under the blob root, nothing beside it


@pytest.mark.parametrize("path", ["..\\evil", "\\evil", "sub\\..\\..\\evil", "c:\\evil"])
def test_raw_backslashes_are_refused(client: TestClient, root: Path, project: str, path: str) -> None:
    run_id = create_run(client, project)
    response = client.put(
        f"/api/v1/runs/{run_id}/artifacts/{path}",
        content=b"owned",
        headers={"content-type": "application/octet-stream"},
    )
    assert_error(response, 400, 404, root=root)
    assert client.get(f"/api/v1/runs/{run_id}/artifacts").json() == []


def test_a_good_artifact_path_still_works(client: TestClient, project: str) -> None:
    run_id = create_run(client, project)
    response = client.put(
        f"/api/v1/runs/{run_id}/artifacts/plots/./roc..png",
        content=b"png",
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["path"] == "plots/roc..png"
    assert client.get(f"/api/v1/runs/{run_id}/artifacts/plots/roc..png").content == b"png"


@pytest.mark.parametrize(
    "name", ["€uro.txt", "日本語/モデル.bin", "ü.txt", 'quote".txt', "semi;colon=x.txt", "sp ace.txt"]
)
def test_any_unicode_name_round_trips(client: TestClient, project: str, name: str) -> None:
    run_id = create_run(client, project)
    octets = {"content-type": "application/octet-stream"}
    response = client.put(f"/api/v1/runs/{run_id}/artifacts/{quote(name)}", content=b"data", headers=octets)
    assert response.status_code == 201, response.text
    assert response.json()["path"] == name
    download = client.get(f"/api/v1/runs/{run_id}/artifacts/{quote(name)}")
    assert download.status_code == 200, download.text
    assert download.content == b"data"
    disposition = download.headers["content-disposition"]
    assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
    base = name.rsplit("/", 1)[-1]
    assert disposition in (f'attachment; filename="{base}"', f"attachment; filename*=UTF-8''{quote(base, safe='')}")


def test_raw_dot_dot_segments_over_a_real_connection(http_server: ServerProcess) -> None:
    """Clients like httpx normalise ``..`` away; a raw request keeps it, and the server must refuse it."""
    run_id = new_run_id()
    r = httpx.post(http_server.url + "/api/v1/runs", json={"run_id": run_id, "project": "hardening"})
    assert r.status_code == 201, r.text
    before = stored_files(http_server.root.parent)
    for path in ["../../../evil", "a/../../evil", "..", "./../evil", "%2e%2e/evil", "..%2f..%2fevil"]:
        for method, body in (("PUT", b"owned"), ("GET", None)):
            conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=10)
            headers = {"Content-Type": "application/octet-stream"} if body else {}
            conn.request(method, f"/api/v1/runs/{run_id}/artifacts/{path}", body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            conn.close()
            assert response.status in (400, 404), (method, path, response.status, text)
            assert json.loads(text)["error"]["code"]
            assert str(http_server.root) not in text and "Traceback" not in text
    assert httpx.get(f"{http_server.url}/api/v1/runs/{run_id}/artifacts").json() == []
    assert stored_files(http_server.root.parent) == before


@pytest.mark.parametrize(
    "run_id",
    ["z" * 32, "A" * 32, "a" * 31, "a" * 33, "%2e%2e", "..%2f..%2fetc", "0" * 31 + "%00", "1%20or%201%3d1" + "0" * 20],
)
def test_run_ids_must_be_32_hex(client: TestClient, root: Path, run_id: str) -> None:
    for response in (
        client.get(f"/api/v1/runs/{run_id}"),
        client.get(f"/api/v1/runs/{run_id}/artifacts"),
        client.patch(f"/api/v1/runs/{run_id}", json={"name": "x"}),
        client.post(f"/api/v1/runs/{run_id}/batch", json={"params": {"a": "1"}}),
        client.get(f"/api/v1/runs/{run_id}/metrics/history", params={"key": "loss"}),
    ):
        assert_error(response, 404, root=root)


def test_unknown_well_formed_run_id_is_404(client: TestClient, root: Path) -> None:
    message = assert_error(client.get(f"/api/v1/runs/{new_run_id()}"), 404, root=root)
    assert "run" in message


@pytest.mark.parametrize("name", ["a/b", "..", "../etc", "a\\b", "/abs", "c:", "a\x00b", "a\nb", "", "x" * 129])
def test_bad_project_names_are_refused_and_nothing_is_stored(client: TestClient, root: Path, name: str) -> None:
    response = client.post("/api/v1/runs", json={"run_id": new_run_id(), "project": name})
    assert_error(response, 400, 404, 422, root=root, naming="project")
    response = client.post("/api/v1/projects", json={"name": name})
    assert_error(response, 400, 404, 422, root=root)
    assert name not in [p["name"] for p in client.get("/api/v1/projects").json()]


@pytest.mark.parametrize("segment", ["%2e%2e", "%252e%252e", "a%2fb", "a%5cb", "%00", "c%3a", "..%2f..%2fetc"])
def test_bad_project_names_in_paths(client: TestClient, root: Path, segment: str) -> None:
    assert_error(client.get(f"/api/v1/projects/{segment}/members"), 400, 404, root=root)
    response = client.put(f"/api/v1/projects/{segment}/members/bob", json={"role": "viewer"})
    assert_error(response, 400, 404, root=root)


# --- content types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", '{"run_id": "%s", "project": "%s"}'),
        ("application/x-www-form-urlencoded", "run_id=%s&project=%s"),
        ("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=run_id\r\n\r\n%s %s\r\n--x--"),
        ("application/xml", "<run id='%s' project='%s'/>"),
    ],
)
def test_state_changing_requests_must_be_json(
    client: TestClient, root: Path, project: str, content_type: str, body: str
) -> None:
    content = body % (new_run_id(), project)
    response = client.post("/api/v1/runs", content=content, headers={"content-type": content_type})
    assert_error(response, 415, root=root, naming="application/json")
    assert run_ids(client, project) == []


def test_other_write_methods_must_be_json_too(client: TestClient, root: Path, project: str) -> None:
    run_id = create_run(client, project)
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert_error(client.patch(f"/api/v1/runs/{run_id}", content="name=x", headers=form), 415, root=root)
    assert_error(client.post(f"/api/v1/runs/{run_id}/batch", content="params=x", headers=form), 415)
    assert_error(client.post(f"/api/v1/runs/{run_id}/batch", content="{}", headers={}), 415)  # no content type
    assert client.get(f"/api/v1/runs/{run_id}").json()["name"] != "x"


def test_uploads_must_be_octet_stream(client: TestClient, root: Path, project: str) -> None:
    run_id = create_run(client, project)
    for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        response = client.put(
            f"/api/v1/runs/{run_id}/artifacts/a.txt", content=b"x", headers={"content-type": content_type}
        )
        assert_error(response, 415, root=root, naming="application/octet-stream")
    assert client.get(f"/api/v1/runs/{run_id}/artifacts").json() == []


def test_reads_are_not_affected_by_content_type(client: TestClient, project: str) -> None:
    run_id = create_run(client, project)
    response = client.get(f"/api/v1/runs/{run_id}", headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert client.get("/health", headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 200


def test_json_with_charset_is_json(client: TestClient, project: str) -> None:
    body = json.dumps({"run_id": new_run_id(), "project": project})
    response = client.post("/api/v1/runs", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 201, response.text


# --- Host, CORS, security headers -----------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil", ""])
def test_unknown_host_is_refused_with_a_json_error(client: TestClient, root: Path, project: str, host: str) -> None:
    response = client.get("/api/v1/version", headers={"host": host})
    assert_error(response, 400, root=root, naming="Host")
    assert response.headers["x-content-type-options"] == "nosniff"
    response = client.post("/api/v1/runs", json={"run_id": new_run_id(), "project": project}, headers={"host": host})
    assert_error(response, 400)
    assert run_ids(client, project) == []


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "127.0.0.1", "localhost", "LOCALHOST:80", "[::1]:8080", "[::1]"])
def test_loopback_hosts_are_allowed(client: TestClient, host: str) -> None:
    response = client.get("/api/v1/version", headers={"host": host})
    assert response.status_code == 200, response.text


def test_host_allow_list_is_configurable(make_client: ClientFactory) -> None:
    client = make_client(allowed_hosts="models.example.com,*.corp.example")
    assert client.get("/health", headers={"host": "models.example.com:443"}).status_code == 200
    assert client.get("/health", headers={"host": "ml.corp.example"}).status_code == 200
    assert client.get("/health", headers={"host": "localhost"}).status_code == 400
    assert client.get("/health", headers={"host": "corp.example.evil"}).status_code == 400


def test_star_allows_any_host(make_client: ClientFactory) -> None:
    client = make_client(allowed_hosts="*")
    assert client.get("/health", headers={"host": "evil.example"}).status_code == 200


def test_cors_is_closed_by_default(client: TestClient) -> None:
    origin = {"origin": "https://evil.example"}
    response = client.get("/api/v1/version", headers=origin)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options("/api/v1/runs", headers={**origin, "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code >= 400


def test_cors_opens_only_to_configured_origins(make_client: ClientFactory) -> None:
    client = make_client(cors_origins="https://ui.example")
    response = client.get("/api/v1/version", headers={"origin": "https://ui.example"})
    assert response.headers["access-control-allow-origin"] == "https://ui.example"
    preflight = client.options(
        "/api/v1/runs",
        headers={"origin": "https://ui.example", "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://ui.example"
    other = client.get("/api/v1/version", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_security_headers(client: TestClient) -> None:
    responses = [
        client.get("/health"),
        client.get("/api/v1/version"),
        client.get(f"/api/v1/runs/{new_run_id()}"),  # an app error
        client.post("/api/v1/runs", content="x", headers={"content-type": "text/plain"}),  # a guard refusal
        client.get("/no/such/route"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url
        assert response.headers["x-frame-options"] == "DENY", response.request.url
    for page in ("/", "/signin"):
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html"), page
        csp = html.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert html.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in client.get("/health").headers  # JSON needs none


def test_request_id_is_echoed_or_replaced(client: TestClient) -> None:
    assert client.get("/health", headers={"x-request-id": "abc-123.X_y"}).headers["x-request-id"] == "abc-123.X_y"
    for bad in ("has spaces", "x" * 65, "<script>", "a;b", ""):
        echoed = client.get("/health", headers={"x-request-id": bad}).headers["x-request-id"]
        assert echoed != bad and len(echoed) == 32 and int(echoed, 16) >= 0
    assert len(client.get("/health").headers["x-request-id"]) == 32


# --- sizes and pagination -------------------------------------------------------------------------


def _chunks(total: int, size: int = 256) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_json_body_over_the_limit_is_413(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client(max_body_bytes=1024)
    run_id = new_run_id()
    big = {"run_id": run_id, "project": "p", "source": "x" * 2000}
    assert_error(client.post("/api/v1/runs", json=big), 413, root=tmp_path, naming="1024")
    chunked = client.post("/api/v1/runs", content=_chunks(4096), headers={"content-type": "application/json"})
    assert "content-length" not in chunked.request.headers  # really sent without a length
    assert_error(chunked, 413, root=tmp_path, naming="1024")
    for path in ("/api/v1/runs/search", f"/api/v1/runs/{run_id}/batch"):
        response = client.post(path, content=_chunks(4096), headers={"content-type": "application/json"})
        assert_error(response, 413, root=tmp_path)
    assert run_ids(client, "p") == []
    # under the limit, chunked or not, it works
    small = json.dumps({"run_id": run_id, "project": "p"}).encode()
    chunked_ok = iter([small[:10], small[10:]])
    response = client.post("/api/v1/runs", content=chunked_ok, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text


def test_upload_over_the_limit_is_413_and_not_listed(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client(max_upload_bytes=4096, max_body_bytes=1024)
    run_id = create_run(client, "p")
    before = stored_files(tmp_path)
    octets = {"content-type": "application/octet-stream"}
    url = f"/api/v1/runs/{run_id}/artifacts/big.bin"
    assert_error(client.put(url, content=b"x" * 4097, headers=octets), 413, root=tmp_path)
    assert_error(client.put(url, content=_chunks(10_000), headers=octets), 413, root=tmp_path)
    assert client.get(f"/api/v1/runs/{run_id}/artifacts").json() == []
    assert stored_files(tmp_path) == before
    # the upload limit, not the JSON limit, applies to uploads
    response = client.put(url, content=b"x" * 4096, headers=octets)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("POST", "/api/v1/runs/search", {"json": {"project": "p", "limit": 50_001}}, "limit"),
        ("POST", "/api/v1/runs/search", {"json": {"project": "p", "limit": 0}}, "limit"),
        ("POST", "/api/v1/runs/search", {"json": {"project": "p", "order_by": ["name"] * 21}}, "order_by"),
        ("GET", "/api/v1/audit", {"params": {"limit": 1001}}, "limit"),
        ("GET", "/api/v1/audit", {"params": {"limit": -1}}, "limit"),
        ("GET", "/api/v1/runs/{run}/metrics/buckets", {"params": {"key": "k", "max_buckets": 100_001}}, "max_buckets"),
    ],
)
def test_pagination_limits(
    client: TestClient, root: Path, project: str, method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    run_id = create_run(client, project)
    response = client.request(method, path.format(run=run_id), **kwargs)
    assert_error(response, 422, root=root, naming=field)


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{bad json", "body"),
        ('{"run_id": "{id}", "project": "{project}"', "body"),
        ("", "body"),
        ("[" * 100_000 + "]" * 100_000, "body"),
        ('{"project": ' + "[" * 100_000 + "]" * 100_000 + "}", "body"),
        ('{"run_id": "{id}", "project": "{project}", "name": "\\ud800"}', "name"),
        ("[1, 2]", "body"),
        ('"just a string"', "body"),
        ('{"run_id": 5, "project": "{project}"}', "run_id"),
        ('{"run_id": "{id}", "project": ["{project}"]}', "project"),
        ('{"run_id": "{id}", "project": "{project}", "start_time_ms": "yesterday"}', "start_time_ms"),
        ('{"run_id": "{id}", "project": "{project}", "start_time_ms": -1}', "start_time_ms"),
        ('{"run_id": "{id}", "project": "{project}", "status": "EXPLODED"}', "status"),
        ('{"run_id": "{id}", "project": "{project}", "tags": {"a": 1}}', "tags.a"),
        ('{"run_id": "{id}", "project": "{project}", "tags": {"../etc": "x"}}', "../etc"),
        ('{"run_id": "{id}", "project": "{project}", "name": "a\\u0000b"}', "name"),
        ('{"run_id": "{id}", "project": "{project}", "surprise": true}', "surprise"),
        ('{"project": "{project}"}', "run_id"),
        ('{"run_id": "short", "project": "{project}"}', "run_id"),
        ('{"run_id": "{id}", "project": "{project}", "parent_id": "nope"}', "nope"),
    ],
)
def test_malformed_run_creation_names_the_field_and_stores_nothing(
    client: TestClient, root: Path, project: str, body: str, field: str
) -> None:
    content = body.replace("{id}", new_run_id()).replace("{project}", project)
    response = client.post("/api/v1/runs", content=content, headers={"content-type": "application/json"})
    assert_error(response, 400, 404, 422, root=root, naming=field)
    assert run_ids(client, project) == []


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"metrics": [["loss", "high", 0, 0]]}, "metrics.1.1"),
        ({"metrics": [["loss", 1.0, 0]]}, "metrics.1"),
        ({"metrics": "loss=1"}, "metrics"),
        ({"metrics": [["", 1.0, 0, 0]]}, "key"),
        ({"metrics": [["../x", 1.0, 0, 0]]}, "../x"),
        ({"params": {"a": ["x"]}}, "params.a"),
        ({"params": {"../etc": "x"}}, "../etc"),
        ({"params": {"p": "x" * 6001}}, "p"),
        ({"tags": {"a": None}}, "tags.a"),
        ({"batch_id": 7}, "batch_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_malformed_batch_names_the_field_and_stores_nothing(
    client: TestClient, root: Path, project: str, bad: dict[str, Any], field: str
) -> None:
    run_id = create_run(client, project)
    good: dict[str, Any] = {"metrics": [["good", 1.0, 0, 0]], "params": {"good": "1"}, "tags": {"good": "1"}}
    for key, value in bad.items():  # the bad part beside good parts: all or nothing
        if isinstance(value, dict) and isinstance(good.get(key), dict):
            good[key] = {**good[key], **value}
        elif isinstance(value, list) and isinstance(good.get(key), list):
            good[key] = good[key] + value
        else:
            good[key] = value
    response = client.post(f"/api/v1/runs/{run_id}/batch", json=good)
    assert_error(response, 400, 422, root=root, naming=field)
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["metrics"] == {} and run["params"] == {} and "good" not in run["tags"]
    history = client.get(f"/api/v1/runs/{run_id}/metrics/history", params={"key": "good"})
    assert history.json() == []


def test_unknown_ids_are_404(client: TestClient, root: Path, project: str) -> None:
    unknown = new_run_id()
    octets = {"content-type": "application/octet-stream"}
    for response in (
        client.get(f"/api/v1/runs/{unknown}"),
        client.patch(f"/api/v1/runs/{unknown}", json={"name": "x"}),
        client.post(f"/api/v1/runs/{unknown}/batch", json={"params": {"a": "1"}}),
        client.delete(f"/api/v1/runs/{unknown}"),
        client.post(f"/api/v1/runs/{unknown}/restore"),
        client.get(f"/api/v1/runs/{unknown}/artifacts/a.txt"),
        client.put(f"/api/v1/runs/{unknown}/artifacts/a.txt", content=b"x", headers=octets),
        client.get("/api/v1/projects/nope/members"),
        client.post("/api/v1/runs/search", json={"project": "nope"}),
        client.delete("/api/v1/tokens/424242"),
        client.patch("/api/v1/users/nobody", json={"disabled": True}),
    ):
        assert_error(response, 404, root=root)
    run_id = create_run(client, project)
    assert_error(client.get(f"/api/v1/runs/{run_id}/artifacts/none.txt"), 404, root=root, naming="none.txt")
    assert_error(client.delete(f"/api/v1/runs/{run_id}/tags/nope"), 404, root=root)
    assert_error(client.get("/api/v1/no/such/thing"), 404, root=root)
    assert_error(client.delete("/api/v1/tokens/not-a-number"), 422, root=root, naming="token_id")


def test_a_store_failure_does_not_leak_server_paths(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client()
    run_id = create_run(client, "p")
    blobs = tmp_path / "blobs"
    if blobs.exists():
        shutil.rmtree(blobs)
    blobs.write_text("a file where the blob store should be")  # every write to it fails
    response = client.put(
        f"/api/v1/runs/{run_id}/artifacts/a.txt", content=b"x", headers={"content-type": "application/octet-stream"}
    )
    message = assert_error(response, 503, root=tmp_path)
    assert response.headers["retry-after"] == "1"
    assert "blob store" in message  # still says what failed, without saying where


def test_wrong_method_is_405_with_allow(client: TestClient, root: Path) -> None:
    response = client.put("/api/v1/version", json={})
    assert_error(response, 405, root=root)
    assert "GET" in response.headers.get("allow", "")


# --- overload -------------------------------------------------------------------------------------


@pytest.fixture
def busy_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "srv", "--no-auth", env={"MODELYARD_MAX_CONCURRENT_REQUESTS": "1"})
    try:
        yield server
    finally:
        server.stop()


def test_overload_is_503_with_retry_after(busy_server: ServerProcess) -> None:
    body = json.dumps({"run_id": new_run_id(), "project": "busy"}).encode()
    head = (
        f"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1:{busy_server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", busy_server.port), timeout=10) as slow:
        slow.sendall(head + body[:5])  # the request is now in flight, waiting for the rest of its body
        deadline = time.monotonic() + 10
        while True:
            response = httpx.get(busy_server.url + "/api/v1/version")
            if response.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert_error(response, 503, root=busy_server.root)
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "overloaded"
        assert httpx.get(busy_server.url + "/health").status_code == 200  # liveness is never refused
        slow.sendall(body[5:])
        reply = slow.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 201"), reply
    assert httpx.get(busy_server.url + "/api/v1/version").status_code == 200
