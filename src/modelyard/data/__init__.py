"""Data management: content-addressed dataset versions, references, lineage, schemas and profiles.

``yard.data.add("train.csv", name="churn-train")`` records a version (files stored once, by BLAKE3
digest); ``yard.data.get("churn-train@3", path="data/")`` materialises it; ``yard.data.load(...)``
reads a tabular version as a DataFrame; ``yard.log_input(dv, role="train")`` links it to the active
run. References: ``NAME``, ``NAME@latest``, ``NAME@3``, ``NAME@sha:<digest prefix>``.

Every name loads on first use (schemas, validation, profiles and table reading need pyarrow), so
``import modelyard.data`` stays light.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.data._client import AddResult, DataClient
    from modelyard.data._fluent import add, delete, get, lineage, list, load, log_input, restore, show, versions
    from modelyard.data._profile import merge_profiles, profile
    from modelyard.data._refs import DatasetRef, parse_ref
    from modelyard.data._schema import Schema, infer_schema, load_schema, save_schema
    from modelyard.data._service import DatasetService
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
    "restore",
    "save_schema",
    "show",
    "validate",
    "versions",
]

_LAZY = {
    "AddResult": "modelyard.data._client",
    "DataClient": "modelyard.data._client",
    "add": "modelyard.data._fluent",
    "delete": "modelyard.data._fluent",
    "get": "modelyard.data._fluent",
    "lineage": "modelyard.data._fluent",
    "list": "modelyard.data._fluent",
    "load": "modelyard.data._fluent",
    "log_input": "modelyard.data._fluent",
    "restore": "modelyard.data._fluent",
    "show": "modelyard.data._fluent",
    "versions": "modelyard.data._fluent",
    "DatasetRef": "modelyard.data._refs",
    "parse_ref": "modelyard.data._refs",
    "DatasetService": "modelyard.data._service",
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
    """Import every name on first use: the modules behind them load pydantic, pyarrow or fsspec.

    So ``import modelyard.data._sources`` (the CLI's fast path for an unchanged directory) stays light.
    """
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'modelyard.data' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> builtins.list[str]:
    return sorted(set(globals()) | set(__all__))
