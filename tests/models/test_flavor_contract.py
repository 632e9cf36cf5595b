"""One contract for every flavor: save -> verified load -> the same predictions, signatures enforced,
tampering refused, pickle refused without trust."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest

from modelyard.errors import ModelIntegrityError, SignatureMismatchError, UntrustedModelError
from modelyard.models import FLAVORS, ModelPackage, load_model, manifest_digest, save_model
from modelyard.models._manifest import hash_file
from tests.models._cases import CASES, Case

RUN_ID = "0123456789abcdef" * 2


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]()


@pytest.fixture(scope="module")
def saved(case: Case, tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, Path, ModelPackage]:
    path = tmp_path_factory.mktemp("pkg") / "model"
    return case, path, save_model(case.model, path, input_example=case.example, run_id=RUN_ID)


def test_package_describes_the_model(saved: tuple[Case, Path, ModelPackage]) -> None:
    case, path, pkg = saved
    assert pkg.flavor == case.flavor and case.flavor in FLAVORS
    assert pkg.unsafe_format is case.unsafe
    assert pkg.metadata["run_id"] == RUN_ID
    dist = importlib.metadata.packages_distributions()[case.package][0]
    assert f"{dist}=={importlib.metadata.version(dist)}" in pkg.requirements, pkg.requirements
    on_disk = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    assert sorted(pkg.files) == on_disk and "model.yaml" in pkg.files
    for rel, (digest, size) in pkg.files.items():
        assert hash_file(path / rel) == (digest, size)
    assert pkg.digest == manifest_digest(pkg.files)
    assert pkg.signature is not None and pkg.signature.outputs is not None


def test_load_predicts_like_the_original(saved: tuple[Case, Path, ModelPackage]) -> None:
    case, path, pkg = saved
    loaded = load_model(path, trust=case.unsafe, expected_files=pkg.files)
    assert loaded.flavor == case.flavor and loaded.signature == pkg.signature
    np.testing.assert_allclose(np.asarray(loaded.predict(case.data)), np.asarray(case.predict(case.data)), rtol=1e-5)
    if case.proba is not None:
        assert loaded.has_predict_proba
        np.testing.assert_allclose(loaded.predict_proba(case.data), case.proba(case.data), rtol=1e-4, atol=1e-6)
    else:
        assert not loaded.has_predict_proba


def test_signature_is_enforced(saved: tuple[Case, Path, ModelPackage]) -> None:
    case, path, _ = saved
    loaded = load_model(path, trust=case.unsafe)
    for data, message in case.bad_inputs:
        with pytest.raises(SignatureMismatchError) as info:
            loaded.predict(data)
        assert message in str(info.value)


def test_tampered_file_is_refused_before_loading(saved: tuple[Case, Path, ModelPackage], tmp_path: Path) -> None:
    case, path, pkg = saved
    copy = tmp_path / "copy"
    save_model(case.model, copy, input_example=case.example)
    model_file = next(rel for rel in sorted(pkg.files) if rel != "model.yaml")
    data = bytearray((copy / model_file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / model_file).write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError) as info:
        load_model(copy, trust=True)
    assert info.value.path == model_file and model_file in str(info.value)


def test_pickle_packages_need_trust(saved: tuple[Case, Path, ModelPackage]) -> None:
    case, path, _ = saved
    if not case.unsafe:
        assert load_model(path).flavor == case.flavor
        return
    with pytest.raises(UntrustedModelError) as info:
        load_model(path)
    assert "trust=True" in str(info.value)


def test_native_formats_load_without_unpickling(
    saved: tuple[Case, Path, ModelPackage], monkeypatch: pytest.MonkeyPatch
) -> None:
    case, path, _ = saved
    if case.unsafe:
        pytest.skip("this package needs pickle by design (unsafe_format)")
    import pickle

    import joblib

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a native format was unpickled")

    for module, attribute in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (joblib, "load")):
        monkeypatch.setattr(module, attribute, refuse)
    loaded = load_model(path)
    np.testing.assert_allclose(np.asarray(loaded.predict(case.data)), np.asarray(case.predict(case.data)), rtol=1e-5)
