"""``modelyard server``: serve the REST API (and, later, the web UI) with uvicorn."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from typing import Annotated, Any

import typer

from modelyard.cli._output import console, err_console
from modelyard.errors import InvalidInputError

__all__ = ["app"]

app = typer.Typer(add_completion=False)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command(name="server")
def server(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    store: Annotated[
        str | None,
        typer.Option(help="Metadata store URI \\[default: MODELYARD_URI, else MODELYARD_HOME]", show_default=False),
    ] = None,
    blobs: Annotated[
        str | None, typer.Option(help="Blob store URL \\[default: MODELYARD_BLOBS]", show_default=False)
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes.")] = 1,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without authentication (loopback addresses only).")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    local_workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=64,
            help="`modelyard worker` subprocesses to start (0: none) \\[default: MODELYARD_LOCAL_WORKERS, 1]",
        ),
    ] = None,
) -> None:
    """Serve the REST API: runs, metrics, artifacts, users, tokens, audit; schedule pipelines."""
    from modelyard.settings import load_settings

    if no_auth and not _is_loopback(host):
        raise InvalidInputError(
            f"--no-auth is allowed only on a loopback address (127.0.0.1, ::1, localhost), not {host!r}."
        )
    # Workers are separate processes: they read the same settings from the environment.
    if store:
        os.environ["MODELYARD_URI"] = store
    if blobs:
        os.environ["MODELYARD_BLOBS"] = blobs
    if no_auth:
        os.environ["MODELYARD_AUTH"] = "false"
    settings = load_settings()
    if host not in ("0.0.0.0", "::") and host not in settings.allowed_hosts.split(","):
        os.environ["MODELYARD_ALLOWED_HOSTS"] = f"{settings.allowed_hosts},{host}"
        settings = load_settings()

    from modelyard.server import create_app

    web_app = create_app(settings)  # opens the store now: a bad or outdated store fails here, with exit 2
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    out = console()
    if no_auth:
        err_console().print("[yellow]Warning:[/] authentication is off; anyone on this machine can read and write.")
    else:
        _bootstrap(web_app, url)
    out.print(f"modelyard server on [bold]{url}[/] (API docs: {url}/api/v1/docs)", highlight=False)
    local = _start_local_workers(settings.local_workers if local_workers is None else local_workers)
    try:
        _serve(web_app, host, port, workers, log_level)
    finally:
        _stop_local_workers(local)


def _serve(web_app: Any, host: str, port: int, workers: int, log_level: str) -> None:
    import uvicorn

    if workers == 1:
        uvicorn.run(web_app, host=host, port=port, log_level=log_level, server_header=False)
    else:
        web_app.state.modelyard.store.close()
        uvicorn.run(
            "modelyard.server:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            server_header=False,
        )


def _start_local_workers(count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` ``modelyard worker`` subprocesses on the server's store (they exit with the server)."""
    command = [sys.executable, "-m", "modelyard", "worker", "--parent-pid", str(os.getpid())]
    return [subprocess.Popen(command, env=dict(os.environ)) for _ in range(count)]


def _stop_local_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop local workers: each ends after its current pipeline run, or is killed after 10 s (the run is reaped)."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _bootstrap(web_app: object, url: str) -> None:
    """On first start with no users, create an admin and print a one-time sign-in link and token."""
    from modelyard.accounts import AccountService
    from modelyard.audit import Caller

    state = web_app.state.modelyard  # type: ignore[attr-defined]
    accounts = AccountService(state.store, Caller(user="server"))
    created = accounts.bootstrap_admin()
    if created is None:
        return
    user, password, token = created
    link = accounts.create_signin_link(user.name)
    out = console()
    out.print("[bold]First start: created the admin user.[/] Shown once — keep them safe:", highlight=False)
    out.print(f"  sign-in link (one use, 15 min): {url}/auth/link?token={link}", highlight=False, soft_wrap=True)
    out.print(f"  user: {user.name}   password: {password}", highlight=False)
    out.print(f"  API token: {token}   (export MODELYARD_TOKEN=... and MODELYARD_URI={url})", highlight=False)
