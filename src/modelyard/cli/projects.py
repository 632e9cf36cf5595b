"""``modelyard projects``: list and create projects."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli._options import JsonOption, UriOption, open_client
from modelyard.cli._output import console, dump, format_time, print_json

__all__ = ["app"]

app = typer.Typer(help="List and create projects.", no_args_is_help=True, add_completion=False)


@app.command("list")
def list_projects(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List every project with its number of runs and last activity."""
    with open_client(uri) as client:
        projects = client.list_projects()
    if as_json:
        print_json({"projects": [dump(p) for p in projects]})
        return
    if not projects:
        console().print(
            "No projects yet: create one with `modelyard projects create NAME`, or start a run (`modelyard demo`)."
        )
        return
    table = Table("name", "runs", "last activity", "created", "description")
    table.columns[1].justify = "right"
    table.columns[2].no_wrap = table.columns[3].no_wrap = True
    for project in projects:
        table.add_row(
            escape(project.name),
            str(project.run_count),
            format_time(project.last_activity),
            format_time(project.created_at),
            escape(project.description),
        )
    console().print(table)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Project name: letters, digits, '_', '.' and '-'.", show_default=False)],
    description: Annotated[str, typer.Option("--description", "-d", help="What the project is for.")] = "",
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a project (names are unique)."""
    with open_client(uri) as client:
        project = client.create_project(name, description)
    if as_json:
        print_json(dump(project))
    else:
        console().print(f"Created project [bold]{escape(project.name)}[/].", highlight=False)
