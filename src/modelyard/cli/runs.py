"""``modelyard runs``: list, show, compare, delete and restore runs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from modelyard.cli._options import JsonOption, ProjectOption, UriOption, open_client
from modelyard.cli._output import (
    console,
    dump,
    err_console,
    format_bytes,
    format_duration,
    format_time,
    format_value,
    print_json,
    run_cell,
    status_text,
)

if TYPE_CHECKING:
    from modelyard.entities import Run

__all__ = ["app"]

app = typer.Typer(help="List, show, compare, delete and restore runs.", no_args_is_help=True, add_completion=False)

RunIdArgument = Annotated[str, typer.Argument(help="Run id (32 hex characters).", metavar="RUN_ID", show_default=False)]

_MAX_METRIC_COLUMNS = 4
_MAX_PARAM_COLUMNS = 3


@app.command("list")
def list_runs(
    project: ProjectOption = None,
    filter: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-f",
            show_default=False,
            help="Search filter, e.g. \"metrics.accuracy > 0.9 and params.C = '1.0'\".",
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by",
            "-o",
            show_default=False,
            help="Sort key, e.g. 'metrics.accuracy desc' (repeatable) \\[default: newest first]",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Runs per page.")] = 50,
    page_token: Annotated[
        str | None, typer.Option("--page-token", help="Continue from a previous page.", show_default=False)
    ] = None,
    include_deleted: Annotated[
        bool, typer.Option("--include-deleted", "--all", "-a", help="Include deleted runs.")
    ] = False,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the runs of a project, newest first, one page at a time."""
    with open_client(uri, project) as client:
        page = client.search_runs(
            filter=filter, order_by=order_by, limit=limit, page_token=page_token, include_deleted=include_deleted
        )
        project_name = client.project
    if as_json:
        print_json({"runs": [dump(run) for run in page], "next_page_token": page.next_page_token})
        return
    if not page:
        console().print(f"No runs in project {escape(repr(project_name))} match.", highlight=False)
        return
    out = console()
    out.print(_runs_table(page, project_name, out.width))
    if page.next_page_token:
        err_console().print(
            f"More runs: add [bold]--page-token {escape(page.next_page_token)}[/]", highlight=False, soft_wrap=True
        )


def _common_keys(dicts: Sequence[dict[str, Any]], limit: int) -> list[str]:
    """The ``limit`` keys present in most of ``dicts`` (ties alphabetically), in alphabetical order."""
    counts = Counter(key for d in dicts for key in d)
    chosen = sorted(counts, key=lambda k: (-counts[k], k))[:limit]
    return sorted(chosen)


def _runs_table(runs: Sequence[Run], project: str, width: int) -> Table:
    table = Table(title=f"Runs of {escape(project)}", title_justify="left")
    table.add_column("run", min_width=32)
    table.add_column("status", no_wrap=True)
    table.add_column("start", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    # Add the most common metric and param columns while they fit the terminal.
    room = width - 80
    extra: list[tuple[str, str]] = []
    candidates = [("metrics", k) for k in _common_keys([r.metrics for r in runs], _MAX_METRIC_COLUMNS)]
    candidates += [("params", k) for k in _common_keys([r.params for r in runs], _MAX_PARAM_COLUMNS)]
    for section, key in candidates:
        needed = max(len(key), 8) + 3
        if needed <= room:
            room -= needed
            extra.append((section, key))
            table.add_column(
                escape(key),
                justify="right" if section == "metrics" else "left",
                style="cyan" if section == "metrics" else "magenta",
                overflow="fold",
            )
    for run in runs:
        table.add_row(
            run_cell(run),
            status_text(run),
            format_time(run.start_time),
            format_duration(run.start_time, run.end_time),
            *(escape(format_value(getattr(run, section).get(key))) for section, key in extra),
        )
    return table


@app.command()
def show(run_id: RunIdArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Show a run: params, metrics, tags, artifacts, inputs (dataset versions), parent, source and error."""
    with open_client(uri) as client:
        run = client.get_run(run_id)
        artifacts = client.list_artifacts(run_id)
        inputs = client.list_run_inputs(run_id)
    if as_json:
        print_json({**dump(run), "artifacts": [dump(a) for a in artifacts], "inputs": [dump(i) for i in inputs]})
        return
    out = console()
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    fields: list[tuple[str, str | Text]] = [
        ("id", run.id),
        ("name", escape(run.name)),
        ("project", escape(run.project)),
        ("status", status_text(run)),
        ("parent", run.parent_id or "—"),
        ("user", escape(run.user)),
        ("start", format_time(run.start_time)),
        ("end", format_time(run.end_time) or "—"),
        ("duration", format_duration(run.start_time, run.end_time)),
        ("source", escape(run.source or "—")),
        ("git commit", run.git_commit or "—"),
    ]
    for name, value in fields:
        header.add_row(name, value)
    out.print(header)
    for title, values in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
        if values:
            out.print(_key_value_table(title, values))
    if artifacts:
        table = Table("path", "size", "digest", title="artifacts", title_justify="left")
        table.columns[1].justify = "right"
        for artifact in artifacts:
            table.add_row(escape(artifact.path), format_bytes(artifact.size), artifact.digest[:16])
        out.print(table)
    if inputs:
        table = Table("dataset", "role", "project", "digest", title="inputs", title_justify="left")
        for item in inputs:
            label = item.ref + (" (deleted)" if item.deleted else "")
            table.add_row(escape(label), escape(item.role), escape(item.project), item.digest[:12])
        out.print(table)
    if run.error:
        out.print(Text("error", style="bold red"))
        out.print(Text(run.error.rstrip(), style="red"))


def _key_value_table(title: str, values: dict[str, Any]) -> Table:
    table = Table("key", "value", title=title, title_justify="left")
    for key in sorted(values):
        table.add_row(escape(key), escape(format_value(values[key])))
    return table


@app.command()
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.", metavar="RUN_ID", show_default=False)],
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare runs side by side: params and metrics, with the differences highlighted."""
    if len(run_ids) < 2:
        raise typer.BadParameter("give at least two run ids to compare.", param_hint="RUN_IDS")
    with open_client(uri) as client:
        runs = [client.get_run(run_id) for run_id in run_ids]
    dumped = [dump(run) for run in runs]
    sections: dict[str, dict[str, list[Any]]] = {}
    for section in ("params", "metrics"):
        keys = sorted({key for d in dumped for key in d[section]})
        sections[section] = {key: [d[section].get(key) for d in dumped] for key in keys}
    differing = {
        section: [key for key, values in rows.items() if len({repr(v) for v in values}) > 1]
        for section, rows in sections.items()
    }
    if as_json:
        print_json(
            {
                "runs": [{"id": r.id, "name": r.name, "status": r.status.value} for r in runs],
                **sections,
                "differences": differing,
            }
        )
        return
    table = Table(title="Run comparison (differences in bold yellow)", title_justify="left")
    table.add_column("", no_wrap=True)
    for run in runs:
        table.add_column(run_cell(run), overflow="fold")
    table.add_row("status", *(status_text(run) for run in runs))
    table.add_row("duration", *(format_duration(run.start_time, run.end_time) for run in runs))
    for section in ("params", "metrics"):
        if not sections[section]:
            continue
        table.add_section()
        table.add_row(Text(section, style="bold underline"))
        for key, values in sections[section].items():
            style = "bold yellow" if key in differing[section] else ""
            table.add_row(Text(key, style=style), *(Text(format_value(v), style=style) for v in values))
    console().print(table)


@app.command()
def delete(run_id: RunIdArgument, uri: UriOption = None) -> None:
    """Delete a run and its nested runs (hidden from listings; `runs restore` brings them back)."""
    with open_client(uri) as client:
        client.delete_run(run_id)
    console().print(f"Deleted run {run_id} and its nested runs.", highlight=False)


@app.command()
def restore(run_id: RunIdArgument, uri: UriOption = None) -> None:
    """Restore a deleted run and its nested runs."""
    with open_client(uri) as client:
        client.restore_run(run_id)
    console().print(f"Restored run {run_id} and its nested runs.", highlight=False)
