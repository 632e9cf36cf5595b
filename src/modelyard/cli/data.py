"""``modelyard data``: add, list, show, get, delete, restore dataset versions; lineage, schemas, profiles, validation.

References name versions everywhere: ``NAME`` (the newest), ``NAME@latest``, ``NAME@3``,
``NAME@sha:<digest prefix>``. ``remote``, ``push``, ``pull`` and ``diff`` come from
:mod:`modelyard.cli._data_transfer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli._app import EXIT_CHECK_FAILED
from modelyard.cli._data_transfer import register
from modelyard.cli._options import JsonOption, ProjectOption, UriOption, open_client
from modelyard.cli._output import (
    console,
    dump,
    err_console,
    format_bytes,
    format_time,
    format_value,
    print_error,
    print_json,
)

if TYPE_CHECKING:
    from modelyard.entities import DatasetVersion, ValidationReport

__all__ = ["app"]

app = typer.Typer(
    help="Version datasets: add, list, show, get, delete, restore; lineage, schemas, profiles, validation.",
    no_args_is_help=True,
    add_completion=False,
)

RefArgument = Annotated[
    str,
    typer.Argument(
        help="Dataset version: NAME (the newest), NAME@latest, NAME@3 or NAME@sha:<digest prefix>.",
        metavar="REF",
        show_default=False,
    ),
]
_MAX_FILE_ROWS = 50
_PROGRESS_MIN_BYTES = 16 * 1024**2
"""Smaller jobs finish before a progress bar would help."""


@contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[int], object]]]:
    """A factory of byte progress bars on standard error (cleared when done; none for small jobs)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console(),
        transient=True,
    )

    def factory(label: str, total: int) -> Callable[[int], object]:
        if total < _PROGRESS_MIN_BYTES:
            return lambda _: None
        if not bars.live.is_started:
            bars.start()
        task = bars.add_task(label, total=total)
        return lambda done: bars.update(task, advance=done)

    try:
        yield factory
    finally:
        if bars.live.is_started:
            bars.stop()


def _tags(values: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE.", param_hint="--tag")
        tags[key] = value
    return tags


def _summary(dv: DatasetVersion) -> str:
    files = f"{dv.num_files:,} file{'s' if dv.num_files != 1 else ''}"
    shape = f", {dv.num_rows:,} rows x {dv.num_columns} columns" if dv.num_rows is not None else ""
    return f"{files}, {format_bytes(dv.size)}{shape}"


@app.command()
def add(
    path: Annotated[
        str, typer.Argument(help="A file, a directory or a quoted glob ('data/*.csv').", show_default=False)
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.", show_default=False)],
    message: Annotated[str, typer.Option("--message", "-m", help="What changed in this version.")] = "",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="KEY=VALUE tag of the version (repeatable).")
    ] = None,
    link: Annotated[
        bool,
        typer.Option("--link", help="Hardlink the files into the store (made read-only) instead of copying them."),
    ] = False,
    validate: Annotated[
        Path | None,
        typer.Option("--validate", help="Schema YAML: tabular data that fails it is not stored.", show_default=False),
    ] = None,
    pii: Annotated[
        list[str] | None, typer.Option("--pii", help="Column of personal data, kept out of profiles (repeatable).")
    ] = None,
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a file, directory or glob as a new version of a dataset (nothing new if it is unchanged)."""
    from modelyard.data._quick import unchanged_version
    from modelyard.settings import load_settings

    tags = _tags(tag)
    settings = load_settings()
    if not as_json and validate is None:
        # Nothing changed since the last add: say so without opening the store (no SQLAlchemy import).
        quick = unchanged_version(path, name, settings=settings, uri=uri, project=project)
        if quick is not None:
            console().print(f"unchanged: {escape(quick[0])}", highlight=False)
            return
    from modelyard.errors import ValidationError

    with open_client(uri, project, settings) as client, _progress() as progress:
        try:
            result = client.data.add_detailed(
                path, name, message=message, tags=tags, link=link, validate=validate, pii=pii or (), progress=progress
            )
        except ValidationError as exc:
            if exc.report is not None:
                _print_report(exc.report, as_json=as_json)
            print_error(exc)
            raise typer.Exit(EXIT_CHECK_FAILED) from None
    dv = result.version
    if as_json:
        print_json({**dump(dv), "created": result.created, "hashed": result.hashed, "cached": result.cached})
        return
    if result.note:
        err_console().print(f"Note: {escape(result.note)}", highlight=False)
    if not result.created:
        console().print(f"unchanged: {escape(dv.ref)}", highlight=False)
        return
    linked = f", {result.linked:,} linked" if link else ""
    console().print(
        f"Added {escape(dv.ref)} ({_summary(dv)}; {result.hashed:,} hashed, {result.cached:,} unchanged{linked})"
        f"  sha:{dv.digest[:12]}",
        highlight=False,
    )


@app.command("ls")
def list_datasets(project: ProjectOption = None, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List the datasets of a project with their newest version."""
    with open_client(uri, project) as client:
        datasets = client.data.list()
        project_name = client.project
    if as_json:
        print_json([dump(d) for d in datasets])
        return
    if not datasets:
        console().print(f"No datasets in project {escape(repr(project_name))}.", highlight=False)
        return
    table = Table("name", "latest", "updated", title=f"Datasets of {escape(project_name)}", title_justify="left")
    table.columns[1].justify = "right"
    for d in datasets:
        table.add_row(escape(d.name), str(d.latest_version), format_time(d.updated_at))
    console().print(table)


@app.command()
def versions(
    name: Annotated[str, typer.Argument(help="Dataset name.", show_default=False)],
    include_deleted: Annotated[bool, typer.Option("--all", "-a", help="Include deleted versions.")] = False,
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the versions of a dataset, newest first."""
    with open_client(uri, project) as client:
        found = client.data.versions(name, include_deleted=include_deleted)
    if as_json:
        print_json([dump(v) for v in found])
        return
    table = Table("version", "created", "creator", "files", "size", "rows", "digest", "message", title=escape(name))
    for column in (0, 3, 4, 5):
        table.columns[column].justify = "right"
    for v in found:
        label = str(v.version) + (" (purged)" if v.purged else " (deleted)" if v.deleted else "")
        table.add_row(
            label,
            format_time(v.created_at),
            escape(v.creator),
            f"{v.num_files:,}",
            format_bytes(v.size),
            format_value(v.num_rows),
            v.digest[:12],
            escape(v.message.splitlines()[0] if v.message else ""),
        )
    console().print(table)


@app.command()
def show(ref: RefArgument, project: ProjectOption = None, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Show a version: its metadata and files."""
    with open_client(uri, project) as client:
        dv = client.data.show(ref)
    if as_json:
        print_json(dump(dv))
        return
    out = console()
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    fields = [
        ("version", escape(dv.ref)),
        ("project", escape(dv.project)),
        ("digest", f"sha:{dv.digest}"),
        ("content", _summary(dv)),
        ("parent", f"{escape(dv.name)}@{dv.parent_version}" if dv.parent_version else "—"),
        ("created", f"{format_time(dv.created_at)} by {escape(dv.creator)}"),
        ("message", escape(dv.message) or "—"),
        ("tags", escape(", ".join(f"{k}={v}" for k, v in sorted(dv.tags.items()))) or "—"),
    ]
    for field, value in fields:
        header.add_row(field, value)
    out.print(header)
    table = Table("path", "size", "digest", title="files", title_justify="left")
    table.columns[1].justify = "right"
    for f in dv.files[:_MAX_FILE_ROWS]:
        table.add_row(escape(f.path), format_bytes(f.size), f.digest[:12])
    out.print(table)
    if len(dv.files) > _MAX_FILE_ROWS:
        out.print(f"... and {len(dv.files) - _MAX_FILE_ROWS:,} more files (--json lists every one)", highlight=False)


@app.command()
def get(
    ref: RefArgument,
    path: Annotated[
        Path | None,
        typer.Option("--path", "-o", help="Directory to write into \\[default: ./NAME]", show_default=False),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", "-i", help="Only files matching this glob or under this directory (repeatable)."),
    ] = None,
    link: Annotated[
        bool, typer.Option("--link", help="Read-only hardlinks to the store instead of copies (local stores).")
    ] = False,
    project: ProjectOption = None,
    uri: UriOption = None,
) -> None:
    """Materialise a version's files, each verified against its digest."""
    with open_client(uri, project) as client, _progress() as progress:
        dv = client.data.show(ref)
        dst = client.data.get(dv, path, include=include or None, link=link, progress=progress)
    console().print(f"Wrote {escape(dv.ref)} to {escape(str(dst))}", highlight=False)


@app.command("rm")
def remove(
    ref: Annotated[
        str, typer.Argument(help="NAME (every version) or NAME@V (one version).", metavar="REF", show_default=False)
    ],
    purge: Annotated[
        bool,
        typer.Option("--purge", help="Also erase the files, statistics and the blobs nothing else uses, at once."),
    ] = False,
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a dataset or one version (lineage keeps naming it); --purge erases its data for good."""
    with open_client(uri, project) as client:
        deletion = client.data.delete(ref, purge=purge)
    if as_json:
        print_json(dump(deletion))
        return
    numbers = ", ".join(str(v) for v in deletion.versions)
    verb = "Purged" if deletion.purged else "Deleted"
    erased = f"; {deletion.blobs_removed} blobs ({format_bytes(deletion.bytes_removed)}) erased" if purge else ""
    console().print(f"{verb} {escape(deletion.name)} version(s) {numbers}{erased}.", highlight=False)


@app.command()
def restore(
    ref: Annotated[
        str,
        typer.Argument(
            help="NAME@V (one deleted version) or NAME (every deleted version).", metavar="REF", show_default=False
        ),
    ],
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Undo `data rm` of a version or a dataset (purged versions cannot come back: add the data again)."""
    with open_client(uri, project) as client:
        restored = client.data.restore(ref)
    if as_json:
        print_json([dump(v) for v in restored])
        return
    numbers = ", ".join(str(v.version) for v in sorted(restored, key=lambda v: v.version))
    console().print(f"Restored {escape(restored[0].name)} version(s) {numbers}.", highlight=False)


@app.command()
def lineage(
    ref: RefArgument, project: ProjectOption = None, uri: UriOption = None, as_json: JsonOption = False
) -> None:
    """List the runs that used a dataset version."""
    with open_client(uri, project) as client:
        uses = client.data.lineage(ref)
    dv_ref = uses[0].ref if uses else ref
    if as_json:
        print_json([dump(u) for u in uses])
        return
    if not uses:
        console().print(f"No run used {escape(dv_ref)}.", highlight=False)
        return
    table = Table("run", "name", "role", "logged", title=f"Runs that used {escape(dv_ref)}", title_justify="left")
    for u in uses:
        table.add_row(u.run_id, escape(u.run_name or ""), escape(u.role), format_time(u.created_at))
    console().print(table)


@app.command()
def schema(
    ref: RefArgument,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Save the schema to this YAML file, for editing.")
    ] = None,
    project: ProjectOption = None,
    uri: UriOption = None,
) -> None:
    """Print the schema stored with a tabular version as YAML (or save it with --output)."""
    from modelyard.data import Schema, save_schema

    with open_client(uri, project) as client:
        dv = client.data.show(ref)
    if dv.schema is None:
        from modelyard.errors import InvalidInputError

        raise InvalidInputError(f"{dv.ref} has no schema: only tabular versions (CSV, Parquet, JSON lines) have one.")
    stored = Schema.model_validate(dv.schema)
    if output is not None:
        save_schema(stored, output)
        console().print(f"Saved the schema of {escape(dv.ref)} to {escape(str(output))}", highlight=False)
        return
    import yaml

    text = yaml.safe_dump(stored.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
    typer.echo(text, nl=False)


@app.command()
def profile(
    ref: RefArgument, project: ProjectOption = None, uri: UriOption = None, as_json: JsonOption = False
) -> None:
    """Show the statistics profile stored with a tabular version."""
    with open_client(uri, project) as client:
        dv = client.data.show(ref)
    if dv.profile is None:
        from modelyard.errors import InvalidInputError

        raise InvalidInputError(f"{dv.ref} has no profile: only tabular versions (CSV, Parquet, JSON lines) have one.")
    if as_json:
        print_json(dv.profile)
        return
    columns = ("count", "nulls", "distinct", "min", "max", "mean", "std")
    table = Table("column", "type", *columns, "p50", title=f"Profile of {escape(dv.ref)}", title_justify="left")
    for index in range(2, len(table.columns)):
        table.columns[index].justify = "right"
    for name, stats in dv.profile.get("columns", {}).items():
        quantiles: dict[str, Any] = stats.get("quantiles") or {}
        table.add_row(
            escape(name),
            escape(str(stats.get("type", ""))),
            *(escape(format_value(stats.get(key))) for key in columns),
            escape(format_value(quantiles.get("p50"))),
        )
    console().print(table)


@app.command("validate")
def validate_version(
    ref: RefArgument,
    schema_file: Annotated[Path, typer.Option("--schema", "-s", help="Schema YAML file.", show_default=False)],
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate a tabular version against a schema; exit status 1 when it fails."""
    from modelyard.data import load_schema, validate

    expected = load_schema(schema_file)
    with open_client(uri, project) as client:
        frame = client.data.load(ref)
    report = validate(frame, expected)
    _print_report(report, as_json=as_json)
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _print_report(report: ValidationReport, *, as_json: bool) -> None:
    if as_json:
        print_json(dump(report))
        return
    out = console()
    if report.ok and not report.failures:
        out.print(f"[green]valid[/]: {report.num_rows:,} rows passed every check.", highlight=False)
        return
    table = Table("column", "check", "severity", "count", "examples", "message", title="validation report")
    table.columns[3].justify = "right"
    for f in report.failures:
        style = "red" if f.severity == "error" else "yellow"
        table.add_row(
            escape(f.column or "(table)"),
            escape(f.check),
            f"[{style}]{escape(f.severity)}[/]",
            f"{f.count:,}",
            escape(", ".join(repr(e) for e in f.examples[:3])),
            escape(f.message),
        )
    out.print(table)
    verdict = "[green]valid[/] (warnings only)" if report.ok else "[red]invalid[/]"
    out.print(f"{verdict}: {len(report.failures)} failed check(s) over {report.num_rows:,} rows.", highlight=False)


register(app)
