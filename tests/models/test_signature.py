"""Signatures: inference from examples, enforcement with safe casts, errors naming the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import InvalidInputError, SignatureMismatchError
from modelyard.models import Signature


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([30, 41, 25], dtype=np.int64),
            "income": [1.5, 2.0, 3.25],
            "city": ["paris", "oslo", "rome"],
            "active": [True, False, True],
            "seen": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
        }
    )


def test_infer_columns_from_a_dataframe(frame: pd.DataFrame) -> None:
    sig = Signature.infer(frame, np.array([0, 1, 0]))
    assert sig.inputs.kind == "columns" and sig.inputs.columns is not None
    assert [(c.name, c.dtype) for c in sig.inputs.columns] == [
        ("age", "int64"),
        ("income", "float64"),
        ("city", "str"),
        ("active", "bool"),
        ("seen", str(frame["seen"].dtype)),
    ]
    assert sig.inputs.columns[-1].dtype.startswith("datetime64[")
    assert sig.outputs is not None and sig.outputs.tensor is not None
    assert sig.outputs.tensor.dtype == "int64" and sig.outputs.tensor.shape == (-1,)


def test_signature_round_trips_through_json(frame: pd.DataFrame) -> None:
    sig = Signature.infer(frame, np.zeros((3, 2)))
    assert Signature.model_validate(sig.model_dump(mode="json")) == sig


def test_enforce_applies_safe_casts_and_orders_columns(frame: pd.DataFrame) -> None:
    sig = Signature.infer(frame)
    given = frame[["city", "income", "age", "active", "seen"]].assign(
        income=np.array([1, 2, 3], dtype=np.int32), age=np.array([1, 2, 3], dtype=np.int32), extra=1
    )
    out = sig.enforce(given)
    assert list(out.columns) == ["age", "income", "city", "active", "seen"]
    assert out["income"].dtype == np.float64 and out["age"].dtype == np.int64
    assert out["income"].tolist() == [1.0, 2.0, 3.0]
    nullable = sig.enforce(frame.assign(age=pd.array([1, 2, 3], dtype="Int64")))
    assert nullable["age"].dtype == np.int64


def test_enforce_accepts_dicts_rows_and_arrays() -> None:
    sig = Signature.infer(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    assert sig.enforce({"a": [1.0], "b": [2.0]})["b"].tolist() == [2.0]
    assert sig.enforce([{"a": 1.0, "b": 2.0}])["a"].tolist() == [1.0]
    assert list(sig.enforce(np.ones((4, 2))).columns) == ["a", "b"]
    with pytest.raises(SignatureMismatchError, match=r"columns a, b: pass a DataFrame .*got shape \[4, 3\]"):
        sig.enforce(np.ones((4, 3)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["income"]), "missing column 'income' (expected float64)"),
        (lambda f: f.assign(income=["a", "b", "c"]), "column 'income' has type str, expected float64"),
        (lambda f: f.assign(age=[1.5, 2.5, 3.5]), "column 'age' has type float64, expected int64"),
        (lambda f: f.assign(city=[1, 2, 3]), "column 'city' has type int64, expected str"),
        (lambda f: f.assign(age=pd.array([1, None, 3], dtype="Int64")), "column 'age' has missing values"),
    ],
)
def test_enforce_names_the_column_and_expected_type(frame: pd.DataFrame, change, message: str) -> None:  # type: ignore[no-untyped-def]
    sig = Signature.infer(frame)
    with pytest.raises(SignatureMismatchError) as info:
        sig.enforce(change(frame))
    assert message in str(info.value)
    assert isinstance(info.value, InvalidInputError)


def test_tensor_signatures_check_shape_and_dtype() -> None:
    sig = Signature.infer(np.zeros((5, 3, 2), dtype=np.float32))
    assert sig.inputs.tensor is not None and sig.inputs.tensor.shape == (-1, 3, 2)
    assert sig.enforce(np.ones((1, 3, 2), dtype=np.float32)).shape == (1, 3, 2)
    assert sig.enforce(np.ones((7, 3, 2))).dtype == np.float32  # float64 -> float32: same kind
    assert sig.enforce(np.ones((7, 3, 2), dtype=np.int64)).dtype == np.float32
    with pytest.raises(SignatureMismatchError, match=r"input has shape \[7, 3\], expected \[-1, 3, 2\]"):
        sig.enforce(np.ones((7, 3)))
    int_sig = Signature.infer(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(SignatureMismatchError, match="input has type float64, expected int64"):
        int_sig.enforce(np.ones((2, 2)))


def test_named_tensors() -> None:
    sig = Signature.infer({"ids": np.zeros((4, 8), dtype=np.int64), "mask": np.ones((4, 8), dtype=bool)})
    assert (
        sig.inputs.kind == "tensors" and sig.inputs.tensors is not None and set(sig.inputs.tensors) == {"ids", "mask"}
    )
    out = sig.enforce({"ids": np.zeros((2, 8), dtype=np.int32), "mask": np.ones((2, 8), dtype=bool)})
    assert out["ids"].dtype == np.int64
    with pytest.raises(SignatureMismatchError, match=r"missing input 'mask' \(expected bool with shape \[-1, 8\]\)"):
        sig.enforce({"ids": np.zeros((2, 8), dtype=np.int64)})
    with pytest.raises(SignatureMismatchError, match="pass a dict of arrays"):
        sig.enforce(np.zeros((2, 8)))


def test_torch_tensor_signatures() -> None:
    torch = pytest.importorskip("torch")
    sig = Signature.infer(torch.zeros(3, 4))
    assert sig.inputs.tensor is not None and (sig.inputs.tensor.dtype, sig.inputs.tensor.shape) == ("float32", (-1, 4))
    assert sig.enforce(torch.ones(2, 4, dtype=torch.float64)).dtype == torch.float32
    with pytest.raises(SignatureMismatchError, match=r"input has shape \[2, 5\], expected \[-1, 4\]"):
        sig.enforce(torch.ones(2, 5))


def test_unsupported_examples_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="Python objects"):
        Signature.infer(np.array([object(), object()]))
    with pytest.raises(InvalidInputError, match="empty dict"):
        Signature.infer({})
