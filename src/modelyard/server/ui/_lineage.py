"""The lineage graph as the UI draws it: dataset version -> run -> model version -> deployment.

The graph comes from the lineage service (:func:`~modelyard.registry._lineage.build_lineage` over
:class:`~modelyard.registry._lineage.ServiceLineageSource`), so it follows what the API's
``/api/v1/lineage`` follows — pipeline step outputs (role ``output``) included — and it is cut to
the projects the reader may see, like the API's answer. Here it is laid out in layers (every node
right of everything it was made from) and drawn as an SVG by the template: no JavaScript, links
on every node, and nothing but attributes (the CSP allows no inline style).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import Request

from modelyard.entities import Run, RunInput
from modelyard.registry._lineage import (
    LineageEdge,
    LineageGraph,
    LineageNode,
    ModelVersionLike,
    ServiceLineageSource,
    build_lineage,
)
from modelyard.server._context import Principal
from modelyard.server.routers._deps import datasets, tracking
from modelyard.server.routers.lineage import visible_lineage
from modelyard.server.routers.models import registry

__all__ = ["MAX_DRAWN", "lineage_of", "lineage_view", "visible_lineage"]

MAX_DRAWN = 60
"""The most nodes drawn; a larger graph is cut (the API gives all of it)."""
_COLUMN = 210
_ROW = 58
_WIDTH = 176
_HEIGHT = 42
_ORDER = {"dataset_version": 0, "run": 1, "model_version": 2, "deployment": 3}


class _KnownSource(ServiceLineageSource):
    """The services, answering from what the page already read (no second query for the same thing)."""

    def __init__(self, request: Request, principal: Principal, known: Mapping[tuple[str, str], Any]) -> None:
        super().__init__(tracking(request, principal), datasets(request, principal), registry(request, principal))
        self.known = dict(known)

    def get_run(self, run_id: str) -> Run:
        """A run (the page's own without a query)."""
        found = self.known.get(("run", run_id))
        return found if found is not None else super().get_run(run_id)

    def run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run used."""
        found = self.known.get(("inputs", run_id))
        return list(found) if found is not None else super().run_inputs(run_id)

    def model_versions_of_run(self, run_id: str) -> list[ModelVersionLike]:
        """The model versions registered from a run."""
        found = self.known.get(("models", run_id))
        return list(found) if found is not None else super().model_versions_of_run(run_id)


def lineage_of(
    request: Request,
    principal: Principal,
    kind: str,
    project: str,
    ref: str,
    known: Mapping[tuple[str, str], Any] | None = None,
) -> LineageGraph:
    """Build the lineage graph of one object through the services, cut to what ``principal`` may read.

    ``known`` holds what the page already read, keyed ``("run", id)``, ``("inputs", run id)`` and
    ``("models", run id)``, so the walk does not read it again.
    """
    source = _KnownSource(request, principal, known or {})
    graph = build_lineage(source, kind, project, ref)  # type: ignore[arg-type]  # kind is a literal at call sites
    return visible_lineage(request, principal, graph)


def _href(node: LineageNode) -> str:
    project = quote(node.project, safe="")
    if node.kind == "run":
        return f"/runs/{quote(node.ref, safe='')}"
    name, _, version = node.ref.rpartition("@")
    if node.kind == "dataset_version":
        return f"/projects/{project}/datasets/{quote(name, safe='')}/{quote(version, safe='')}"
    if node.kind == "model_version":
        return f"/projects/{project}/models/{quote(name, safe='')}/{quote(version, safe='')}"
    return f"/projects/{project}/models/{quote(node.details.get('model', ''), safe='')}"


def _short(text: str, most: int = 24) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _with_deployments(
    graph: LineageGraph, environments: Mapping[str, Sequence[str]]
) -> tuple[list[LineageNode], list[LineageEdge]]:
    """The graph's nodes and edges plus one node per environment a drawn model version serves in."""
    nodes = list(graph.nodes)
    edges = list(graph.edges)
    for node in graph.nodes:
        if node.kind != "model_version":
            continue
        name = node.ref.rpartition("@")[0]
        for env in environments.get(node.ref, ()):
            env_id = f"deployment:{node.project}/{name}/{env}"
            details = {"model": name, "environment": env}
            nodes.append(
                LineageNode(id=env_id, kind="deployment", label=env, project=node.project, ref=env, details=details)
            )
            edges.append(LineageEdge(source=node.id, target=env_id, role="environment"))
    return nodes, edges


def _layers(nodes: Sequence[LineageNode], edges: Sequence[LineageEdge]) -> dict[str, int]:
    """Each node's column: one more than the deepest node it was made from (kind order breaks ties)."""
    depth = {n.id: 0 for n in nodes}
    for _ in range(len(nodes)):
        changed = False
        for e in edges:
            if e.source in depth and e.target in depth and depth[e.target] < depth[e.source] + 1:
                depth[e.target] = depth[e.source] + 1
                changed = True
        if not changed:
            break
    return depth


def lineage_view(graph: LineageGraph, environments: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Positions of the nodes and paths of the edges for the template's SVG.

    Args:
        graph: The lineage graph (already cut to what the reader may see).
        environments: Model version ref (``churn@3``) -> the environments it serves in; they are drawn
            as deployment nodes after their model version.
    """
    nodes, edges = _with_deployments(graph, environments or {})
    cut = len(nodes) > MAX_DRAWN
    if cut:
        keep = (
            {graph.root}
            | {e.source for e in edges if e.target == graph.root}
            | {e.target for e in edges if e.source == graph.root}
        )
        nodes = sorted(nodes, key=lambda n: (n.id not in keep, _ORDER.get(n.kind, 9)))[:MAX_DRAWN]
        ids = {n.id for n in nodes}
        edges = [e for e in edges if e.source in ids and e.target in ids]
    depth = _layers(nodes, edges)
    rows: dict[int, int] = {}
    placed: dict[str, dict[str, Any]] = {}
    for node in sorted(nodes, key=lambda n: (depth[n.id], _ORDER.get(n.kind, 9), n.label)):
        column = depth[node.id]
        row = rows.get(column, 0)
        rows[column] = row + 1
        sub = {"dataset_version": "dataset", "run": "run", "model_version": "model", "deployment": "environment"}
        placed[node.id] = {
            "id": node.id,
            "kind": node.kind,
            "label": _short(node.label),
            "title": f"{sub.get(node.kind, node.kind)} {node.label} ({node.project})",
            "sub": sub.get(node.kind, node.kind) + (" · deleted" if node.details.get("deleted") else ""),
            "href": _href(node),
            "root": node.id == graph.root,
            "x": 8 + column * _COLUMN,
            "y": 8 + row * _ROW,
        }
    paths = []
    for e in edges:
        a, b = placed.get(e.source), placed.get(e.target)
        if a is None or b is None:
            continue
        x1, y1 = a["x"] + _WIDTH, a["y"] + _HEIGHT // 2
        x2, y2 = b["x"], b["y"] + _HEIGHT // 2
        bend = max(20, (x2 - x1) // 2)
        paths.append({"d": f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}", "role": e.role})
    width = max((p["x"] for p in placed.values()), default=0) + _WIDTH + 16
    height = max((p["y"] for p in placed.values()), default=0) + _HEIGHT + 16
    return {
        "nodes": list(placed.values()),
        "edges": paths,
        "width": width,
        "height": height,
        "node_width": _WIDTH,
        "node_height": _HEIGHT,
        "cut": cut or graph.truncated,
        "hidden": graph.hidden,
    }
