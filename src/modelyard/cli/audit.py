"""``modelyard audit``: read the append-only audit log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli._options import JsonOption, UriOption, open_client
from modelyard.cli._output import console, dump, err_console, format_time, print_json

__all__ = ["app"]

app = typer.Typer(help="Read the append-only audit log.", no_args_is_help=True, add_completion=False)


@app.callback()
def _group() -> None:
    """Read the append-only audit log."""


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


@app.command(name="list")
def list_events(
    user: Annotated[str | None, typer.Option(help="Only events by this user.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. run.create.")] = None,
    object_type: Annotated[str | None, typer.Option("--object-type", help="run, project, user, token, ...")] = None,
    object_id: Annotated[str | None, typer.Option("--object-id", help="Only events about this object.")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only events in this project.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Only events at or after this time (ISO 8601).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Only events before this time (ISO 8601).")] = None,
    before_id: Annotated[
        int | None, typer.Option("--before-id", min=1, help="Page backwards: events older than this id.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Events per page.")] = 50,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List audit events, newest first (filter by user, object, action, project and time)."""
    with open_client(uri) as client:
        events = client.list_audit(
            actor=user,
            action=action,
            object_type=object_type,
            object_id=object_id,
            project=project,
            since_ms=_ms(since),
            until_ms=_ms(until),
            before_id=before_id,
            limit=limit,
        )
    if as_json:
        print_json({"events": [dump(e) for e in events]})
        return
    if not events:
        err_console().print("No audit events match.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("id", "time", "user", "action", "object", "project", "summary"):
        table.add_column(column)
    for e in events:
        summary = json.dumps(e.summary, separators=(",", ":"), default=str)
        table.add_row(
            str(e.id),
            format_time(e.time),
            e.actor,
            e.action,
            f"{e.object_type}:{e.object_id}",
            e.project or "",
            summary if len(summary) <= 80 else summary[:77] + "...",
        )
    console().print(table)
    if len(events) == limit:
        err_console().print(f"More: --before-id {min(e.id for e in events)}")
