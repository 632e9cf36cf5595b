"""The fluent dataset API (``yard.data.add``, ``yard.data.get`` ...): thin wrappers over the fluent client.

Each function works on the client of the fluent API (``yard.set_uri``, ``yard.set_project``), through
its :class:`~modelyard.data._client.DataClient`; hold a ``Client`` and use ``client.data`` to work
against another store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.entities import Dataset, DatasetDeletion, DatasetVersion, RunInput

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.data._client import DataClient

__all__ = ["add", "delete", "get", "lineage", "list", "load", "log_input", "restore", "show", "versions"]

_list = list


def _data() -> DataClient:
    from modelyard.tracking import get_client

    return get_client().data


def add(
    source: Any,
    name: str,
    *,
    message: str = "",
    tags: Mapping[str, Any] | None = None,
    link: bool = False,
    project: str | None = None,
    validate: Any = None,
    pii: Sequence[str] = (),
) -> DatasetVersion:
    """Add a file, directory, glob or DataFrame as a new version of dataset ``name``.

    Content identical to the newest version returns that version and creates nothing. See
    :meth:`DataClient.add <modelyard.data._client.DataClient.add>` for the arguments.
    """
    return _data().add(source, name, message=message, tags=tags, link=link, project=project, validate=validate, pii=pii)


def get(
    ref: str | DatasetVersion,
    path: str | Path | None = None,
    *,
    include: str | Sequence[str] | None = None,
    link: bool = False,
    project: str | None = None,
    version: int | str | None = None,
) -> Path:
    """Materialise a version's files under ``path`` (default ``./<name>``), verified; returns the directory.

    ``ref`` is ``name``, ``name@3``, ``name@latest`` or ``name@sha:<prefix>`` (or pass ``version=``);
    ``include`` is a glob or a directory for a partial checkout; ``link`` makes read-only hardlinks
    instead of copies where the blob store is local.
    """
    return _data().get(ref, path, include=include, link=link, project=project, version=version)


def load(ref: str | DatasetVersion, *, project: str | None = None, version: int | str | None = None) -> pd.DataFrame:
    """A tabular version (CSV, Parquet or JSON-lines files) as a pandas DataFrame."""
    return _data().load(ref, project=project, version=version)


def show(ref: str | DatasetVersion, *, project: str | None = None, version: int | str | None = None) -> DatasetVersion:
    """The version a reference names, with its files, schema and profile."""
    return _data().show(ref, project=project, version=version)


def versions(name: str, *, project: str | None = None, include_deleted: bool = False) -> _list[DatasetVersion]:
    """Versions of a dataset, newest first."""
    return _data().versions(name, project=project, include_deleted=include_deleted)


def list(*, project: str | None = None) -> _list[Dataset]:
    """Datasets of the current project (or ``project``) with their newest version."""
    return _data().list(project=project)


def delete(ref: str | DatasetVersion, *, purge: bool = False, project: str | None = None) -> DatasetDeletion:
    """Delete a dataset or one version; ``purge=True`` erases the files no other object uses, at once."""
    return _data().delete(ref, purge=purge, project=project)


def restore(ref: str | DatasetVersion, *, project: str | None = None) -> _list[DatasetVersion]:
    """Undo the deletion of a version (``name@3``) or of a dataset's deleted versions (``name``); newest first."""
    return _data().restore(ref, project=project)


def lineage(ref: str | DatasetVersion, *, project: str | None = None) -> _list[RunInput]:
    """The runs that used a dataset version."""
    return _data().lineage(ref, project=project)


def log_input(dataset: DatasetVersion | str, role: str = "input") -> RunInput:
    """Record that the active run used a dataset version (the same as ``yard.log_input``)."""
    from modelyard.tracking import log_input as _log_input

    return _log_input(dataset, role)
