"""Inside a step, the step run is the active run: ``yard.log_metric`` and friends log to it.

In the engine's process (thread executor) the step run is activated on the step's thread with the
pipeline's client, at the cost of a few attribute writes: the step run's row is written by the
step recorder's next batch, so the first fluent call in a step flushes that batch first (steps that
log nothing pay nothing), and the step's buffered metrics are flushed before the step's outcome is
reported, hence before its ``FINISHED`` record. In a child process (a step with a timeout, the
process executor, a Ray task) the engine has written the row before submitting; the child opens its
own client on the same store the first time the step logs, and flushes it before returning.

Kept light (no pydantic, no SQLAlchemy at import): children import it before running a step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["StepTracking", "activated", "spec_of", "tracked_in_child"]


@dataclass(frozen=True)
class StepTracking:
    """What a step needs to log to its step run from any process: the run and how to reach the store."""

    run_id: str
    name: str
    project: str
    parent_id: str
    location: Any = None
    """The local store's :class:`~modelyard.settings.StoreLocation` (``None`` for an HTTP server)."""
    uri: str | None = None
    """The server's URL when the pipeline's client talks to one."""
    settings: Any = None


def spec_of(client: Any, run_id: str, name: str, project: str, parent_id: str) -> StepTracking:
    """The tracking spec of a step run recorded through ``client``."""
    backend = client.backend
    location = getattr(backend, "location", None)
    uri = None if location is not None else getattr(backend, "uri", None)
    return StepTracking(run_id, name, project, parent_id, location, uri, client.settings)


@contextmanager
def activated(client: Any, spec: StepTracking, on_first_use: Callable[[], object] | None) -> Iterator[None]:
    """Make the step run the active run on this thread (restoring the previous one after)."""
    from modelyard.tracking._fluent import activate_run

    restore = activate_run(
        client, spec.run_id, name=spec.name, project=spec.project, parent_id=spec.parent_id, on_first_use=on_first_use
    )
    try:
        yield
    finally:
        restore()


_clients: dict[tuple[Any, ...], Any] = {}  # per process: a pool or Ray worker reuses its connections
os.register_at_fork(after_in_child=_clients.clear)  # a forked child never shares its parent's connections


class _LazyClient:
    """A client on the step's store, opened the first time the step uses it (then kept for the process)."""

    def __init__(self, spec: StepTracking) -> None:
        self.spec = spec
        self.client: Any = None

    def _open(self) -> Any:
        if self.client is None:
            spec = self.spec
            key = (
                getattr(spec.location, "db_url", None),
                getattr(spec.location, "blobs_url", None),
                spec.uri,
                spec.project,
            )
            client = _clients.get(key)
            if client is None:
                from modelyard.client import Client

                if spec.location is not None:
                    from modelyard.backend.local import LocalBackend

                    backend: Any = LocalBackend(spec.location, spec.settings)
                else:
                    from modelyard.backend import open_backend

                    backend = open_backend(spec.uri, spec.settings)
                client = _clients[key] = Client(backend=backend, settings=spec.settings, project=spec.project)
            self.client = client
        return self.client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._open(), name)


@contextmanager
def tracked_in_child(spec: StepTracking | None) -> Iterator[Callable[[], None]]:
    """In a child process: the step run active, logging through a client opened on first use.

    Yields a function to call after the step: it flushes the metrics the step logged (raising when
    they cannot be written, which fails the step).
    """
    if spec is None:
        yield lambda: None
        return
    lazy = _LazyClient(spec)

    def flush() -> None:
        if lazy.client is not None:
            lazy.client.flush()

    with activated(lazy, spec, None):
        yield flush
