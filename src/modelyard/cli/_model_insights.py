"""``modelyard models card`` and ``modelyard models lineage``: what a version is, and where it came from.

Registered onto the ``models`` group by :mod:`modelyard.cli.models`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.tree import Tree

from modelyard.cli._options import JsonOption, ProjectOption, UriOption, open_client
from modelyard.cli._output import console, print_json
from modelyard.errors import InvalidInputError

if TYPE_CHECKING:
    from modelyard.registry import LineageGraph, LineageNode

__all__ = ["register"]

_KIND_STYLE = {"dataset_version": "cyan", "run": "yellow", "model_version": "green", "deployment": "magenta"}
_KIND_LABEL = {"dataset_version": "dataset", "run": "run", "model_version": "model", "deployment": "deployment"}

Ref = Annotated[
    str, typer.Argument(help="Model version: NAME@3, NAME@champion, models:/NAME/3.", metavar="REF", show_default=False)
]


def card(
    ref: Ref,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, html or json.")] = "md",
    set_fields: Annotated[
        list[str] | None,
        typer.Option("--set", help="Edit a free-text field: FIELD=TEXT (overview, limitations, ...). Repeatable."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the card to this file.")] = None,
    project: ProjectOption = None,
    uri: UriOption = None,
) -> None:
    """Show (or edit with --set) the model card of a version, as Markdown, HTML or JSON."""
    from modelyard.registry import card as get_card
    from modelyard.registry import render_card, update_card

    fields: dict[str, str] = {}
    for item in set_fields or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--set takes FIELD=TEXT, got {item!r} (e.g. --set overview='Scores churn').")
        fields[key.strip()] = value
    if fmt not in ("md", "html", "json"):
        raise InvalidInputError(f"--format must be md, html or json, got {fmt!r}.")
    with open_client(uri, project) as client:
        if fields:
            text = render_card(update_card(ref, client=client, **fields), fmt)
        else:
            text = str(get_card(ref, format=fmt, client=client))
    if out is not None:
        out.write_text(text, encoding="utf-8")
        console().print(f"Wrote the card of {escape(ref)} to {escape(str(out))}", highlight=False)
    else:
        typer.echo(text, nl=False)


def lineage(
    ref: Ref,
    as_json: JsonOption = False,
    openlineage: Annotated[
        bool, typer.Option("--openlineage", help="Print OpenLineage run events (JSON) for Marquez and others.")
    ] = False,
    project: ProjectOption = None,
    uri: UriOption = None,
) -> None:
    """Print the lineage of a model version as a tree: dataset versions -> runs -> model versions."""
    from modelyard.registry import lineage as get_lineage

    with open_client(uri, project) as client:
        graph = get_lineage(ref, kind="model_version", client=client)
    if openlineage:
        typer.echo(json.dumps(graph.to_openlineage(), indent=2))
        return
    if as_json:
        print_json(graph.model_dump(mode="json"))
        return
    console().print(lineage_tree(graph))


def lineage_tree(graph: LineageGraph) -> Tree:
    """The graph as a Rich tree: the root, its ancestors (upstream) and descendants (downstream)."""
    root = graph.node(graph.root)
    tree = Tree(_label(root, ""))
    up = tree.add("[dim]made from (upstream)[/]")
    _branch(graph, up, root.id, upstream=True, seen={root.id})
    down = tree.add("[dim]used by (downstream)[/]")
    _branch(graph, down, root.id, upstream=False, seen={root.id})
    if graph.hidden:
        tree.add(f"[dim]{graph.hidden} object(s) in projects you cannot read are not shown[/]")
    return tree


def _branch(graph: LineageGraph, parent: Tree, node_id: str, *, upstream: bool, seen: set[str]) -> None:
    edges = [e for e in graph.edges if (e.target if upstream else e.source) == node_id]
    if not edges and parent.label and "stream" in str(parent.label):
        parent.add("[dim]nothing recorded[/]")
    for edge in edges:
        other = graph.node(edge.source if upstream else edge.target)
        branch = parent.add(_label(other, edge.role))
        if other.id not in seen:
            _branch(graph, branch, other.id, upstream=upstream, seen=seen | {other.id})


def _label(node: LineageNode, role: str) -> str:
    style = _KIND_STYLE[node.kind]
    extra = f" [dim]({escape(role)})[/]" if role and role != "model" else ""
    project = f" [dim]{escape(node.project)}[/]"
    status = f" [dim]{escape(node.details['status'])}[/]" if "status" in node.details else ""
    return f"[{style}]{_KIND_LABEL[node.kind]}[/] {escape(node.label)}{project}{status}{extra}"


def register(app: typer.Typer) -> None:
    """Add ``card`` and ``lineage`` to the ``models`` group."""
    app.command("card")(card)
    app.command("lineage")(lineage)
