"""Permutation importance (scikit-learn's) on loaded and raw models; SHAP when installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from modelyard.errors import InvalidInputError
from modelyard.models import load_model, permutation_importance, save_model, shap_available


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"signal": rng.normal(size=400), "weak": rng.normal(size=400), "noise": rng.normal(size=400)})
    x["label"] = (2 * x["signal"] + 0.3 * x["weak"] > 0).astype(int)
    return x


def test_importance_of_a_loaded_classifier_ranks_the_signal_first(frame: pd.DataFrame, tmp_path: Path) -> None:
    model = LogisticRegression().fit(frame.drop(columns=["label"]), frame["label"])
    save_model(model, tmp_path / "pkg", input_example=frame.drop(columns=["label"])[:3])
    result = permutation_importance(load_model(tmp_path / "pkg"), frame, "label", n_repeats=3)
    assert list(result) == ["signal", "weak", "noise"]
    assert result["signal"]["mean"] > 0.2 and abs(result["noise"]["mean"]) < 0.05
    assert all(set(v) == {"mean", "std"} and v["std"] >= 0 for v in result.values())
    again = permutation_importance(load_model(tmp_path / "pkg"), frame, "label", n_repeats=3)
    assert again == result  # seeded: the same numbers every time


def test_importance_of_a_raw_regressor_with_target_values(frame: pd.DataFrame) -> None:
    x = frame.drop(columns=["label"])
    y = 3 * x["signal"].to_numpy() + 0.1 * x["noise"].to_numpy()
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(x, y)
    result = permutation_importance(model, x, y, n_repeats=2, max_rows=200)
    assert max(result, key=lambda k: result[k]["mean"]) == "signal"
    assert set(result) == {"signal", "weak", "noise"}


def test_bad_eval_data_is_named(frame: pd.DataFrame) -> None:
    model = LogisticRegression().fit(frame.drop(columns=["label"]), frame["label"])
    with pytest.raises(InvalidInputError, match="eval_data has no target column 'y'"):
        permutation_importance(model, frame, "y")
    with pytest.raises(InvalidInputError, match="target has 3 values but eval_data has 400 rows"):
        permutation_importance(model, frame.drop(columns=["label"]), [0, 1, 0])
    with pytest.raises(InvalidInputError, match="non-empty pandas DataFrame"):
        permutation_importance(model, frame.to_numpy(), "label")
    with pytest.raises(InvalidInputError, match="non-empty pandas DataFrame"):
        permutation_importance(model, frame.iloc[:0], "label")


def test_importance_on_arrays_uses_the_fitted_names_or_positions(frame: pd.DataFrame) -> None:
    x, y = frame.drop(columns=["label"]), frame["label"].to_numpy()
    named = LogisticRegression().fit(x.to_numpy(), y)
    result = permutation_importance(named, x.to_numpy(), y, n_repeats=2)
    assert list(result)[0] == "x0" and set(result) == {"x0", "x1", "x2"}


def test_shap_values_when_installed(frame: pd.DataFrame) -> None:
    model = LogisticRegression().fit(frame.drop(columns=["label"]), frame["label"])
    result = permutation_importance(model, frame.iloc[:80], "label", n_repeats=1, shap=True)
    if not shap_available():
        assert all("shap" not in v for v in result.values())  # skipped cleanly without the extra
        return
    assert result["signal"]["shap"] > result["noise"]["shap"] >= 0
