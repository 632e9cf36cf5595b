"""``modelyard worker``: claim queued pipeline runs from the metadata database and execute them."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from modelyard.cli._options import UriOption
from modelyard.cli._output import err_console

__all__ = ["app"]

app = typer.Typer(add_completion=False)


@app.command(name="worker")
def worker(
    uri: UriOption = None,
    poll_interval: Annotated[
        float | None,
        typer.Option(
            min=0.01, help="Seconds between looks at an empty queue \\[default: MODELYARD_WORKER_POLL_INTERVAL]"
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run what is queued, then exit when the queue is empty.")
    ] = False,
    executor: Annotated[
        str | None,
        typer.Option(help="Run every pipeline with this executor (thread, process, ray) instead of its queued one."),
    ] = None,
    parent_pid: Annotated[int | None, typer.Option(hidden=True, help="Exit when this process is gone.")] = None,
) -> None:
    """Claim queued pipeline runs (schedules, triggers, manual) and execute them, heartbeating while they run.

    Needs the metadata database (a directory, sqlite:///... or postgresql://...).

    Many workers may share one database: a queued run is claimed by exactly one of them.
    """
    from modelyard.pipelines._worker import Worker
    from modelyard.settings import load_settings

    runner = Worker(load_settings(), uri, executor=executor, poll_interval=poll_interval, parent_pid=parent_pid)

    def _stop(signum: int, _frame: object) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, _stop)
    if not once and parent_pid is None:  # the server's local workers stay quiet
        err_console().print(f"modelyard worker {runner.id} waiting for pipeline runs (Ctrl-C stops)", highlight=False)
    try:
        done = runner.run(once=once)
    except KeyboardInterrupt:
        runner.stop()
        done = 0
    if once:
        err_console().print(f"Ran {done} pipeline run(s).", highlight=False)
