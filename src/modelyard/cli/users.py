"""``modelyard users``: create, list, disable and enable users; give them roles in projects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli._options import JsonOption, UriOption, open_client
from modelyard.cli._output import console, dump, format_time, print_json

if TYPE_CHECKING:
    from modelyard.entities import User

__all__ = ["app"]

app = typer.Typer(
    help="Create, list, disable and enable users; give them roles in projects.",
    no_args_is_help=True,
    add_completion=False,
)

NameArgument = Annotated[
    str, typer.Argument(help="User name: letters, digits, '_', '.' and '-'.", metavar="NAME", show_default=False)
]


def _kind(user: User) -> str:
    if user.is_service_account:
        return "service account"
    return "admin" if user.is_admin else "user"


@app.command()
def create(
    name: NameArgument,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="The password (at least 8 characters) \\[default: asked for, hidden, twice]",
            show_default=False,
        ),
    ] = None,
    service_account: Annotated[
        bool, typer.Option("--service-account", help="A service account for CI: API tokens only, no password.")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="A global admin: admin in every project, manages users.")] = (
        False
    ),
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user (asks for its password) or a service account."""
    if password is None and not service_account:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    with open_client(uri) as client:
        user = client.backend.create_user(name, password, admin=admin, service_account=service_account)
    if as_json:
        print_json(dump(user))
        return
    console().print(f"Created {_kind(user)} [bold]{escape(user.name)}[/].", highlight=False)
    if user.is_service_account:
        console().print(
            f"Create its API token with `modelyard tokens create --user {escape(user.name)} --name ci`.",
            highlight=False,
        )


@app.command("list")
def list_users(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List every user (never a password or a token)."""
    with open_client(uri) as client:
        users = client.backend.list_users()
    if as_json:
        print_json({"users": [dump(u) for u in users]})
        return
    if not users:
        console().print("No users yet: create one with `modelyard users create NAME --admin`.")
        return
    table = Table("name", "kind", "status", "created", "last sign-in")
    table.columns[3].no_wrap = table.columns[4].no_wrap = True
    for user in users:
        table.add_row(
            escape(user.name),
            _kind(user),
            "[red]disabled[/]" if user.disabled else "[green]active[/]",
            format_time(user.created_at),
            format_time(user.last_login_at),
        )
    console().print(table)


@app.command()
def disable(name: NameArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Disable a user: it is signed out everywhere and its API tokens stop working."""
    with open_client(uri) as client:
        user = client.backend.set_user_disabled(name, True)
    if as_json:
        print_json(dump(user))
    else:
        console().print(f"Disabled [bold]{escape(user.name)}[/]; its tokens stop working.", highlight=False)


@app.command()
def enable(name: NameArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Enable a disabled user again (its unexpired, unrevoked tokens work again)."""
    with open_client(uri) as client:
        user = client.backend.set_user_disabled(name, False)
    if as_json:
        print_json(dump(user))
    else:
        console().print(f"Enabled [bold]{escape(user.name)}[/].", highlight=False)


@app.command("set-admin")
def set_admin(
    name: NameArgument,
    remove: Annotated[bool, typer.Option("--remove", help="Take global admin away instead.")] = False,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a user a global admin (admin in every project, manages users), or take it away."""
    with open_client(uri) as client:
        user = client.backend.set_user_admin(name, not remove)
    if as_json:
        print_json(dump(user))
    else:
        state = "is now" if user.is_admin else "is no longer"
        console().print(f"[bold]{escape(user.name)}[/] {state} a global admin.", highlight=False)


@app.command("set-role")
def set_role(
    name: NameArgument,
    project: Annotated[str, typer.Option("--project", "-p", help="The project.", show_default=False)],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            "-r",
            help="viewer (read), editor (write runs and artifacts), admin (manage the project), or none (remove).",
            show_default=False,
        ),
    ],
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give a user a role in a project, or remove it from the project with --role none."""
    from modelyard.accounts import parse_role

    new_role = parse_role(role)
    with open_client(uri) as client:
        membership = client.backend.set_role(name, project, new_role)
    if as_json:
        print_json(None if membership is None else dump(membership))
    elif membership is None:
        console().print(f"[bold]{escape(name)}[/] has no role in project {escape(project)}.", highlight=False)
    else:
        console().print(
            f"[bold]{escape(name)}[/] is {membership.role.value} in project {escape(project)}.", highlight=False
        )


@app.command()
def members(
    project: Annotated[str, typer.Option("--project", "-p", help="The project.", show_default=False)],
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the users given a role in a project (global admins are admins everywhere)."""
    with open_client(uri) as client:
        memberships = client.backend.list_members(project)
    if as_json:
        print_json({"members": [dump(m) for m in memberships]})
        return
    if not memberships:
        console().print(
            f"Nobody has a role in project {escape(project)} yet: "
            f"`modelyard users set-role NAME --project {escape(project)} --role editor`.",
            highlight=False,
        )
        return
    table = Table("user", "role")
    for membership in memberships:
        table.add_row(escape(membership.user), membership.role.value)
    console().print(table)
