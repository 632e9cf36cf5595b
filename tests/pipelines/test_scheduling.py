"""Schedules, triggers and the queue on a real store (SQLite and PostgreSQL), driven by a fake clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelyard.audit import Caller
from modelyard.blobs import BlobStore
from modelyard.data import DatasetService
from modelyard.entities import DatasetFile
from modelyard.errors import InvalidInputError, ScheduleNotFoundError
from modelyard.pipelines._scheduler import Scheduler
from modelyard.pipelines._scheduling import SchedulingService
from modelyard.store.sql import SqlStore
from tests.conftest import _truncate_postgres

TARGET = "my_project.pipelines:training"


def ms(*args: int, tz: str = "UTC") -> int:
    from zoneinfo import ZoneInfo

    return int(datetime(*args, tzinfo=ZoneInfo(tz)).timestamp() * 1000)  # type: ignore[misc]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = SqlStore.open(db_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def service(store: SqlStore) -> SchedulingService:
    return SchedulingService(store, Caller(user="ann"))


def _audit_actions(store: SqlStore) -> list[str]:
    with store.read() as tx:
        return [e.action for e in tx.list_audit(limit=1000)]


def test_schedule_is_stored_listed_replaced_and_removed(service: SchedulingService, db_url: str) -> None:
    now = ms(2026, 1, 1, 0, 0)
    sched = service.schedule("churn", "training", TARGET, "0 3 * * *", timezone="UTC", params={"C": 0.5}, now_ms=now)
    assert sched.next_fire == datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    assert sched.params == {"C": 0.5} and sched.missed == "skip" and sched.creator == "ann"
    # survives a restart: a fresh store on the same database sees it
    other = SqlStore.open(db_url)
    try:
        [listed] = SchedulingService(other, Caller(user="bob")).list_schedules("churn")
    finally:
        other.close()
    assert listed.cron == "0 3 * * *" and listed.target == TARGET
    # scheduling again replaces (one schedule per pipeline)
    service.schedule("churn", "training", TARGET, "*/15 * * * *", missed="catch-up", now_ms=now)
    [replaced] = service.list_schedules()
    assert (replaced.cron, replaced.missed) == ("*/15 * * * *", "catch_up_once")
    assert replaced.next_fire == datetime(2026, 1, 1, 0, 15, tzinfo=UTC)
    removed = service.unschedule("churn", "training")
    assert removed.cron == "*/15 * * * *"
    assert service.list_schedules("churn") == []
    with pytest.raises(ScheduleNotFoundError, match="has no schedule"):
        service.unschedule("churn", "training")
    actions = _audit_actions(service.store)
    assert actions.count("pipeline.schedule") == 2 and "pipeline.unschedule" in actions


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "61 * * * *"}, "cron '61 \\* \\* \\* \\*' is not a valid cron expression"),
        ({"cron": "* * *"}, "five fields"),
        ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is unknown"),
        ({"timezone": "../etc/passwd"}, "not a time zone name"),
        ({"target": "rm -rf /"}, "not an import path"),
        ({"missed": "sometimes"}, "missed must be 'skip' or 'catch-up'"),
        ({"params": {"x": object()}}, "params must be JSON values"),
        ({"executor": "gpu"}, "executor must be one of"),
    ],
)
def test_bad_schedule_input_is_refused_and_nothing_is_stored(
    service: SchedulingService, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"target": TARGET, "cron": "0 3 * * *", **kwargs}
    target, cron = args.pop("target"), args.pop("cron")
    with pytest.raises(InvalidInputError, match=message):
        service.schedule("churn", "training", target, cron, **args)  # type: ignore[arg-type]
    assert service.list_schedules() == []
    with service.store.read() as tx:
        assert not tx.project_exists("churn")
    assert _audit_actions(service.store) == []


def test_a_due_schedule_fires_once_and_advances(store: SqlStore, service: SchedulingService) -> None:
    clock = [ms(2026, 1, 1, 0, 0)]
    service.schedule("churn", "training", TARGET, "0 3 * * *", params={"C": 1}, now_ms=clock[0])
    scheduler = Scheduler(store, now=lambda: clock[0])
    assert scheduler.tick().scheduled == []  # not due yet
    clock[0] = ms(2026, 1, 1, 3, 0, 10)
    report = scheduler.tick()
    assert len(report.scheduled) == 1 and not report.errors
    assert scheduler.tick().scheduled == []  # fired already
    [queued] = service.list_queue("churn")
    assert (queued.run_id, queued.status, queued.reason) == (report.scheduled[0], "PENDING", "schedule")
    assert queued.params == {"C": 1} and queued.details["fire_time"] == ms(2026, 1, 1, 3, 0)
    with store.read() as tx:
        run = tx.get_run(queued.run_id)
        pipeline_run = tx.get_pipeline_run(queued.run_id, steps=False)
    assert run.status == "PENDING" and run.tags["modelyard.trigger"] == "schedule"
    assert pipeline_run.pipeline == "training"
    [sched] = service.list_schedules()
    assert sched.next_fire == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    assert sched.last_fire == datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(("policy", "runs"), [("skip", 0), ("catch-up", 1)])
def test_missed_fire_times_follow_the_policy(
    store: SqlStore, service: SchedulingService, policy: str, runs: int
) -> None:
    clock = [ms(2026, 1, 1, 0, 0)]
    service.schedule("churn", "training", TARGET, "0 3 * * *", missed=policy, now_ms=clock[0])
    clock[0] = ms(2026, 1, 4, 12, 0)  # the scheduler was down over four fire times (1st to 4th, 03:00)
    scheduler = Scheduler(store, now=lambda: clock[0], misfire_grace=60)
    assert len(scheduler.tick().scheduled) == runs
    assert scheduler.tick().scheduled == []  # catching up happens once, not once per missed time
    queue = service.list_queue()
    assert len(queue) == runs
    if runs:
        assert queue[0].details == {"fire_time": ms(2026, 1, 4, 3, 0), "missed": 4, "catch_up": True}
    [sched] = service.list_schedules()
    assert sched.next_fire == datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    assert "pipeline.schedule.missed" in _audit_actions(store)


def test_timezone_aware_fire_times_across_daylight_saving(store: SqlStore, service: SchedulingService) -> None:
    clock = [ms(2026, 3, 28, 12, 0, tz="Europe/Berlin")]
    service.schedule("churn", "training", TARGET, "0 3 * * *", timezone="Europe/Berlin", now_ms=clock[0])
    scheduler = Scheduler(store, now=lambda: clock[0])
    fired = []
    for day in (29, 30):  # 29 March 2026: clocks go from 02:00 to 03:00 in Berlin
        clock[0] = ms(2026, 3, day, 3, 0, 5, tz="Europe/Berlin")
        fired += scheduler.tick().scheduled
    assert len(fired) == 2
    fire_times = sorted(q.details["fire_time"] for q in service.list_queue())
    assert fire_times == [ms(2026, 3, 29, 3, 0, tz="Europe/Berlin"), ms(2026, 3, 30, 3, 0, tz="Europe/Berlin")]
    assert fire_times[1] - fire_times[0] == 24 * 3600 * 1000  # both 03:00 local, both CEST


def test_two_schedulers_racing_never_fire_a_schedule_twice(db_url: str, service: SchedulingService) -> None:
    start = ms(2026, 1, 1, 0, 0)
    for i in range(12):
        service.schedule("churn", f"p{i}", TARGET, "*/5 * * * *", now_ms=start)
    now = ms(2026, 1, 1, 0, 5, 1)
    stores = [SqlStore.open(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    results: list[list[str]] = [[] for _ in stores]

    def race(i: int) -> None:
        scheduler = Scheduler(stores[i], now=lambda: now)
        barrier.wait()
        for _ in range(3):
            results[i].extend(scheduler.tick().scheduled)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for s in stores:
        s.close()
    fired = [run for result in results for run in result]
    assert len(fired) == 12 == len(set(fired))
    assert sorted(q.pipeline for q in service.list_queue()) == sorted(f"p{i}" for i in range(12))


def test_concurrent_claims_never_hand_out_one_run_twice(db_url: str, service: SchedulingService) -> None:
    queued = {service.enqueue("churn", "training", TARGET, params={"i": i}).run_id for i in range(40)}
    stores = [SqlStore.open(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    claimed: list[list[str]] = [[] for _ in stores]

    def work(i: int) -> None:
        worker = SchedulingService(stores[i], Caller(user=f"w{i}"))
        barrier.wait()
        while (run := worker.claim(f"worker-{i}")) is not None:
            claimed[i].append(run.run_id)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for s in stores:
        s.close()
    everything = [r for c in claimed for r in c]
    assert len(everything) == len(set(everything)) == 40 and set(everything) == queued
    running = service.list_queue(status="RUNNING", limit=100)
    assert {q.run_id for q in running} == queued
    assert all(q.worker_id and q.run_id in claimed[int(q.worker_id.split("-")[1])] for q in running)


def test_a_dead_workers_run_is_reaped_after_the_heartbeat_timeout(store: SqlStore, service: SchedulingService) -> None:
    alive = service.enqueue("churn", "training", TARGET).run_id
    dead = service.enqueue("churn", "training", TARGET).run_id
    assert {service.claim("w-dead").run_id, service.claim("w-alive").run_id} == {alive, dead}  # type: ignore[union-attr]
    queue = {q.run_id: q for q in service.list_queue()}
    alive_worker = queue[alive].worker_id
    assert alive_worker is not None
    # nothing is stale before the timeout
    assert service.reap(120) == []
    time.sleep(0.5)
    # the live worker heartbeats; the dead one does not
    assert service.heartbeat(alive_worker, [alive]) == 1
    reaped = service.reap(0.4)
    assert reaped == [dead]
    queue = {q.run_id: q for q in service.list_queue()}
    assert queue[dead].status == "FAILED" and "stopped sending heartbeats" in (queue[dead].error or "")
    assert queue[alive].status == "RUNNING"
    with store.read() as tx:
        run = tx.get_run(dead)
    assert run.status == "FAILED" and "heartbeat" in (run.error or "")
    assert service.reap(0.4) == []  # once only
    assert "pipeline_run.reap" in _audit_actions(store)


def test_a_run_cancelled_while_queued_is_skipped_by_workers(store: SqlStore, service: SchedulingService) -> None:
    from modelyard.pipelines._service import PipelineService

    first = service.enqueue("churn", "training", TARGET).run_id
    second = service.enqueue("churn", "training", TARGET).run_id
    PipelineService(store, BlobStore("memory://cancel"), Caller(user="ann")).request_cancel(first)
    claimed = service.claim("w1")
    assert claimed is not None and claimed.run_id == second
    queue = {q.run_id: q for q in service.list_queue()}
    assert queue[first].status == "KILLED"


def test_dataset_trigger_enqueues_once_per_new_version(
    store: SqlStore, service: SchedulingService, tmp_path: Path
) -> None:
    blobs = BlobStore(str(tmp_path / "blobs"))
    data = DatasetService(store, blobs, Caller(user="ann"))

    def add(content: bytes) -> int:
        info = blobs.put_bytes(content)
        version, _ = data.create_version("churn", "train", [DatasetFile(path="t.csv", **info._asdict())])
        return version.version

    add(b"a\n1\n")
    trigger = service.add_trigger("churn", "training", TARGET, "dataset", "train", params={"C": 2})
    assert trigger.last_seen == 1  # existing versions do not fire
    scheduler = Scheduler(store)
    assert scheduler.tick().triggered == []
    add(b"a\n2\n")
    [run_id] = scheduler.tick().triggered
    assert scheduler.tick().triggered == []
    [queued] = service.list_queue()
    assert queued.run_id == run_id and queued.reason == "dataset"
    assert queued.details == {"dataset": "train", "version": 2, "ref": "train@2"} and queued.params == {"C": 2}
    [listed] = service.list_triggers("churn")
    assert listed.last_seen == 2
    service.remove_trigger("churn", "training", "dataset", "train")
    add(b"a\n3\n")
    assert scheduler.tick().triggered == []


def test_alert_trigger_and_shell_like_params_stay_data(service: SchedulingService) -> None:
    assert service.fire_alert_trigger("churn", "drift") == []
    hostile = {"cmd": "; rm -rf /", "who": "$(id)", "tick": "`id`"}
    service.add_trigger("churn", "retrain", TARGET, "alert", "drift", params=hostile)
    [run_id] = service.fire_alert_trigger("churn", "drift", {"psi": 0.4})
    [queued] = service.list_queue("churn")
    assert queued.run_id == run_id and queued.params == hostile
    assert queued.details == {"alert": "drift", "psi": 0.4} and queued.reason == "alert"
    with pytest.raises(InvalidInputError, match="trigger kind"):
        service.add_trigger("churn", "retrain", TARGET, "webhook", "x")


def test_a_long_outage_of_a_minutely_schedule_catches_up_once_quickly(
    store: SqlStore, service: SchedulingService
) -> None:
    clock = [ms(2026, 1, 1, 0, 0, 30)]
    service.schedule("churn", "minutely", TARGET, "* * * * *", missed="catch-up", now_ms=clock[0])
    clock[0] = ms(2026, 3, 1, 12, 0, 30)  # two months down: ~85,000 missed fire times
    started = time.perf_counter()
    [run_id] = Scheduler(store, now=lambda: clock[0], misfire_grace=10).tick().scheduled
    assert time.perf_counter() - started < 5
    [queued] = service.list_queue()
    assert queued.run_id == run_id and queued.details["fire_time"] == ms(2026, 3, 1, 12, 0)
    assert queued.details["missed"] >= 1000 and queued.details["catch_up"] is True
    [sched] = service.list_schedules()
    assert sched.next_fire == datetime(2026, 3, 1, 12, 1, tzinfo=UTC)
