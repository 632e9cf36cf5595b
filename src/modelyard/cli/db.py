"""``modelyard db``: migrate and inspect the metadata database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from modelyard.cli._options import UriOption, load_settings
from modelyard.cli._output import console, redact_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["app"]

app = typer.Typer(help="Migrate and inspect the metadata database.", no_args_is_help=True)


@contextmanager
def _engine(uri: str | None) -> Iterator[tuple[Engine, str]]:
    from modelyard.store.sql.engine import create_engine

    settings = load_settings()
    location = settings.location(uri)
    engine = create_engine(location.db_url, busy_timeout=settings.sqlite_busy_timeout, auto_upgrade=False)
    try:
        yield engine, escape(redact_url(location.db_url))  # printed as Rich markup
    finally:
        engine.dispose()


@app.command()
def upgrade(uri: UriOption = None) -> None:
    """Migrate the database schema to the newest revision (back up a PostgreSQL database first)."""
    from modelyard.store.sql import HEAD_REVISION
    from modelyard.store.sql import upgrade as upgrade_schema

    with _engine(uri) as (engine, url):
        before = upgrade_schema(engine)
    out = console()
    if before == HEAD_REVISION:
        out.print(f"{url}: already at revision [bold]{HEAD_REVISION}[/] (newest).", highlight=False)
    else:
        out.print(
            f"{url}: upgraded {before or '(empty)'} → [bold green]{HEAD_REVISION}[/].", highlight=False
        )


@app.command()
def current(uri: UriOption = None) -> None:
    """Print the database's schema revision and whether it needs `modelyard db upgrade`."""
    from modelyard.store.sql import HEAD_REVISION, current_revision

    with _engine(uri) as (engine, url):
        revision = current_revision(engine)
    out = console()
    if revision == HEAD_REVISION:
        out.print(f"{url}: revision [bold]{revision}[/] (newest).", highlight=False)
    elif revision is None:
        out.print(f"{url}: empty database (newest revision is {HEAD_REVISION}); run `modelyard db upgrade`.",
                  highlight=False)
    else:
        out.print(f"{url}: revision [bold yellow]{revision}[/], newest is {HEAD_REVISION}; "
                  "run `modelyard db upgrade`.", highlight=False)
