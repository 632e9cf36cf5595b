"""The backend contract for tracking: the same behaviour on every store (SQLite, PostgreSQL)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from modelyard.blobs import BlobStore
from modelyard.client import Client
from modelyard.entities import RunStatus
from modelyard.errors import (
    ArtifactNotFoundError,
    BlobCorruptedError,
    ConflictError,
    InvalidFilterError,
    InvalidInputError,
    ModelyardError,
    NotFoundError,
    ParamConflictError,
    RunNotFoundError,
)
from modelyard.ids import new_run_id


def test_create_and_get_run(client: Client) -> None:
    run = client.create_run("baseline", tags={"team": "risk"})
    assert len(run.id) == 32 and run.status == "FINISHED" or run.status == RunStatus.RUNNING
    got = client.get_run(run.id)
    assert got.name == "baseline"
    assert got.project == client.project
    assert got.tags == {"team": "risk"}
    assert got.status == "RUNNING"
    assert got.user
    assert got.end_time is None
    ended = client.end_run(run.id)
    assert ended.status == "FINISHED" and ended.end_time is not None


def test_create_run_is_idempotent_for_the_same_id(client: Client) -> None:
    run_id = new_run_id()
    first = client.create_run("a", run_id=run_id)
    again = client.create_run("a", run_id=run_id)
    assert first.id == again.id == run_id
    assert len(client.search_runs()) == 1


def test_same_id_in_another_project_conflicts(client: Client) -> None:
    run_id = new_run_id()
    client.create_run("a", run_id=run_id)
    with pytest.raises(ConflictError):
        client.create_run("a", run_id=run_id, project="other")


def test_nested_runs_to_any_depth(client: Client) -> None:
    top = client.create_run("top")
    mid = client.create_run("mid", parent_id=top.id)
    leaf = client.create_run("leaf", parent_id=mid.id)
    assert client.get_run(leaf.id).parent_id == mid.id
    children = client.search_runs(filter=f"attributes.parent_id = '{top.id}'")
    assert [r.id for r in children] == [mid.id]


def test_parent_must_exist(client: Client) -> None:
    with pytest.raises(RunNotFoundError):
        client.create_run("x", parent_id=new_run_id())


def test_params_are_immutable(client: Client) -> None:
    run = client.create_run()
    client.log_params(run.id, {"C": 1.0, "penalty": "l2"})
    client.log_param(run.id, "C", 1.0)  # same value: fine
    with pytest.raises(ParamConflictError, match="C"):
        client.log_params(run.id, {"new": 1, "C": 2.0})
    assert client.get_run(run.id).params == {"C": "1.0", "penalty": "l2"}  # "new" not written either


def test_metric_history_latest_value_and_special_floats(client: Client) -> None:
    run = client.create_run()
    for step, value in [(2, 0.2), (0, 0.0), (1, 0.1)]:
        client.log_metric(run.id, "loss", value, step=step)
    client.log_metric(run.id, "nan", math.nan)
    client.log_metric(run.id, "pinf", math.inf)
    client.log_metric(run.id, "ninf", -math.inf)
    history = client.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.0), (1, 0.1), (2, 0.2)]
    metrics = client.get_run(run.id).metrics
    assert metrics["loss"] == 0.2  # highest step wins, not the last logged
    assert math.isnan(metrics["nan"])
    assert metrics["pinf"] == math.inf and metrics["ninf"] == -math.inf
    assert math.isnan(client.get_metric_history(run.id, "nan")[0].value)


def test_same_step_newer_timestamp_wins(client: Client) -> None:
    run = client.create_run()
    client.log_metric(run.id, "m", 1.0, step=5, timestamp=2000)
    client.log_metric(run.id, "m", 2.0, step=5, timestamp=1000)
    assert client.get_run(run.id).metrics["m"] == 1.0


def test_log_batch_with_batch_id_is_applied_once(client: Client) -> None:
    run = client.create_run()
    points = [("x", float(i), 1000 + i, i) for i in range(10)]
    assert client.backend.log_batch(run.id, points, batch_id="b-1") is True
    assert client.backend.log_batch(run.id, points, batch_id="b-1") is False  # a retry
    assert len(client.get_metric_history(run.id, "x")) == 10


def test_tags_are_mutable_and_deletable(client: Client) -> None:
    run = client.create_run(tags={"stage": "exp"})
    client.set_tags(run.id, {"stage": "prod", "owner": "ana"})
    assert client.get_run(run.id).tags == {"stage": "prod", "owner": "ana"}
    client.delete_tag(run.id, "owner")
    assert client.get_run(run.id).tags == {"stage": "prod"}
    with pytest.raises(NotFoundError):
        client.delete_tag(run.id, "owner")


@pytest.mark.parametrize(
    "bad",
    [
        lambda c, r: c.log_metric(r, "bad key!", 1.0),
        lambda c, r: c.log_metric(r, "../up", 1.0),
        lambda c, r: c.log_metric(r, "m", "not a number"),
        lambda c, r: c.log_metric(r, "m", 1.0, step=1.5),
        lambda c, r: c.log_param(r, "", 1),
        lambda c, r: c.log_param(r, "p", "x" * 7000),
        lambda c, r: c.set_tag(r, "t" * 300, "v"),
        lambda c, r: c.create_run("x", project="no spaces"),
        lambda c, r: c.get_run("not-a-run-id"),
        lambda c, r: c.get_run(new_run_id()),
        lambda c, r: c.search_runs(filter="metrics.acc >"),
        lambda c, r: c.search_runs(limit=0),
        lambda c, r: c.log_artifact(r, "/definitely/not/here"),
    ],
)
def test_bad_input_raises_a_modelyard_error_and_changes_nothing(client: Client, bad: object) -> None:
    run = client.create_run("keep")
    client.log_params(run.id, {"a": 1})
    before = client.get_run(run.id)
    with pytest.raises(ModelyardError) as info:
        bad(client, run.id)  # type: ignore[operator]
    assert str(info.value)
    after = client.get_run(run.id)
    assert after.params == before.params and after.metrics == before.metrics and after.tags == before.tags


def test_unknown_run_error_names_the_id(client: Client) -> None:
    missing = new_run_id()
    with pytest.raises(RunNotFoundError, match=missing):
        client.get_run(missing)


# search -------------------------------------------------------------------------------------
@pytest.fixture
def grid(client: Client) -> dict[str, str]:
    """Five runs with mixed params/metrics/tags, one lacking each key."""
    spec = {
        "a": ({"lr": "0.1", "opt": "adam"}, {"acc": 0.9, "loss": 0.3}, {"team": "Risk"}, "FINISHED"),
        "b": ({"lr": "0.01", "opt": "sgd"}, {"acc": 0.95, "loss": 0.2}, {"team": "risk"}, "FINISHED"),
        "c": ({"lr": "1", "opt": "Adam"}, {"acc": 0.7}, {"team": "fraud"}, "FAILED"),
        "d": ({"lr": "10", "opt": "adamw"}, {"acc": 0.8, "loss": 0.5}, {}, "RUNNING"),
        "e": ({"opt": "x"}, {"loss": 0.1}, {"team": "risk"}, "KILLED"),
    }
    ids = {}
    for name, (params, metrics, tags, status) in spec.items():
        run = client.create_run(name, tags=tags)
        client.log_params(run.id, params)
        client.log_metrics(run.id, metrics)
        if status != "RUNNING":
            client.end_run(run.id, status)
        ids[name] = run.id
    return ids


def _names(client: Client, filter: str | None = None, order_by: list[str] | None = None) -> list[str]:
    return [r.name for r in client.search_runs(filter=filter, order_by=order_by)]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ("metrics.acc > 0.85", {"a", "b"}),
        ("metrics.acc >= 0.9 and metrics.loss < 0.25", {"b"}),
        ("metrics.acc != 0.9", {"b", "c", "d"}),  # e lacks acc: never matches
        ("metrics.acc in (0.7, 0.8)", {"c", "d"}),
        ("params.opt = 'adam'", {"a"}),
        ("params.opt like 'adam%'", {"a", "d"}),  # like is case-sensitive
        ("params.opt ilike 'adam%'", {"a", "c", "d"}),
        ("params.lr = '1.0'", {"c"}),  # numeric when both sides are numbers
        ("params.lr > 0.5", {"c", "d"}),  # numeric, not string order ('10' < '5')
        ("params.lr < '0.5'", {"a", "b"}),
        ("params.lr in ('0.1', '10')", {"a", "d"}),
        ("params.opt not in ('adam', 'sgd')", {"c", "d", "e"}),
        ("tags.team = 'risk'", {"b", "e"}),
        ("tags.team ilike 'RISK'", {"a", "b", "e"}),
        ("tags.team != 'risk'", {"a", "c"}),  # d has no team tag: never matches
        ("attributes.status = 'FINISHED'", {"a", "b"}),
        ("attributes.status in ('FAILED', 'KILLED')", {"c", "e"}),
        ("attributes.name like 'a%' or attributes.name = 'e'", {"a", "e"}),
        ("not (metrics.acc > 0.85) and metrics.acc > 0", {"c", "d"}),
        ("(tags.team = 'risk' or tags.team = 'fraud') and metrics.loss < 0.25", {"b", "e"}),
    ],
)
def test_search_filters(client: Client, grid: dict[str, str], filter: str, expected: set[str]) -> None:
    assert set(_names(client, filter)) == expected


def test_search_by_start_time(client: Client, grid: dict[str, str]) -> None:
    future = int(time.time() * 1000) + 60_000
    assert _names(client, f"attributes.start_time > {future}") == []
    assert len(_names(client, "attributes.start_time > '2020-01-01T00:00:00Z'")) == 5


def test_order_by_missing_keys_sort_last(client: Client, grid: dict[str, str]) -> None:
    assert _names(client, order_by=["metrics.acc desc"]) == ["b", "a", "d", "c", "e"]
    assert _names(client, order_by=["metrics.acc asc"]) == ["c", "d", "a", "b", "e"]
    assert _names(client, order_by=["metrics.loss"])[-1] == "c"
    assert _names(client, order_by=["params.lr desc"]) == ["d", "c", "a", "b", "e"]
    assert _names(client, order_by=["attributes.name desc"]) == ["e", "d", "c", "b", "a"]


def test_default_order_is_newest_first(client: Client, grid: dict[str, str]) -> None:
    assert _names(client) == ["e", "d", "c", "b", "a"]


def test_filter_values_are_parameters_not_sql(client: Client, grid: dict[str, str]) -> None:
    assert _names(client, "params.opt = 'x'' or ''1''=''1'") == []
    assert len(client.search_runs()) == 5


def test_malformed_filter_says_where(client: Client) -> None:
    with pytest.raises(InvalidFilterError, match="position"):
        client.search_runs(filter="metrics.acc > 0.9 and")


def test_page_tokens_stay_valid_while_runs_are_added(client: Client) -> None:
    for i in range(7):
        run = client.create_run(f"r{i}")
        client.log_metric(run.id, "score", float(i % 3))
    seen: list[str] = []
    page = client.search_runs(order_by=["metrics.score desc"], limit=3)
    seen += [r.id for r in page]
    client.log_metric(client.create_run("late-high").id, "score", 99.0)  # sorts before the cursor
    client.create_run("late-missing")  # sorts after everything (no score)
    while page.next_page_token:
        page = client.search_runs(order_by=["metrics.score desc"], limit=3, page_token=page.next_page_token)
        seen += [r.id for r in page]
    assert len(seen) == len(set(seen))  # no duplicates
    names = {client.get_run(i).name for i in seen}
    assert {f"r{i}" for i in range(7)} <= names  # nothing skipped
    assert "late-high" not in names and "late-missing" in names


def test_page_token_from_another_search_is_rejected(client: Client, grid: dict[str, str]) -> None:
    token = client.search_runs(limit=2).next_page_token
    assert token
    with pytest.raises(InvalidInputError, match="page_token"):
        client.search_runs(order_by=["metrics.acc"], page_token=token)
    with pytest.raises(InvalidInputError):
        client.search_runs(page_token="garbage!")


def test_deleted_runs_are_hidden_and_restorable(client: Client) -> None:
    parent = client.create_run("parent")
    child = client.create_run("child", parent_id=parent.id)
    client.delete_run(parent.id)
    assert client.search_runs() == []
    assert {r.name for r in client.search_runs(include_deleted=True)} == {"parent", "child"}
    assert client.get_run(child.id).deleted
    with pytest.raises(ConflictError, match="restore"):
        client.log_param(child.id, "a", 1)
    client.restore_run(parent.id)
    assert {r.name for r in client.search_runs()} == {"parent", "child"}


def test_search_runs_df(client: Client, grid: dict[str, str]) -> None:
    df = client.search_runs_df(filter="metrics.acc > 0.85", order_by=["metrics.acc desc"])
    assert list(df["name"]) == ["b", "a"]
    assert list(df["metrics.acc"]) == [0.95, 0.9]
    assert list(df["params.opt"]) == ["sgd", "adam"]


def test_projects(client: Client) -> None:
    client.create_project("churn", "customer churn")
    with pytest.raises(ConflictError):
        client.create_project("churn")
    client.create_run("r", project="churn")
    projects = {p.name: p for p in client.list_projects()}
    assert projects["churn"].run_count == 1 and projects["churn"].description == "customer churn"
    assert client.search_runs(project="churn")[0].project == "churn"
    with pytest.raises(NotFoundError):
        client.search_runs(project="nope")


# metrics downsampling ------------------------------------------------------------------------
def test_buckets_keep_spikes_and_match_brute_force(client: Client) -> None:
    run = client.create_run()
    n = 70_000
    points = [("s", math.sin(i / 500), 1000, i) for i in range(n)]
    points[41_234] = ("s", 50.0, 1000, 41_234)  # a spike
    points[12_345] = ("s", math.nan, 1000, 12_345)
    for i in range(0, n, 20_000):  # several batches, so rollups are merged across writes
        client.backend.log_batch(run.id, points[i : i + 20_000])
    buckets = client.get_metric_buckets(run.id, "s", max_buckets=100)
    assert 50 <= len(buckets) <= 100
    assert sum(b.count for b in buckets) == n
    assert max(b.value_max for b in buckets if b.value_max is not None) == 50.0
    values = [p[1] for p in points if not math.isnan(p[1])]
    assert min(b.value_min for b in buckets if b.value_min is not None) == min(values)
    for b in buckets:  # each bucket agrees with the raw points it covers
        covered = [p[1] for p in points[b.step_min : b.step_max + 1] if not math.isnan(p[1])]
        assert b.value_min == min(covered) and b.value_max == max(covered)


def test_short_series_buckets_are_the_points(client: Client) -> None:
    run = client.create_run()
    for i in range(10):
        client.log_metric(run.id, "m", float(i), step=i)
    buckets = client.get_metric_buckets(run.id, "m", max_buckets=100)
    assert [(b.step_min, b.value_min, b.value_max) for b in buckets] == [(i, float(i), float(i)) for i in range(10)]


# artifacts ----------------------------------------------------------------------------------
def test_artifacts_round_trip_with_path_rules(client: Client, tmp_path: Path) -> None:
    run = client.create_run()
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "roc.png").write_bytes(b"\x89PNG fake")
    reports = tmp_path / "reports"
    (reports / "sub").mkdir(parents=True)
    (reports / "a.txt").write_text("A")
    (reports / "sub" / "b.json").write_text("{}")
    client.log_artifact(run.id, plots / "roc.png")  # stored as "roc.png"
    client.log_artifact(run.id, reports)  # a directory keeps its name
    client.log_artifacts(run.id, reports, artifact_path="extra")  # contents under a prefix
    paths = [a.path for a in client.list_artifacts(run.id)]
    assert paths == ["extra/a.txt", "extra/sub/b.json", "reports/a.txt", "reports/sub/b.json", "roc.png"]
    assert [a.path for a in client.list_artifacts(run.id, "reports")] == ["reports/a.txt", "reports/sub/b.json"]
    info = client.list_artifacts(run.id, "roc.png")[0]
    assert info.size == 9 and len(info.digest) == 64
    out = client.download_artifacts(run.id, "roc.png", tmp_path / "out")
    assert out.read_bytes() == b"\x89PNG fake"
    folder = client.download_artifacts(run.id, "reports", tmp_path / "out2")
    assert (folder / "sub" / "b.json").read_text() == "{}"
    with pytest.raises(ArtifactNotFoundError):
        client.download_artifacts(run.id, "nope.txt", tmp_path / "out3")


def test_identical_artifacts_are_stored_once(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "same.bin"
    src.write_bytes(b"x" * 1000)
    for _ in range(3):
        client.log_artifact(client.create_run().id, src)
    blobs = list(Path(client.settings.blobs or "").rglob("*"))
    assert len([b for b in blobs if b.is_file() and b.stat().st_size == 1000]) == 1


def test_corrupted_artifact_is_detected_not_returned(client: Client, tmp_path: Path) -> None:
    run = client.create_run()
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights" * 100)
    info = client.log_artifact(run.id, src)[0]
    blob = next(p for p in Path(client.settings.blobs or "").rglob("*") if p.is_file() and p.name == info.digest[2:])
    data = bytearray(blob.read_bytes())
    data[10] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(BlobCorruptedError):
        client.download_artifacts(run.id, "model.bin", tmp_path / "out")
    assert not (tmp_path / "out" / "model.bin").exists()


@pytest.mark.parametrize(
    "bad_path", ["../escape", "/abs", "a/../../b", "%2e%2e/x", "%252e%252e/x", "a\\b", "c:x", "a\x00b"]
)
def test_artifact_paths_are_validated(client: Client, tmp_path: Path, bad_path: str) -> None:
    run = client.create_run()
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(InvalidInputError):
        client.log_artifact(run.id, src, artifact_path=bad_path)
    assert client.list_artifacts(run.id) == []


# audit and gc -------------------------------------------------------------------------------
def test_every_change_is_audited(client: Client, tmp_path: Path) -> None:
    run = client.create_run("audited")
    client.log_params(run.id, {"a": 1})
    client.log_metric(run.id, "m", 1.0)
    client.flush()
    src = tmp_path / "f.txt"
    src.write_text("x")
    client.log_artifact(run.id, src)
    client.end_run(run.id)
    client.delete_run(run.id)
    client.restore_run(run.id)
    actions = [e.action for e in reversed(client.list_audit(object_id=run.id))]
    assert actions == ["run.create", "run.log", "run.log", "artifact.log", "run.update", "run.delete", "run.restore"]
    event = client.list_audit(object_id=run.id, limit=1)[0]
    assert event.actor == client.get_run(run.id).user and event.project == client.project


def test_gc_removes_only_old_unreferenced_blobs(client: Client, tmp_path: Path) -> None:
    run = client.create_run()
    keep = tmp_path / "keep.txt"
    keep.write_text("referenced")
    client.log_artifact(run.id, keep)
    backend_blobs = BlobStore(client.settings.blobs or "")  # the store's blobs, also behind a server
    orphan = backend_blobs.put_bytes(b"orphan-" + client.project.encode())
    fresh_report = client.gc(dry_run=False, grace_seconds=3600)
    assert fresh_report.blobs_removed == 0 and fresh_report.blobs_kept_recent >= 1
    assert backend_blobs.exists(orphan.digest)
    dry = client.gc(dry_run=True, grace_seconds=0)
    assert dry.blobs_removed >= 1 and backend_blobs.exists(orphan.digest)
    report = client.gc(dry_run=False, grace_seconds=0)
    assert report.blobs_removed >= 1 and report.bytes_removed >= len(b"orphan-")
    assert not backend_blobs.exists(orphan.digest)
    assert client.download_artifacts(run.id, "keep.txt", tmp_path / "o").read_text() == "referenced"
