"""Explainability: permutation feature importance (scikit-learn's), optional SHAP values.

Works on a :class:`~modelyard.models.LoadedModel` or a raw model with ``predict``. The default score
is accuracy for a classifier (a model with ``predict_proba``) and R² otherwise.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sklearn.base import BaseEstimator

from modelyard.errors import InvalidInputError

__all__ = ["permutation_importance", "shap_available"]


def shap_available() -> bool:
    """Whether the optional ``shap`` library is installed (``pip install 'modelyard[shap]'``)."""
    return importlib.util.find_spec("shap") is not None


class _Predictor(BaseEstimator):  # type: ignore[misc]
    """A fit-less estimator view of any model, as scikit-learn's permutation importance requires."""

    def __init__(self, model: Any = None) -> None:
        self.model = model

    def fit(self, x: Any, y: Any = None) -> _Predictor:
        """Never called: the model is already fitted."""
        raise NotImplementedError("the model is already fitted")

    def predict(self, x: Any) -> Any:
        """The wrapped model's predictions."""
        return self.model.predict(x)


def _is_classifier(model: Any) -> bool:
    has = getattr(model, "has_predict_proba", None)
    if isinstance(has, bool):
        return has
    return callable(getattr(model, "predict_proba", None))


def permutation_importance(
    model: Any,
    eval_data: Any,
    target: str | Any,
    *,
    scoring: str | Any = None,
    n_repeats: int = 5,
    random_state: int | None = 0,
    max_rows: int | None = 10_000,
    shap: bool = False,
) -> dict[str, dict[str, float]]:
    """Permutation importance of each feature of ``eval_data`` for ``model``.

    Args:
        model: a :class:`~modelyard.models.LoadedModel` or any fitted model with ``predict``.
        eval_data: a DataFrame of features (and the target column when ``target`` is its name), or
            a 2-D array of features (features named from the model's ``feature_names_in_``, else
            ``x0``, ``x1``, ...).
        target: the name of the target column in a DataFrame ``eval_data``, or the target values.
        scoring: a scikit-learn scorer name or callable; default accuracy (classifiers) or R².
        n_repeats: shuffles per feature.
        random_state: seed of the shuffles, for reproducible numbers.
        max_rows: rows sampled from ``eval_data`` at most (``None``: all).
        shap: also compute the mean absolute SHAP value per feature when ``shap`` is installed
            (skipped silently when it is not; see :func:`shap_available`).

    Returns:
        ``{feature: {"mean": ..., "std": ...}}`` (plus ``"shap"`` with ``shap=True``), features in
        decreasing order of mean importance.

    Raises:
        InvalidInputError: ``eval_data`` is not a DataFrame, the target column is missing, or the
            target's length does not match.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(eval_data, pd.DataFrame):
        array = np.asarray(eval_data) if isinstance(eval_data, np.ndarray | list) else None
        if array is None or array.ndim != 2 or isinstance(target, str):
            raise InvalidInputError(
                "eval_data must be a non-empty pandas DataFrame of features (and the target), "
                "or a 2-D array of features with the target values"
            )
        names = _feature_names(model, array.shape[1])
        return _importance(model, array, np.asarray(target), names, scoring, n_repeats, random_state, max_rows, shap)
    if eval_data.empty:
        raise InvalidInputError("eval_data must be a non-empty pandas DataFrame of features (and the target)")
    if isinstance(target, str):
        if target not in eval_data.columns:
            raise InvalidInputError(
                f"eval_data has no target column {target!r}: pass the target's column name or values"
            )
        features, y = eval_data.drop(columns=[target]), eval_data[target].to_numpy()
    else:
        features, y = eval_data, np.asarray(target)
    return _importance(
        model, features, y, [str(c) for c in features.columns], scoring, n_repeats, random_state, max_rows, shap
    )


def _feature_names(model: Any, width: int) -> list[str]:
    """The names a model was fitted with (``feature_names_in_``), else ``x0``, ``x1``, ..."""
    raw = getattr(model, "raw", model)
    names = getattr(raw, "feature_names_in_", None)
    if names is not None and len(names) == width:
        return [str(n) for n in names]
    return [f"x{i}" for i in range(width)]


def _importance(
    model: Any,
    features: Any,
    y: Any,
    names: list[str],
    scoring: Any,
    n_repeats: int,
    random_state: int | None,
    max_rows: int | None,
    shap: bool,
) -> dict[str, dict[str, float]]:
    import numpy as np
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    if len(y) != len(features):
        raise InvalidInputError(f"target has {len(y)} values but eval_data has {len(features)} rows")
    if not len(features):
        raise InvalidInputError("eval_data has no rows")
    if max_rows is not None and len(features) > max_rows:
        rows = np.random.default_rng(random_state).choice(len(features), max_rows, replace=False)
        features = features.iloc[rows] if hasattr(features, "iloc") else features[rows]
        y = y[rows]
    if scoring is None:
        scoring = "accuracy" if _is_classifier(model) else "r2"
    result = sk_permutation_importance(
        _Predictor(model), features, y, scoring=scoring, n_repeats=n_repeats, random_state=random_state
    )
    out = {
        name: {"mean": float(mean), "std": float(std)}
        for name, mean, std in zip(names, result.importances_mean, result.importances_std, strict=True)
    }
    if shap and shap_available():
        for name, value in zip(names, _shap_means(model, features), strict=True):
            out[name]["shap"] = value
    return dict(sorted(out.items(), key=lambda item: -item[1]["mean"]))


def _shap_means(model: Any, features: Any) -> list[float]:
    """Mean absolute SHAP value per feature, with a model-agnostic explainer on a small background."""
    import numpy as np
    import shap

    def predict(x: Any) -> Any:
        if hasattr(features, "columns") and not hasattr(x, "columns"):
            x = type(features)(x, columns=features.columns)
        return np.asarray(model.predict(x))

    background = features[: min(100, len(features))]
    values = shap.Explainer(predict, background)(features[: min(200, len(features))]).values
    means = np.abs(values).mean(axis=0)
    if means.ndim > 1:
        means = means.mean(axis=-1)
    return [float(v) for v in means]
