"""Cron arithmetic and the checks of schedule and trigger input (pure functions, no store).

Fire times are computed in the schedule's own time zone (``zoneinfo``) by ``croniter``, then kept
as UTC epoch milliseconds: ``0 3 * * *`` in ``Europe/Berlin`` fires at 03:00 Berlin time on both
sides of a daylight-saving change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from modelyard.errors import InvalidInputError
from modelyard.names import validate_key

__all__ = [
    "EXECUTORS",
    "MISSED_POLICIES",
    "check_cron",
    "check_executor",
    "check_missed",
    "check_params",
    "check_target",
    "check_timezone",
    "fire_times",
    "next_fire",
]

MISSED_POLICIES = ("skip", "catch_up_once")
"""What a schedule does about fire times missed while no scheduler ran."""
EXECUTORS = ("thread", "process", "ray")
_TARGET = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
)
_MAX_PARAMS_BYTES = 64 * 1024
_MAX_CATCH_UP_SCAN = 1_000
"""Missed fire times counted one by one when a scheduler comes back after a gap."""


def check_cron(expression: object) -> str:
    """Return a valid five-field cron expression, or raise naming the field."""
    from croniter import croniter

    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInputError("cron must be a cron expression such as '0 3 * * *' (minute hour day month weekday).")
    text = " ".join(expression.split())
    if len(text.split(" ")) != 5 or len(text) > 128 or not croniter.is_valid(text):
        raise InvalidInputError(
            f"cron {expression!r} is not a valid cron expression: use five fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *' or '*/15 * * * *'."
        )
    return text


def check_timezone(name: object) -> str:
    """Return a known IANA time zone name, or raise naming the field."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(name, str) or not name or len(name) > 64 or name.startswith("/") or ".." in name:
        raise InvalidInputError(f"timezone {name!r} is not a time zone name: use an IANA name such as 'Europe/Berlin'.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"timezone {name!r} is unknown: use an IANA name such as 'UTC', 'Europe/Berlin' or 'America/New_York'."
        ) from None
    return name


def check_missed(policy: object) -> str:
    """Return a missed-run policy (``catch-up`` is accepted for ``catch_up_once``)."""
    value = str(policy).replace("-", "_") if isinstance(policy, str) else policy
    if value == "catch_up":
        value = "catch_up_once"
    if value not in MISSED_POLICIES:
        raise InvalidInputError(f"missed must be 'skip' or 'catch-up' (catch up once), got {policy!r}.")
    return str(value)


def check_executor(executor: object) -> str:
    """Return a known executor name."""
    if executor not in EXECUTORS:
        raise InvalidInputError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}.")
    return str(executor)


def check_target(target: object) -> str:
    """Return an import path ``package.module:attribute`` (checked for shape only: it is never imported here)."""
    if not isinstance(target, str) or len(target) > 512 or not _TARGET.match(target):
        raise InvalidInputError(
            f"pipeline target {target!r} is not an import path: use 'package.module:pipeline_function'."
        )
    return target


def check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return pipeline parameters as a JSON-able dict (values are data: they are never evaluated)."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidInputError(f"params must be a mapping of names to values, got {type(params).__name__}.")
    out: dict[str, Any] = {}
    for key, value in params.items():
        validate_key(key, "param")
        out[str(key)] = value
    try:
        text = json.dumps(out, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"params must be JSON values (strings, numbers, booleans, lists, maps): {exc}."
        ) from None
    if len(text) > _MAX_PARAMS_BYTES:
        raise InvalidInputError(f"params take {len(text)} bytes as JSON; at most {_MAX_PARAMS_BYTES} are allowed.")
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def _local(ms: int, timezone: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(ZoneInfo(timezone))


def next_fire(cron: str, timezone: str, after_ms: int) -> int:
    """The first fire time strictly after ``after_ms`` (epoch ms, UTC)."""
    from croniter import croniter

    found: datetime = croniter(cron, _local(after_ms, timezone)).get_next(datetime)
    return int(found.timestamp() * 1000)


def fire_times(cron: str, timezone: str, first_ms: int, until_ms: int) -> tuple[int, int, int]:
    """Walk fire times from ``first_ms`` (itself a fire time) up to ``until_ms``.

    Returns ``(count, latest, following)``: how many fire times fall in ``[first_ms, until_ms]``
    (counted up to :data:`_MAX_CATCH_UP_SCAN`; after a longer gap the count stops there and the
    latest is found by one backward step), the latest of them, and the first one after ``until_ms``.
    """
    from croniter import croniter

    it = croniter(cron, _local(first_ms, timezone))
    latest, count = first_ms, 1
    while True:
        following = int(it.get_next(datetime).timestamp() * 1000)
        if following > until_ms:
            return count, latest, following
        latest, count = following, count + 1
        if count >= _MAX_CATCH_UP_SCAN:
            previous: datetime = croniter(cron, _local(until_ms, timezone)).get_prev(datetime)
            return count, max(latest, int(previous.timestamp() * 1000)), next_fire(cron, timezone, until_ms)
