"""The scheduler loop: due cron schedules and new dataset versions become PENDING runs in the queue.

It runs inside ``modelyard server`` (a daemon thread started by the app's lifespan) and never
imports or runs a pipeline: it only writes queue rows that workers claim. Every pass also reaps
claimed runs whose worker stopped sending heartbeats.

No leader election is needed: each schedule's ``next_fire`` and each dataset trigger's
``last_seen`` advance by compare-and-set in the same transaction as the enqueue, so any number of
server replicas on one database may run this loop and each fire time is enqueued exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelyard.audit import Caller
from modelyard.pipelines._scheduling import SchedulingService

if TYPE_CHECKING:
    from modelyard.settings import Settings
    from modelyard.store.sql import SqlStore

__all__ = ["Scheduler", "TickReport"]

_log = logging.getLogger("modelyard.scheduler")


@dataclass(slots=True)
class TickReport:
    """What one scheduler pass did."""

    scheduled: list[str] = field(default_factory=list)
    """Run ids enqueued by cron schedules."""
    triggered: list[str] = field(default_factory=list)
    """Run ids enqueued by new dataset versions."""
    reaped: list[str] = field(default_factory=list)
    """Run ids marked FAILED because their worker stopped sending heartbeats."""
    errors: list[str] = field(default_factory=list)


class Scheduler:
    """Fires due schedules and dataset triggers, and reaps dead workers' runs, every ``interval`` seconds.

    ``now`` (epoch milliseconds) is injectable so tests drive the clock; the store is real.
    """

    def __init__(
        self,
        store: SqlStore,
        *,
        interval: float = 5.0,
        misfire_grace: float = 60.0,
        heartbeat_timeout: float = 120.0,
        now: Callable[[], int] | None = None,
        caller: Caller | None = None,
    ) -> None:
        """Build a scheduler over ``store`` (not started: call :meth:`start` or :meth:`tick`)."""
        self.service = SchedulingService(store, caller or Caller(user="scheduler"))
        self.interval = interval
        self.misfire_grace = misfire_grace
        self.heartbeat_timeout = heartbeat_timeout
        self.now = now or (lambda: time.time_ns() // 1_000_000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, store: SqlStore, settings: Settings) -> Scheduler:
        """A scheduler configured by ``MODELYARD_SCHEDULER_*`` and ``MODELYARD_HEARTBEAT_TIMEOUT``."""
        return cls(
            store,
            interval=settings.scheduler_interval,
            misfire_grace=settings.scheduler_misfire_grace,
            heartbeat_timeout=settings.heartbeat_timeout,
        )

    def tick(self) -> TickReport:
        """One pass: fire due schedules, poll dataset triggers, reap stale claims.

        A failing part (a database hiccup) is logged and reported; the other parts still run.
        """
        report = TickReport()
        parts: list[tuple[str, Callable[[], list[str]], list[str]]] = [
            ("schedules", lambda: self.service.fire_due_schedules(self.now(), self.misfire_grace), report.scheduled),
            ("dataset triggers", self.service.poll_dataset_triggers, report.triggered),
            ("reaping", lambda: self.service.reap(self.heartbeat_timeout, self.now()), report.reaped),
        ]
        for name, part, into in parts:
            try:
                into.extend(part())
            except Exception as exc:  # noqa: BLE001 - the loop must survive: it retries on the next pass
                _log.warning("scheduler: %s failed: %s", name, exc)
                report.errors.append(f"{name}: {exc}")
        for run_id in report.scheduled + report.triggered:
            _log.info("scheduler: enqueued pipeline run %s", run_id)
        for run_id in report.reaped:
            _log.warning("scheduler: pipeline run %s failed: its worker stopped sending heartbeats", run_id)
        return report

    def start(self) -> None:
        """Run :meth:`tick` every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="modelyard-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop and wait for a pass in progress to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
