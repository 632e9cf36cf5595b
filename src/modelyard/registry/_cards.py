"""Model cards, generated for every model version from what the platform knows.

The sections follow the Model Card Toolkit (model details, model parameters, quantitative
analysis, considerations); modelyard fills them from the registry (version, signature, metrics
snapshot, feature importance, approvals), the source run (params), the run's inputs (dataset
versions and their stored profiles) and the lineage graph. People add what no system can know
— overview, intended users and uses, limitations, trade-offs, ethical considerations, licences,
references — as editable free-text fields (`CARD_FIELDS`), stored with the version.

Rendered as JSON (``ModelCard.model_dump``), Markdown and HTML (every value escaped).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.entities import DatasetVersion, ModelVersion, PromotionRequest, Run, RunInput
from modelyard.errors import InvalidInputError, NotFoundError
from modelyard.registry._lineage import CachedLineageSource, LineageGraph, ServiceLineageSource, build_lineage
from modelyard.registry._refs import parse_model_ref

if TYPE_CHECKING:
    from modelyard.data._service import DatasetService
    from modelyard.registry._service import RegistryService
    from modelyard.tracking._service import TrackingService

__all__ = [
    "CARD_FIELDS",
    "CardDataset",
    "ModelCard",
    "ModelCardService",
    "build_card",
    "check_card_fields",
    "render_card",
]

_EVAL_ROLES = {"eval", "evaluation", "test", "validation", "valid", "holdout"}

CARD_FIELDS: dict[str, str] = {
    "overview": "What the model does, in a paragraph.",
    "intended_users": "Who should use it.",
    "use_cases": "What it is meant for (and what it is not).",
    "limitations": "Known limitations and failure modes.",
    "tradeoffs": "Trade-offs made (accuracy vs latency, precision vs recall, ...).",
    "ethical_considerations": "Risks, affected groups, and their mitigation.",
    "licenses": "Licence of the model and its data.",
    "references": "Papers, tickets, documents.",
}
"""The editable free-text fields of a card and what each is for."""
MAX_FIELD_LENGTH = 20_000
_TOP_COLUMNS = 12


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CardDataset(_Section):
    """A dataset version the model was trained or evaluated on."""

    ref: str
    project: str
    role: str
    digest: str
    num_rows: int | None = None
    columns: list[dict[str, Any]] = []
    """Per column: name, type, nulls, distinct, and min/max/mean for numbers (from the stored profile)."""


class ModelDetails(_Section):
    """Who, what, which version."""

    name: str
    version: int
    project: str
    uri: str
    flavor: str
    digest: str
    created_by: str | None = None
    created_at: str | None = None
    description: str = ""
    overview: str = ""
    owners: list[str] = []
    licenses: str = ""
    references: str = ""
    aliases: list[str] = []
    environments: list[str] = []
    status: str = ""


class ModelParameters(_Section):
    """How it was made and what it takes."""

    source_run: str | None = None
    params: dict[str, str] = {}
    input_format: list[dict[str, Any]] = []
    output_format: list[dict[str, Any]] = []
    training_data: list[CardDataset] = []
    evaluation_data: list[CardDataset] = []


class QuantitativeAnalysis(_Section):
    """How well it does."""

    performance_metrics: dict[str, float] = {}
    feature_importance: dict[str, dict[str, float]] = {}


class Considerations(_Section):
    """What people wrote about its use."""

    intended_users: str = ""
    use_cases: str = ""
    limitations: str = ""
    tradeoffs: str = ""
    ethical_considerations: str = ""


class ModelCard(_Section):
    """The card of one model version (Model Card Toolkit sections plus approvals and lineage)."""

    schema_version: str = "1"
    model_details: ModelDetails
    model_parameters: ModelParameters
    quantitative_analysis: QuantitativeAnalysis
    considerations: Considerations
    approvals: list[dict[str, Any]] = []
    lineage: LineageGraph | None = Field(default=None)


def check_card_fields(fields: Mapping[str, Any]) -> dict[str, str]:
    """Validate edits to a card's free-text fields; raise naming the bad field and the allowed ones."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        if key not in CARD_FIELDS:
            allowed = ", ".join(sorted(CARD_FIELDS))
            raise InvalidInputError(f"Unknown model card field {key!r}; the editable fields are: {allowed}.")
        if not isinstance(value, str):
            raise InvalidInputError(f"Model card field {key!r} must be text, got {type(value).__name__}.")
        if len(value) > MAX_FIELD_LENGTH:
            raise InvalidInputError(f"Model card field {key!r} is longer than {MAX_FIELD_LENGTH} characters.")
        out[key] = value
    return out


def build_card(
    version: ModelVersion,
    *,
    run: Run | None,
    inputs: Sequence[tuple[RunInput, DatasetVersion | None]],
    promotions: Sequence[PromotionRequest],
    fields: Mapping[str, str],
    lineage: LineageGraph | None,
) -> ModelCard:
    """Assemble the card of ``version`` from what the platform recorded plus the edited ``fields``."""
    datasets = [_card_dataset(use, dv) for use, dv in inputs]
    signature = version.signature or {}
    return ModelCard(
        model_details=ModelDetails(
            name=version.name,
            version=version.version,
            project=version.project,
            uri=version.uri,
            flavor=version.flavor,
            digest=version.digest,
            created_by=version.created_by,
            created_at=version.created_at.isoformat(),
            description=version.description,
            overview=fields.get("overview", ""),
            owners=[version.created_by],
            licenses=fields.get("licenses", ""),
            references=fields.get("references", ""),
            aliases=list(version.aliases),
            environments=list(version.environments),
            status=str(version.status),
        ),
        model_parameters=ModelParameters(
            source_run=version.run_id,
            params=dict(run.params) if run is not None else {},
            input_format=_spec_rows(signature.get("inputs")),
            output_format=_spec_rows(signature.get("outputs")),
            training_data=[d for d in datasets if d.role.lower() not in _EVAL_ROLES],
            evaluation_data=[d for d in datasets if d.role.lower() in _EVAL_ROLES],
        ),
        quantitative_analysis=QuantitativeAnalysis(
            performance_metrics=dict(version.metrics), feature_importance=dict(version.importance or {})
        ),
        considerations=Considerations(**{k: fields.get(k, "") for k in Considerations.model_fields}),
        approvals=[
            {
                "environment": p.environment,
                "state": str(p.state),
                "requested_by": p.requested_by,
                "decided_by": p.decided_by,
                "reason": p.decision_reason or p.reason,
                "decided_at": p.decided_at.isoformat() if p.decided_at else None,
            }
            for p in promotions
        ],
        lineage=lineage,
    )


def _spec_rows(spec: Any) -> list[dict[str, Any]]:
    """One row per column of a column signature, or the one tensor spec (kind, dtype, shape)."""
    if not isinstance(spec, Mapping):
        return []
    columns = spec.get("columns")
    if isinstance(columns, list):
        return [dict(c) for c in columns if isinstance(c, Mapping)]
    row = {k: v for k, v in spec.items() if not isinstance(v, Mapping)}
    for nested in (v for v in spec.values() if isinstance(v, Mapping)):
        row.update(nested)
    return [row]


def _card_dataset(use: RunInput, version: DatasetVersion | None) -> CardDataset:
    """Summarise a dataset version for a card from its stored profile (PII columns were never profiled)."""
    columns: list[dict[str, Any]] = []
    raw = version.profile if version is not None else None
    if isinstance(raw, Mapping):
        for name, col in list((raw.get("columns") or {}).items())[:_TOP_COLUMNS]:
            if not isinstance(col, Mapping):
                continue
            summary: dict[str, Any] = {"name": name, "type": col.get("type") or col.get("dtype")}
            for key in ("count", "nulls", "distinct", "min", "max", "mean"):
                if col.get(key) is not None:
                    summary[key] = col[key]
            columns.append(summary)
    return CardDataset(
        ref=use.ref,
        project=use.project,
        role=use.role,
        digest=use.digest,
        num_rows=version.num_rows if version is not None else None,
        columns=columns,
    )


def render_card(card: ModelCard, fmt: str) -> str:
    """The card as ``json``, ``md`` (Markdown) or ``html``."""
    if fmt == "json":
        return json.dumps(card.model_dump(mode="json"), indent=2, sort_keys=False)
    if fmt == "md":
        return _markdown(card)
    if fmt == "html":
        return _html(card)
    raise InvalidInputError(f"Unknown model card format {fmt!r}; use md, html or json.")


# rendering --------------------------------------------------------------------------------------


def _sections(card: ModelCard) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The card as (section title, [(label, value)]) pairs, shared by Markdown and HTML."""
    d, p, q, c = card.model_details, card.model_parameters, card.quantitative_analysis, card.considerations
    details: list[tuple[str, Any]] = [
        ("Overview", d.overview or d.description),
        ("Version", f"{d.name}@{d.version} ({d.uri})"),
        ("Project", d.project),
        ("Flavor", d.flavor),
        ("Package digest", d.digest),
        ("Status", d.status),
        ("Aliases", ", ".join(d.aliases)),
        ("Environments", ", ".join(d.environments)),
        ("Registered by", f"{d.created_by or ''} {d.created_at or ''}".strip()),
        ("Licences", d.licenses),
        ("References", d.references),
    ]
    params: list[tuple[str, Any]] = [
        ("Source run", p.source_run),
        ("Parameters", p.params),
        ("Inputs (signature)", p.input_format),
        ("Outputs (signature)", p.output_format),
        ("Training data", [_dataset_line(ds) for ds in p.training_data]),
        ("Evaluation data", [_dataset_line(ds) for ds in p.evaluation_data]),
    ]
    quant: list[tuple[str, Any]] = [
        ("Metrics", q.performance_metrics),
        (
            "Permutation feature importance (mean ± std)",
            {
                k: f"{v.get('mean', 0):.4g} ± {v.get('std', 0):.2g}"
                + (f"; mean absolute SHAP {v['shap']:.4g}" if "shap" in v else "")
                for k, v in q.feature_importance.items()
            },
        ),
    ]
    cons: list[tuple[str, Any]] = [
        ("Intended users", c.intended_users),
        ("Use cases", c.use_cases),
        ("Limitations", c.limitations),
        ("Trade-offs", c.tradeoffs),
        ("Ethical considerations", c.ethical_considerations),
    ]
    approvals = [
        (
            "Approvals",
            [
                f"{a.get('environment')}: {a.get('state')} by {a.get('decided_by') or a.get('requested_by')}"
                + (f" — {a['reason']}" if a.get("reason") else "")
                for a in card.approvals
            ],
        )
    ]
    lineage = [("Made from and used by", _lineage_lines(card.lineage))] if card.lineage else []
    return [
        ("Model details", details),
        ("Model parameters", params),
        ("Quantitative analysis", quant),
        ("Considerations", cons),
        ("Approvals", approvals),
        *([("Lineage", lineage)] if lineage else []),
    ]


def _dataset_line(ds: CardDataset) -> str:
    rows = f", {ds.num_rows:,} rows" if ds.num_rows is not None else ""
    cols = ", ".join(str(c["name"]) for c in ds.columns)
    return f"{ds.project}/{ds.ref} ({ds.role}{rows}; sha {ds.digest[:12]})" + (f" — columns: {cols}" if cols else "")


def _lineage_lines(graph: LineageGraph | None) -> list[str]:
    if graph is None:
        return []
    return [f"{graph.node(e.source).label} → {graph.node(e.target).label} ({e.role})" for e in graph.edges]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _markdown(card: ModelCard) -> str:
    d = card.model_details
    lines = [f"# Model card: {_md(d.name)} version {d.version}", ""]
    for title, rows in _sections(card):
        lines += [f"## {title}", ""]
        shown = [(label, value) for label, value in rows if not _empty(value)]
        if not shown:
            lines += ["_Not recorded._", ""]
        for label, value in shown:
            if isinstance(value, Mapping):
                lines += [f"**{label}**", "", "| name | value |", "| --- | --- |"]
                lines += [f"| {_md(k)} | {_md(v)} |" for k, v in value.items()]
            elif isinstance(value, Sequence) and not isinstance(value, str):
                lines += [f"**{label}**", ""] + [f"- {_md(_flat(v))}" for v in value]
            else:
                lines += [f"**{label}:** {_md(value)}"]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _html(card: ModelCard) -> str:
    e = html.escape
    d = card.model_details
    out = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>",
        f"<title>Model card · {e(d.name)}@{d.version}</title>",
        f"<article class='model-card'><h1>Model card: {e(d.name)} version {d.version}</h1>",
    ]
    for title, rows in _sections(card):
        out.append(f"<section><h2>{e(title)}</h2>")
        shown = [(label, value) for label, value in rows if not _empty(value)]
        if not shown:
            out.append("<p><em>Not recorded.</em></p>")
        for label, value in shown:
            if isinstance(value, Mapping):
                body = "".join(
                    f"<tr><th scope='row'>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in value.items()
                )
                out.append(f"<h3>{e(label)}</h3><table>{body}</table>")
            elif isinstance(value, Sequence) and not isinstance(value, str):
                items = "".join(f"<li>{e(_flat(v))}</li>" for v in value)
                out.append(f"<h3>{e(label)}</h3><ul>{items}</ul>")
            else:
                out.append(f"<p><strong>{e(label)}:</strong> {e(str(value))}</p>")
        out.append("</section>")
    out.append("</article></html>")
    return "\n".join(out) + "\n"


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _md(value: Any) -> str:
    """Text safe inside Markdown tables and lines (pipes and newlines escaped, HTML neutralised)."""
    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")


class ModelCardService:
    """Cards of model versions: assembled on read, free-text fields edited with an audit event."""

    def __init__(self, registry: RegistryService, tracking: TrackingService, datasets: DatasetService) -> None:
        """Read through these services; edits go through the registry's store and caller."""
        self.registry = registry
        self.tracking = tracking
        self.datasets = datasets

    def card(self, project: str, ref: str) -> ModelCard:
        """The card of the version ``ref`` names (``churn@3``, ``churn@champion``, ...).

        The card and its lineage graph read through one memoising source, so each run and dataset
        version is read once however many places of the card mention it.
        """
        parsed = parse_model_ref(ref)
        with self.registry.store.read() as tx:
            model, row = self.registry._resolve(tx, project, parsed)
            version = tx.model_version_entities([row], model.name, project, files=False)[0]
            fields = _load_fields(row.card)
        source = CachedLineageSource(ServiceLineageSource(self.tracking, self.datasets, self.registry))
        source._memo[("get_model_version", (project, version.ref))] = version
        run: Run | None = None
        inputs: list[tuple[RunInput, DatasetVersion | None]] = []
        if version.run_id:
            try:
                run = source.get_run(version.run_id)
            except NotFoundError:
                run = None
        if run is not None:
            for use in source.run_inputs(run.id):
                try:
                    dv: DatasetVersion | None = source.get_dataset_version(use.project, use.ref)
                except NotFoundError:
                    dv = None
                inputs.append((use, dv))
        promotions = [p for p in self.registry.list_promotions(project, version.name) if p.version == version.version]
        graph = build_lineage(source, "model_version", project, version.ref)
        return build_card(version, run=run, inputs=inputs, promotions=promotions, fields=fields, lineage=graph)

    def fields(self, project: str, ref: str) -> dict[str, str]:
        """The edited free-text fields of a version's card."""
        parsed = parse_model_ref(ref)
        with self.registry.store.read() as tx:
            _, row = self.registry._resolve(tx, project, parsed)
            return _load_fields(row.card)

    def update(self, project: str, ref: str, fields: Mapping[str, Any]) -> ModelCard:
        """Set free-text fields (an empty string clears one); audited; returns the new card."""
        changes = check_card_fields(fields)
        if not changes:
            raise InvalidInputError(
                f"Give at least one model card field to set; the fields are: {', '.join(sorted(CARD_FIELDS))}."
            )
        parsed = parse_model_ref(ref)
        with self.registry.store.write() as tx:
            model, row = self.registry._resolve(tx, project, parsed)
            current = _load_fields(row.card)
            current.update(changes)
            current = {k: v for k, v in current.items() if v}
            tx.update_model_version(row.id, card=json.dumps(current, sort_keys=True))
            self.registry._audit(
                tx,
                "model.card.update",
                model.name,
                project,
                {"version": row.version, "fields": sorted(changes)},
            )
            version_ref = f"{model.name}@{row.version}"
        return self.card(project, version_ref)


def _load_fields(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    loaded = json.loads(text)
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
