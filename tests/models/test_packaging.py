"""Packages: what save_model writes, what it refuses, and what load_model verifies before loading."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelyard.errors import (
    FlavorUnavailableError,
    InvalidInputError,
    ModelIntegrityError,
    SignatureMismatchError,
    UntrustedModelError,
)
from modelyard.models import ModelPackage, load_model, read_metadata, save_model
from tests.models._cases import Doubler, ThresholdModel, table


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return table()


@pytest.fixture(scope="module")
def logreg(data: tuple[pd.DataFrame, np.ndarray]) -> LogisticRegression:
    return LogisticRegression().fit(*data)


@pytest.fixture
def package(
    tmp_path: Path, logreg: LogisticRegression, data: tuple[pd.DataFrame, np.ndarray]
) -> tuple[Path, ModelPackage]:
    path = tmp_path / "pkg"
    return path, save_model(logreg, path, input_example=data[0][:3])


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


# --- save -------------------------------------------------------------------------------------


def test_model_yaml_records_the_package(package: tuple[Path, ModelPackage]) -> None:
    path, pkg = package
    meta = read_metadata(path)
    assert meta == pkg.metadata
    assert meta["flavor"] == "sklearn" and meta["flavor_info"] == {"format": "skops", "file": "model.skops"}
    assert meta["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert meta["files"] == {
        "model.skops": {"digest": pkg.files["model.skops"][0], "size": pkg.files["model.skops"][1]}
    }
    assert meta["unsafe_format"] is False and meta["format_version"] == 1
    with pytest.raises(ValueError, match="frozen"):
        pkg.flavor = "other"  # type: ignore[misc]


def test_save_into_an_existing_empty_directory(tmp_path: Path, logreg: LogisticRegression) -> None:
    (tmp_path / "empty").mkdir()
    assert save_model(logreg, tmp_path / "empty").flavor == "sklearn"
    assert _leftovers(tmp_path) == ["empty"]


def test_save_refuses_a_non_empty_directory_or_a_file(tmp_path: Path, logreg: LogisticRegression) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "file").write_text("x")
    for target in ("full", "file"):
        with pytest.raises(InvalidInputError, match="exists and is not an empty directory"):
            save_model(logreg, tmp_path / target)
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert _leftovers(tmp_path) == ["file", "full"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flavor": "tensorflow"}, "unknown model flavor 'tensorflow': expected one of lightgbm, onnx"),
        ({"flavor": "xgboost"}, "flavor 'xgboost' does not handle a LogisticRegression"),
        ({"serialization": "pickle"}, "serialization 'pickle' is not one the sklearn flavor offers"),
        ({"requirements": "pandas"}, "requirements must be a list"),
        ({"requirements": ["pandas>=2", "bad requirement!"]}, "invalid requirement 'bad requirement!'"),
        ({"signature": {"inputs": {"kind": "table"}}}, "invalid signature"),
        ({"run_id": "../etc"}, "invalid run_id '../etc'"),
    ],
)
def test_bad_arguments_write_nothing(
    tmp_path: Path, logreg: LogisticRegression, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        save_model(logreg, tmp_path / "pkg", **kwargs)
    assert message in str(info.value)
    assert _leftovers(tmp_path) == []


def test_an_object_no_flavor_handles_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="has no predict method; wrap custom logic in a class with predict"):
        save_model({"weights": [1, 2]}, tmp_path / "pkg")
    assert _leftovers(tmp_path) == []


def test_a_failing_save_leaves_nothing(tmp_path: Path) -> None:
    model = ThresholdModel(0.5)
    model.lock = threading.Lock()  # type: ignore[attr-defined]  # cannot be pickled
    with pytest.raises(TypeError):
        save_model(model, tmp_path / "pkg")
    assert _leftovers(tmp_path) == []


def test_an_example_the_model_rejects_is_an_input_error(tmp_path: Path, logreg: LogisticRegression) -> None:
    with pytest.raises(InvalidInputError, match="the model failed to predict on input_example"):
        save_model(logreg, tmp_path / "pkg", input_example=pd.DataFrame({"zzz": [1.0]}))
    assert _leftovers(tmp_path) == []


def test_requirements_are_pinned_and_can_be_overridden(tmp_path: Path, logreg: LogisticRegression) -> None:
    import sklearn
    import skops

    pkg = save_model(logreg, tmp_path / "a")
    assert pkg.requirements == [f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"]
    pkg = save_model(logreg, tmp_path / "b", requirements=["scikit-learn>=1.4", "pandas>=2"])
    assert pkg.requirements == ["pandas>=2", "scikit-learn>=1.4", f"skops=={skops.__version__}"]


def test_requirements_include_the_packages_the_models_classes_come_from(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    import importlib.metadata

    import lightgbm
    import sklearn
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = data
    pipeline = make_pipeline(StandardScaler(), lightgbm.LGBMClassifier(n_estimators=5, verbose=-1)).fit(x, y)
    pkg = save_model(pipeline, tmp_path / "pipe", input_example=x[:5])
    assert pkg.flavor == "sklearn"  # the pipeline is scikit-learn's; one of its steps comes from lightgbm
    assert f"lightgbm=={importlib.metadata.version('lightgbm')}" in pkg.requirements, pkg.requirements
    assert f"scikit-learn=={sklearn.__version__}" in pkg.requirements
    assert read_metadata(tmp_path / "pipe")["requirements"] == pkg.requirements
    np.testing.assert_array_equal(load_model(tmp_path / "pipe", trust=True).predict(x[:20]), pipeline.predict(x[:20]))


def test_serialization_choice_for_sklearn(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    from sklearn.pipeline import make_pipeline

    custom = make_pipeline(Doubler(), LogisticRegression()).fit(*data)
    with pytest.raises(InvalidInputError, match="cannot save this model with skops: it needs types outside"):
        save_model(custom, tmp_path / "skops", serialization="skops")
    assert _leftovers(tmp_path) == []
    plain = LogisticRegression().fit(*data)
    forced = save_model(plain, tmp_path / "joblib", serialization="joblib")
    assert forced.unsafe_format and sorted(forced.files) == ["model.joblib", "model.yaml"]
    again = save_model(plain, tmp_path / "joblib2", serialization="joblib")
    assert again.digest == forced.digest  # no timestamp in model.yaml: same bytes, same package digest


def test_large_sklearn_models_use_joblib_unless_skops_is_asked(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.models.flavors import _sklearn

    model = LogisticRegression().fit(*data)
    monkeypatch.setattr(_sklearn, "SKOPS_MAX_BYTES", 10)  # every model is "large"
    assert save_model(model, tmp_path / "auto").metadata["flavor_info"]["format"] == "joblib"
    assert save_model(model, tmp_path / "forced", serialization="skops").unsafe_format is False


# --- load -------------------------------------------------------------------------------------


def test_loaded_model_exposes_the_interface(
    package: tuple[Path, ModelPackage], logreg: LogisticRegression, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    path, pkg = package
    loaded = load_model(path, expected_files=pkg.files)
    assert isinstance(loaded.raw, LogisticRegression) and loaded.flavor == "sklearn"
    assert loaded.metadata == pkg.metadata and loaded.path == path
    np.testing.assert_array_equal(loaded.predict(data[0].to_dict(orient="list")), logreg.predict(data[0]))
    assert "sklearn" in repr(loaded)


def test_predict_proba_on_a_regressor_is_a_clear_error(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    save_model(LinearRegression().fit(*data), tmp_path / "pkg")
    loaded = load_model(tmp_path / "pkg")
    assert not loaded.has_predict_proba
    with pytest.raises(InvalidInputError, match="has no predict_proba"):
        loaded.predict_proba(data[0])


def test_missing_and_extra_files_are_named(package: tuple[Path, ModelPackage]) -> None:
    path, _ = package
    (path / "notes.txt").write_text("added")
    with pytest.raises(ModelIntegrityError, match="'notes.txt' is not listed in model.yaml"):
        load_model(path)
    (path / "notes.txt").unlink()
    (path / "model.skops").rename(path / "moved.skops")
    with pytest.raises(ModelIntegrityError, match="'moved.skops' is not listed"):
        load_model(path)
    (path / "moved.skops").unlink()
    with pytest.raises(ModelIntegrityError, match="'model.skops' listed in model.yaml is missing"):
        load_model(path)


def test_truncated_file_is_named(package: tuple[Path, ModelPackage]) -> None:
    path, _ = package
    with open(path / "model.skops", "r+b") as f:
        f.truncate(100)
    with pytest.raises(ModelIntegrityError, match="'model.skops' has 100 bytes, model.yaml says"):
        load_model(path)


def test_the_registry_manifest_catches_a_consistently_rewritten_package(
    package: tuple[Path, ModelPackage], tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    path, pkg = package
    # an attacker swaps in another model and a matching model.yaml: model.yaml alone cannot tell
    other = tmp_path / "other"
    save_model(LogisticRegression(C=0.01).fit(*data), other, input_example=data[0][:3])
    for name in ("model.skops", "model.yaml"):
        (path / name).write_bytes((other / name).read_bytes())
    assert load_model(path).flavor == "sklearn"
    with pytest.raises(ModelIntegrityError) as info:
        load_model(path, expected_files=pkg.files)
    assert info.value.path in ("model.skops", "model.yaml") and "the registry's manifest" in str(info.value)


def test_expected_files_must_match_exactly(package: tuple[Path, ModelPackage]) -> None:
    path, pkg = package
    with pytest.raises(ModelIntegrityError, match="'model.skops' is not listed in the registry's manifest"):
        load_model(path, expected_files={"model.yaml": pkg.files["model.yaml"]})
    with pytest.raises(ModelIntegrityError, match="'weights.bin' listed in the registry's manifest is missing"):
        load_model(path, expected_files={**pkg.files, "weights.bin": ("0" * 64, 1)})


def test_symlinks_are_refused(package: tuple[Path, ModelPackage], tmp_path: Path) -> None:
    path, _ = package
    (tmp_path / "secret").write_text("x")
    os.symlink(tmp_path / "secret", path / "link")
    with pytest.raises(ModelIntegrityError, match="'link' is a symbolic link"):
        load_model(path)


def _edit_yaml(path: Path, **changes: Any) -> None:
    meta = yaml.safe_load((path / "model.yaml").read_text())
    meta.update(changes)
    (path / "model.yaml").write_text(yaml.safe_dump(meta))


def test_unknown_flavor_and_newer_format_are_input_errors(package: tuple[Path, ModelPackage]) -> None:
    path, _ = package
    _edit_yaml(path, flavor="tensorflow")
    with pytest.raises(InvalidInputError, match="unknown model flavor 'tensorflow'"):
        load_model(path)
    _edit_yaml(path, flavor="sklearn", format_version=99)
    with pytest.raises(InvalidInputError, match="model package format 99 is newer than this modelyard reads"):
        load_model(path)


def test_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no model package at"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(ModelIntegrityError, match="it has no model.yaml"):
        load_model(tmp_path)
    (tmp_path / "model.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ModelIntegrityError, match="does not describe a model package"):
        load_model(tmp_path)


def test_a_yaml_claiming_safety_still_cannot_reach_pickle(tmp_path: Path, logreg: LogisticRegression) -> None:
    save_model(logreg, tmp_path / "pkg", serialization="joblib")
    with pytest.raises(UntrustedModelError, match="pass trust=True"):
        load_model(tmp_path / "pkg")
    _edit_yaml(tmp_path / "pkg", unsafe_format=False)
    with pytest.raises(UntrustedModelError, match="model.joblib is a pickle-based file"):
        load_model(tmp_path / "pkg")
    assert isinstance(load_model(tmp_path / "pkg", trust=True).raw, LogisticRegression)


# --- other flavors' variants -------------------------------------------------------------------


def test_torch_without_an_example_saves_the_module_unsafely(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    pkg = save_model(model, tmp_path / "pkg")
    assert pkg.unsafe_format and pkg.metadata["flavor_info"]["format"] == "module" and pkg.signature is None
    with pytest.raises(UntrustedModelError):
        load_model(tmp_path / "pkg")
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(load_model(tmp_path / "pkg", trust=True).predict(x), expected, rtol=1e-6)


def test_xgboost_booster_and_lightgbm_regressor(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    xgboost = pytest.importorskip("xgboost")
    lightgbm = pytest.importorskip("lightgbm")
    x, y = data
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(x, label=y), num_boost_round=5)
    save_model(booster, tmp_path / "xgb", input_example=x[:3])
    np.testing.assert_allclose(load_model(tmp_path / "xgb").predict(x), booster.predict(xgboost.DMatrix(x)))
    reg = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(x, y.astype(float))
    save_model(reg, tmp_path / "lgb", input_example=x[:3])
    loaded = load_model(tmp_path / "lgb")
    np.testing.assert_allclose(loaded.predict(x), reg.predict(x))
    assert not loaded.has_predict_proba


def test_a_missing_flavor_library_names_the_extra(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    save_model(lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(*data), tmp_path / "pkg")
    code = (
        "import sys; sys.modules['lightgbm'] = None\n"
        "from modelyard.models import load_model\n"
        "from modelyard.errors import FlavorUnavailableError\n"
        f"try:\n    load_model({str(tmp_path / 'pkg')!r})\n"
        "except FlavorUnavailableError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "needs 'lightgbm', which is not installed: run pip install 'modelyard[lightgbm]'" in out
    assert issubclass(FlavorUnavailableError, InvalidInputError)


def test_packaging_imports_no_optional_library(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import modelyard.models\n"
        "light = sorted(m for m in ('pandas', 'numpy', 'pydantic', 'sklearn', 'yaml') if m in sys.modules)\n"
        "from sklearn.linear_model import LinearRegression\n"
        "from modelyard.models import save_model, load_model\n"
        # joblib: skops itself imports every scikit-learn module, whose array-API shim imports torch
        f"save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), {str(tmp_path / 'p')!r}, "
        "serialization='joblib')\n"
        f"load_model({str(tmp_path / 'p')!r}, trust=True).predict([[2.0]])\n"
        "optional = ('torch', 'xgboost', 'lightgbm', 'onnx', 'onnxruntime', 'shap')\n"
        "heavy = sorted(m for m in optional if m in sys.modules)\n"
        "print(light, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] []"


def test_a_python_function_model_from_main_loads_in_another_process(tmp_path: Path) -> None:
    save = (
        "import numpy as np\n"
        "from modelyard.models import save_model\n"
        "class Scaler:\n"
        "    def predict(self, data):\n"
        "        return np.asarray(data['x']) * 3\n"
        f"save_model(Scaler(), {str(tmp_path / 'pkg')!r}, input_example={{'x': [1.0]}})\n"
    )
    subprocess.run([sys.executable, "-c", save], check=True, cwd=tmp_path)
    loaded = load_model(tmp_path / "pkg", trust=True)  # the class travelled by value (cloudpickle)
    assert loaded.flavor == "python_function" and type(loaded.raw).__name__ == "Scaler"
    np.testing.assert_array_equal(loaded.predict({"x": np.array([1.0, 2.0])}), [3.0, 6.0])


def test_an_onnx_graph_declares_its_input_signature(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    x = data[0].to_numpy(dtype=np.float32)
    graph = skl2onnx.convert_sklearn(
        LinearRegression().fit(x, data[1]), initial_types=[("input", FloatTensorType([None, 4]))]
    )
    pkg = save_model(graph, tmp_path / "pkg")  # no input_example
    assert pkg.signature is not None and pkg.signature.inputs.tensor is not None
    assert (pkg.signature.inputs.tensor.dtype, pkg.signature.inputs.tensor.shape) == ("float32", (-1, 4))
    loaded = load_model(tmp_path / "pkg")
    assert loaded.predict(x[:3]).shape[0] == 3
    with pytest.raises(SignatureMismatchError, match=r"input has shape \[3, 2\], expected \[-1, 4\]"):
        loaded.predict(x[:3, :2])


def test_early_writeback_writes_the_same_bytes_and_digest(tmp_path: Path) -> None:
    from modelyard.models._manifest import HASH_STEP_BYTES, HashingWriter, early_writeback, hash_file

    chunks = [os.urandom(1 << 20) for _ in range(HASH_STEP_BYTES // (1 << 20) * 2 + 3)]
    results = []
    for name, context in (("plain", contextlib.nullcontext()), ("early", early_writeback())):
        with context:
            with HashingWriter(tmp_path / name) as writer:
                for chunk in chunks:
                    writer.write(chunk)
                results.append(writer.close())
    assert results[0] == results[1] == hash_file(tmp_path / "early") == hash_file(tmp_path / "plain")
    assert results[0][1] == sum(len(c) for c in chunks)
