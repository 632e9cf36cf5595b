"""Group commit of step runs: finished step records are written in batches, in order.

One durable transaction per step would cost an fsync per step (milliseconds on SQLite), far more
than a trivial step. Instead the engine hands each step record (started, finished, cached, failed,
skipped) to a :class:`StepRecorder`; a background thread writes everything queued every
``interval`` seconds in one transaction, after making the blobs those records reference durable.
Batches are written in the order records were queued, and a step is queued only after the steps
it consumes, so the store always holds a prefix of the run's history: after a crash, at most the
batch in flight is lost, and ``resume`` re-runs exactly the steps whose ``FINISHED`` record did not
reach the store. The pipeline's last records and its final status are written together, durably,
before ``run()`` returns; a failure flushes at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from modelyard.errors import ModelyardError, StoreError

__all__ = ["StepRecorder"]


class StepRecorder:
    """Batches step records of one pipeline run and writes them from a background thread."""

    def __init__(self, backend: Any, pipeline_run_id: str, *, interval: float = 0.05) -> None:
        """Write through ``backend.record_pipeline_steps`` at least every ``interval`` seconds."""
        self.backend = backend
        self.run_id = pipeline_run_id
        self.interval = interval
        self.cancel_requested = False
        self._pending: list[dict[str, Any]] = []
        self._has_blobs = False
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._error: ModelyardError | None = None
        self._last_poll = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="modelyard-step-recorder", daemon=True)
        self._thread.start()

    def add(self, record: Mapping[str, Any]) -> None:
        """Queue a record (a later record of the same step run replaces it in the batch)."""
        with self._lock:
            self._pending.append(dict(record))
            if any(o.get("kind") not in ("inline", "dataset") for o in record.get("outputs") or ()):
                self._has_blobs = True

    def _take(self) -> tuple[list[dict[str, Any]], bool]:
        with self._lock:
            batch, self._pending = self._pending, []
            has_blobs, self._has_blobs = self._has_blobs, False
        # Keep only the latest record of each step run (started + finished in one batch -> finished).
        latest: dict[str, dict[str, Any]] = {}
        for record in batch:
            latest.pop(record["run_id"], None)
            latest[record["run_id"]] = record
        return list(latest.values()), has_blobs

    def _write(self, finish: Mapping[str, Any] | None = None) -> None:
        with self._flush_lock:
            batch, has_blobs = self._take()
            if not batch and finish is None and time.monotonic() - self._last_poll < 0.5:
                return
            try:
                if has_blobs:
                    self.backend.sync_step_output_blobs()
                delay = 0.05
                for attempt in range(6):
                    try:
                        cancel = self.backend.record_pipeline_steps(self.run_id, batch, finish=finish)
                        break
                    except StoreError:
                        if attempt == 5:
                            raise
                        time.sleep(delay)
                        delay *= 2
            except BaseException:
                with self._lock:  # keep the batch: the next write (or the final one) retries it
                    self._pending[:0] = batch
                    self._has_blobs = self._has_blobs or has_blobs
                raise
            self._last_poll = time.monotonic()
            self.cancel_requested = self.cancel_requested or bool(cancel)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._closed:
                break
            try:
                self._write()
            except ModelyardError as exc:
                self._error = exc
            except Exception as exc:  # noqa: BLE001 - the thread must survive anything
                self._error = StoreError(f"Recording step runs failed: {exc}")

    def flush(self) -> None:
        """Write everything queued now (raise the error a background write hit)."""
        self._write()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def finish(self, status: str, error: str | None) -> None:
        """Stop the thread, then write the last records and the pipeline run's final status in one transaction."""
        self._closed = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._write(finish={"status": status, "error": error})
        self._raise()

    def close(self) -> None:
        """Stop the background thread without writing (after :meth:`finish`, or when abandoning)."""
        self._closed = True
        self._wake.set()
