"""The PyTorch flavor: ``torch.nn.Module`` models, as an exported program when possible.

With an ``input_example`` the module is captured with ``torch.export`` (batch dimension dynamic) and
saved as ``model.pt2``: graph and weights, loaded without unpickling arbitrary classes, so the
package is safe. Without an example, or when export fails (data-dependent control flow), the whole
module is saved with ``torch.save`` as ``model.pt``: that needs pickle, so the package is
``unsafe_format`` and loads only when trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.models.flavors._base import (
    Flavor,
    SavedFlavor,
    import_optional,
    module_loaded_instance,
    require_trust,
)

__all__ = ["EXPORT_FILE", "MODULE_FILE", "TorchFlavor"]

EXPORT_FILE = "model.pt2"
MODULE_FILE = "model.pt"


class TorchFlavor(Flavor):
    """PyTorch modules (extra ``torch``); inputs are tensors, arrays, DataFrames or dicts of tensors."""

    name = "pytorch"
    extra = "torch"

    def detects(self, model: Any) -> bool:
        """Whether ``model`` is a ``torch.nn.Module``."""
        return module_loaded_instance(model, "torch.nn", "Module")

    def save(
        self, model: Any, directory: Path, input_example: Any = None, serialization: str | None = None
    ) -> SavedFlavor:
        """Export the module with the example as ``model.pt2``, or fall back to ``torch.save``."""
        torch = import_optional("torch", flavor=self.name, extra=self.extra)
        if input_example is not None:
            exported = _export(torch, model, input_example)
            if exported is not None:
                torch.export.save(exported, str(directory / EXPORT_FILE))
                return SavedFlavor({"format": "export", "file": EXPORT_FILE}, False, ("torch",))
        torch.save(model, str(directory / MODULE_FILE))
        return SavedFlavor({"format": "module", "file": MODULE_FILE}, True, ("torch",))

    def load(self, directory: Path, info: dict[str, Any], *, trust: bool) -> Any:
        """The exported program's module, or the unpickled module in eval mode."""
        torch = import_optional("torch", flavor=self.name, extra=self.extra)
        if info.get("format") == "export":
            return torch.export.load(str(directory / EXPORT_FILE)).module()
        require_trust(trust, MODULE_FILE)
        module = torch.load(str(directory / MODULE_FILE), weights_only=False)
        module.eval()
        return module

    def predict(self, raw: Any, data: Any) -> Any:
        """Run the module without gradients; tensor outputs come back as numpy arrays."""
        import torch

        with torch.no_grad():
            out = raw(**_tensors(torch, data)) if isinstance(data, dict) else raw(_tensor(torch, data))
        if isinstance(out, dict):
            return {k: _numpy(v) for k, v in out.items()}
        if isinstance(out, tuple | list):
            return type(out)(_numpy(v) for v in out)
        return _numpy(out)

    def sample_output(self, model: Any, example: Any) -> Any:
        """The module's output on ``example`` in eval mode (its training mode is restored)."""
        was_training = model.training
        model.eval()
        try:
            return self.predict(model, example)
        finally:
            model.train(was_training)

    def has_predict_proba(self, raw: Any) -> bool:
        """PyTorch modules give whatever their forward returns: no separate probabilities."""
        return False


def _export(torch: Any, model: Any, example: Any) -> Any:
    """``torch.export`` of ``model`` on ``example`` with a dynamic batch dimension, or ``None``."""
    was_training = model.training
    model.eval()
    try:
        if isinstance(example, dict):
            kwargs = _tensors(torch, example)
            dims = {k: {0: torch.export.Dim.AUTO} for k in kwargs}
            return torch.export.export(model, (), kwargs, dynamic_shapes=dims)
        tensor = _tensor(torch, example)
        return torch.export.export(model, (tensor,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    except Exception:  # noqa: BLE001 - any export failure falls back to saving the module
        return None
    finally:
        model.train(was_training)


def _tensor(torch: Any, data: Any) -> Any:
    if isinstance(data, torch.Tensor):
        return data
    if hasattr(data, "to_numpy"):
        data = data.to_numpy()
    return torch.as_tensor(data)


def _tensors(torch: Any, data: dict[str, Any]) -> dict[str, Any]:
    return {str(k): _tensor(torch, v) for k, v in data.items()}


def _numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value
