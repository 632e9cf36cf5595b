"""``modelyard gc``: remove blobs that no live object references."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli._options import JsonOption, UriOption, open_client
from modelyard.cli._output import console, dump, err_console, format_bytes, print_json

__all__ = ["app"]

app = typer.Typer(add_completion=False)


@app.command(name="gc")
def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run/--no-dry-run", help="Only report what would be removed.")] = True,
    grace_seconds: Annotated[
        int | None,
        typer.Option(
            "--grace-seconds",
            min=0,
            help="Keep unreferenced blobs younger than this (uploads in flight) "
            "\\[default: MODELYARD_GC_GRACE_SECONDS, else 3600]",
            show_default=False,
        ),
    ] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove blobs that no live object references (a dry run unless --no-dry-run)."""
    with open_client(uri) as client:
        report = client.gc(dry_run=dry_run, grace_seconds=grace_seconds)
    if as_json:
        print_json(dump(report))
        return
    verb = "would be removed" if report.dry_run else "removed"
    title = "Garbage collection (dry run)" if report.dry_run else "Garbage collection"
    table = Table("", "blobs", "bytes", title=title)
    table.columns[1].justify = table.columns[2].justify = "right"
    table.add_row(verb, str(report.blobs_removed), format_bytes(report.bytes_removed))
    table.add_row("kept (younger than the grace period)", str(report.blobs_kept_recent), "")
    console().print(table)
    if report.dry_run and report.blobs_removed:
        err_console().print("Run `modelyard gc --no-dry-run` to remove them.", highlight=False)
