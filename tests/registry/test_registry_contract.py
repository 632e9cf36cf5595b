"""The registry contract: the same behaviour on every backend (embedded SQLite, PostgreSQL, a real server)."""

from __future__ import annotations

import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelyard.client import Client
from modelyard.entities import ModelVersion, ModelVersionStatus, PromotionState
from modelyard.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    ModelIntegrityError,
    ModelNotFoundError,
    UntrustedModelError,
)
from modelyard.models import load_model, save_model


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


def _fit(iris: tuple[pd.DataFrame, pd.Series], C: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=1000).fit(*iris)


def _log(client: Client, model: Any, name: str, X: pd.DataFrame, **kwargs: Any) -> ModelVersion:
    run = client.create_run("train")
    client.log_metric(run.id, "accuracy", 0.93)
    client.flush()
    version = client.log_model(run.id, model, name, input_example=X[:5], **kwargs)
    client.end_run(run.id)
    assert isinstance(version, ModelVersion)
    return version


def test_log_model_registers_numbered_versions_with_what_made_them(client: Client, iris: Any) -> None:
    X, y = iris
    model = _fit(iris)
    first = _log(client, model, "churn", X, description="baseline", eval_data=(X, y))
    assert (first.name, first.version, first.project, first.flavor) == ("churn", 1, client.project, "sklearn")
    assert first.uri == "models:/churn/1" and first.ref == "churn@1"
    assert first.metrics == {"accuracy": pytest.approx(0.93)} and first.description == "baseline"
    assert first.signature is not None and first.status == ModelVersionStatus.READY
    assert first.importance is not None and set(first.importance) == set(X.columns)
    means = [stats["mean"] for stats in first.importance.values()]
    assert means == sorted(means, reverse=True)  # most important first, as computed
    assert "model.yaml" in {f.path for f in first.files}
    assert client.registry.versions_of_run(first.run_id or "") == [
        client.registry.get_version("churn@1").model_copy(update={"files": []})
    ]
    # the run keeps the package as artifacts under model/
    paths = {a.path for a in client.list_artifacts(first.run_id or "", "model")}
    assert paths == {f"model/{f.path}" for f in first.files}
    second = _log(client, _fit(iris, C=0.2), "churn", X)
    assert second.version == 2 and second.digest != first.digest
    assert [v.version for v in client.registry.list_versions("churn")] == [2, 1]
    models = client.registry.list_models()
    assert [(m.name, m.latest_version) for m in models] == [("churn", 2)]
    for ref, number in (
        ("churn", 2),
        ("churn@latest", 2),
        ("churn@1", 1),
        ("models:/churn/1", 1),
        ("models:/churn/latest", 2),
        (f"churn@sha:{first.digest[:10]}", 1),
    ):
        assert client.registry.get_version(ref).version == number, ref


def test_log_model_snapshots_metrics_still_buffered_and_logs_files_with_the_version(client: Client, iris: Any) -> None:
    X, _ = iris
    run = client.create_run("train")
    client.log_metric(run.id, "accuracy", 0.91)  # buffered: log_model must write it before the snapshot
    client.log_metric(run.id, "loss", 0.2, step=3)
    version = client.log_model(run.id, _fit(iris), "buffered", input_example=X[:5])
    assert isinstance(version, ModelVersion)
    assert version.metrics == {"accuracy": pytest.approx(0.91), "loss": pytest.approx(0.2)}
    # the run's artifacts are exactly the version's files, under model/
    artifacts = {a.path: a.digest for a in client.list_artifacts(run.id, "model") if a.path != "model"}
    assert artifacts == {f"model/{f.path}": f.digest for f in version.files}
    actions = [e.action for e in client.list_audit(object_id=run.id)]
    assert "artifact.log" in actions
    # a package logged without registering is only artifacts: no version, no model
    other = client.create_run("unregistered")
    package = client.log_model(other.id, _fit(iris), "buffered", input_example=X[:5], register=False)
    assert not isinstance(package, ModelVersion)
    assert {a.path for a in client.list_artifacts(other.id, "model")} >= {"model/model.yaml"}
    assert [v.version for v in client.registry.list_versions("buffered")] == [1]
    # the model is created once (one audit event), every version is audited
    client.registry.register("buffered", other.id)
    events = [e.action for e in client.list_audit(object_type="model", object_id="buffered")]
    assert sorted(events) == ["model.create", "model.version.create", "model.version.create"]


def test_a_registration_that_fails_leaves_no_package_rows(client: Client, iris: Any, tmp_path: Path) -> None:
    X, _ = iris
    run = client.create_run("train")
    notes = tmp_path / "notes.txt"
    notes.write_text("not part of the package")
    client.log_artifact(run.id, notes, "model")  # a stray file where the package goes
    with pytest.raises(IntegrityError, match="other files than the run holds"):
        client.log_model(run.id, _fit(iris), "stray", input_example=X[:5])
    # the package's artifact rows were in the failed transaction: the run holds what it held before
    assert [a.path for a in client.list_artifacts(run.id, "model") if a.path != "model"] == ["model/notes.txt"]
    with pytest.raises(ModelNotFoundError):
        client.registry.get_model("stray")


def test_load_verifies_every_file_and_caches_the_package(client: Client, iris: Any) -> None:
    X, _ = iris
    model = _fit(iris)
    version = _log(client, model, "churn", X)
    loaded = client.load_model("models:/churn/1")
    np.testing.assert_array_equal(loaded.predict(X[:10]), model.predict(X[:10]))
    cached = client.registry.cache_dir / version.digest
    assert cached.is_dir() and sorted(p.name for p in cached.iterdir()) == sorted(f.path for f in version.files)
    # a run's package loads the same way (trusted: it comes from the store)
    run_loaded = client.load_model(f"runs:/{version.run_id}/model")
    np.testing.assert_array_equal(run_loaded.predict(X[:10]), model.predict(X[:10]))
    # tampering with the cache is caught on the next load, naming the file; the entry is dropped
    victim = next(p for p in cached.iterdir() if p.name != "model.yaml")
    victim.chmod(0o644)
    data = victim.read_bytes()
    victim.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])
    with pytest.raises(ModelIntegrityError, match=victim.name):
        client.load_model("churn@1")
    assert not cached.exists()
    np.testing.assert_array_equal(client.load_model("churn@1").predict(X[:3]), model.predict(X[:3]))


class Doubler:
    """A custom model (the python function flavor, saved with pickle)."""

    def predict(self, X: Any) -> Any:
        return np.asarray(X, dtype=float) * 2


def test_pickle_packages_load_from_the_store_but_a_path_needs_trust(
    client: Client, tmp_path: Path, store_uri: str
) -> None:
    X = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    package = save_model(Doubler(), tmp_path / "pkg")
    assert package.unsafe_format
    with pytest.raises(UntrustedModelError):
        client.load_model(str(tmp_path / "pkg"))
    np.testing.assert_array_equal(client.load_model(str(tmp_path / "pkg"), trust=True).predict(X), X.to_numpy() * 2)
    version = _log(client, Doubler(), "doubler", X)
    assert version.unsafe_format
    refs = ("doubler@1", f"runs:/{version.run_id}/model")
    if store_uri.startswith("http"):
        # the contract server runs with auth off: nobody is authenticated, so nothing it registers is trusted
        assert not version.trusted
        for ref in refs:
            with pytest.raises(UntrustedModelError, match="authenticated"):
                client.load_model(ref)
            np.testing.assert_array_equal(client.load_model(ref, trust=True).predict(X), X.to_numpy() * 2)
    else:
        # embedded: the caller owns the store, so what it registers is trusted without trust=True
        assert version.trusted
        for ref in refs:
            np.testing.assert_array_equal(client.load_model(ref).predict(X), X.to_numpy() * 2)
    assert load_model(client.registry.cache_dir / version.digest, trust=True) is not None


def test_aliases_move_atomically_and_refuse_numbers_and_latest(client: Client, iris: Any) -> None:
    X, _ = iris
    model = _fit(iris)
    _log(client, model, "churn", X)
    _log(client, model, "churn", X)
    assert client.registry.set_alias("churn", "Champion", 1).aliases == ["champion"]
    assert client.registry.get_version("churn@champion").version == 1
    assert client.registry.get_version("models:/churn@champion").version == 1
    client.registry.set_alias("churn", "champion", 2)
    assert client.registry.get_model("churn").aliases == {"champion": 2}
    assert client.registry.get_version("churn@1").aliases == []
    for bad in ("3", "latest", "a/b", "production"):
        with pytest.raises(InvalidInputError):
            client.registry.set_alias("churn", bad, 1)
    with pytest.raises(ModelNotFoundError, match="no version 9"):
        client.registry.set_alias("churn", "challenger", 9)
    with pytest.raises(ModelNotFoundError, match="no alias or environment 'ghost'"):
        client.registry.get_version("churn@ghost")
    client.registry.delete_alias("churn", "champion")
    assert client.registry.get_model("churn").aliases == {}
    with pytest.raises(ModelNotFoundError):
        client.registry.delete_alias("churn", "champion")


def test_names_are_one_model_whatever_their_case_and_refuse_look_alikes(client: Client, iris: Any) -> None:
    X, _ = iris
    model = _fit(iris)
    first = _log(client, model, "Churn", X)
    second = _log(client, model, "churn", X)
    assert (first.version, second.version) == (1, 2) and second.name == "Churn"
    assert client.registry.get_version("CHURN@1").name == "Churn"
    assert [m.name for m in client.registry.list_models()] == ["Churn"]
    nfc, nfd = unicodedata.normalize("NFC", "modèle"), unicodedata.normalize("NFD", "modèle")
    cyrillic = "сhurn"  # a Cyrillic 'с': looks like 'churn'
    for bad in (nfc, nfd, cyrillic, "a/b", "../x", "x\\y", ""):
        with pytest.raises(InvalidInputError):
            _log(client, model, bad, X)
    assert [m.latest_version for m in client.registry.list_models()] == [2]  # nothing was changed


def test_promotion_needs_an_approval_and_records_the_reason(client: Client, iris: Any) -> None:
    X, _ = iris
    model = _fit(iris)
    _log(client, model, "churn", X)
    _log(client, model, "churn", X)
    request = client.registry.request_promotion("churn@1", "production", reason="beats baseline")
    assert (request.state, request.version, request.environment) == (PromotionState.PENDING, 1, "production")
    assert client.registry.get_model("churn").environments == {}
    with pytest.raises(ConflictError, match="pending"):
        client.registry.request_promotion("churn@1", "production")
    approved = client.registry.approve(request.id, reason="reviewed")
    assert approved.state == PromotionState.APPROVED and approved.decided_by and approved.decision_reason == "reviewed"
    assert client.registry.get_version("churn@production").version == 1
    with pytest.raises(ConflictError, match="already"):
        client.registry.approve(request.id)
    rejected_request = client.registry.request_promotion("churn@2", "production")
    with pytest.raises(InvalidInputError, match="reason"):
        client.registry.reject(rejected_request.id, reason="")
    rejected = client.registry.reject(rejected_request.id, reason="latency regression")
    assert rejected.state == PromotionState.REJECTED and rejected.decision_reason == "latency regression"
    assert client.registry.get_model("churn").environments == {"production": 1}
    states = [p.state for p in client.registry.list_promotions("churn")]
    assert states == [PromotionState.REJECTED, PromotionState.APPROVED]
    assert [p.id for p in client.registry.list_promotions(state="pending")] == []
    with pytest.raises(InvalidInputError, match="not configured"):
        client.registry.request_promotion("churn@2", "moon")
    with pytest.raises(ModelNotFoundError):
        client.registry.approve(99999)


def test_history_answers_who_held_an_alias_at_any_moment_and_rolls_back(client: Client, iris: Any) -> None:
    X, _ = iris
    model = _fit(iris)
    for _ in range(3):
        _log(client, model, "churn", X)
    client.registry.set_alias("churn", "champion", 1)
    time.sleep(0.02)
    at_one = int(time.time() * 1000)
    time.sleep(0.02)
    client.registry.set_alias("churn", "champion", 2)
    client.registry.approve(client.registry.request_promotion("churn@2", "production").id)
    time.sleep(0.02)
    at_two = int(time.time() * 1000)
    time.sleep(0.02)
    client.registry.set_alias("churn", "champion", 3)
    client.registry.set_alias("churn", "champion", 3)  # already there: no move recorded
    client.registry.approve(client.registry.request_promotion("churn@3", "production").id)
    assert client.registry.holder_at("churn", "champion", at_one) == 1
    assert client.registry.holder_at("churn", "champion", at_two) == 2
    assert client.registry.holder_at("churn", "production", at_one) is None
    assert client.registry.holder_at("churn", "production", at_two) == 2
    moves = [(c.kind, c.target, c.version, c.previous) for c in client.registry.history("churn")]
    assert moves == [
        ("alias", "champion", 1, None),
        ("alias", "champion", 2, 1),
        ("environment", "production", 2, None),
        ("alias", "champion", 3, 2),
        ("environment", "production", 3, 2),
    ]
    assert client.registry.rollback("churn", "production", reason="incident").version == 2
    assert client.registry.get_model("churn").environments == {"production": 2}
    assert client.registry.rollback("churn", "champion", at_ms=at_one).version == 1
    last = client.registry.history("churn", "champion")[-1]
    assert (last.version, last.previous) == (1, 3)
    with pytest.raises(ConflictError, match="already points"):
        client.registry.rollback("churn", "champion", at_ms=at_one)


def test_archive_keeps_the_version_out_of_latest_and_pointers(client: Client, iris: Any) -> None:
    X, _ = iris
    model = _fit(iris)
    _log(client, model, "churn", X)
    _log(client, model, "churn", X)
    client.registry.set_alias("churn", "champion", 2)
    with pytest.raises(ConflictError, match="champion"):
        client.registry.archive("churn@2")
    assert client.registry.get_version("churn@2").status == ModelVersionStatus.READY  # nothing changed
    client.registry.set_alias("churn", "champion", 1)
    assert client.registry.archive("churn@2").status == ModelVersionStatus.ARCHIVED
    assert client.registry.get_version("churn").version == 1  # @latest skips archived versions
    with pytest.raises(ConflictError, match="archived"):
        client.registry.set_alias("churn", "challenger", 2)
    with pytest.raises(ConflictError, match="archived"):
        client.registry.request_promotion("churn@2", "staging")
    assert client.registry.restore("churn@2").status == ModelVersionStatus.READY
    assert client.registry.get_version("churn").version == 2


def test_register_a_run_package_later_and_bad_registrations_change_nothing(client: Client, iris: Any) -> None:
    X, _ = iris
    run = client.create_run("train")
    package = client.log_model(run.id, _fit(iris), "churn", input_example=X[:5], register=False)
    assert package.digest and "model.yaml" in package.files
    with pytest.raises(ModelNotFoundError):
        client.registry.get_model("churn")
    version = client.registry.register("churn", run.id)
    assert version.version == 1 and version.digest == package.digest
    empty = client.create_run("empty")
    with pytest.raises(InvalidInputError, match="no model package"):
        client.registry.register("churn", empty.id)
    assert client.registry.get_model("churn").latest_version == 1


def test_twenty_concurrent_registrations_get_versions_1_to_20(client: Client, iris: Any) -> None:
    X, _ = iris
    run = client.create_run("train")
    client.log_model(run.id, _fit(iris), "churn", input_example=X[:5], register=False)
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(20, timeout=120)

    def register() -> None:
        # One client shared by 20 threads: separate pooled connections (SQL) or requests (HTTP) at once.
        try:
            barrier.wait()
            results.append(client.registry.register("race", run.id).version)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)
            barrier.abort()  # never leave the others waiting

    threads = [threading.Thread(target=register) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors, errors
    assert sorted(results) == list(range(1, 21))
    assert [v.version for v in client.registry.list_versions("race")] == list(range(20, 0, -1))


def _fake_package(client: Client, tmp_path: Path, meta: dict[str, Any], files: dict[str, bytes]) -> str:
    """A run holding a hand-made package under model/ (what a damaged or foreign upload looks like)."""
    import yaml

    from modelyard.blobs import hash_bytes

    root = tmp_path / "fake"
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    listed = {n: {"digest": hash_bytes(d).digest, "size": len(d)} for n, d in files.items()}
    (root / "model.yaml").write_text(yaml.safe_dump({"files": listed, **meta}))
    run = client.create_run("fake")
    client.log_artifacts(run.id, root, "model")
    return run.id


def test_unknown_flavors_and_inconsistent_packages_are_refused(client: Client, tmp_path: Path) -> None:
    meta = {"flavor": "nope", "unsafe_format": False, "requirements": [], "signature": None}
    run_id = _fake_package(client, tmp_path / "a", meta, {"w.bin": b"weights"})
    with pytest.raises(InvalidInputError, match="unknown flavor 'nope'"):
        client.registry.register("fake", run_id)
    meta["flavor"] = "sklearn"
    run_id = _fake_package(client, tmp_path / "b", meta, {"w.bin": b"weights"})
    client.log_artifact(run_id, _write_extra(tmp_path / "extra.bin"), "model")  # a file model.yaml does not list
    with pytest.raises(IntegrityError, match="lists other files"):
        client.registry.register("fake", run_id)
    with pytest.raises(ModelNotFoundError):
        client.registry.get_model("fake")  # nothing was registered


def _write_extra(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"smuggled")
    return path


def test_gc_keeps_the_blobs_of_registered_versions(client: Client, iris: Any, store_uri: str) -> None:
    if store_uri.startswith("http"):
        pytest.skip("gc removes every unreferenced blob of the shared test server")
    X, _ = iris
    model = _fit(iris)
    run = client.create_run("fit")
    first = client.log_model(run.id, model, "kept", input_example=X[:5])
    assert isinstance(first, ModelVersion)
    # the run's model/ artifacts now point at another package: only the version references the old blobs
    client.log_model(run.id, _fit(iris, C=0.01), "kept", input_example=X[:5], register=False)
    client.gc(dry_run=False, grace_seconds=0)
    np.testing.assert_array_equal(client.load_model("kept@1").predict(X[:5]), model.predict(X[:5]))


def test_a_registered_model_has_a_description_tags_and_an_owner(client: Client, iris: Any) -> None:
    X, _ = iris
    version = _log(client, _fit(iris), "described", X)
    model = client.registry.get_model("described")
    assert model.owner == version.created_by and model.project == client.project
    assert (model.description, model.tags) == ("", {})
    updated = client.registry.update_model("described", description="Scores churn", tags={"team": "risk", "tier": 1})
    assert (updated.description, updated.tags) == ("Scores churn", {"team": "risk", "tier": "1"})
    assert client.registry.get_model("DESCRIBED").tags == {"team": "risk", "tier": "1"}
    retagged = client.registry.update_model("described", tags={"team": "growth"})  # the tags given replace
    assert (retagged.description, retagged.tags) == ("Scores churn", {"team": "growth"})
    for bad in ({"bad key/..": "x"}, {"team": "x" * 10_000}):
        with pytest.raises(InvalidInputError, match="tag"):
            client.registry.update_model("described", tags=bad)
    with pytest.raises(ModelNotFoundError):
        client.registry.update_model("ghost", description="x")
    assert client.registry.get_model("described").tags == {"team": "growth"}  # nothing changed
