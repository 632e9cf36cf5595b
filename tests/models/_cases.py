"""Real models of every flavor, trained on small generated data, for the flavor tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class Doubler(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A user-defined transformer: skops cannot vouch for it, so the package falls back to joblib."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return x * 2


class ThresholdModel:
    """Custom logic with predict and predict_proba: the python-function flavor."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return (data["a"] + data["b"] > self.threshold).to_numpy().astype(np.int64)

    def predict_proba(self, data: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-(data["a"] + data["b"] - self.threshold).to_numpy()))
        return np.column_stack([1 - p, p])


def table(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n), "d": rng.integers(0, 5, n)}
    )
    y = ((x["a"] + 0.5 * x["b"] - 0.2 * x["d"] + rng.normal(scale=0.3, size=n)) > 0).astype(np.int64).to_numpy()
    return x, y


@dataclass
class Case:
    """One flavor's model, the data to try it on, and what the package must say about it."""

    flavor: str
    model: Any
    example: Any
    data: Any
    predict: Callable[[Any], Any]
    unsafe: bool
    package: str
    proba: Callable[[Any], Any] | None = None
    bad_inputs: list[tuple[Any, str]] = field(default_factory=list)


def _table_bad_inputs(x: pd.DataFrame) -> list[tuple[Any, str]]:
    return [
        (x.drop(columns=["b"]), "missing column 'b' (expected float64)"),
        (x.assign(a=["text"] * len(x)), "column 'a' has type str, expected float64"),
        (x.assign(d=x["d"] + 0.5), "column 'd' has type float64, expected int64"),
    ]


def sklearn_case() -> Case:
    x, y = table()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    return Case("sklearn", model, x[:5], x, model.predict, False, "sklearn", model.predict_proba, _table_bad_inputs(x))


def sklearn_joblib_case() -> Case:
    x, y = table()
    model = make_pipeline(Doubler(), LogisticRegression()).fit(x, y)
    return Case("sklearn", model, x[:5], x, model.predict, True, "joblib", model.predict_proba, _table_bad_inputs(x))


def pyfunc_case() -> Case:
    x, _ = table()
    model = ThresholdModel(0.3)
    return Case(
        "python_function",
        model,
        x[:5],
        x,
        model.predict,
        True,
        "cloudpickle",
        model.predict_proba,
        _table_bad_inputs(x),
    )


def xgboost_case() -> Case:
    xgboost = pytest.importorskip("xgboost")

    x, y = table()
    model = xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(x, y)
    return Case("xgboost", model, x[:5], x, model.predict, False, "xgboost", model.predict_proba, _table_bad_inputs(x))


def lightgbm_case() -> Case:
    lightgbm = pytest.importorskip("lightgbm")

    x, y = table()
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(x, y)
    return Case(
        "lightgbm", model, x[:5], x, model.predict, False, "lightgbm", model.predict_proba, _table_bad_inputs(x)
    )


def _tensor_bad_inputs(x: np.ndarray) -> list[tuple[Any, str]]:
    return [
        (x[:, :3], "input has shape [200, 3], expected [-1, 4]"),
        (x.astype(str), "input has type str, expected float32"),
    ]


def onnx_case() -> Case:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    frame, y = table()
    x = frame.to_numpy(dtype=np.float32)
    sk = LogisticRegression().fit(x, y)
    model = skl2onnx.convert_sklearn(
        sk, initial_types=[("input", FloatTensorType([None, 4]))], options={"zipmap": False}
    )
    return Case("onnx", model, x[:5], x, sk.predict, False, "onnxruntime", sk.predict_proba, _tensor_bad_inputs(x))


def torch_case() -> Case:
    torch = pytest.importorskip("torch")

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    frame, _ = table()
    x = frame.to_numpy(dtype=np.float32)

    def predict(data: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(data)).numpy()

    return Case("pytorch", model, x[:5], x, predict, False, "torch", None, _tensor_bad_inputs(x))


CASES: dict[str, Callable[[], Case]] = {
    "sklearn-skops": sklearn_case,
    "sklearn-joblib": sklearn_joblib_case,
    "python_function": pyfunc_case,
    "xgboost": xgboost_case,
    "lightgbm": lightgbm_case,
    "onnx": onnx_case,
    "pytorch": torch_case,
}
