"""``modelyard pipelines schedule|unschedule|schedules|trigger|triggers|queue``: schedules, triggers, the queue.

The pipeline is loaded here, where its code is, so a bad import path or a parameter of the wrong
type fails before anything is stored; the scheduler in ``modelyard server`` then only enqueues runs
and ``modelyard worker`` executes them. :func:`register` adds the commands to ``pipelines``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli._options import JsonOption, UriOption, open_client
from modelyard.cli._output import console, dump, err_console, format_time, print_json

__all__ = ["queue", "register", "schedule", "schedules", "trigger", "triggers", "unschedule"]

TargetArgument = Annotated[
    str,
    typer.Argument(help="Import path of the pipeline: package.module:function.", metavar="TARGET", show_default=False),
]
ParamsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", help="A parameter as KEY=VALUE (repeatable; typed by the pipeline).", show_default=False
    ),
]
ProjectOption = Annotated[
    str | None,
    typer.Option("--project", help="Project \\[default: MODELYARD_PROJECT, else 'default']", show_default=False),
]
"""``--project`` without ``-p``, which names a parameter here (as in ``pipelines run``)."""
ExecutorOption = Annotated[str, typer.Option(help="Executor the worker uses: thread, process or ray.")]


def _params(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE (for example -p C=0.5).", param_hint="--param")
        out[key] = value  # a value is only ever data: never evaluated or passed to a shell
    return out


def schedule(
    target: TargetArgument,
    cron: Annotated[
        str | None,
        typer.Option(
            help="Cron expression, e.g. '0 3 * * *' \\[default: the pipeline's schedule=]", show_default=False
        ),
    ] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone of the cron expression.")] = "UTC",
    params: ParamsOption = None,
    missed: Annotated[
        str, typer.Option(help="Fire times missed while no scheduler ran: skip, or catch-up (run once).")
    ] = "skip",
    executor: ExecutorOption = "thread",
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Schedule a pipeline on a cron expression (replaces its schedule); `modelyard server` fires it."""
    from modelyard.pipelines import schedule_pipeline

    with open_client(uri, project) as client:
        found = schedule_pipeline(
            target, cron, timezone=timezone, params=_params(params), executor=executor, missed=missed, client=client
        )
    if as_json:
        print_json(dump(found))
        return
    console().print(
        f"Scheduled [bold]{escape(found.pipeline)}[/] on '{escape(found.cron)}' ({escape(found.timezone)}); "
        f"next run {_in_zone(found.next_fire, found.timezone)}.",
        highlight=False,
    )


def _in_zone(when: Any, zone: str) -> str:
    """A fire time in the schedule's own time zone, named (``2026-11-28 03:00:00 Europe/Paris``)."""
    if when is None:
        return "-"
    from zoneinfo import ZoneInfo

    return f"{when.astimezone(ZoneInfo(zone)).strftime('%Y-%m-%d %H:%M:%S')} {zone}"


def unschedule(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name (as `schedules` lists it).", show_default=False)],
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove a pipeline's schedule."""
    with open_client(uri, project) as client:
        found = client.backend.unschedule_pipeline(client.project, pipeline)
    if as_json:
        print_json(dump(found))
        return
    console().print(f"Unscheduled [bold]{escape(found.pipeline)}[/] ('{escape(found.cron)}').", highlight=False)


def schedules(project: ProjectOption = None, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List the schedules of a project."""
    with open_client(uri, project) as client:
        found = client.backend.list_pipeline_schedules(client.project)
    if as_json:
        print_json([dump(s) for s in found])
        return
    if not found:
        err_console().print("No schedules: add one with `modelyard pipelines schedule TARGET --cron ...`.")
        return
    table = Table("pipeline", "cron", "timezone", "missed", "next run", "last run", "target")
    for s in found:
        table.add_row(
            escape(s.pipeline), escape(s.cron), escape(s.timezone), s.missed,
            format_time(s.next_fire), format_time(s.last_fire) if s.last_fire else "-", escape(s.target),
        )  # fmt: skip
    console().print(table)


def trigger(
    target: TargetArgument,
    on_dataset: Annotated[
        str | None, typer.Option(help="Run on every new version of this dataset.", show_default=False)
    ] = None,
    on_alert: Annotated[
        str | None, typer.Option(help="Run whenever this monitoring alert fires.", show_default=False)
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the trigger instead.")] = False,
    params: ParamsOption = None,
    executor: ExecutorOption = "thread",
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Trigger a pipeline: on a dataset's new versions (--on-dataset), on an alert (--on-alert), or now (neither)."""
    from modelyard.pipelines import enqueue_pipeline, load_pipeline, trigger_pipeline

    with open_client(uri, project) as client:
        if remove:
            if (on_dataset is None) == (on_alert is None):
                raise typer.BadParameter("--remove needs --on-dataset NAME or --on-alert NAME.")
            kind, source = ("dataset", on_dataset) if on_dataset is not None else ("alert", str(on_alert))
            name = load_pipeline(target).name
            client.backend.remove_pipeline_trigger(client.project, name, kind, str(source))
            console().print(f"Removed the {kind} trigger of [bold]{escape(name)}[/] on {escape(str(source))}.")
            return
        if on_dataset is None and on_alert is None:
            queued = enqueue_pipeline(target, params=_params(params), executor=executor, client=client)
            if as_json:
                print_json(dump(queued))
                return
            console().print(
                f"Queued run [bold]{queued.run_id}[/] of {escape(queued.pipeline)}; a worker will pick it up "
                "(`modelyard worker`, or the one `modelyard server` starts).",
                highlight=False,
            )
            return
        found = trigger_pipeline(
            target, on_dataset=on_dataset, on_alert=on_alert, params=_params(params), executor=executor, client=client
        )
    if as_json:
        print_json(dump(found))
        return
    what = f"each new version of dataset {found.source}" if found.kind == "dataset" else f"alert {found.source}"
    console().print(f"[bold]{escape(found.pipeline)}[/] now runs on {escape(what)}.", highlight=False)


def triggers(project: ProjectOption = None, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List the triggers of a project."""
    with open_client(uri, project) as client:
        found = client.backend.list_pipeline_triggers(client.project)
    if as_json:
        print_json([dump(t) for t in found])
        return
    if not found:
        err_console().print("No triggers: add one with `modelyard pipelines trigger TARGET --on-dataset NAME`.")
        return
    table = Table("pipeline", "on", "source", "last version seen", "target")
    for t in found:
        seen = str(t.last_seen) if t.kind == "dataset" else "-"
        table.add_row(escape(t.pipeline), t.kind, escape(t.source), seen, escape(t.target))
    console().print(table)


def queue(
    status: Annotated[
        str | None, typer.Option(help="Only runs in this state (PENDING, RUNNING, ...).", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most runs to list.")] = 50,
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List queued pipeline runs (scheduled, triggered, manual), newest first."""
    with open_client(uri, project) as client:
        found = client.backend.list_pipeline_queue(client.project, status, limit)
    if as_json:
        print_json([dump(q) for q in found])
        return
    table = Table("run", "pipeline", "status", "reason", "queued", "worker", "error")
    for q in found:
        table.add_row(
            q.run_id, escape(q.pipeline), q.status, q.reason, format_time(q.enqueued_at),
            escape(q.worker_id or "-"), escape((q.error or "")[:80]),
        )  # fmt: skip
    console().print(table)


def register(app: typer.Typer) -> None:
    """Add the schedule, trigger and queue commands to the ``pipelines`` group."""
    for command in (schedule, unschedule, schedules, trigger, triggers, queue):
        app.command(name=command.__name__)(command)
