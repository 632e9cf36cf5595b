"""Tracing a pipeline function into a DAG of step calls.

The pipeline function runs once with its parameters while a :class:`DagBuilder` is active on the
thread; every step call becomes a :class:`Node` whose upstream nodes are the handles found in its
arguments (directly or inside lists, tuples and dicts). No step body runs while tracing.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import InvalidPipelineError
from modelyard.pipelines._step import Step, StepOutput

__all__ = ["Dag", "DagBuilder", "Node", "current_builder", "map_handles", "trace"]

_local = threading.local()
_trace_ids = itertools.count(1)


def current_builder() -> DagBuilder | None:
    """The builder tracing on this thread, if any."""
    return getattr(_local, "builder", None)


@dataclass
class Node:
    """One step call in a DAG."""

    name: str
    step: Step
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    upstream: list[str] = field(default_factory=list)

    @property
    def outputs(self) -> int:
        """How many outputs the step returns."""
        return self.step.outputs


@dataclass
class Dag:
    """The traced graph: nodes in a topological order, plus what the pipeline function returned."""

    pipeline: str
    nodes: dict[str, Node]
    result: Any = None

    def downstream(self) -> dict[str, list[str]]:
        """For each node, the nodes that consume one of its outputs."""
        out: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for up in node.upstream:
                out[up].append(node.name)
        return out

    def to_json(self) -> dict[str, Any]:
        """The DAG as JSON for the store and the API (nodes with their options, and edges)."""
        return {
            "nodes": [
                {
                    "name": n.name,
                    "step": n.step.qualname,
                    "upstream": list(n.upstream),
                    "outputs": n.outputs,
                    **n.step.options(),
                }
                for n in self.nodes.values()
            ],
            "edges": [[up, n.name] for n in self.nodes.values() for up in n.upstream],
        }


class DagBuilder:
    """Collects step calls while a pipeline function is traced."""

    def __init__(self, pipeline: str) -> None:
        """Start an empty graph for ``pipeline``."""
        self.pipeline = pipeline
        self.trace_id = next(_trace_ids)
        self.nodes: dict[str, Node] = {}
        self._counts: dict[str, int] = {}

    def add_call(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Record a call of ``step``; return its output handle, or a tuple of handles."""
        count = self._counts.get(step.name, 0) + 1
        self._counts[step.name] = count
        name = step.name if count == 1 else f"{step.name}_{count}"
        while name in self.nodes:  # a step literally named like a numbered call
            count += 1
            name = f"{step.name}_{count}"
        upstream: list[str] = []

        def visit(handle: StepOutput) -> StepOutput:
            if handle.trace_id != self.trace_id or handle.node not in self.nodes:
                raise InvalidPipelineError(
                    f"step {name!r} of pipeline {self.pipeline!r} gets {handle!r}, which belongs to another "
                    "pipeline or another trace: pass outputs only between steps of one pipeline function."
                )
            if handle.node not in upstream:
                upstream.append(handle.node)
            return handle

        args = map_handles(args, visit)
        kwargs = map_handles(kwargs, visit)
        self.nodes[name] = Node(name=name, step=step, args=args, kwargs=kwargs, upstream=upstream)
        if step.outputs == 1:
            return StepOutput(name, 0, self.trace_id)
        return tuple(StepOutput(name, i, self.trace_id) for i in range(step.outputs))


def map_handles(value: Any, fn: Callable[[StepOutput], Any]) -> Any:
    """Replace every handle in ``value`` (inside lists, tuples and dicts) by ``fn(handle)``."""
    if isinstance(value, StepOutput):
        return fn(value)
    kind = type(value)
    if kind is list:
        return [map_handles(v, fn) for v in value]
    if kind is tuple:
        return tuple(map_handles(v, fn) for v in value)
    if kind is dict:
        return {k: map_handles(v, fn) for k, v in value.items()}
    return value


def trace(pipeline: str, fn: Callable[..., Any], params: Mapping[str, Any]) -> Dag:
    """Run the pipeline function with ``params`` under a builder and return the checked DAG."""
    if current_builder() is not None:
        raise InvalidPipelineError(
            f"pipeline {pipeline!r} is called while another pipeline is being traced; "
            "call steps, not pipelines, inside a pipeline function."
        )
    builder = DagBuilder(pipeline)
    _local.builder = builder
    try:
        result = fn(**params)
    except InvalidPipelineError:
        raise
    except Exception as exc:
        raise InvalidPipelineError(
            f"pipeline {pipeline!r} failed while building its graph: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        _local.builder = None
    if not builder.nodes:
        raise InvalidPipelineError(f"pipeline {pipeline!r} calls no step: decorate its functions with @step.")
    dag = Dag(pipeline=pipeline, nodes=builder.nodes, result=result)
    check_acyclic({n.name: n.upstream for n in dag.nodes.values()}, pipeline)
    return dag


def check_acyclic(upstream: Mapping[str, list[str]], pipeline: str) -> list[str]:
    """Return the nodes in topological order; raise :class:`InvalidPipelineError` on a cycle or unknown node."""
    indegree = {name: 0 for name in upstream}
    for name, ups in upstream.items():
        for up in ups:
            if up not in indegree:
                raise InvalidPipelineError(f"pipeline {pipeline!r}: step {name!r} depends on unknown step {up!r}.")
            indegree[name] += 1
    children: dict[str, list[str]] = {name: [] for name in upstream}
    for name, ups in upstream.items():
        for up in ups:
            children[up].append(name)
    order = [name for name, d in indegree.items() if d == 0]
    i = 0
    while i < len(order):
        for child in children[order[i]]:
            indegree[child] -= 1
            if indegree[child] == 0:
                order.append(child)
        i += 1
    if len(order) != len(upstream):
        cycle = sorted(name for name, d in indegree.items() if d > 0)
        raise InvalidPipelineError(f"pipeline {pipeline!r} has a cycle through steps {', '.join(cycle)}.")
    return order
