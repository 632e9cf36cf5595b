"""``modelyard data remote|push|pull|diff``: remotes of an embedded store, and comparing versions.

The command functions are plain Typer-annotated functions; :func:`register` adds them to the
``data`` command group (``remote`` as a sub-group with ``add``, ``list`` and ``remove``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from modelyard.cli._options import JsonOption, ProjectOption, UriOption, open_client
from modelyard.cli._output import console, dump, err_console, format_bytes, print_json, redact_url

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from modelyard.data._diff import DatasetDiff
    from modelyard.data._remotes import TransferReport

__all__ = ["diff", "pull", "push", "register", "remote_add", "remote_list", "remote_remove"]

_MAX_FILE_ROWS = 200
"""Files listed by ``data diff`` before the table is cut short (``--json`` lists every one)."""

RemoteOption = Annotated[
    str | None,
    typer.Option(
        "--remote", "-r", help="Remote to use \\[default: the default remote, or the only one]", show_default=False
    ),
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs", "-j", min=1, max=256, help="Parallel copies \\[default: from the CPU count]", show_default=False
    ),
]
AllVersionsOption = Annotated[
    bool, typer.Option("--all-versions", help="Every version of the selected datasets, not only the newest.")
]


# -- remotes ------------------------------------------------------------------------------------


def remote_add(
    name: Annotated[str, typer.Argument(help="Name of the remote.", show_default=False)],
    url: Annotated[
        str,
        typer.Argument(help="A directory, file://, s3://bucket/prefix, gs://... (any fsspec URL).", show_default=False),
    ],
    default: Annotated[bool, typer.Option("--default", help="Make it the default remote.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Change the URL of an existing remote.")] = False,
    uri: UriOption = None,
) -> None:
    """Add a remote that push and pull can use (the first one added is the default)."""
    from modelyard.data._remotes import add_remote

    with open_client(uri) as client:
        remote = add_remote(name, url, default=default, replace=replace, client=client)
    note = " (default)" if remote.default else ""
    console().print(f"Added remote [bold]{remote.name}[/]{note}: {redact_url(remote.url)}", highlight=False)


def remote_list(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List the configured remotes."""
    from modelyard.data._remotes import list_remotes

    with open_client(uri) as client:
        remotes = list_remotes(client=client)
    if as_json:
        print_json([dump(r) for r in remotes])
        return
    if not remotes:
        err_console().print("No remotes: add one with `modelyard data remote add NAME URL`.", highlight=False)
        return
    table = Table("name", "url", "default")
    for remote in remotes:
        table.add_row(remote.name, redact_url(remote.url), "yes" if remote.default else "")
    console().print(table)


def remote_remove(
    name: Annotated[str, typer.Argument(help="Name of the remote.", show_default=False)],
    uri: UriOption = None,
) -> None:
    """Remove a remote from the configuration (what it holds is left untouched)."""
    from modelyard.data._remotes import remove_remote

    with open_client(uri) as client:
        remote = remove_remote(name, client=client)
    console().print(f"Removed remote [bold]{remote.name}[/] ({redact_url(remote.url)})", highlight=False)


# -- push and pull ------------------------------------------------------------------------------


class _RichProgress:
    """A transfer progress bar in bytes, on standard error, cleared when done."""

    def __init__(self, description: str) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress: Progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err_console(),
            transient=True,
        )
        self._description = description
        self._task: TaskID | None = None

    def __enter__(self) -> _RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, total_bytes: int, total_blobs: int) -> None:
        """Show the bar for ``total_bytes`` bytes in ``total_blobs`` blobs."""
        label = f"{self._description} {total_blobs:,} blob{'s' if total_blobs != 1 else ''}"
        self._task = self._progress.add_task(label, total=total_bytes)

    def advance(self, nbytes: int) -> None:
        """Move the bar by ``nbytes`` (negative when a failed attempt is retried)."""
        if self._task is not None:
            self._progress.update(self._task, advance=nbytes)


def _print_report(report: TransferReport) -> None:
    where = f"remote {report.remote!r} ({redact_url(report.url)})"
    if not report.versions:
        console().print(f"Nothing to {report.direction}.", highlight=False)
        return
    table = Table("version", "status", "blobs", "bytes", title=f"{report.direction.capitalize()} {where}")
    table.columns[2].justify = table.columns[3].justify = "right"
    styles = {"pushed": "green", "pulled": "green", "repaired": "yellow"}
    for v in report.versions:
        table.add_row(
            v.ref,
            Text(v.status.replace("_", "-"), style=styles.get(v.status, "dim")),
            f"{v.blobs:,}",
            format_bytes(v.bytes),
        )
    console().print(table)
    verb = "pushed to" if report.direction == "push" else "pulled from"
    err_console().print(
        f"{report.blobs:,} blob(s), {format_bytes(report.bytes)} {verb} {where} in {report.seconds:.1f} s "
        f"({report.blobs_skipped:,} already there).",
        highlight=False,
    )


def push(
    ref: Annotated[
        str | None,
        typer.Argument(help="NAME (its newest version) or NAME@V; default: every dataset.", show_default=False),
    ] = None,
    remote: RemoteOption = None,
    all_versions: AllVersionsOption = False,
    jobs: JobsOption = None,
    uri: UriOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Push dataset versions and their files to a remote (each manifest only after all its files)."""
    from modelyard.data._remotes import push as push_versions

    with open_client(uri, project) as client, _RichProgress("pushing") as progress:
        report = push_versions(
            ref, remote=remote, all_versions=all_versions, client=client, progress=progress, workers=jobs
        )
    if as_json:
        print_json(dump(report))
    else:
        _print_report(report)


def pull(
    ref: Annotated[
        str | None,
        typer.Argument(
            help="NAME (the remote's newest version) or NAME@V; default: every dataset.", show_default=False
        ),
    ] = None,
    remote: RemoteOption = None,
    all_versions: AllVersionsOption = False,
    jobs: JobsOption = None,
    uri: UriOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pull dataset versions and their files from a remote (verified; same numbers and digests)."""
    from modelyard.data._remotes import pull as pull_versions

    with open_client(uri, project) as client, _RichProgress("pulling") as progress:
        report = pull_versions(
            ref, remote=remote, all_versions=all_versions, client=client, progress=progress, workers=jobs
        )
    if as_json:
        print_json(dump(report))
    else:
        _print_report(report)


# -- diff ---------------------------------------------------------------------------------------


def _number(value: float | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def _signed(value: float | int | None) -> Text:
    if value is None:
        return Text("")
    text = f"{value:+,.6g}" if isinstance(value, float) else f"{value:+,}"
    return Text(text, style="green" if value > 0 else "red" if value < 0 else "dim")


def _print_diff(result: DatasetDiff) -> None:
    out = console()
    out.print(
        f"[bold]{result.old}[/] (sha:{result.old_digest[:12]}) → [bold]{result.new}[/] (sha:{result.new_digest[:12]})",
        highlight=False,
    )
    if result.identical:
        out.print("Identical: same files, same content.", highlight=False)
        return
    counts = {s: sum(1 for f in result.files if f.status == s) for s in ("added", "removed", "changed", "renamed")}
    summary = ", ".join(f"{n:,} {s}" for s, n in counts.items() if n)
    out.print(f"Files: {summary or 'none changed'}; {result.unchanged:,} unchanged.", highlight=False)
    if result.files:
        styles = {"added": "green", "removed": "red", "changed": "yellow", "renamed": "cyan"}
        table = Table("status", "path", "old size", "new size", "old digest", "new digest", title="Files")
        for column in table.columns[2:4]:
            column.justify = "right"
        for f in result.files[:_MAX_FILE_ROWS]:
            path = f"{f.old_path} → {f.path}" if f.old_path else f.path
            table.add_row(
                Text(f.status, style=styles[f.status]),
                Text(path, overflow="fold"),
                "" if f.old_size is None else format_bytes(f.old_size),
                "" if f.new_size is None else format_bytes(f.new_size),
                (f.old_digest or "")[:12],
                (f.new_digest or "")[:12],
            )
        out.print(table)
        if len(result.files) > _MAX_FILE_ROWS:
            err_console().print(
                f"... and {len(result.files) - _MAX_FILE_ROWS:,} more files (use --json for all).", highlight=False
            )
    table_diff = result.table
    if table_diff is None:
        return
    rows = Table("", "old", "new", "change", title="Table")
    for column in rows.columns[1:]:
        column.justify = "right"
    rows.add_row("rows", _number(table_diff.old_rows), _number(table_diff.new_rows), _signed(table_diff.rows_delta))
    columns_delta = (
        table_diff.new_columns - table_diff.old_columns
        if table_diff.new_columns is not None and table_diff.old_columns is not None
        else None
    )
    rows.add_row("columns", _number(table_diff.old_columns), _number(table_diff.new_columns), _signed(columns_delta))
    out.print(rows)
    if table_diff.columns:
        schema = Table("column", "change", "old type", "new type", title="Schema")
        styles = {"added": "green", "removed": "red", "type_changed": "yellow"}
        for change in table_diff.columns:
            schema.add_row(
                change.column,
                Text(change.change.replace("_", " "), style=styles[change.change]),
                change.old_type or "",
                change.new_type or "",
            )
        out.print(schema)
    if table_diff.stats:
        stats = Table("column", "statistic", "old", "new", "change", "relative", title="Column statistics")
        for column in stats.columns[2:]:
            column.justify = "right"
        for d in table_diff.stats:
            relative = "" if d.relative is None else f"{d.relative:+.1%}"
            stats.add_row(
                d.column, d.statistic.replace("_", " "), _number(d.old), _number(d.new), _signed(d.delta), relative
            )
        out.print(stats)


def diff(
    a: Annotated[str, typer.Argument(help="The older version, e.g. churn@1.", show_default=False)],
    b: Annotated[str, typer.Argument(help="The newer version, e.g. churn@2.", show_default=False)],
    uri: UriOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two dataset versions: files, and for tables rows, schema and column statistics."""
    from modelyard.data._diff import diff as diff_versions

    with open_client(uri, project) as client:
        result = diff_versions(a, b, client=client)
    if as_json:
        print_json(dump(result))
    else:
        _print_diff(result)


# -- registration -------------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    """Add ``remote`` (``add``, ``list``, ``remove``), ``push``, ``pull`` and ``diff`` to the ``data`` app."""
    remote_app = typer.Typer(
        help="Manage the remotes an embedded store pushes datasets to and pulls them from.",
        no_args_is_help=True,
        add_completion=False,
    )
    remote_app.command("add")(remote_add)
    remote_app.command("list")(remote_list)
    remote_app.command("remove")(remote_remove)
    app.add_typer(remote_app, name="remote")
    app.command("push")(push)
    app.command("pull")(pull)
    app.command("diff")(diff)
