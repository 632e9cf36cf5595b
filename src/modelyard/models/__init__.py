"""Model packaging: flavors, signatures and verified loading.

``save_model(model, path, input_example=X[:5])`` writes a package (model files plus ``model.yaml``
with the flavor, signature, pinned requirements and the BLAKE3 digest of every file);
``load_model(path)`` verifies every digest before deserialising anything, refuses pickle-based
packages unless trusted, and returns a :class:`LoadedModel` whose ``predict`` enforces the signature.

``yard.models.load("models:/churn@champion")`` (the registry's loader: verified, cached) is here
too, so ``yard.models`` is where models are loaded from, by reference or by path.

Names load on first use, so ``import modelyard.models`` stays light.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.models._explain import permutation_importance, shap_available
    from modelyard.models._loader import LoadedModel, load_model, read_metadata
    from modelyard.models._manifest import manifest_digest
    from modelyard.models._package import METADATA_FILE, ModelPackage, save_model
    from modelyard.models._signature import ColumnSpec, IOSchema, Signature, TensorSpec
    from modelyard.models._types import FileManifest
    from modelyard.models.flavors import FLAVORS, Flavor
    from modelyard.registry._fluent import load

__all__ = [
    "ColumnSpec",
    "FLAVORS",
    "FileManifest",
    "Flavor",
    "IOSchema",
    "LoadedModel",
    "METADATA_FILE",
    "ModelPackage",
    "Signature",
    "TensorSpec",
    "load",
    "load_model",
    "manifest_digest",
    "permutation_importance",
    "read_metadata",
    "save_model",
    "shap_available",
]

_LAZY = {
    "FLAVORS": "modelyard.models.flavors",
    "Flavor": "modelyard.models.flavors",
    "METADATA_FILE": "modelyard.models._package",
    "ModelPackage": "modelyard.models._package",
    "save_model": "modelyard.models._package",
    "ColumnSpec": "modelyard.models._signature",
    "IOSchema": "modelyard.models._signature",
    "Signature": "modelyard.models._signature",
    "TensorSpec": "modelyard.models._signature",
    "FileManifest": "modelyard.models._types",
    "LoadedModel": "modelyard.models._loader",
    "load_model": "modelyard.models._loader",
    # yard.models.load(ref): the registry's verified, cached loading by reference
    "load": "modelyard.registry._fluent",
    "read_metadata": "modelyard.models._loader",
    "manifest_digest": "modelyard.models._manifest",
    "permutation_importance": "modelyard.models._explain",
    "shap_available": "modelyard.models._explain",
}


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'modelyard.models' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> builtins.list[str]:
    return sorted(set(globals()) | set(__all__))
