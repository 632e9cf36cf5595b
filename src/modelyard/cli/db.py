"""``modelyard db``: migrate and inspect the metadata database."""

from __future__ import annotations

import typer
from rich.markup import escape

from modelyard.cli._options import JsonOption, UriOption
from modelyard.cli._output import console, print_json, redact_url
from modelyard.settings import load_settings

__all__ = ["app"]

app = typer.Typer(help="Migrate and inspect the metadata database.", no_args_is_help=True, add_completion=False)


def _revision(uri: str | None, *, migrate: bool) -> tuple[str | None, str]:
    """Open the database, read its revision (migrating it first when asked) and close it.

    Returns the revision it had before and the database URL to print (password redacted).
    """
    from modelyard.store.sql import current_revision, upgrade
    from modelyard.store.sql.engine import create_engine

    settings = load_settings()
    location = settings.location(uri)
    engine = create_engine(location.db_url, busy_timeout=settings.sqlite_busy_timeout, auto_upgrade=False)
    try:
        revision = upgrade(engine) if migrate else current_revision(engine)
    finally:
        engine.dispose()
    return revision, redact_url(location.db_url)


@app.command()
def upgrade(uri: UriOption = None) -> None:
    """Migrate the database schema to the newest revision (back up a PostgreSQL database first)."""
    from modelyard.store.sql import HEAD_REVISION

    before, url = _revision(uri, migrate=True)
    url = escape(url)
    out = console()
    if before == HEAD_REVISION:
        out.print(f"{url}: already at revision [bold]{HEAD_REVISION}[/] (newest).", highlight=False)
    else:
        out.print(f"{url}: upgraded {before or '(empty)'} → [bold green]{HEAD_REVISION}[/].", highlight=False)


@app.command()
def current(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Print the database's schema revision and whether it needs `modelyard db upgrade`."""
    from modelyard.store.sql import HEAD_REVISION

    revision, url = _revision(uri, migrate=False)
    if as_json:
        print_json({"url": url, "revision": revision, "head": HEAD_REVISION, "up_to_date": revision == HEAD_REVISION})
        return
    url = escape(url)
    out = console()
    if revision == HEAD_REVISION:
        out.print(f"{url}: revision [bold]{revision}[/] (newest).", highlight=False)
    elif revision is None:
        out.print(
            f"{url}: empty database (newest revision is {HEAD_REVISION}); run `modelyard db upgrade`.", highlight=False
        )
    else:
        out.print(
            f"{url}: revision [bold yellow]{revision}[/], newest is {HEAD_REVISION}; run `modelyard db upgrade`.",
            highlight=False,
        )
