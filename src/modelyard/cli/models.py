"""``modelyard models``: registered models, versions, aliases, promotions with approval, archive, history.

References name versions everywhere: ``NAME`` (the newest READY version), ``NAME@latest``,
``NAME@3``, ``NAME@champion`` (an alias or an environment), ``models:/NAME/3``,
``models:/NAME@champion``. The ``card`` and ``lineage`` commands are added beside these.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli._model_insights import register as register_insights
from modelyard.cli._options import JsonOption, ProjectOption, UriOption, open_client
from modelyard.cli._output import console, dump, format_bytes, format_time, format_value, print_json

if TYPE_CHECKING:
    from modelyard.entities import ModelVersion, PromotionRequest, RegisteredModel

__all__ = ["app"]

app = typer.Typer(
    help="Registered models: list, show, aliases, promotions with approval, archive, history, download.",
    no_args_is_help=True,
    add_completion=False,
)

RefArgument = Annotated[
    str,
    typer.Argument(
        help="Model version: NAME (the newest), NAME@latest, NAME@3, NAME@<alias>, models:/NAME/3.",
        metavar="REF",
        show_default=False,
    ),
]
NameArgument = Annotated[str, typer.Argument(help="Registered model name.", metavar="NAME", show_default=False)]
ReasonOption = Annotated[str, typer.Option("--reason", "-r", help="Why: recorded in the audit log.")]


def _pointers(mapping: dict[str, int]) -> str:
    return ", ".join(f"{k}→{v}" for k, v in sorted(mapping.items())) or "—"


def _version_row(v: ModelVersion) -> list[str]:
    labels = ", ".join([*v.aliases, *(f"[{e}]" for e in v.environments)])
    return [
        str(v.version),
        v.status.value,
        escape(v.flavor),
        escape(labels) or "—",
        v.run_id or "—",
        format_time(v.created_at),
        escape(v.created_by),
    ]


def _print_request(request: PromotionRequest) -> None:
    console().print(
        f"#{request.id} {escape(request.name)}@{request.version} → {escape(request.environment)}: "
        f"{request.state.value}" + (f" by {escape(request.decided_by)}" if request.decided_by else ""),
        highlight=False,
    )


@app.command("ls")
def list_models(project: ProjectOption = None, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List the registered models of a project."""
    with open_client(uri, project) as client:
        models = client.registry.list_models()
        where = client.project
    if as_json:
        print_json([dump(m) for m in models])
        return
    if not models:
        console().print(
            f"No registered models in project {escape(where)!r}; register one with yard.log_model(model, name).",
            highlight=False,
        )
        return
    table = Table("name", "latest", "aliases", "environments", "owner", "updated")
    for m in models:
        table.add_row(
            escape(m.name),
            str(m.latest_version),
            escape(_pointers(m.aliases)),
            escape(_pointers(m.environments)),
            escape(m.owner),
            format_time(m.updated_at),
        )
    console().print(table)


@app.command()
def show(ref: RefArgument, project: ProjectOption = None, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Show a model (NAME) with its versions, or one version (NAME@3, NAME@champion) with its files."""
    with open_client(uri, project) as client:
        if "@" not in ref and "/" not in ref:
            model = client.registry.get_model(ref)
            versions = client.registry.list_versions(ref)
            if as_json:
                print_json({**dump(model), "versions": [dump(v) for v in versions]})
                return
            _show_model(model, versions)
            return
        version = client.registry.get_version(ref)
    if as_json:
        print_json(dump(version))
        return
    _show_version(version)


def _show_model(model: RegisteredModel, versions: list[ModelVersion]) -> None:
    out = console()
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    for field, value in (
        ("model", escape(model.name)),
        ("project", escape(model.project)),
        ("owner", escape(model.owner)),
        ("aliases", escape(_pointers(model.aliases))),
        ("environments", escape(_pointers(model.environments))),
        ("description", escape(model.description) or "—"),
    ):
        header.add_row(field, value)
    out.print(header)
    table = Table("version", "status", "flavor", "aliases [environments]", "run", "created", "by", title="versions")
    for v in versions:
        table.add_row(*_version_row(v))
    out.print(table)


def _show_version(v: ModelVersion) -> None:
    out = console()
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    for field, value in (
        ("version", escape(v.ref)),
        ("uri", escape(v.uri)),
        ("project", escape(v.project)),
        ("status", v.status.value),
        ("flavor", escape(v.flavor) + _pickle_note(v)),
        ("digest", f"sha:{v.digest}"),
        ("run", v.run_id or "—"),
        ("aliases", escape(", ".join(v.aliases)) or "—"),
        ("environments", escape(", ".join(v.environments)) or "—"),
        ("metrics", escape(", ".join(f"{k}={format_value(x)}" for k, x in sorted(v.metrics.items()))) or "—"),
        ("created", f"{format_time(v.created_at)} by {escape(v.created_by)}"),
        ("signature", escape(_signature_line(v.signature))),
        ("importance", escape(_importance_line(v.importance))),
    ):
        header.add_row(field, value)
    out.print(header)
    table = Table("path", "size", "digest", title="files", title_justify="left")
    table.columns[1].justify = "right"
    for f in v.files:
        table.add_row(escape(f.path), format_bytes(f.size), f.digest[:12])
    out.print(table)


def _pickle_note(v: ModelVersion) -> str:
    if not v.unsafe_format:
        return ""
    if v.trusted:
        return " (needs pickle; trusted: registered by an authenticated writer)"
    return " (needs pickle; not trusted: load with trust=True)"


def _signature_line(signature: dict[str, Any] | None) -> str:
    inputs = (signature or {}).get("inputs") or {}
    if inputs.get("kind") == "columns":
        return ", ".join(f"{c.get('name')}: {c.get('dtype')}" for c in inputs.get("columns") or []) or "—"
    if inputs.get("kind") == "tensor":
        tensor = inputs.get("tensor") or {}
        return f"tensor {tensor.get('dtype')} {tensor.get('shape')}"
    if inputs.get("kind") == "tensors":
        return ", ".join(f"{k}: {t.get('dtype')} {t.get('shape')}" for k, t in (inputs.get("tensors") or {}).items())
    return "—"


def _importance_line(importance: dict[str, dict[str, float]] | None) -> str:
    if not importance:
        return "—"
    top = list(importance.items())[:5]
    more = f" (+{len(importance) - 5} more)" if len(importance) > 5 else ""
    return ", ".join(f"{k}={format_value(v.get('mean', 0.0))}" for k, v in top) + more


@app.command()
def versions(
    name: NameArgument, project: ProjectOption = None, uri: UriOption = None, as_json: JsonOption = False
) -> None:
    """List the versions of a model, newest first."""
    with open_client(uri, project) as client:
        found = client.registry.list_versions(name)
    if as_json:
        print_json([dump(v) for v in found])
        return
    table = Table("version", "status", "flavor", "aliases [environments]", "run", "created", "by")
    for v in found:
        table.add_row(*_version_row(v))
    console().print(table)


@app.command()
def alias(
    ref: Annotated[
        str, typer.Argument(help="The version (NAME@3), or NAME with --delete.", metavar="REF", show_default=False)
    ],
    name: Annotated[str, typer.Argument(help="Alias name (champion, challenger, ...).", metavar="ALIAS")],
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
    project: ProjectOption = None,
    uri: UriOption = None,
) -> None:
    """Point an alias at a version (moved atomically), or remove it with --delete."""
    from modelyard.errors import InvalidInputError
    from modelyard.registry import parse_model_ref

    parsed = parse_model_ref(ref)
    if parsed.is_run or parsed.name is None:
        raise InvalidInputError(f"{ref} names a run's package: register it first (yard.log_model).")
    with open_client(uri, project) as client:
        if delete:
            client.registry.delete_alias(parsed.name, name)
            console().print(f"removed alias {escape(name)} of {escape(parsed.name)}", highlight=False)
            return
        version = client.registry.get_version(ref)
        moved = client.registry.set_alias(version.name, name, version.version)
    console().print(f"{escape(moved.name)}@{escape(name.lower())} → version {moved.version}", highlight=False)


@app.command()
def promote(
    ref: RefArgument,
    environment: Annotated[str, typer.Argument(help="Target environment (staging, production).", show_default=False)],
    reason: ReasonOption = "",
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Request a promotion of a version into an environment; an approver approves or rejects it."""
    with open_client(uri, project) as client:
        request = client.registry.request_promotion(ref, environment, reason=reason)
    if as_json:
        print_json(dump(request))
        return
    _print_request(request)
    where = f" --project {request.project}" if project else ""
    console().print(f"approve with: modelyard models approve {request.id}{where}", style="dim", highlight=False)


@app.command()
def approve(
    request_id: Annotated[int, typer.Argument(help="Promotion request id (see `promotions`).", show_default=False)],
    reason: ReasonOption = "",
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a pending promotion request: the environment moves to its version."""
    with open_client(uri, project) as client:
        request = client.registry.approve(request_id, reason=reason)
    if as_json:
        print_json(dump(request))
    else:
        _print_request(request)


@app.command()
def reject(
    request_id: Annotated[int, typer.Argument(help="Promotion request id (see `promotions`).", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (required).", show_default=False)],
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a pending promotion request, with a reason."""
    with open_client(uri, project) as client:
        request = client.registry.reject(request_id, reason=reason)
    if as_json:
        print_json(dump(request))
    else:
        _print_request(request)


@app.command()
def promotions(
    name: Annotated[str | None, typer.Argument(help="Only this model.", metavar="[NAME]", show_default=False)] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="PENDING, APPROVED or REJECTED.", show_default=False)
    ] = None,
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List promotion requests, newest first."""
    with open_client(uri, project) as client:
        found = client.registry.list_promotions(name, state=state)
    if as_json:
        print_json([dump(p) for p in found])
        return
    table = Table("id", "version", "environment", "state", "requested", "reason", "decided by", "decision")
    for p in found:
        table.add_row(
            str(p.id),
            f"{escape(p.name)}@{p.version}",
            escape(p.environment),
            p.state.value,
            f"{format_time(p.requested_at)} by {escape(p.requested_by)}",
            escape(p.reason) or "—",
            escape(p.decided_by or "—"),
            escape(p.decision_reason or "—"),
        )
    console().print(table)


@app.command()
def archive(ref: RefArgument, project: ProjectOption = None, uri: UriOption = None) -> None:
    """Archive a version: kept, but out of @latest, aliases and environments."""
    with open_client(uri, project) as client:
        version = client.registry.archive(ref)
    console().print(f"{escape(version.ref)}: {version.status.value}", highlight=False)


@app.command()
def restore(ref: RefArgument, project: ProjectOption = None, uri: UriOption = None) -> None:
    """Restore an archived version."""
    with open_client(uri, project) as client:
        version = client.registry.restore(ref)
    console().print(f"{escape(version.ref)}: {version.status.value}", highlight=False)


@app.command()
def download(
    ref: RefArgument,
    path: Annotated[
        Path | None,
        typer.Option("--path", "-o", help="Directory to write into \\[default: ./NAME-VERSION]", show_default=False),
    ] = None,
    project: ProjectOption = None,
    uri: UriOption = None,
) -> None:
    """Download a version's package files, each verified against its digest."""
    with open_client(uri, project) as client:
        version = client.registry.get_version(ref)
        target = path or Path(f"{version.name}-{version.version}")
        client.registry.download(version.ref, target)
    size = sum(f.size for f in version.files)
    console().print(
        f"{escape(version.ref)}: {len(version.files)} files, {format_bytes(size)} → {escape(str(target))}",
        highlight=False,
    )


def _parse_time(value: str) -> int:
    from modelyard.errors import InvalidInputError

    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            f"--at {value!r} is not a time: use ISO 8601 (2026-05-01T12:00, UTC unless an offset is given) "
            "or epoch milliseconds."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


AtOption = Annotated[
    str | None,
    typer.Option("--at", help="A moment: ISO 8601 (UTC unless an offset is given) or epoch ms.", show_default=False),
]


@app.command()
def history(
    name: NameArgument,
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="Only this alias or environment.", show_default=False)
    ] = None,
    at: AtOption = None,
    project: ProjectOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Moves of a model's aliases and environments; with --target and --at, which version held it then."""
    until = None if at is None else _parse_time(at)
    with open_client(uri, project) as client:
        changes = client.registry.history(name, target, until_ms=until)
    if at is not None and target is not None:
        holder = changes[-1].version if changes else None
        if as_json:
            print_json({"target": target, "at_ms": until, "version": holder})
        else:
            console().print(
                f"{escape(name)}@{escape(target)} at {escape(at)}: "
                + (f"version {holder}" if holder else "no version"),
                highlight=False,
            )
        return
    if as_json:
        print_json([dump(c) for c in changes])
        return
    table = Table("time", "kind", "name", "version", "previous", "by", "reason")
    for c in changes:
        table.add_row(
            format_time(c.time),
            c.kind,
            escape(c.target),
            "removed" if c.version is None else str(c.version),
            "—" if c.previous is None else str(c.previous),
            escape(c.actor),
            escape(c.reason) or "—",
        )
    console().print(table)


@app.command()
def rollback(
    name: NameArgument,
    target: Annotated[str, typer.Argument(help="The alias or environment to move back.", metavar="TARGET")],
    at: AtOption = None,
    reason: ReasonOption = "",
    project: ProjectOption = None,
    uri: UriOption = None,
) -> None:
    """Move an alias or environment back: to the version it held --at a moment, or to its previous one."""
    with open_client(uri, project) as client:
        version = client.registry.rollback(name, target, at_ms=None if at is None else _parse_time(at), reason=reason)
    console().print(f"{escape(version.name)}@{escape(target)} → version {version.version}", highlight=False)


register_insights(app)  # card, lineage
