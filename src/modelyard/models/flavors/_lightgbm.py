"""The LightGBM flavor: boosters and the scikit-learn wrappers, in LightGBM's native text format.

The text format holds no pickle. A scikit-learn wrapper is loaded back as its booster; what the
wrapper added (class labels of a classifier) is kept in the load info, so ``predict`` returns the
same labels and ``predict_proba`` the same probabilities as the original.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInputError
from modelyard.models.flavors._base import Flavor, SavedFlavor, import_optional, module_loaded_instance

__all__ = ["LightGBMFlavor", "LightGBMModel", "MODEL_FILE"]

MODEL_FILE = "model.txt"


class LightGBMModel:
    """A loaded LightGBM model: the booster plus what its scikit-learn wrapper knew.

    Attributes:
        booster: the ``lightgbm.Booster``.
        kind: ``"classifier"``, ``"regressor"``, ``"ranker"`` or ``"booster"``.
        classes: the class labels of a classifier, in the order of the probability columns.
    """

    def __init__(self, booster: Any, kind: str, classes: list[Any] | None) -> None:
        self.booster = booster
        self.kind = kind
        self.classes = classes

    def predict(self, data: Any) -> Any:
        """Predicted values, or class labels for a classifier."""
        import numpy as np

        out = self.booster.predict(data)
        if self.kind != "classifier" or self.classes is None:
            return out
        labels = np.asarray(self.classes)
        if out.ndim == 1:
            return labels[(out > 0.5).astype(int)]
        return labels[np.argmax(out, axis=1)]

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities, one column per class (classifiers only)."""
        import numpy as np

        if self.kind != "classifier":
            raise InvalidInputError(f"this LightGBM {self.kind} has no predict_proba: call predict instead")
        out = self.booster.predict(data)
        return np.column_stack([1.0 - out, out]) if out.ndim == 1 else out


class LightGBMFlavor(Flavor):
    """``lightgbm.Booster`` and the ``LGBMModel`` scikit-learn wrappers (extra ``lightgbm``)."""

    name = "lightgbm"
    extra = "lightgbm"

    def detects(self, model: Any) -> bool:
        """Whether ``model`` is a LightGBM booster or scikit-learn wrapper."""
        return module_loaded_instance(model, "lightgbm", "LGBMModel") or module_loaded_instance(
            model, "lightgbm", "Booster"
        )

    def save(
        self, model: Any, directory: Path, input_example: Any = None, serialization: str | None = None
    ) -> SavedFlavor:
        """Write the booster as ``model.txt``; keep a classifier's labels in the load info."""
        lgb = import_optional("lightgbm", flavor=self.name, extra=self.extra)
        if isinstance(model, lgb.Booster):
            booster, kind, classes = model, "booster", None
        else:
            booster = model.booster_
            kind = "classifier" if isinstance(model, lgb.LGBMClassifier) else "regressor"
            kind = "ranker" if isinstance(model, lgb.LGBMRanker) else kind
            classes = [_plain(c) for c in model.classes_] if kind == "classifier" else None
        booster.save_model(str(directory / MODEL_FILE))
        return SavedFlavor({"file": MODEL_FILE, "kind": kind, "classes": classes}, False, ("lightgbm",))

    def has_predict_proba(self, raw: Any) -> bool:
        """Whether the model is a classifier (a bare booster or regressor gives no probabilities)."""
        return isinstance(raw, LightGBMModel) and raw.kind == "classifier"

    def load(self, directory: Path, info: dict[str, Any], *, trust: bool) -> Any:
        """Load the booster from its text file."""
        lgb = import_optional("lightgbm", flavor=self.name, extra=self.extra)
        booster = lgb.Booster(model_file=str(directory / MODEL_FILE))
        return LightGBMModel(booster, str(info.get("kind", "booster")), info.get("classes"))


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value ``model.yaml`` can hold."""
    return value.item() if hasattr(value, "item") else value
