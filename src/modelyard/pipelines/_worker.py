"""``modelyard worker``: claim queued pipeline runs, execute them, heartbeat while they run.

A worker talks to the metadata database directly (it claims rows with ``FOR UPDATE SKIP LOCKED``
on PostgreSQL, under ``BEGIN IMMEDIATE`` on SQLite), so two workers never run the same queued
run. While a run executes, a heartbeat thread refreshes the worker's and the run's heartbeat every
``heartbeat_interval`` seconds; a worker that dies stops heartbeating and the scheduler's reaper
marks its run ``FAILED`` after ``heartbeat_timeout``. The pipeline itself is loaded from its
registered import path and executed by the engine (``run_pipeline(..., pipeline_run_id=...)``),
which may hand steps to Ray.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from typing import TYPE_CHECKING

from modelyard.audit import Caller, local_caller
from modelyard.entities import QueuedPipelineRun
from modelyard.errors import InvalidInputError
from modelyard.pipelines._schedule import check_executor
from modelyard.pipelines._scheduling import SchedulingService

if TYPE_CHECKING:
    from modelyard.client import Client
    from modelyard.settings import Settings
    from modelyard.store.sql import SqlStore

__all__ = ["Worker"]

_log = logging.getLogger("modelyard.worker")
_MAX_ERROR = 20_000


class Worker:
    """Claims and executes queued pipeline runs from the store at ``uri`` until stopped."""

    def __init__(
        self,
        settings: Settings,
        uri: str | None = None,
        *,
        executor: str | None = None,
        poll_interval: float | None = None,
        heartbeat_interval: float | None = None,
        parent_pid: int | None = None,
        caller: Caller | None = None,
    ) -> None:
        """Open the store (a directory, ``sqlite:///`` or ``postgresql://`` URI; not a server URL).

        Args:
            settings: settings (store location, intervals).
            uri: the store; default ``MODELYARD_URI``, else ``MODELYARD_HOME``.
            executor: run every pipeline with this executor instead of the one it was queued with.
            poll_interval: seconds between looks at an empty queue.
            heartbeat_interval: seconds between heartbeats.
            parent_pid: stop when this process (the server that started the worker) is gone.
            caller: who is recorded on audit events (default: the OS user).
        """
        from modelyard.store.sql import SqlStore

        target = uri or settings.uri
        if target and target.startswith(("http://", "https://")):
            raise InvalidInputError(
                "modelyard worker claims runs in the metadata database: give it the database URI "
                "(a directory, sqlite:///file.db or postgresql://...), not the server's URL."
            )
        self.settings = settings
        self.uri = target
        self.location = settings.location(target)
        self.store: SqlStore = SqlStore.open(self.location.db_url, busy_timeout=settings.sqlite_busy_timeout)
        self.executor = None if executor is None else check_executor(executor)
        self.poll_interval = poll_interval or settings.worker_poll_interval
        self.heartbeat_interval = heartbeat_interval or settings.heartbeat_interval
        self.parent_pid = parent_pid
        self.id = f"{socket.gethostname()[:80]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.service = SchedulingService(self.store, caller or local_caller(settings.user))
        self._stop = threading.Event()
        self._running: list[str] = []
        self._lock = threading.Lock()
        self._client: Client | None = None

    # lifecycle ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the worker to stop after the run in progress (if any)."""
        self._stop.set()

    def _parent_gone(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def run(self, *, once: bool = False) -> int:
        """Claim and execute runs until stopped (``once``: until the queue is empty); return how many ran."""
        self.service.worker_started(self.id, socket.gethostname()[:255], os.getpid())
        beat = threading.Thread(target=self._heartbeats, name="modelyard-worker-heartbeat", daemon=True)
        beat.start()
        done = 0
        try:
            while not self._stop.is_set() and not self._parent_gone():
                queued = self.run_one()
                if queued is not None:
                    done += 1
                    continue
                if once:
                    break
                self._stop.wait(self.poll_interval)
        finally:
            self._stop.set()
            beat.join(5)
            try:
                self.service.worker_stopped(self.id)
            finally:
                self.close()
        return done

    def close(self) -> None:
        """Release the client and the store's connections."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self.store.close()

    def _heartbeats(self) -> None:
        while not self._stop.wait(self.heartbeat_interval):
            with self._lock:
                running = list(self._running)
            try:
                held = self.service.heartbeat(self.id, running)
            except Exception as exc:  # noqa: BLE001 - a database hiccup: the next beat retries
                _log.warning("worker %s: heartbeat failed: %s", self.id, exc)
                continue
            if held < len(running):
                _log.warning("worker %s: a run it executes was reaped (no heartbeat in time)", self.id)
            if self._parent_gone():
                self._stop.set()

    # one run ------------------------------------------------------------------------------
    def run_one(self) -> QueuedPipelineRun | None:
        """Claim the oldest pending run and execute it; ``None`` when the queue is empty."""
        queued = self.service.claim(self.id)
        if queued is None:
            return None
        with self._lock:
            self._running.append(queued.run_id)
        error: str | None = None
        try:
            self._execute(queued)
        except Exception as exc:  # noqa: BLE001 - any failure ends the run FAILED, never PENDING
            # The pipeline could not even start (import error, bad params): the run must not stay PENDING.
            error = f"{type(exc).__name__}: {exc}"
            _log.warning("worker %s: pipeline run %s failed to run: %s", self.id, queued.run_id, error)
            _log.debug("%s", traceback.format_exc())
        finally:
            with self._lock:
                self._running.remove(queued.run_id)
        return self.service.finish(queued.run_id, self.id, None if error is None else error[:_MAX_ERROR])

    def _client_for_runs(self) -> Client:
        from modelyard.client import Client

        if self._client is None:
            self._client = Client(self.uri, settings=self.settings)
        return self._client

    def _execute(self, queued: QueuedPipelineRun) -> None:
        from modelyard.pipelines import run_pipeline

        run_pipeline(
            queued.target,
            params=queued.params,
            executor=self.executor or queued.executor,
            pipeline_run_id=queued.run_id,
            client=self._client_for_runs(),
            raise_on_failure=False,
        )
