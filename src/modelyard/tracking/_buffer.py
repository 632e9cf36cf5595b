"""Client-side metric buffer: ``log_metric`` appends to memory; a background thread writes batches.

Points are flushed at least every ``interval`` seconds, early when many are waiting, on run end,
on ``flush()`` and at interpreter exit. Each batch carries a fresh id so a retried write is never
applied twice. A transient store error keeps the points queued and retries; a permanent error
(for example a deleted run) drops that run's batch and is raised by the next ``flush()``. After
``fork`` the child starts with its own empty buffer and no thread (the parent's are not shared).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Sequence

from modelyard.errors import ModelyardError, StoreError
from modelyard.types import MetricPoint

__all__ = ["MetricBuffer"]

_EARLY_FLUSH_POINTS = 50_000
_buffers: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()

LogBatch = Callable[[str, Sequence[MetricPoint], str], object]


class MetricBuffer:
    """Buffers ``(run_id, key, value, timestamp_ms, step)`` points and writes them in batches."""

    def __init__(self, log_batch: LogBatch, interval: float = 1.0) -> None:
        """Write through ``log_batch(run_id, points, batch_id)`` at least every ``interval`` seconds."""
        self._log_batch = log_batch
        self._interval = interval
        self._reset()
        _buffers.add(self)

    def _reset(self) -> None:
        # One queue per run; deque.append and popleft are atomic, so the hot path takes no lock.
        self._queues: dict[str, deque[MetricPoint]] = {}
        self._pending = 0
        self._lock = threading.Lock()  # guards starting the thread
        self._flush_lock = threading.Lock()  # keeps batches in order
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._errors: list[ModelyardError] = []

    def add(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> None:
        """Queue one point (the hot path: a dict lookup and an append)."""
        queue = self._queues.get(run_id)
        if queue is None:
            queue = self._queues.setdefault(run_id, deque())
        queue.append((key, value, timestamp, step))
        self._pending += 1  # approximate under threads; only decides an early wake-up
        if self._thread is None:
            self._start()
        elif self._pending >= _EARLY_FLUSH_POINTS:
            self._pending = 0
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._loop, name="modelyard-metric-flush", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self._write()
            except ModelyardError as exc:  # kept, raised by the next flush()
                self._errors.append(exc)
            except Exception as exc:  # noqa: BLE001 - the thread must survive anything
                self._errors.append(StoreError(f"Writing buffered metrics failed: {exc}"))

    def _write(self) -> None:
        with self._flush_lock:
            for run_id, queue in list(self._queues.items()):
                batch = [queue.popleft() for _ in range(len(queue))]
                if not batch:
                    continue
                try:
                    self._send(run_id, batch)
                except ModelyardError as exc:  # other runs' batches still go through
                    self._errors.append(exc)

    def _send(self, run_id: str, batch: list[MetricPoint]) -> None:
        batch_id = uuid.uuid4().hex
        delay = 0.05
        for attempt in range(6):
            try:
                self._log_batch(run_id, batch, batch_id)
                return
            except StoreError:
                if attempt == 5:
                    raise
                time.sleep(delay)
                delay *= 2

    def flush(self) -> None:
        """Write every queued point now; raise the first error a background write hit."""
        self._write()
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def flush_soon(self) -> None:
        """Wake the background thread to write the queued points now, without waiting for it."""
        if self._thread is not None:
            self._wake.set()

    def forget(self, run_id: str) -> None:
        """Drop the (flushed) queue of an ended run."""
        queue = self._queues.get(run_id)
        if queue is not None and not queue:
            self._queues.pop(run_id, None)

    def close(self) -> None:
        """Flush and stop the background thread."""
        try:
            self.flush()
        finally:
            self._closed = True
            self._wake.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)

    def _after_fork_in_child(self) -> None:
        self._reset()


def _reset_after_fork() -> None:
    for buffer in list(_buffers):
        buffer._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
