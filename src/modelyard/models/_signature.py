"""Model signatures: what a model takes and returns, inferred from examples and enforced on input.

A signature's inputs (and outputs) are one of three kinds:

* ``columns`` — a table: named columns, each with a dtype (from a DataFrame);
* ``tensor`` — one array: a dtype and a shape, ``-1`` for a free dimension (the batch);
* ``tensors`` — named arrays (a dict of arrays or PyTorch tensors).

:meth:`Signature.enforce` checks data against the inputs and returns it converted. Safe casts are
applied silently: for columns, numpy's ``"safe"`` casts (``int32 -> int64``, ``int64 -> float64``,
``bool -> int64``, any datetime unit to another); for tensors also same-kind narrowing
(``float64 -> float32``), because DataFrames and numpy default to 64 bits while networks use 32.
Anything else — a missing column, ``float -> int``, text for a number, a wrong shape — raises
:class:`~modelyard.errors.SignatureMismatchError` naming the column (or input) and the expected type.
Extra columns are dropped and columns are put in the signature's order.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from modelyard.errors import InvalidInputError, SignatureMismatchError

__all__ = ["ColumnSpec", "IOSchema", "Signature", "TensorSpec"]

_TEXT = "str"


class ColumnSpec(BaseModel):
    """One column of a table: its name and dtype (a numpy dtype name, or ``str`` for text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dtype: str


class TensorSpec(BaseModel):
    """One array: its dtype and shape (``-1`` where any size is accepted)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dtype: str
    shape: tuple[int, ...]


class IOSchema(BaseModel):
    """The inputs or outputs of a model: columns, one tensor, or named tensors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["columns", "tensor", "tensors"]
    columns: tuple[ColumnSpec, ...] | None = None
    tensor: TensorSpec | None = None
    tensors: dict[str, TensorSpec] | None = None

    @classmethod
    def infer(cls, example: Any) -> IOSchema:
        """The schema of ``example`` (DataFrame, Series, array, tensor, dict of arrays or list of rows).

        Raises:
            InvalidInputError: the example is of no supported kind.
        """
        if isinstance(example, dict):
            if not example:
                raise InvalidInputError("input_example is an empty dict: give at least one named array")
            return cls(kind="tensors", tensors={str(k): _tensor_spec(v) for k, v in example.items()})
        if _is_dataframe(example):
            return cls(
                kind="columns",
                columns=tuple(ColumnSpec(name=str(c), dtype=_dtype_name(example[c])) for c in example.columns),
            )
        if _is_series(example):
            return cls(kind="columns", columns=(ColumnSpec(name=str(example.name or 0), dtype=_dtype_name(example)),))
        if isinstance(example, list | tuple) and example and all(isinstance(r, dict) for r in example):
            import pandas as pd

            return cls.infer(pd.DataFrame(list(example)))
        return cls(kind="tensor", tensor=_tensor_spec(example))


class Signature(BaseModel):
    """A model's signature: its inputs and (optionally) outputs, stored in ``model.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: IOSchema
    outputs: IOSchema | None = None

    @classmethod
    def infer(cls, input_example: Any, output_example: Any = None) -> Signature:
        """Infer the signature from an input example and, optionally, the model's output on it.

        Raises:
            InvalidInputError: an example is of no supported kind.
        """
        outputs = None if output_example is None else IOSchema.infer(output_example)
        return cls(inputs=IOSchema.infer(input_example), outputs=outputs)

    def enforce(self, data: Any) -> Any:
        """Check ``data`` against the inputs and return it converted (safe casts, column order).

        A table signature accepts a DataFrame, a dict of columns, a list of row dicts, or a 2-D array
        with one column per signature column; a tensor signature an array, tensor or DataFrame; a
        named-tensors signature a dict.

        Raises:
            SignatureMismatchError: a column or input is missing, or has a wrong type or shape.
        """
        spec = self.inputs
        if spec.kind == "columns":
            return _enforce_columns(spec.columns or (), data)
        if spec.kind == "tensor":
            assert spec.tensor is not None
            return _enforce_tensor(spec.tensor, data, "input")
        if not isinstance(data, dict):
            names = ", ".join(spec.tensors or {})
            raise SignatureMismatchError(f"the model takes named inputs ({names}): pass a dict of arrays")
        out = dict(data)
        for name, tensor in (spec.tensors or {}).items():
            if name not in data:
                raise SignatureMismatchError(
                    f"missing input {name!r} (expected {tensor.dtype} with shape {list(tensor.shape)})"
                )
            out[name] = _enforce_tensor(tensor, data[name], f"input {name!r}")
        return out


def _is_dataframe(value: Any) -> bool:
    return hasattr(value, "columns") and hasattr(value, "dtypes") and hasattr(value, "iloc")


def _is_series(value: Any) -> bool:
    return hasattr(value, "dtype") and hasattr(value, "iloc") and hasattr(value, "name")


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "dtype")


def _dtype_name(column: Any) -> str:
    """The signature dtype of a pandas column: numpy dtype names, ``str`` for text and categories."""
    import numpy as np

    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind != "O":
        return str(dtype)
    import pandas as pd

    if str(dtype) in ("string", "str", "category") or pd.api.types.infer_dtype(column, skipna=True) in (
        "string",
        "empty",
    ):
        return _TEXT
    if hasattr(dtype, "numpy_dtype"):  # nullable extension types: Int64 -> int64, boolean -> bool
        return str(dtype.numpy_dtype)
    return "object"


def _tensor_spec(value: Any) -> TensorSpec:
    if _is_torch(value):
        return TensorSpec(dtype=str(value.dtype).removeprefix("torch."), shape=(-1, *value.shape[1:]))
    import numpy as np

    array = value.to_numpy() if hasattr(value, "to_numpy") else np.asarray(value)
    if array.dtype.kind == "O":
        raise InvalidInputError(
            "cannot infer a signature from an array of Python objects: give a DataFrame, a numeric array or tensors"
        )
    shape = tuple(int(d) for d in array.shape)
    return TensorSpec(
        dtype=_TEXT if array.dtype.kind == "U" else str(array.dtype), shape=(-1, *shape[1:]) if shape else ()
    )


def _enforce_columns(columns: tuple[ColumnSpec, ...], data: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, dict) or (isinstance(data, list) and data and isinstance(data[0], dict)):
        frame = pd.DataFrame(data)
    elif _is_dataframe(data):
        frame = data
    else:
        array = data.to_numpy() if _is_series(data) else np.asarray(data)
        if array.ndim != 2 or array.shape[1] != len(columns):
            listed = ", ".join(c.name for c in columns)
            raise SignatureMismatchError(
                f"the model takes a table with columns {listed}: pass a DataFrame "
                f"(or a 2-D array of {len(columns)} columns), got shape {list(array.shape)}"
            )
        frame = pd.DataFrame(array, columns=[c.name for c in columns])
    names = {str(c): c for c in frame.columns}
    out = {}
    for spec in columns:
        if spec.name not in names:
            raise SignatureMismatchError(f"missing column {spec.name!r} (expected {spec.dtype})")
        out[spec.name] = _enforce_column(spec, frame[names[spec.name]])
    return pd.DataFrame(out, index=frame.index)


def _enforce_column(spec: ColumnSpec, column: Any) -> Any:
    import numpy as np
    import pandas as pd

    given = _dtype_name(column)
    if spec.dtype == "object" or (given == spec.dtype and not hasattr(column.dtype, "numpy_dtype")):
        return column
    if spec.dtype == _TEXT or given in (_TEXT, "object"):
        raise SignatureMismatchError(f"column {spec.name!r} has type {given}, expected {spec.dtype}")
    expected = np.dtype(spec.dtype)
    source = column.dtype.numpy_dtype if hasattr(column.dtype, "numpy_dtype") else column.dtype
    if np.can_cast(source, expected, casting="safe") or (source.kind == "M" and expected.kind == "M"):
        if column.isna().any() and expected.kind in "iub":
            raise SignatureMismatchError(f"column {spec.name!r} has missing values, expected {spec.dtype} (no nulls)")
        return column.astype(expected) if not isinstance(column.dtype, pd.CategoricalDtype) else column
    raise SignatureMismatchError(
        f"column {spec.name!r} has type {given}, expected {spec.dtype} "
        "(only safe casts such as int -> float are applied)"
    )


def _enforce_tensor(spec: TensorSpec, data: Any, what: str) -> Any:
    import numpy as np

    if _is_torch(data):
        given, shape = str(data.dtype).removeprefix("torch."), tuple(data.shape)
    else:
        data = data.to_numpy() if hasattr(data, "to_numpy") else np.asarray(data)
        given, shape = (_TEXT if data.dtype.kind == "U" else str(data.dtype)), tuple(data.shape)
    if len(shape) != len(spec.shape) or any(e not in (-1, g) for e, g in zip(spec.shape, shape, strict=True)):
        raise SignatureMismatchError(f"{what} has shape {list(shape)}, expected {list(spec.shape)} (-1: any size)")
    if given == spec.dtype:
        return data
    if spec.dtype == _TEXT or given == _TEXT or given == "object":
        raise SignatureMismatchError(f"{what} has type {given}, expected {spec.dtype}")
    try:
        source, expected = np.dtype(given), np.dtype(spec.dtype)
    except TypeError:  # a torch dtype numpy does not know (bfloat16): no cast
        raise SignatureMismatchError(f"{what} has type {given}, expected {spec.dtype}") from None
    if not np.can_cast(source, expected, casting="same_kind") or (source.kind == "f" and expected.kind in "iub"):
        raise SignatureMismatchError(
            f"{what} has type {given}, expected {spec.dtype} (only safe casts such as int -> float are applied)"
        )
    if _is_torch(data):
        import torch

        return data.to(getattr(torch, spec.dtype))
    return data.astype(expected)
