"""Capture of a step's stdout, stderr and logging records, per thread.

While pipelines run, ``sys.stdout`` and ``sys.stderr`` are replaced by routers that send a write to
the buffer of the step running on the writing thread (and to the original stream otherwise), and
a logging handler on the root logger does the same for records. Steps on other threads, and code
outside steps, are unaffected.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["capture_step", "installed"]

_local = threading.local()
_lock = threading.Lock()
_users = 0
_originals: tuple[TextIO, TextIO] | None = None
_MAX = 100_000


class _Router(io.TextIOBase):
    def __init__(self, original: TextIO) -> None:
        self.original = original

    def write(self, text: str) -> int:
        buffer: list[str] | None = getattr(_local, "buffer", None)
        if buffer is None:
            return self.original.write(text)
        if sum(map(len, buffer)) < _MAX:
            buffer.append(text)
        return len(text)

    def flush(self) -> None:
        if getattr(_local, "buffer", None) is None:
            self.original.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.original.fileno()


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buffer: list[str] | None = getattr(_local, "buffer", None)
        if buffer is not None and sum(map(len, buffer)) < _MAX:
            buffer.append(f"{record.levelname} {record.name}: {record.getMessage()}\n")


_handler = _Handler(logging.NOTSET)


@contextmanager
def installed() -> Iterator[None]:
    """Install the routers for the duration of a pipeline run (reference-counted across threads)."""
    global _users, _originals
    with _lock:
        _users += 1
        if _users == 1:
            _originals = (sys.stdout, sys.stderr)
            sys.stdout = _Router(sys.stdout)
            sys.stderr = _Router(sys.stderr)
            logging.getLogger().addHandler(_handler)
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _originals is not None:
                if isinstance(sys.stdout, _Router):
                    sys.stdout = _originals[0]
                if isinstance(sys.stderr, _Router):
                    sys.stderr = _originals[1]
                logging.getLogger().removeHandler(_handler)
                _originals = None


@contextmanager
def capture_step() -> Iterator[list[str]]:
    """Collect what the current thread prints and logs into the yielded list."""
    previous: Any = getattr(_local, "buffer", None)
    buffer: list[str] = []
    _local.buffer = buffer
    try:
        yield buffer
    finally:
        _local.buffer = previous


def joined(buffer: list[str]) -> str | None:
    """The captured text (``None`` when nothing was captured)."""
    text = "".join(buffer)
    if len(text) > _MAX:
        text = text[:_MAX] + "\n[... truncated ...]"
    return text or None
