"""The ONNX flavor: ``onnx.ModelProto`` graphs, run with onnxruntime on the CPU.

An ONNX file is a protobuf graph, never pickle: these packages load without trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInputError
from modelyard.models.flavors._base import Flavor, SavedFlavor, import_optional, module_loaded_instance

__all__ = ["MODEL_FILE", "OnnxFlavor", "OnnxModel"]

MODEL_FILE = "model.onnx"
_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}

_ELEM_TYPES = {1: "float32", 11: "float64", 7: "int64", 6: "int32", 9: "bool", 8: "str"}
"""ONNX ``TensorProto`` element types a signature can name."""


class OnnxModel:
    """A loaded ONNX model: an onnxruntime session with ``predict`` / ``predict_proba``.

    Attributes:
        session: the ``onnxruntime.InferenceSession``.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self._inputs = [(i.name, _DTYPES.get(i.type)) for i in session.get_inputs()]
        self._outputs = [o.name for o in session.get_outputs()]

    def feeds(self, data: Any) -> dict[str, Any]:
        """The session's input feeds for a DataFrame, an array or a dict of arrays."""
        import numpy as np

        if isinstance(data, dict):
            return {name: np.asarray(data[name]) for name, _ in self._inputs if name in data}
        if hasattr(data, "columns") and len(self._inputs) > 1:
            missing = [name for name, _ in self._inputs if name not in data.columns]
            if missing:
                raise InvalidInputError(f"the ONNX model needs input column(s) {', '.join(missing)}")
            return {name: data[[name]].to_numpy(dtype=dtype) for name, dtype in self._inputs}
        name, dtype = self._inputs[0]
        array = data.to_numpy() if hasattr(data, "to_numpy") else np.asarray(data)
        return {name: array.astype(dtype, copy=False) if dtype else array}

    def run(self, data: Any) -> list[Any]:
        """Every output of the graph for ``data``."""
        return list(self.session.run(None, self.feeds(data)))

    def predict(self, data: Any) -> Any:
        """The graph's first output (the label of a converted classifier)."""
        return self.run(data)[0]

    def has_predict_proba(self) -> bool:
        """Whether the graph has a probability output (a second output, as skl2onnx classifiers do)."""
        return len(self._outputs) > 1 and "prob" in self._outputs[1].lower()

    def predict_proba(self, data: Any) -> Any:
        """The probability output, as an array with one column per class."""
        import numpy as np

        if not self.has_predict_proba():
            raise InvalidInputError("this ONNX model has no probability output: call predict instead")
        probs = self.run(data)[1]
        if isinstance(probs, list):  # ZipMap output: one {label: probability} dict per row
            return np.array([list(row.values()) for row in probs])
        return probs


class OnnxFlavor(Flavor):
    """``onnx.ModelProto`` graphs run with onnxruntime (extra ``onnx``)."""

    name = "onnx"
    extra = "onnx"

    def detects(self, model: Any) -> bool:
        """Whether ``model`` is an ``onnx.ModelProto``."""
        return module_loaded_instance(model, "onnx", "ModelProto")

    def save(
        self, model: Any, directory: Path, input_example: Any = None, serialization: str | None = None
    ) -> SavedFlavor:
        """Write the serialized graph as ``model.onnx``."""
        (directory / MODEL_FILE).write_bytes(model.SerializeToString())
        return SavedFlavor({"file": MODEL_FILE}, False, ("onnx", "onnxruntime"))

    def default_signature(self, model: Any) -> dict[str, Any] | None:
        """The input tensor the graph declares (dtype and shape), for a graph with one input."""
        inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
        if len(inputs) != 1:
            return None
        tensor = inputs[0].type.tensor_type
        dtype = _ELEM_TYPES.get(tensor.elem_type)
        if dtype is None:
            return None
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        return {"inputs": {"kind": "tensor", "tensor": {"dtype": dtype, "shape": shape}}}

    def sample_output(self, model: Any, example: Any) -> Any:
        """The graph's first output on ``example``, from an in-memory session."""
        ort = import_optional("onnxruntime", flavor=self.name, extra=self.extra)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return OnnxModel(session).predict(example)

    def load(self, directory: Path, info: dict[str, Any], *, trust: bool) -> Any:
        """Open an onnxruntime CPU session on the graph."""
        ort = import_optional("onnxruntime", flavor=self.name, extra=self.extra)
        session = ort.InferenceSession(str(directory / MODEL_FILE), providers=["CPUExecutionProvider"])
        return OnnxModel(session)

    def has_predict_proba(self, raw: Any) -> bool:
        """Whether the graph has a probability output."""
        return bool(raw.has_predict_proba())
