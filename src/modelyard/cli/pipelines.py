"""``modelyard pipelines``: run, resume, list, show and cancel pipeline runs (schedules below)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from modelyard.cli._options import JsonOption, UriOption, open_client
from modelyard.cli._output import console, dump, err_console, format_duration, format_time, print_json
from modelyard.cli._pipeline_schedules import register as register_schedules

if TYPE_CHECKING:
    from modelyard.entities import PipelineRun

__all__ = ["app"]

app = typer.Typer(
    help="Run, resume, list, show and cancel pipelines; schedule them.", no_args_is_help=True, add_completion=False
)

RunIdArgument = Annotated[str, typer.Argument(help="Pipeline run id (32 hex characters).", metavar="RUN_ID")]
ProjectOnlyOption = Annotated[
    str | None,
    typer.Option("--project", help="Project \\[default: MODELYARD_PROJECT, else 'default']", show_default=False),
]
ExecutorOption = Annotated[
    str, typer.Option("--executor", "-e", help="Where steps run: thread, process or ray.", show_default=True)
]

_STYLES = {
    "PENDING": "dim",
    "RUNNING": "yellow",
    "FINISHED": "green",
    "CACHED": "cyan",
    "FAILED": "red",
    "SKIPPED": "magenta",
    "KILLED": "red",
}
EXIT_FAILED = 1


def _status(status: str) -> Text:
    return Text(status, style=_STYLES.get(status, ""))


def _parse_params(values: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE (for example -p C=0.5).", param_hint="--param")
        params[key.strip()] = value  # only ever data: coerced by the pipeline's parameter types
    return params


class _LiveDag:
    """The step statuses of a running pipeline, redrawn by Rich as they change."""

    def __init__(self, names: list[str]) -> None:
        self.status = dict.fromkeys(names, "PENDING")
        self.lock = threading.Lock()

    def update(self, name: str, status: str) -> None:
        with self.lock:
            self.status[name] = status

    def __rich__(self) -> Table:
        table = Table(box=None, show_header=False, pad_edge=False)
        with self.lock:
            items = list(self.status.items())
        counts: dict[str, int] = {}
        for _, status in items:
            counts[status] = counts.get(status, 0) + 1
        shown = items if len(items) <= 30 else [i for i in items if i[1] not in ("PENDING", "FINISHED")][:30]
        for name, status in shown:
            table.add_row(_status(status), escape(name))
        summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
        table.add_row(Text("steps", style="bold"), summary)
        return table


@app.command("run")
def run(
    target: Annotated[str, typer.Argument(help="Import path of the pipeline: my_project.pipelines:training.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter as KEY=VALUE (repeatable).", show_default=False),
    ] = None,
    executor: ExecutorOption = "thread",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step, ignoring cached results.")] = False,
    project: ProjectOnlyOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a pipeline with live progress; exit 1 when a step fails."""
    from modelyard.pipelines import load_pipeline

    if executor not in ("thread", "process", "ray"):
        message = f"executor {executor!r} is unknown; use thread, process or ray."
        raise typer.BadParameter(message, param_hint="--executor")
    params = _parse_params(param)
    found = load_pipeline(target)
    dag = found.trace(params)  # parameters and graph are checked before anything is stored
    with open_client(uri, project) as client:
        result = _run_live(
            list(dag.nodes),
            as_json,
            lambda progress: found.run(
                params, executor=executor, no_cache=no_cache, client=client, raise_on_failure=False, progress=progress
            ),
        )
    _finish(result, as_json)


@app.command("resume")
def resume(
    run_id: RunIdArgument,
    executor: Annotated[
        str | None, typer.Option("--executor", "-e", help="thread, process or ray \\[default: the run's]")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also resume a run left RUNNING by a process that died.")
    ] = False,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-run a failed or cancelled pipeline run from its failed steps, reusing finished outputs."""
    from modelyard.pipelines import resume_pipeline

    with open_client(uri) as client:
        previous = client.backend.get_pipeline_run(run_id)
        names = [n["name"] for n in previous.dag.get("nodes", [])]
        reused = {s.name: s.status.value for s in previous.steps if s.status.value in ("FINISHED", "CACHED")}
        result = _run_live(
            names,
            as_json,
            lambda progress: resume_pipeline(
                run_id, executor=executor, client=client, raise_on_failure=False, progress=progress, force=force
            ),
            reused,
        )
    _finish(result, as_json)


def _run_live(names: list[str], quiet: bool, start: Any, done: Mapping[str, str] | None = None) -> PipelineRun:
    """Run ``start(progress)`` while drawing the DAG's step statuses.

    The live view opens on the first step change, so that a refusal before anything runs (bad
    parameters, a run that cannot be resumed) prints only its error. Without a terminal the final
    statuses are printed once at the end instead of a redrawn view.
    """
    if quiet:
        result: PipelineRun = start(None)
        return result
    from rich.live import Live

    view = _LiveDag(names)
    for name, status in (done or {}).items():
        if name in view.status:
            view.status[name] = status
    stderr = err_console()
    live: list[Live] = []
    opening = threading.Lock()

    def progress(name: str, status: str) -> None:
        view.update(name, status)
        if not live and stderr.is_terminal:
            with opening:
                if not live:
                    live.append(Live(view, console=stderr, refresh_per_second=8, transient=False))
                    live[0].start()

    try:
        result = start(progress)
    finally:
        if live:
            live[0].stop()
    if not live and view.status and any(s != "PENDING" for s in view.status.values()):
        stderr.print(view)
    return result


def _finish(result: PipelineRun, as_json: bool) -> None:
    if as_json:
        print_json(dump(result))
    else:
        line = f"Pipeline run {result.id} of {escape(result.pipeline)}: "
        console().print(Text.from_markup(line) + _status(result.status.value))
        if result.error:
            err_console().print(f"[red]Error:[/red] {escape(result.error.splitlines()[0])}")
            err_console().print(f"Details: modelyard pipelines show {result.id}")
    if result.status != "FINISHED":
        raise typer.Exit(EXIT_FAILED)


@app.command("ls")
def list_pipelines(project: ProjectOnlyOption = None, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List the pipelines that have runs in a project, with their latest run."""
    with open_client(uri, project) as client:
        found = client.backend.list_pipelines(client.project)
    if as_json:
        print_json({"pipelines": [dump(p) for p in found]})
        return
    table = Table("pipeline", "runs", "last run", "status", "started", "import path")
    for p in found:
        table.add_row(
            escape(p.name),
            str(p.run_count),
            p.last_run_id or "",
            _status(p.last_status.value if p.last_status else ""),
            format_time(p.last_start_time),
            escape(p.target or ""),
        )
    console().print(table)


@app.command("runs")
def list_runs(
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only runs of this pipeline.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only runs with this status.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="Runs to list.")] = 50,
    project: ProjectOnlyOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List pipeline runs, newest first."""
    with open_client(uri, project) as client:
        found = client.backend.list_pipeline_runs(client.project, pipeline, status=status, limit=limit)
    if as_json:
        print_json({"runs": [dump(r) for r in found]})
        return
    table = Table("run", "pipeline", "status", "started", "duration", "params")
    for r in found:
        table.add_row(
            r.id,
            escape(r.pipeline),
            _status(r.status.value),
            format_time(r.start_time),
            format_duration(r.start_time, r.end_time) if r.start_time else "",
            escape(", ".join(f"{k}={v}" for k, v in r.params.items())[:80]),
        )
    console().print(table)


@app.command("show")
def show(run_id: RunIdArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Show a pipeline run: its DAG with each step's status, tries, duration, outputs and error."""
    with open_client(uri) as client:
        found = client.backend.get_pipeline_run(run_id)
    if as_json:
        print_json(dump(found))
        return
    steps = {s.name: s for s in found.steps}
    header = Text.from_markup(
        f"[bold]{escape(found.pipeline)}[/bold] run {found.id} in {escape(found.project)}: "
    ) + _status(found.status.value)
    table = Table("step", "status", "after", "tries", "duration", "outputs", "error")
    for node in found.dag.get("nodes", []):
        step_run = steps.get(node["name"])
        outputs = ""
        if step_run is not None:
            outputs = ", ".join(o.ref or o.kind for o in step_run.outputs)
        table.add_row(
            escape(node["name"]),
            _status(step_run.status.value if step_run else "PENDING"),
            escape(", ".join(node.get("upstream", []))),
            str(step_run.attempt) if step_run else "",
            format_duration(step_run.start_time, step_run.end_time) if step_run and step_run.start_time else "",
            escape(outputs),
            escape((step_run.error or "").strip().splitlines()[0][:80]) if step_run and step_run.error else "",
        )
    console().print(Group(header, Text(f"params: {found.params}"), table))


@app.command("cancel")
def cancel(run_id: RunIdArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Cancel a pipeline run: a queued run ends KILLED now, a running one stops before its next step."""
    with open_client(uri) as client:
        found = client.backend.cancel_pipeline_run(run_id)
    if as_json:
        print_json(dump(found))
        return
    console().print(f"Cancel requested for pipeline run {found.id} (now {found.status.value}).")


# schedules and triggers -------------------------------------------------------------------------
# `modelyard pipelines schedule|unschedule|schedules` are added below by the scheduling work.
register_schedules(app)
