"""Options the commands share (``--uri``, ``--project``, ``--json``) and the client they configure.

Settings are read once here, at the edge, and passed down; nothing heavy is imported until a
command actually opens a store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from modelyard.client import Client
    from modelyard.settings import Settings

__all__ = ["JsonOption", "ProjectOption", "UriOption", "open_client"]

UriOption = Annotated[
    str | None,
    typer.Option(
        "--uri",
        help="Store: a directory, sqlite:///file.db or postgresql://... "
        "\\[default: MODELYARD_URI, else MODELYARD_HOME (./.modelyard)]",
        show_default=False,
    ),
]
ProjectOption = Annotated[
    str | None,
    typer.Option("--project", "-p", help="Project \\[default: MODELYARD_PROJECT, else 'default']", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def open_client(uri: str | None, project: str | None = None, settings: Settings | None = None) -> Iterator[Client]:
    """Open a client on ``uri`` (default: the settings' store) and close it when the block ends."""
    from modelyard.client import Client
    from modelyard.settings import load_settings

    client = Client(uri, project=project, settings=settings or load_settings())
    try:
        yield client
    finally:
        client.close()
