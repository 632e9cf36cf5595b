"""Tests of scikit-learn autologging (real fits into a real embedded store)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.decomposition import PCA
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import modelyard as yard
from modelyard.client import Client
from modelyard.entities import Run
from modelyard.errors import ProjectNotFoundError

ORIGINAL_LR_FIT = LogisticRegression.fit
ORIGINAL_PIPELINE_FIT_TRANSFORM = Pipeline.__dict__["fit_transform"]


@pytest.fixture
def autologged(fluent: Client) -> Iterator[Client]:
    """Autolog on, over the fluent fixture's fresh store; always disabled afterwards."""
    yard.autolog()
    try:
        yield fluent
    finally:
        yard.autolog(disable=True)


@pytest.fixture(scope="module")
def iris() -> tuple[Any, Any]:
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, Any]:
    return load_breast_cancer(return_X_y=True)


def all_runs(client: Client) -> list[Run]:
    try:
        return list(client.search_runs())
    except ProjectNotFoundError:  # the project appears with its first run
        return []


def only_run(client: Client) -> Run:
    runs = all_runs(client)
    assert len(runs) == 1, [r.name for r in runs]
    return runs[0]


CLASSIFIER_METRICS = {
    "training_accuracy",
    "training_precision",
    "training_recall",
    "training_f1",
    "training_log_loss",
    "training_roc_auc",
    "training_score",
}


def test_classifier_logs_params_metrics_tags_and_model(
    autologged: Client, iris: tuple[Any, Any], tmp_path: Path
) -> None:
    X, y = iris
    model = LogisticRegression(C=0.5, max_iter=1000).fit(X, y)

    assert yard.active_run() is None
    run = only_run(autologged)
    assert run.name == "LogisticRegression"
    assert run.status == "FINISHED"
    assert run.params["C"] == "0.5"
    assert run.params["max_iter"] == "1000"
    assert CLASSIFIER_METRICS <= set(run.metrics)
    assert run.metrics["training_accuracy"] == pytest.approx(accuracy_score(y, model.predict(X)))
    assert run.metrics["training_score"] == pytest.approx(model.score(X, y))
    assert 0.5 < run.metrics["training_roc_auc"] <= 1.0
    assert run.tags["estimator_name"] == "LogisticRegression"
    assert run.tags["estimator_class"].endswith(".LogisticRegression")
    assert run.tags["estimator_class"].startswith("sklearn.linear_model")

    paths = {a.path for a in autologged.list_artifacts(run.id)}
    assert "model/model.yaml" in paths  # a model package (models issue), loadable by reference
    loaded = autologged.load_model(f"runs:/{run.id}/model")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert autologged.registry.versions_of_run(run.id) == []  # no registered_model_name: not registered


def test_binary_pipeline_logs_one_run(autologged: Client, cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    make_pipeline(StandardScaler(), LogisticRegression(C=2.0)).fit(X, y)

    run = only_run(autologged)
    assert run.name == "Pipeline"
    assert run.params["logisticregression__C"] == "2.0"
    assert run.params["logisticregression"] == "LogisticRegression"  # nested estimators by class name
    assert run.params["standardscaler"] == "StandardScaler"
    assert CLASSIFIER_METRICS <= set(run.metrics)
    assert run.metrics["training_roc_auc"] > 0.9


def test_grid_search_logs_one_run_with_best_params(autologged: Client, iris: tuple[Any, Any]) -> None:
    X, y = iris
    search = GridSearchCV(LogisticRegression(max_iter=1000), {"C": [0.1, 1.0]}, cv=3).fit(X, y)

    run = only_run(autologged)
    assert run.name == "GridSearchCV"
    assert run.params["estimator"] == "LogisticRegression"
    assert run.params["best_C"] == str(search.best_params_["C"])
    assert run.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert "training_accuracy" in run.metrics


def test_fit_inside_an_active_run_logs_into_it(autologged: Client, iris: tuple[Any, Any]) -> None:
    X, y = iris
    with yard.start_run(name="mine") as run:
        LogisticRegression(max_iter=1000).fit(X, y)
        assert yard.active_run() is run
        assert autologged.get_run(run.id).status == "RUNNING"

    logged = only_run(autologged)
    assert logged.id == run.id
    assert logged.status == "FINISHED"
    assert "training_accuracy" in logged.metrics
    assert logged.params["C"] == "1.0"


def test_regressor_logs_regression_metrics_with_sample_weight(autologged: Client) -> None:
    X, y = load_diabetes(return_X_y=True)
    weights = np.linspace(0.5, 2.0, len(y))
    model = Ridge(alpha=0.3).fit(X, y, sample_weight=weights)

    run = only_run(autologged)
    metrics = run.metrics
    assert {"training_mse", "training_rmse", "training_mae", "training_r2", "training_score"} <= set(metrics)
    expected_mse = mean_squared_error(y, model.predict(X), sample_weight=weights)
    assert metrics["training_mse"] == pytest.approx(expected_mse)
    assert metrics["training_rmse"] == pytest.approx(math.sqrt(expected_mse))
    assert metrics["training_r2"] == pytest.approx(model.score(X, y, sample_weight=weights))
    assert "training_accuracy" not in metrics


def test_eval_set_is_popped_for_sklearn_and_scored(autologged: Client, iris: tuple[Any, Any]) -> None:
    X, y = iris
    first, second = (X[::2], y[::2]), (X[1::3], y[1::3])
    model = LogisticRegression(max_iter=1000).fit(X, y, eval_set=[first, second])

    metrics = only_run(autologged).metrics
    assert metrics["eval_accuracy"] == pytest.approx(accuracy_score(first[1], model.predict(first[0])))
    assert metrics["eval1_accuracy"] == pytest.approx(accuracy_score(second[1], model.predict(second[0])))
    assert {"eval_f1", "eval_log_loss", "eval1_score"} <= set(metrics)


class _EvalSetRidge(Ridge):
    """A regressor whose fit takes ``eval_set``, like XGBoost's and LightGBM's sklearn API."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None, eval_set: Any = None) -> _EvalSetRidge:
        self.seen_eval_set_ = eval_set
        super().fit(X, y, sample_weight=sample_weight)
        return self


def test_eval_set_passes_through_when_the_fit_accepts_it(autologged: Client) -> None:
    X, y = load_diabetes(return_X_y=True)
    eval_set = [(X[:100], y[:100])]
    # GridSearchCV.fit takes **params, so eval_set reaches the inner estimator's fit.
    search = GridSearchCV(_EvalSetRidge(), {"alpha": [0.1, 1.0]}, cv=2).fit(X, y, eval_set=eval_set)

    assert search.best_estimator_.seen_eval_set_ is eval_set
    metrics = only_run(autologged).metrics
    assert {"eval_r2", "eval_rmse", "training_r2"} <= set(metrics)


def test_unsupervised_and_fit_transform(autologged: Client, iris: tuple[Any, Any]) -> None:
    X, _ = iris
    kmeans = KMeans(n_clusters=3, n_init=2, random_state=0).fit(X)
    PCA(n_components=2).fit_transform(X)

    runs = {r.name: r for r in all_runs(autologged)}
    assert set(runs) == {"KMeans", "PCA"}
    assert runs["KMeans"].metrics["training_score"] == pytest.approx(kmeans.score(X))
    assert "training_accuracy" not in runs["KMeans"].metrics
    assert runs["PCA"].params["n_components"] == "2"


def test_preprocessing_alone_is_not_logged(autologged: Client, iris: tuple[Any, Any]) -> None:
    StandardScaler().fit(iris[0])
    assert all_runs(autologged) == []


def test_failed_fit_marks_the_run_failed_and_reraises(autologged: Client, iris: tuple[Any, Any]) -> None:
    X, y = iris
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(X_bad, y)

    run = only_run(autologged)
    assert run.status == "FAILED"
    assert yard.active_run() is None


def test_logging_errors_warn_but_never_break_fit(
    autologged: Client, iris: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Client, run_id: str, params: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(Client, "log_params", broken)
    X, y = iris
    with pytest.warns(UserWarning, match="could not log the params of LogisticRegression.*disk on fire"):
        model = LogisticRegression(max_iter=1000).fit(X, y)
    assert model.predict(X[:3]).shape == (3,)
    run = only_run(autologged)
    assert run.status == "FINISHED"
    assert run.params == {}
    assert "training_accuracy" in run.metrics  # the other parts were still logged

    yard.autolog(silent=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogisticRegression(max_iter=1000).fit(X, y)
    assert len(all_runs(autologged)) == 2


def test_log_models_false_logs_no_artifacts(fluent: Client, iris: tuple[Any, Any]) -> None:
    yard.autolog(log_models=False, registered_model_name="iris-model")
    try:
        LogisticRegression(max_iter=1000).fit(*iris)
    finally:
        yard.autolog(disable=True)
    run = only_run(fluent)
    assert fluent.list_artifacts(run.id) == []
    assert "training_accuracy" in run.metrics


def test_disable_restores_the_original_methods(fluent: Client, iris: tuple[Any, Any]) -> None:
    yard.autolog()
    yard.autolog()  # enabling twice patches once
    assert LogisticRegression.fit is not ORIGINAL_LR_FIT
    assert LogisticRegression.fit.__wrapped__ is ORIGINAL_LR_FIT
    assert "fit" in ExtraTreesClassifier.__dict__  # an inherited fit is patched on the class
    yard.autolog(disable=True)

    assert LogisticRegression.fit is ORIGINAL_LR_FIT
    assert Pipeline.__dict__["fit_transform"] is ORIGINAL_PIPELINE_FIT_TRANSFORM
    assert "fit" not in ExtraTreesClassifier.__dict__
    LogisticRegression(max_iter=1000).fit(*iris)
    assert all_runs(fluent) == []


def test_registered_model_name_registers_each_fitted_model(fluent: Client, iris: tuple[Any, Any]) -> None:
    yard.autolog(registered_model_name="iris-model")
    try:
        LogisticRegression(max_iter=1000).fit(*iris)
        LogisticRegression(C=0.3, max_iter=1000).fit(*iris)
    finally:
        yard.autolog(disable=True)
    versions = fluent.registry.list_versions("iris-model")
    assert [v.version for v in versions] == [2, 1]
    assert {v.run_id for v in versions} == {r.id for r in all_runs(fluent)}
    assert versions[0].metrics["training_accuracy"] > 0.9 and versions[0].signature is not None
    loaded = fluent.load_model("models:/iris-model/2")
    expected = LogisticRegression(C=0.3, max_iter=1000).fit(*iris).predict(iris[0][:5])
    np.testing.assert_array_equal(loaded.predict(iris[0][:5]), expected)
