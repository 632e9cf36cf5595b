"""Model flavors: one per kind of model, behind a small shared protocol.

:data:`FLAVORS` maps each flavor's name to its instance, in detection order: library flavors first
(an XGBoost wrapper is also a scikit-learn estimator), the python-function flavor last.
"""

from __future__ import annotations

from typing import Any

from modelyard.errors import InvalidInputError
from modelyard.models.flavors._base import Flavor, SavedFlavor
from modelyard.models.flavors._lightgbm import LightGBMFlavor
from modelyard.models.flavors._onnx import OnnxFlavor
from modelyard.models.flavors._pyfunc import PyfuncFlavor
from modelyard.models.flavors._sklearn import SklearnFlavor
from modelyard.models.flavors._torch import TorchFlavor
from modelyard.models.flavors._xgboost import XGBoostFlavor

__all__ = ["FLAVORS", "Flavor", "SavedFlavor", "detect_flavor", "get_flavor"]

FLAVORS: dict[str, Flavor] = {
    f.name: f for f in (TorchFlavor(), XGBoostFlavor(), LightGBMFlavor(), OnnxFlavor(), SklearnFlavor(), PyfuncFlavor())
}
"""Every flavor by name, in detection order."""


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``.

    Raises:
        InvalidInputError: no flavor has this name.
    """
    flavor = FLAVORS.get(name) if isinstance(name, str) else None
    if flavor is None:
        raise InvalidInputError(f"unknown model flavor {name!r}: expected one of {', '.join(sorted(FLAVORS))}")
    return flavor


def detect_flavor(model: Any) -> Flavor:
    """The first flavor that handles ``model``.

    Raises:
        InvalidInputError: no flavor handles it (it is no known model and has no ``predict``).
    """
    for flavor in FLAVORS.values():
        if flavor.detects(model):
            return flavor
    raise InvalidInputError(
        f"cannot package a {type(model).__module__}.{type(model).__qualname__}: it is no scikit-learn, PyTorch, "
        "XGBoost, LightGBM or ONNX model and has no predict method; wrap custom logic in a class with predict(data)"
    )
