"""Identifiers generated on the client: UUIDv7 run ids, so a retried create is idempotent."""

from __future__ import annotations

import os
import re
import threading
import time

__all__ = ["is_run_id", "new_run_id"]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_run_id() -> str:
    """Return a new UUIDv7 as 32 lowercase hex characters.

    The first 48 bits are the Unix time in milliseconds, so ids sort by creation time; a 12-bit
    counter keeps ids created in the same millisecond by this process ordered (RFC 9562, method 1).
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:
                ms += 1
                _counter = 0
        else:
            _counter = 0
        _last_ms = ms
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big")
    value = (ms & 0xFFFFFFFFFFFF) << 80
    value |= 0x7 << 76  # version 7
    value |= counter << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))  # RFC variant
    return f"{value:032x}"


def is_run_id(value: object) -> bool:
    """Return whether ``value`` is a well-formed run id (32 lowercase hex characters)."""
    return isinstance(value, str) and _RUN_ID.match(value) is not None
