"""Data management: content-addressed dataset versions, references, lineage, schemas and profiles.

``yard.data.add("train.csv", name="churn-train")`` records a version (files stored once, by BLAKE3
digest); ``yard.data.get("churn-train@3", path="data/")`` materialises it; ``yard.data.load(...)``
reads a tabular version as a DataFrame; ``yard.log_input(dv, role="train")`` links it to the active
run. References: ``NAME``, ``NAME@latest``, ``NAME@3``, ``NAME@sha:<digest prefix>``.

Schemas, validation, profiles and table reading need pyarrow: those names load on first use, so
``import modelyard.data`` stays light.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from modelyard.data._client import AddResult, DataClient
from modelyard.data._fluent import add, delete, get, lineage, list, load, log_input, show, versions
from modelyard.data._refs import DatasetRef, parse_ref
from modelyard.data._service import DatasetService

if TYPE_CHECKING:
    from modelyard.data._profile import merge_profiles, profile
    from modelyard.data._schema import Schema, infer_schema, load_schema, save_schema
    from modelyard.data._tables import read_table
    from modelyard.data._validation import validate

__all__ = [
    "AddResult",
    "ColumnChange",
    "DataClient",
    "DatasetDiff",
    "DatasetRef",
    "DatasetService",
    "FileChange",
    "Remote",
    "Schema",
    "StatDelta",
    "TableDiff",
    "TransferReport",
    "VersionTransfer",
    "add",
    "add_remote",
    "delete",
    "diff",
    "get",
    "infer_schema",
    "lineage",
    "list",
    "list_remotes",
    "load",
    "load_schema",
    "log_input",
    "merge_profiles",
    "parse_ref",
    "profile",
    "pull",
    "push",
    "read_table",
    "remove_remote",
    "save_schema",
    "show",
    "validate",
    "versions",
]

_LAZY = {
    "ColumnChange": "modelyard.data._diff",
    "DatasetDiff": "modelyard.data._diff",
    "FileChange": "modelyard.data._diff",
    "StatDelta": "modelyard.data._diff",
    "TableDiff": "modelyard.data._diff",
    "diff": "modelyard.data._diff",
    "Remote": "modelyard.data._remote_config",
    "TransferReport": "modelyard.data._remotes",
    "VersionTransfer": "modelyard.data._remotes",
    "add_remote": "modelyard.data._remotes",
    "list_remotes": "modelyard.data._remotes",
    "pull": "modelyard.data._remotes",
    "push": "modelyard.data._remotes",
    "remove_remote": "modelyard.data._remotes",
    "Schema": "modelyard.data._schema",
    "infer_schema": "modelyard.data._schema",
    "load_schema": "modelyard.data._schema",
    "save_schema": "modelyard.data._schema",
    "merge_profiles": "modelyard.data._profile",
    "profile": "modelyard.data._profile",
    "read_table": "modelyard.data._tables",
    "validate": "modelyard.data._validation",
}


def __getattr__(name: str) -> Any:
    """Import the heavier names (pyarrow-backed statistics, remotes, diff) on first use."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'modelyard.data' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> builtins.list[str]:
    return sorted(set(globals()) | set(__all__))
