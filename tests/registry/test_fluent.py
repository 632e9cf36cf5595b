"""The fluent registry API: ``yard.log_model``, ``yard.models.load``, ``yard.registry.*``."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import modelyard as yard
from modelyard.client import Client
from modelyard.errors import InvalidInputError


def test_log_model_in_the_active_run_then_load_by_alias(fluent: Client) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    with pytest.raises(InvalidInputError, match="active run"):
        yard.log_model(model, "iris")
    with yard.start_run() as run:
        yard.log_metric("accuracy", model.score(X, y))
        mv = yard.log_model(model, "iris", input_example=X[:5])
    assert isinstance(mv, yard.ModelVersion)
    assert (mv.run_id, mv.version, mv.project) == (run.id, 1, "default")
    yard.registry.set_alias("iris", "champion", mv.version)
    loaded = yard.models.load("models:/iris@champion")
    np.testing.assert_array_equal(loaded.predict(X[:5]), model.predict(X[:5]))
    assert [v.version for v in yard.registry.list_versions("iris")] == [1]
    assert yard.registry.get_version("iris@champion").aliases == ["champion"]
    package = None
    with yard.start_run():
        package = yard.log_model(model, "iris", register=False)
    assert not isinstance(package, yard.ModelVersion) and package.flavor == "sklearn"
    assert yard.registry.get_model("iris").latest_version == 1


def test_eval_data_stores_permutation_importance_and_shap_values_when_installed(fluent: Client) -> None:
    from modelyard.models import shap_available

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    with yard.start_run():
        mv = yard.log_model(model, "explained", input_example=X[:5], eval_data=(X, y))
        plain = yard.log_model(model, "explained", input_example=X[:5], eval_data=(X, y), shap=False)
    assert isinstance(mv, yard.ModelVersion) and isinstance(plain, yard.ModelVersion)
    assert mv.importance is not None and set(mv.importance) == set(X.columns)
    assert plain.importance is not None and all(set(v) == {"mean", "std"} for v in plain.importance.values())
    stored = yard.registry.get_version("explained@1").importance
    assert stored == mv.importance  # on the version, as computed
    card_md = yard.registry.card("explained@1", format="md")
    top = next(iter(mv.importance))
    assert isinstance(card_md, str) and f"{mv.importance[top]['mean']:.4g}" in card_md
    if not shap_available():
        assert all("shap" not in v for v in mv.importance.values())  # skipped cleanly without the extra
        with pytest.raises(InvalidInputError, match="shap extra"):
            with yard.start_run():
                yard.log_model(model, "explained", eval_data=(X, y), shap=True)
        return
    shap_values = {k: v["shap"] for k, v in mv.importance.items()}
    assert all(value >= 0 for value in shap_values.values()) and max(shap_values.values()) > 0
    assert "mean absolute SHAP" in card_md and f"{shap_values[top]:.4g}" in card_md


def test_log_model_does_not_hash_the_package_a_second_time(fluent: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import modelyard.blobs._store as store_module

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    reads: list[object] = []
    real_hash_file = store_module.hash_file
    monkeypatch.setattr(store_module, "hash_file", lambda p: reads.append(p) or real_hash_file(p))
    with yard.start_run():
        mv = yard.log_model(model, "hashed-once", input_example=X[:5])
    assert isinstance(mv, yard.ModelVersion) and reads == []  # save_model's digests were reused
    blobs = fluent.backend.blobs
    for f in mv.files:
        blobs.verify(f.digest)  # stored under the right names
    np.testing.assert_array_equal(yard.models.load("hashed-once@1").predict(X[:5]), model.predict(X[:5]))
