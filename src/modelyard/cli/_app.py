"""The root ``modelyard`` command: a Typer app whose command groups load on first use.

``modelyard --help`` must stay fast (no pandas, SQLAlchemy or pydantic), so each command group
lives in its own module, imported only when that group runs. The root help lists the groups
from the static table below without importing them. This is also the one place where a
:class:`~modelyard.errors.ModelyardError` becomes a one-line message and exit status 2.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from modelyard._version import __version__
from modelyard.errors import ModelyardError

if TYPE_CHECKING:
    # Typer builds its commands from its vendored copy of Click; these are the classes it passes.
    from typer._click import Command, Context, HelpFormatter

__all__ = ["EXIT_CHECK_FAILED", "EXIT_OK", "EXIT_USAGE", "app", "main"]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
"""A check the command ran did not pass (reserved for gates and validations)."""
EXIT_USAGE = 2
"""A usage or input error: bad arguments, unknown objects, an unusable store."""

# name -> (module with a Typer ``app``, one-line help shown by ``modelyard --help``)
_GROUPS: dict[str, tuple[str, str]] = {
    "demo": ("modelyard.cli.demo", "Run a tracked training pipeline on a bundled dataset (a few seconds)."),
    "db": ("modelyard.cli.db", "Migrate and inspect the metadata database."),
    "projects": ("modelyard.cli.projects", "List and create projects."),
    "runs": ("modelyard.cli.runs", "List, show, compare, delete and restore runs."),
    "data": ("modelyard.cli.data", "Version datasets: add, get, list, lineage, push/pull, schemas, validation."),
    "models": ("modelyard.cli.models", "Registered models: versions, aliases, promotions, history, download."),
    "gc": ("modelyard.cli.gc", "Remove blobs that nothing references any more."),
    "users": ("modelyard.cli.users", "Create, list and disable users; give them roles in projects."),
    "tokens": ("modelyard.cli.tokens", "Create, list and revoke API tokens."),
    "audit": ("modelyard.cli.audit", "Read the append-only audit log."),
    "server": ("modelyard.cli.server", "Serve the REST API (auth, roles, audit) with uvicorn."),
    "pipelines": ("modelyard.cli.pipelines", "Run, resume, list, show and cancel pipelines; schedule them."),
    "worker": ("modelyard.cli.worker", "Claim queued pipeline runs (schedules, triggers) and execute them."),
}


class LazyGroup(TyperGroup):
    """A command group that imports each subcommand's module only when it is needed."""

    _listing_help = False

    def list_commands(self, ctx: Context) -> list[str]:
        """Names of eager commands, then the lazily loaded groups."""
        return [*super().list_commands(ctx), *(n for n in _GROUPS if n not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        """Return the command, importing its module on first use."""
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in _GROUPS:
            return command
        module_name, short_help = _GROUPS[cmd_name]
        if self._listing_help:
            # Rendering the root help needs only the name and summary: skip the import.
            return TyperCommand(cmd_name, short_help=short_help)
        module = importlib.import_module(module_name)
        command = typer.main.get_command(module.app)
        command.name = cmd_name
        self.commands[cmd_name] = command
        return command

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        """Resolve the subcommand; an unknown name fails with suggestions among the lazy groups too."""
        name = args[0] if args else ""
        known = self.list_commands(ctx)
        if name and not name.startswith("-") and name not in known and not ctx.resilient_parsing:
            matches = difflib.get_close_matches(name, known)
            hint = f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        """Render help, listing lazy groups from their static summaries."""
        self._listing_help = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing_help = False

    def invoke(self, ctx: Context) -> Any:
        """Run the command; turn a ModelyardError into a one-line message and exit status 2."""
        try:
            return super().invoke(ctx)
        except ModelyardError as exc:
            from modelyard.cli._output import print_error

            print_error(exc)
            raise typer.Exit(EXIT_USAGE) from None


app = typer.Typer(
    name="modelyard",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"modelyard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """modelyard: track, version, gate, deploy and monitor machine-learning models.

    Exit status: 0 on success, 1 when a check failed, 2 on a usage or input error (one line, no traceback).
    """


def main() -> None:
    """Entry point of the ``modelyard`` console script."""
    app()
