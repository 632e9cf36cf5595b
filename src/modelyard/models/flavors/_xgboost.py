"""The XGBoost flavor: boosters and the scikit-learn wrappers, in XGBoost's native UBJSON format.

The native format holds no pickle, so these packages load without trust. The wrapper class is
rebuilt from a fixed list of XGBoost classes, never imported by a name read from the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInputError
from modelyard.models.flavors._base import Flavor, SavedFlavor, import_optional, module_loaded_instance

__all__ = ["MODEL_FILE", "XGBoostFlavor"]

MODEL_FILE = "model.ubj"
_CLASSES = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor", "Booster")


class XGBoostFlavor(Flavor):
    """``xgboost.Booster`` and the ``XGBModel`` scikit-learn wrappers (extra ``xgboost``)."""

    name = "xgboost"
    extra = "xgboost"

    def detects(self, model: Any) -> bool:
        """Whether ``model`` is an XGBoost booster or scikit-learn wrapper."""
        return module_loaded_instance(model, "xgboost", "XGBModel") or module_loaded_instance(
            model, "xgboost", "Booster"
        )

    def save(
        self, model: Any, directory: Path, input_example: Any = None, serialization: str | None = None
    ) -> SavedFlavor:
        """Write ``model.ubj`` with the model's own ``save_model``."""
        cls = type(model).__name__
        if cls not in _CLASSES:
            raise InvalidInputError(
                f"cannot save an XGBoost model of class {cls}: supported classes are {', '.join(_CLASSES)}"
            )
        model.save_model(str(directory / MODEL_FILE))
        return SavedFlavor({"file": MODEL_FILE, "class": cls}, False, ("xgboost",))

    def load(self, directory: Path, info: dict[str, Any], *, trust: bool) -> Any:
        """Rebuild the booster or wrapper and load the native file into it."""
        xgb = import_optional("xgboost", flavor=self.name, extra=self.extra)
        cls = info.get("class")
        if cls not in _CLASSES:
            raise InvalidInputError(
                f"unknown XGBoost class {cls!r} in model.yaml: expected one of {', '.join(_CLASSES)}"
            )
        model = getattr(xgb, str(cls))()
        model.load_model(str(directory / MODEL_FILE))
        return model

    def predict(self, raw: Any, data: Any) -> Any:
        """Predictions; a bare booster gets its input as a ``DMatrix``."""
        if type(raw).__name__ == "Booster":
            import xgboost

            return raw.predict(xgboost.DMatrix(data))
        return raw.predict(data)
