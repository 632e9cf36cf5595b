"""One lineage graph across the platform: dataset version -> run -> model version (-> deployment).

The graph is built from a few read operations (`LineageSource`) that both the in-process services
and the HTTP backend provide, so ``yard.lineage(...)`` gives the same answer embedded and against
a server. From the root object the builder walks *upstream* (what it was made from) and
*downstream* (what was made from it) — ancestors and descendants, not the whole connected
component, which is what a reader of "where did this model come from / what used this data"
expects. It exports as OpenLineage run events so Marquez or other lineage tools can ingest it.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from modelyard._version import __version__
from modelyard.entities import DatasetVersion, Run, RunInput
from modelyard.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from modelyard.data._service import DatasetService
    from modelyard.registry._service import RegistryService
    from modelyard.tracking._service import TrackingService

__all__ = [
    "CachedLineageSource",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "LineageSource",
    "OUTPUT_ROLE",
    "ServiceLineageSource",
    "build_lineage",
    "check_kind",
    "node_id",
]

NodeKind = Literal["dataset_version", "run", "model_version", "deployment"]
OUTPUT_ROLE = "output"
"""A run input recorded in this role is a dataset version the run produced (a pipeline step's output)."""
MAX_NODES = 2_000
"""The walk stops adding nodes past this many (the graph says ``truncated``)."""

OPENLINEAGE_PRODUCER = f"https://github.com/modelyard/modelyard/tree/v{__version__}"
OPENLINEAGE_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_DATASET_VERSION_FACET = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json"


class ModelVersionLike(Protocol):
    """What the graph reads from a model version."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def project(self) -> str: ...
    @property
    def run_id(self) -> str | None: ...
    @property
    def digest(self) -> str: ...
    @property
    def flavor(self) -> str: ...


class LineageSource(Protocol):
    """The read operations lineage needs; implemented over the services and over HTTP."""

    def dataset_consumers(self, project: str, ref: str) -> list[RunInput]:
        """The runs that used a dataset version (``ref`` like ``churn-train@3``)."""
        ...

    def run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run used."""
        ...

    def get_dataset_version(self, project: str, ref: str) -> DatasetVersion:
        """A dataset version by reference (``churn-train@latest`` resolved to its number)."""
        ...

    def get_run(self, run_id: str) -> Run:
        """A run."""
        ...

    def model_versions_of_run(self, run_id: str) -> list[ModelVersionLike]:
        """The model versions registered from a run."""
        ...

    def get_model_version(self, project: str, ref: str) -> ModelVersionLike:
        """A model version by reference (``churn@3``, ``churn@champion``)."""
        ...


class LineageNode(BaseModel):
    """One object of the graph."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """Stable id: ``dataset:<project>/<name>@<v>``, ``run:<run id>``, ``model:<project>/<name>@<v>``."""
    kind: NodeKind
    label: str
    project: str
    ref: str
    """The reference a user types: ``churn-train@3``, a run id, ``churn@3``."""
    details: dict[str, str] = {}


class LineageEdge(BaseModel):
    """``source`` was used to make ``target`` (dataset -> run in a role, run -> model version)."""

    model_config = ConfigDict(extra="forbid")

    source: str
    target: str
    role: str = ""


class LineageGraph(BaseModel):
    """Ancestors and descendants of ``root``."""

    model_config = ConfigDict(extra="forbid")

    root: str
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool = False
    hidden: int = 0
    """Nodes left out because they belong to projects the reader may not see."""

    def node(self, id_: str) -> LineageNode:
        """The node with this id."""
        return next(n for n in self.nodes if n.id == id_)

    def upstream(self, id_: str) -> list[LineageNode]:
        """The direct inputs of a node."""
        return [self.node(e.source) for e in self.edges if e.target == id_]

    def downstream(self, id_: str) -> list[LineageNode]:
        """What was made directly from a node."""
        return [self.node(e.target) for e in self.edges if e.source == id_]

    def visible_to(self, can_read: Callable[[str], bool]) -> LineageGraph:
        """The graph without the nodes of projects the reader may not see (the root always stays).

        Their edges go too, and ``hidden`` counts what was left out, so a reader learns that
        something exists without learning what.
        """
        keep = {n.id for n in self.nodes if n.id == self.root or can_read(n.project)}
        return LineageGraph(
            root=self.root,
            nodes=[n for n in self.nodes if n.id in keep],
            edges=[e for e in self.edges if e.source in keep and e.target in keep],
            truncated=self.truncated,
            hidden=self.hidden + len(self.nodes) - len(keep),
        )

    def to_openlineage(self, namespace: str = "modelyard") -> list[dict[str, Any]]:
        """The graph as OpenLineage ``RunEvent``s: one per run, with its datasets and models.

        Dataset versions are input datasets named ``<project>/datasets/<name>`` with a version
        facet (the version's digest); model versions are output datasets named
        ``<project>/models/<name>`` with the version number in the same facet.
        """
        events = []
        for run in (n for n in self.nodes if n.kind == "run"):
            inputs = [_ol_dataset(namespace, n) for n in self.upstream(run.id)]
            outputs = [_ol_dataset(namespace, n) for n in self.downstream(run.id)]
            status = run.details.get("status", "")
            events.append(
                {
                    "eventType": {"FAILED": "FAIL", "KILLED": "ABORT", "RUNNING": "RUNNING"}.get(status, "COMPLETE"),
                    "eventTime": run.details.get("end_time") or run.details.get("start_time") or _now(),
                    "run": {"runId": str(uuid.UUID(hex=run.ref))},
                    "job": {"namespace": namespace, "name": f"{run.project}/{run.label}"},
                    "inputs": inputs,
                    "outputs": outputs,
                    "producer": OPENLINEAGE_PRODUCER,
                    "schemaURL": OPENLINEAGE_SCHEMA_URL,
                }
            )
        return events


def check_kind(kind: str) -> NodeKind:
    """``kind`` as a node kind lineage can start from, or a clear error."""
    if kind not in ("dataset_version", "run", "model_version"):
        raise InvalidInputError(f"kind must be dataset_version, run or model_version, got {kind!r}.")
    return kind  # type: ignore[return-value]  # narrowed by the check above


def node_id(kind: NodeKind, project: str, ref: str) -> str:
    """The id of a node (runs are global, datasets and models are per project)."""
    prefix = {"dataset_version": "dataset", "run": "run", "model_version": "model", "deployment": "deployment"}[kind]
    return f"run:{ref}" if kind == "run" else f"{prefix}:{project}/{ref}"


def build_lineage(source: LineageSource, kind: NodeKind, project: str, ref: str) -> LineageGraph:
    """Walk upstream and downstream from one object.

    Args:
        source: the read operations (services or HTTP backend).
        kind: what the root is: ``dataset_version``, ``run`` or ``model_version``.
        project: the root's project (ignored for runs).
        ref: ``churn-train@3`` / a run id / ``churn@3`` or ``churn@champion``.
    """
    builder = _Builder(source)
    root = builder.root(kind, project, ref)
    builder.walk(root, upstream=True)
    builder.walk(root, upstream=False)
    return LineageGraph(
        root=root.id, nodes=list(builder.nodes.values()), edges=builder.edge_list(), truncated=builder.truncated
    )


class _Builder:
    def __init__(self, source: LineageSource) -> None:
        self.source = source
        self.nodes: dict[str, LineageNode] = {}
        self.edges: dict[tuple[str, str, str], LineageEdge] = {}
        self.truncated = False

    def edge_list(self) -> list[LineageEdge]:
        return list(self.edges.values())

    def root(self, kind: NodeKind, project: str, ref: str) -> LineageNode:
        if kind == "run":
            return self._run(self.source.get_run(ref))
        if kind == "model_version":
            return self._model(self.source.get_model_version(project, ref))
        if kind == "dataset_version":
            version = self.source.get_dataset_version(project, ref)
            return self._dataset_node(project, version.ref, version.digest, deleted=version.deleted)
        raise InvalidInputError(f"lineage starts at a dataset version, run or model version, not {kind!r}.")

    def walk(self, start: LineageNode, *, upstream: bool) -> None:
        queue = deque([start])
        seen = {start.id}
        while queue:
            node = queue.popleft()
            for neighbour, edge in self._neighbours(node, upstream=upstream):
                self.edges[(edge.source, edge.target, edge.role)] = edge
                if neighbour.id not in seen:
                    seen.add(neighbour.id)
                    queue.append(neighbour)

    def _neighbours(self, node: LineageNode, *, upstream: bool) -> Iterable[tuple[LineageNode, LineageEdge]]:
        """Direct neighbours on one side. A run input in role ``output`` was *made* by the run."""
        if node.kind == "dataset_version":
            for use in self.source.dataset_consumers(node.project, node.ref):
                if (use.role == OUTPUT_ROLE) != upstream:
                    continue
                run = self._run_by_id(use.run_id)
                if run is not None:
                    yield run, _edge(node, run, use.role)
        elif node.kind == "run":
            for use in self.source.run_inputs(node.ref):
                if (use.role == OUTPUT_ROLE) == upstream:
                    continue
                yield self._dataset(use), _edge(self._dataset(use), node, use.role)
            if not upstream:
                for version in self.source.model_versions_of_run(node.ref):
                    model = self._model(version)
                    yield model, LineageEdge(source=node.id, target=model.id, role="model")
        elif node.kind == "model_version" and upstream and node.details.get("run_id"):
            run = self._run_by_id(node.details["run_id"])
            if run is not None:
                yield run, LineageEdge(source=run.id, target=node.id, role="model")

    def _add(self, node: LineageNode) -> LineageNode:
        if node.id not in self.nodes and len(self.nodes) >= MAX_NODES:
            self.truncated = True
            return node
        return self.nodes.setdefault(node.id, node)

    def _run_by_id(self, run_id: str) -> LineageNode | None:
        existing = self.nodes.get(f"run:{run_id}")
        if existing is not None:
            return existing
        try:
            return self._run(self.source.get_run(run_id))
        except NotFoundError:  # purged since: the link stays readable, the run is left out
            return None

    def _run(self, run: Run) -> LineageNode:
        details = {"status": str(run.status), "start_time": _iso(run.start_time), "user": run.user or ""}
        if run.end_time is not None:
            details["end_time"] = _iso(run.end_time)
        return self._add(
            LineageNode(
                id=node_id("run", run.project, run.id),
                kind="run",
                label=run.name or run.id[:12],
                project=run.project,
                ref=run.id,
                details=details,
            )
        )

    def _dataset(self, use: RunInput) -> LineageNode:
        return self._dataset_node(use.project, use.ref, use.digest, deleted=use.deleted)

    def _dataset_node(self, project: str, ref: str, digest: str, *, deleted: bool) -> LineageNode:
        details = {"digest": digest}
        if deleted:
            details["deleted"] = "true"
        return self._add(
            LineageNode(
                id=node_id("dataset_version", project, ref),
                kind="dataset_version",
                label=ref,
                project=project,
                ref=ref,
                details=details,
            )
        )

    def _model(self, version: ModelVersionLike) -> LineageNode:
        ref = f"{version.name}@{version.version}"
        details = {"digest": version.digest, "flavor": version.flavor}
        if version.run_id:
            details["run_id"] = version.run_id
        return self._add(
            LineageNode(
                id=node_id("model_version", version.project, ref),
                kind="model_version",
                label=ref,
                project=version.project,
                ref=ref,
                details=details,
            )
        )


def _edge(a: LineageNode, b: LineageNode, role: str) -> LineageEdge:
    """The edge between a dataset version and a run, pointing the way the data flowed."""
    dataset, run = (a, b) if a.kind == "dataset_version" else (b, a)
    if role == OUTPUT_ROLE:
        return LineageEdge(source=run.id, target=dataset.id, role=role)
    return LineageEdge(source=dataset.id, target=run.id, role=role)


def _ol_dataset(namespace: str, node: LineageNode) -> dict[str, Any]:
    name, _, version = node.ref.rpartition("@")
    folder = "datasets" if node.kind == "dataset_version" else "models"
    return {
        "namespace": namespace,
        "name": f"{node.project}/{folder}/{name}",
        "facets": {
            "version": {
                "_producer": OPENLINEAGE_PRODUCER,
                "_schemaURL": _DATASET_VERSION_FACET,
                "datasetVersion": version if folder == "models" else node.details.get("digest", version),
            }
        },
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _now() -> str:
    return _iso(datetime.now(UTC))


class ServiceLineageSource:
    """`LineageSource` over the in-process services (embedded use, the server, the UI)."""

    def __init__(self, tracking: TrackingService, datasets: DatasetService, registry: RegistryService) -> None:
        """Read through these services."""
        self.tracking = tracking
        self.datasets = datasets
        self.registry = registry

    def dataset_consumers(self, project: str, ref: str) -> list[RunInput]:
        """The runs that used a dataset version."""
        return self.datasets.lineage(project, ref)

    def run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run used."""
        return self.tracking.list_run_inputs(run_id)

    def get_dataset_version(self, project: str, ref: str) -> DatasetVersion:
        """A dataset version, deleted ones included (lineage outlives the data)."""
        return self.datasets.get_version(project, ref, files=False, include_deleted=True)

    def get_run(self, run_id: str) -> Run:
        """A run."""
        return self.tracking.get_run(run_id)

    def model_versions_of_run(self, run_id: str) -> list[ModelVersionLike]:
        """The model versions registered from a run."""
        return list(self.registry.versions_of_run(run_id))

    def get_model_version(self, project: str, ref: str) -> ModelVersionLike:
        """A model version by reference."""
        return self.registry.get_version(project, ref, files=False)


class CachedLineageSource:
    """A `LineageSource` that reads each object once (a card and its graph share the same reads)."""

    def __init__(self, source: LineageSource) -> None:
        """Wrap ``source``."""
        self.source = source
        self._memo: dict[tuple[str, tuple[str, ...]], Any] = {}

    def _once(self, name: str, *args: str) -> Any:
        key = (name, args)
        if key not in self._memo:
            self._memo[key] = getattr(self.source, name)(*args)
        return self._memo[key]

    def dataset_consumers(self, project: str, ref: str) -> list[RunInput]:
        """The runs that used a dataset version."""
        result: list[RunInput] = self._once("dataset_consumers", project, ref)
        return result

    def run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run used."""
        result: list[RunInput] = self._once("run_inputs", run_id)
        return result

    def get_dataset_version(self, project: str, ref: str) -> DatasetVersion:
        """A dataset version."""
        result: DatasetVersion = self._once("get_dataset_version", project, ref)
        return result

    def get_run(self, run_id: str) -> Run:
        """A run."""
        result: Run = self._once("get_run", run_id)
        return result

    def model_versions_of_run(self, run_id: str) -> list[ModelVersionLike]:
        """The model versions registered from a run."""
        result: list[ModelVersionLike] = self._once("model_versions_of_run", run_id)
        return result

    def get_model_version(self, project: str, ref: str) -> ModelVersionLike:
        """A model version by reference."""
        result: ModelVersionLike = self._once("get_model_version", project, ref)
        return result
