"""Comparing two dataset versions: files added, removed, renamed or changed, and for tables, what moved.

:func:`diff_versions` works on two :class:`~modelyard.entities.DatasetVersion` objects alone: file
changes come from the manifests (path, digest, size); for tabular versions, row counts, schema changes
(columns added, removed, or whose type changed) and per-column statistic deltas (mean, std, min, max,
null fraction, distinct count) come from the schema and profile stored with each version, so no data is
read again. :func:`diff` resolves two references (``churn@1``, ``churn@2``) through a client, on any
backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.entities import DatasetFile, DatasetVersion

if TYPE_CHECKING:
    from modelyard.client import Client

__all__ = ["ColumnChange", "DatasetDiff", "FileChange", "STATISTICS", "StatDelta", "TableDiff", "diff", "diff_versions"]

STATISTICS = ("mean", "std", "min", "max", "null_fraction", "distinct")
"""The per-column statistics a diff compares, in display order."""

# Where each statistic may be found in a stored column profile (first key present wins).
_KEYS: dict[str, tuple[str, ...]] = {
    "mean": ("mean",),
    "std": ("std", "stddev", "std_dev"),
    "min": ("min",),
    "max": ("max",),
    "null_fraction": ("null_fraction", "null_rate", "nulls_fraction"),
    "distinct": ("distinct", "distinct_count", "n_distinct", "approx_distinct", "unique"),
}
_NESTED = ("numeric", "stats", "statistics", "summary", "string", "categorical", "temporal")

_list = list


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileChange(_Model):
    """One file that differs between the two versions."""

    path: str
    """The file's path in the newer version (in the older one for a removed file)."""
    status: Literal["added", "removed", "changed", "renamed"]
    old_path: str | None = None
    """Where a renamed file was (same content, other path)."""
    old_digest: str | None = None
    new_digest: str | None = None
    old_size: int | None = None
    new_size: int | None = None

    @property
    def size_delta(self) -> int:
        """Bytes gained (negative: lost)."""
        return (self.new_size or 0) - (self.old_size or 0)


class ColumnChange(_Model):
    """A column added, removed, or whose type changed."""

    column: str
    change: Literal["added", "removed", "type_changed"]
    old_type: str | None = None
    new_type: str | None = None


class StatDelta(_Model):
    """One statistic of one column that differs between the two versions' profiles."""

    column: str
    statistic: str
    """``mean``, ``std``, ``min``, ``max``, ``null_fraction`` or ``distinct``."""
    old: float | str | None = None
    new: float | str | None = None
    delta: float | None = None
    """``new - old`` when both are numbers."""
    relative: float | None = None
    """``delta / |old|`` when ``old`` is a non-zero number."""


class TableDiff(_Model):
    """How two tabular versions differ: rows, schema and column statistics."""

    old_rows: int | None = None
    new_rows: int | None = None
    rows_delta: int | None = None
    old_columns: int | None = None
    new_columns: int | None = None
    columns: _list[ColumnChange] = Field(default_factory=_list)
    """Schema changes, by column name."""
    stats: _list[StatDelta] = Field(default_factory=_list)
    """Statistics that changed, by column then in :data:`STATISTICS` order (columns in both versions)."""


class DatasetDiff(_Model):
    """The difference between two dataset versions (``old`` → ``new``)."""

    old: str
    """The older side's reference (``name@version``)."""
    new: str
    old_digest: str
    new_digest: str
    files: _list[FileChange] = Field(default_factory=_list)
    """Files that differ, by path."""
    unchanged: int = 0
    """Files identical in both (same path and content)."""
    table: TableDiff | None = None
    """Set when both versions are tables with stored statistics."""

    @property
    def identical(self) -> bool:
        """Whether both versions hold the same files (their digests are equal)."""
        return self.old_digest == self.new_digest

    @property
    def added(self) -> _list[FileChange]:
        """Files only in the newer version."""
        return [f for f in self.files if f.status == "added"]

    @property
    def removed(self) -> _list[FileChange]:
        """Files only in the older version."""
        return [f for f in self.files if f.status == "removed"]

    @property
    def changed(self) -> _list[FileChange]:
        """Files whose content changed."""
        return [f for f in self.files if f.status == "changed"]

    @property
    def renamed(self) -> _list[FileChange]:
        """Files whose content moved to another path."""
        return [f for f in self.files if f.status == "renamed"]


# -- files --------------------------------------------------------------------------------------


def diff_files(old: Sequence[DatasetFile], new: Sequence[DatasetFile]) -> tuple[_list[FileChange], int]:
    """The file changes from ``old`` to ``new`` (by path), and how many files are unchanged.

    A file removed at one path and added at another with the same content is one rename.
    """
    before = {f.path: f for f in old}
    after = {f.path: f for f in new}
    changes: list[FileChange] = []
    unchanged = 0
    added: list[DatasetFile] = []
    for path, f in after.items():
        was = before.get(path)
        if was is None:
            added.append(f)
        elif was.digest == f.digest:
            unchanged += 1
        else:
            changes.append(
                FileChange(
                    path=path,
                    status="changed",
                    old_digest=was.digest,
                    new_digest=f.digest,
                    old_size=was.size,
                    new_size=f.size,
                )
            )
    removed_by_digest: dict[str, list[DatasetFile]] = {}
    for path in sorted(set(before) - set(after)):
        removed_by_digest.setdefault(before[path].digest, []).append(before[path])
    for f in added:
        sources = removed_by_digest.get(f.digest)
        if sources:
            src = sources.pop(0)
            changes.append(
                FileChange(
                    path=f.path,
                    status="renamed",
                    old_path=src.path,
                    old_digest=src.digest,
                    new_digest=f.digest,
                    old_size=src.size,
                    new_size=f.size,
                )
            )
        else:
            changes.append(FileChange(path=f.path, status="added", new_digest=f.digest, new_size=f.size))
    for sources in removed_by_digest.values():
        for src in sources:
            changes.append(FileChange(path=src.path, status="removed", old_digest=src.digest, old_size=src.size))
    changes.sort(key=lambda c: (c.path, c.status))
    return changes, unchanged


# -- tables -------------------------------------------------------------------------------------


def _schema_types(schema: Mapping[str, Any] | None, profile: Mapping[str, Any] | None) -> dict[str, str | None]:
    """Column name -> type, in column order, from the schema (else from the profile)."""
    types: dict[str, str | None] = {}
    columns = (schema or {}).get("columns")
    if isinstance(columns, Sequence) and not isinstance(columns, str):
        for column in columns:
            if isinstance(column, Mapping) and isinstance(column.get("name"), str):
                kind = column.get("type")
                types[column["name"]] = None if kind is None else str(kind)
    elif isinstance(columns, Mapping):
        for name, column in columns.items():
            kind = column.get("type") if isinstance(column, Mapping) else column
            types[str(name)] = None if kind is None else str(kind)
    if not types:
        for name, column in _profile_columns(profile).items():
            kind = column.get("type") or column.get("dtype")
            types[name] = None if kind is None else str(kind)
    return types


def _profile_columns(profile: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Column name -> its stored profile (``columns`` as a list of named entries or a mapping)."""
    if not profile:
        return {}
    columns = profile.get("columns")
    if isinstance(columns, Mapping):
        return {str(k): v for k, v in columns.items() if isinstance(v, Mapping)}
    if isinstance(columns, Sequence) and not isinstance(columns, str):
        return {str(c["name"]): c for c in columns if isinstance(c, Mapping) and isinstance(c.get("name"), str)}
    return {}


def _statistic(column: Mapping[str, Any], statistic: str) -> float | str | None:
    """A statistic from a column profile: top-level keys first, then one level of nested sections."""
    for scope in (column, *(column[k] for k in _NESTED if isinstance(column.get(k), Mapping))):
        for key in _KEYS[statistic]:
            if key in scope:
                return _scalar(scope[key])
    if statistic == "null_fraction":
        count = _number(column.get("count"))
        nulls = _number(column.get("nulls", column.get("null_count")))
        if count is not None and nulls is not None:
            # Profiles count the non-null values (``count``) apart from the nulls.
            total = count + nulls
            return nulls / total if total else 0.0
    return None


def _scalar(value: Any) -> float | str | None:
    number = _number(value)
    if number is not None:
        return number
    if isinstance(value, str):
        return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _delta(column: str, statistic: str, old: float | str | None, new: float | str | None) -> StatDelta | None:
    if old == new:
        return None
    if isinstance(old, float) and isinstance(new, float):
        delta = new - old
        relative = delta / abs(old) if old else None
        return StatDelta(column=column, statistic=statistic, old=old, new=new, delta=delta, relative=relative)
    return StatDelta(column=column, statistic=statistic, old=old, new=new)


def diff_tables(old: DatasetVersion, new: DatasetVersion) -> TableDiff | None:
    """Rows, schema and statistic changes of two tabular versions; ``None`` unless both are tables."""
    old_tabular = old.num_rows is not None or old.schema is not None or old.profile is not None
    new_tabular = new.num_rows is not None or new.schema is not None or new.profile is not None
    if not (old_tabular and new_tabular):
        return None
    old_types = _schema_types(old.schema, old.profile)
    new_types = _schema_types(new.schema, new.profile)
    changes: list[ColumnChange] = []
    for name, kind in new_types.items():
        if name not in old_types:
            changes.append(ColumnChange(column=name, change="added", new_type=kind))
        elif old_types[name] != kind:
            changes.append(ColumnChange(column=name, change="type_changed", old_type=old_types[name], new_type=kind))
    for name, kind in old_types.items():
        if name not in new_types:
            changes.append(ColumnChange(column=name, change="removed", old_type=kind))
    old_profile, new_profile = _profile_columns(old.profile), _profile_columns(new.profile)
    stats: list[StatDelta] = []
    for name in [n for n in new_profile if n in old_profile]:
        for statistic in STATISTICS:
            found = _delta(
                name,
                statistic,
                _statistic(old_profile[name], statistic),
                _statistic(new_profile[name], statistic),
            )
            if found is not None:
                stats.append(found)
    rows_delta = new.num_rows - old.num_rows if old.num_rows is not None and new.num_rows is not None else None
    return TableDiff(
        old_rows=old.num_rows,
        new_rows=new.num_rows,
        rows_delta=rows_delta,
        old_columns=old.num_columns,
        new_columns=new.num_columns,
        columns=changes,
        stats=stats,
    )


def diff_versions(old: DatasetVersion, new: DatasetVersion) -> DatasetDiff:
    """The difference from version ``old`` to version ``new`` (their file lists must be loaded)."""
    files, unchanged = diff_files(old.files, new.files)
    return DatasetDiff(
        old=old.ref,
        new=new.ref,
        old_digest=old.digest,
        new_digest=new.digest,
        files=files,
        unchanged=unchanged,
        table=diff_tables(old, new),
    )


def diff(
    a: str | DatasetVersion, b: str | DatasetVersion, *, project: str | None = None, client: Client | None = None
) -> DatasetDiff:
    """Compare two dataset versions: ``yard.data.diff("churn@1", "churn@2")``.

    Args:
        a: The older side: a reference (``name@1``, ``name@sha:<prefix>``, ``name``) or a version.
        b: The newer side.
        project: The project of references given as text (default: the client's current project).
        client: The client to read through (default: the fluent API's); any backend works.

    Raises:
        NotFoundError: a reference names no dataset version.
        InvalidInputError: a malformed reference.
    """
    if client is None:
        from modelyard.tracking import get_client

        client = get_client()
    data = client.data
    old = data.show(a.ref if isinstance(a, DatasetVersion) else a, project=project or _project_of(a))
    new = data.show(b.ref if isinstance(b, DatasetVersion) else b, project=project or _project_of(b))
    return diff_versions(old, new)


def _project_of(ref: str | DatasetVersion) -> str | None:
    return ref.project if isinstance(ref, DatasetVersion) else None
