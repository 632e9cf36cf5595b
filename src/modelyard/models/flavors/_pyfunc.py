"""The python-function flavor: any object with a ``predict`` method, for custom logic.

The object is written with cloudpickle (classes defined in ``__main__`` or a notebook travel by
value), so the package is ``unsafe_format``: it loads only when trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.models.flavors._base import Flavor, SavedFlavor, require_trust

__all__ = ["PICKLE_FILE", "PyfuncFlavor"]

PICKLE_FILE = "model.pkl"


class PyfuncFlavor(Flavor):
    """A user object with ``predict(data)`` (and optionally ``predict_proba(data)``)."""

    name = "python_function"
    extra = None

    def detects(self, model: Any) -> bool:
        """Whether ``model`` has a callable ``predict`` (checked after every library flavor)."""
        return not isinstance(model, type) and callable(getattr(model, "predict", None))

    def save(
        self, model: Any, directory: Path, input_example: Any = None, serialization: str | None = None
    ) -> SavedFlavor:
        """Write ``model.pkl`` with cloudpickle."""
        import cloudpickle

        with open(directory / PICKLE_FILE, "wb") as f:
            cloudpickle.dump(model, f)
        return SavedFlavor({"file": PICKLE_FILE, "serializer": "cloudpickle"}, True, ("cloudpickle",))

    def load(self, directory: Path, info: dict[str, Any], *, trust: bool) -> Any:
        """Unpickle the object (only when trusted)."""
        require_trust(trust, PICKLE_FILE)
        import cloudpickle

        with open(directory / PICKLE_FILE, "rb") as f:
            return cloudpickle.load(f)
