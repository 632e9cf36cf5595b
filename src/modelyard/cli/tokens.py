"""``modelyard tokens``: create, list and revoke API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from modelyard.cli._options import JsonOption, UriOption, open_client
from modelyard.cli._output import console, dump, err_console, format_time, print_json

if TYPE_CHECKING:
    from modelyard.entities import ApiToken

__all__ = ["app"]

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True, add_completion=False)

_NOT_SHOWN_AGAIN = "Copy this token now: it is not stored and will not be shown again."


def _status(token: ApiToken) -> Text:
    if token.revoked_at is not None:
        return Text("revoked", style="red")
    if not token.is_active():
        return Text("expired", style="yellow")
    return Text("active", style="green")


@app.command()
def create(
    user: Annotated[str, typer.Option("--user", "-u", help="Whose token it is.", show_default=False)],
    name: Annotated[
        str, typer.Option("--name", "-n", help="What the token is for, e.g. 'ci' or 'laptop'.", show_default=False)
    ],
    expires_days: Annotated[
        int | None,
        typer.Option("--expires-days", min=0, help="Expire after N days \\[default: never]", show_default=False),
    ] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API token and print its secret, once (use it as MODELYARD_TOKEN)."""
    with open_client(uri) as client:
        token, secret = client.backend.create_token(user, name, expires_days)
    if as_json:
        print_json({"token": dump(token), "secret": secret})
        err_console().print(_NOT_SHOWN_AGAIN, style="yellow", highlight=False)
        return
    expiry = f"expires {format_time(token.expires_at)}" if token.expires_at else "never expires"
    console().print(
        f"Created token {token.id} [bold]{escape(token.name)}[/] for {escape(token.user)} ({expiry}):",
        highlight=False,
    )
    console().print(secret, markup=False, highlight=False)
    err_console().print(_NOT_SHOWN_AGAIN, style="yellow", highlight=False)


@app.command("list")
def list_tokens(
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only this user's tokens.", show_default=False)
    ] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List API tokens: prefix, name, user and times (never a secret)."""
    with open_client(uri) as client:
        tokens = client.backend.list_tokens(user)
    if as_json:
        print_json({"tokens": [dump(t) for t in tokens]})
        return
    if not tokens:
        console().print("No tokens: create one with `modelyard tokens create --user NAME --name NAME`.")
        return
    table = Table("id", "prefix", "name", "user", "created", "expires", "last used", "status")
    table.columns[0].justify = "right"
    table.columns[0].no_wrap = table.columns[1].no_wrap = True
    for column in table.columns[4:7]:
        column.min_width = 10
    for token in tokens:
        table.add_row(
            str(token.id),
            f"{escape(token.prefix)}…",
            escape(token.name),
            escape(token.user),
            format_time(token.created_at),
            format_time(token.expires_at) or "never",
            format_time(token.last_used_at),
            _status(token),
        )
    console().print(table)


@app.command()
def revoke(
    token_id: Annotated[int, typer.Argument(help="Token id (see `modelyard tokens list`).", metavar="ID", min=1)],
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke an API token at once."""
    with open_client(uri) as client:
        token = client.backend.revoke_token(token_id)
    if as_json:
        print_json(dump(token))
    else:
        console().print(
            f"Revoked token {token.id} [bold]{escape(token.name)}[/] of {escape(token.user)}.", highlight=False
        )
