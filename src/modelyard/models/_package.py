"""Model packages: a directory of model files plus ``model.yaml``, written by :func:`save_model`.

``model.yaml`` records the flavor and its load info, the signature, the Python version, pinned
requirements, ``unsafe_format`` (whether loading needs pickle), the run id and the BLAKE3 digest and
size of every other file. It holds no timestamp, so saving the same model twice gives the same
package digest. The package is written in a sibling temporary directory and renamed into place:
a failed save leaves nothing behind.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from modelyard.errors import InvalidInputError, ModelyardError
from modelyard.ids import is_run_id
from modelyard.models._manifest import hash_file, list_files, manifest_digest
from modelyard.models._requirements import detect_requirements, merge_requirements
from modelyard.models._signature import Signature
from modelyard.models._types import FileManifest
from modelyard.models.flavors import detect_flavor, get_flavor

__all__ = ["FORMAT_VERSION", "METADATA_FILE", "ModelPackage", "save_model"]

METADATA_FILE = "model.yaml"
FORMAT_VERSION = 1
"""Version of the ``model.yaml`` layout; loaders refuse newer ones."""


class ModelPackage(BaseModel):
    """A written model package.

    Attributes:
        flavor: the flavor's name (``sklearn``, ``python_function``, ``pytorch``, ...).
        signature: the model's signature, if one was given or inferred.
        unsafe_format: whether loading needs pickle (then only trusted packages load).
        requirements: pinned requirements (``name==version``).
        files: every file, ``model.yaml`` included: relative POSIX path -> (BLAKE3 digest, size).
        digest: the package digest (BLAKE3 of the canonical sorted manifest of ``files``).
        metadata: the content of ``model.yaml``.
    """

    model_config = ConfigDict(frozen=True)

    flavor: str
    signature: Signature | None
    unsafe_format: bool
    requirements: list[str]
    files: FileManifest
    digest: str
    metadata: dict[str, Any]


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Signature | dict[str, Any] | None = None,
    requirements: Iterable[str] | None = None,
    run_id: str | None = None,
    serialization: str | None = None,
) -> ModelPackage:
    """Write ``model`` as a package into the new or empty directory ``path``.

    Args:
        model: the model object (scikit-learn estimator or pipeline, PyTorch module, XGBoost or
            LightGBM model, ONNX ``ModelProto``, or any object with ``predict``).
        path: the package directory; it must not exist or be empty.
        flavor: the flavor's name; ``None`` detects it from the model.
        input_example: a few rows of input; the signature is inferred from it and the model's
            output on it (PyTorch also uses it to export the module).
        signature: an explicit signature (wins over inference).
        requirements: extra or overriding requirement strings (``"pandas>=2"``).
        run_id: the run that produced the model, recorded in ``model.yaml``.
        serialization: a flavor-specific file format; ``None`` lets the flavor choose. scikit-learn
            takes ``"skops"`` (pickle-free, slower to write) or ``"joblib"`` (pickle: the package
            is ``unsafe_format``); by default models up to 32 MiB use skops when it can represent
            them, larger ones joblib.

    Returns:
        The :class:`ModelPackage` describing what was written.

    Raises:
        InvalidInputError: ``path`` is a non-empty directory or a file, the flavor is unknown or does
            not fit the model, or an argument is malformed. Nothing is written.
        FlavorUnavailableError: the flavor's library is not installed.
    """
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInputError(f"cannot save a model into {str(target)!r}: it exists and is not an empty directory")
    chosen = detect_flavor(model) if flavor is None else get_flavor(flavor)
    if flavor is not None and not chosen.detects(model):
        raise InvalidInputError(
            f"flavor {flavor!r} does not handle a {type(model).__qualname__}: leave flavor=None to detect it"
        )
    if serialization is not None and serialization not in chosen.serializations:
        choices = ", ".join(repr(s) for s in chosen.serializations) or "none"
        raise InvalidInputError(
            f"serialization {serialization!r} is not one the {chosen.name} flavor offers (choices: {choices})"
        )
    if run_id is not None and not is_run_id(run_id):
        raise InvalidInputError(f"invalid run_id {run_id!r}: run ids are 32 lowercase hex characters")
    sig = _signature(chosen, model, input_example, signature)
    extra = merge_requirements([], requirements)  # validate before writing anything
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        saved = chosen.save(model, staging, input_example, serialization)
        known = saved.hashed or {}
        files: FileManifest = {rel: known.get(rel) or hash_file(staging / rel) for rel in list_files(staging)}
        if METADATA_FILE in files:
            raise InvalidInputError(f"the {chosen.name} flavor wrote a file named {METADATA_FILE}")
        metadata: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "flavor": chosen.name,
            "flavor_info": saved.info,
            "unsafe_format": saved.unsafe_format,
            "python_version": platform.python_version(),
            "requirements": merge_requirements(detect_requirements(saved.packages, model), extra or None),
            "signature": None if sig is None else sig.model_dump(mode="json", exclude_none=True),
            "run_id": run_id,
            "files": {rel: {"digest": d, "size": s} for rel, (d, s) in sorted(files.items())},
        }
        # libyaml's emitter where PyYAML has it: the same document, ~5x faster than the pure-Python one
        text = yaml.dump(metadata, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)
        (staging / METADATA_FILE).write_text(text, encoding="utf-8")
        files[METADATA_FILE] = hash_file(staging / METADATA_FILE)
        if target.exists():
            target.rmdir()  # empty (checked above); rename cannot replace it on every platform
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ModelPackage(
        flavor=chosen.name,
        signature=sig,
        unsafe_format=saved.unsafe_format,
        requirements=metadata["requirements"],
        files=dict(sorted(files.items())),
        digest=manifest_digest(files),
        metadata=metadata,
    )


def _signature(flavor: Any, model: Any, example: Any, given: Signature | dict[str, Any] | None) -> Signature | None:
    """The explicit signature, or one inferred from the example and the model's output on it."""
    if given is not None:
        if isinstance(given, Signature):
            return given
        try:
            return Signature.model_validate(given)
        except ValueError as exc:
            raise InvalidInputError(f"invalid signature: {exc}") from None
    if example is None:
        declared = flavor.default_signature(model)
        return None if declared is None else Signature.model_validate(declared)
    inputs = Signature.infer(example)
    try:
        output = flavor.sample_output(model, example)
    except ModelyardError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's model failed on the user's example
        raise InvalidInputError(
            f"the model failed to predict on input_example ({type(exc).__name__}: {exc}): give an example it accepts"
        ) from None
    try:
        return Signature(inputs=inputs.inputs, outputs=Signature.infer(output).inputs)
    except InvalidInputError:
        return inputs  # an output of no tabular or tensor kind: inputs only
