"""A bounded schemathesis run against the server's own OpenAPI schema.

Generated requests (valid and invalid) must never get a 5xx, and every documented response must
match its schema. The app runs in-process with auth off (the caller is an admin), over a store that
already holds a run with metrics, params, tags and an artifact, so reads have something to return.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from modelyard.ids import new_run_id
from modelyard.server import create_app
from modelyard.settings import Settings

# Bounded so the default run takes seconds; set these for a longer hunt (e.g. 500 and 1).
MAX_EXAMPLES = int(os.environ.get("MODELYARD_SCHEMATHESIS_EXAMPLES", "15"))  # per operation
COVERAGE = os.environ.get("MODELYARD_SCHEMATHESIS_COVERAGE") == "1"
# A run that exists (seeded by the `app` fixture): generated requests name it, its project, a metric
# key and an artifact path most of the time, so they reach past "not found" into the services.
RUN_ID = new_run_id()
KNOWN = {
    "path.run_id": RUN_ID,
    "body.project": "default",
    "query.project": "default",
    "path.project": "default",
    "query.key": "loss",
    "path.path": "a.txt",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    root: Path = tmp_path_factory.mktemp("schemathesis")
    app = create_app(Settings(home=root / "home", blobs=str(root / "blobs"), uri=str(root / "store"), auth=False))
    client = TestClient(app)  # no lifespan here: schemathesis runs the app's, for the rest of the session
    assert client.post("/api/v1/runs", json={"run_id": RUN_ID, "project": "default"}).status_code == 201
    batch = {"metrics": [["loss", 0.5, 0, 0], ["loss", 0.25, 1, 1]], "params": {"C": "1"}, "tags": {"t": "x"}}
    assert client.post(f"/api/v1/runs/{RUN_ID}/batch", json=batch).status_code == 200
    octets = {"content-type": "application/octet-stream"}
    assert client.put(f"/api/v1/runs/{RUN_ID}/artifacts/a.txt", content=b"hi", headers=octets).status_code == 201
    yield app


def _openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document (it does not depend on the data, so a throwaway store serves)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        app = create_app(Settings(home=root / "home", blobs=str(root / "blobs"), uri=str(root / "store"), auth=False))
        try:
            return app.openapi()
        finally:
            app.state.modelyard.store.close()


# Loaded at collection so each operation is a test of its own; requests go to the `app` fixture.
# (schemathesis.pytest.from_fixture would avoid this, but it does not run under pytest 9.)
schema = schemathesis.openapi.from_dict(
    _openapi_document(),
    config=schemathesis.Config.from_dict(
        {
            # examples and fuzzing (Hypothesis' explicit and generate phases), valid and invalid data;
            # the exhaustive coverage phase is left to a longer run. No example database on disk.
            "phases": {"coverage": {"enabled": COVERAGE}, "stateful": {"enabled": False}},
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "dictionaries": {name.replace(".", "-"): {"values": [value]} for name, value in KNOWN.items()},
            "parameters": {name: {"dictionary": name.replace(".", "-"), "probability": 0.8} for name in KNOWN},
        }
    ),
)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    derandomize=True,
)
def test_api_never_errors_and_matches_its_schema(case: schemathesis.Case, app: FastAPI) -> None:
    case.call_and_validate(app=app, checks=[not_a_server_error, response_schema_conformance])
