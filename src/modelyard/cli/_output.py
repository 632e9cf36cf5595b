"""Shared rendering for the commands: consoles, JSON output, errors, and cell formatting."""

from __future__ import annotations

import json
import math
import re
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

if TYPE_CHECKING:
    from pydantic import BaseModel

    from modelyard.entities import Run

__all__ = [
    "STATUS_STYLES",
    "console",
    "dump",
    "err_console",
    "format_bytes",
    "format_duration",
    "format_time",
    "format_value",
    "print_error",
    "print_json",
    "redact_url",
    "run_cell",
    "status_text",
]

STATUS_STYLES: dict[str, str] = {
    "RUNNING": "blue",
    "FINISHED": "green",
    "FAILED": "red",
    "KILLED": "magenta",
    "PENDING": "cyan",
    "CACHED": "green",
    "SKIPPED": "yellow",
}
"""The colour of each run status."""


def console() -> Console:
    """A console on standard output (resolved at call time, so redirections are honoured).

    Messages are never wrapped (so commands and ids stay copyable); tables still fit the width.
    """
    return Console(soft_wrap=True)


def err_console() -> Console:
    """A console on standard error, for progress, hints and errors."""
    return Console(stderr=True, soft_wrap=True)


def print_error(exc: BaseException) -> None:
    """Print an error as one line on standard error: a red ``Error:`` and the first line of its message."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    # soft_wrap keeps the message on one line whatever the terminal width; escape keeps
    # brackets in paths and filters from being read as Rich markup.
    Console(stderr=True, soft_wrap=True, highlight=False).print(f"[bold red]Error:[/] {escape(lines[0])}")


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON-ready form of an entity."""
    return model.model_dump(mode="json")


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on standard output (never wrapped or coloured)."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def status_text(run: Run) -> Text:
    """The run's status in its colour, marked when the run is deleted."""
    text = Text(run.status.value, style=STATUS_STYLES.get(run.status.value, ""))
    if run.deleted:
        text.append(" (deleted)", style="dim")
    return text


def run_cell(run: Run) -> Text:
    """A table cell naming a run: its name, and its full id (dim) below, ready to copy."""
    text = Text(run.name, style="bold", overflow="fold")
    text.append(f"\n{run.id}", style="dim")
    return text


def format_time(value: datetime | None) -> str:
    """A timestamp in local time to the second; empty for ``None``."""
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_duration(start: datetime, end: datetime | None) -> str:
    """Human duration between two times (``running`` when the run has not ended)."""
    if end is None:
        return "running"
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_value(value: object) -> str:
    """A metric or param value for a table cell (floats to 6 significant digits)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    return str(value)


def format_bytes(size: int) -> str:
    """A byte count in B, KiB, MiB, GiB or TiB."""
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(amount) < 1024:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def redact_url(url: str) -> str:
    """A store URL safe to print: any password is replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", url)
