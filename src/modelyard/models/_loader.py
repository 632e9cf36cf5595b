"""Verified loading of model packages: digests first, trust second, deserialisation last.

:func:`load_model` hashes every file and checks it against the registry's manifest (when given) and
against ``model.yaml`` before any model file is opened by a deserialiser; then it refuses an
``unsafe_format`` (pickle) package unless trusted; only then does the flavor load the model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from modelyard.errors import InvalidInputError, ModelIntegrityError, UntrustedModelError
from modelyard.models._manifest import verify_files
from modelyard.models._package import FORMAT_VERSION, METADATA_FILE
from modelyard.models._signature import Signature
from modelyard.models._types import FileManifest
from modelyard.models.flavors import Flavor, get_flavor

__all__ = ["LoadedModel", "load_model", "read_metadata"]


class LoadedModel:
    """A loaded model behind one interface, whatever its flavor.

    Attributes:
        flavor: the flavor's name.
        signature: the signature from ``model.yaml`` (``None`` if the package has none).
        raw: the underlying model object (estimator, module, booster, session wrapper, ...).
        metadata: the content of ``model.yaml``.
        path: the package directory it was loaded from.
    """

    def __init__(
        self, flavor: Flavor, raw: Any, signature: Signature | None, metadata: dict[str, Any], path: Path
    ) -> None:
        self._flavor = flavor
        self.flavor = flavor.name
        self.raw = raw
        self.signature = signature
        self.metadata = metadata
        self.path = path

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.flavor!r}, raw={type(self.raw).__name__})"

    def _enforce(self, data: Any) -> Any:
        return data if self.signature is None else self.signature.enforce(data)

    def predict(self, data: Any) -> Any:
        """Predictions for ``data`` (DataFrame, array, or dict of tensors), checked against the signature.

        Raises:
            SignatureMismatchError: ``data`` does not match the signature (the column and expected type named).
        """
        return self._flavor.predict(self.raw, self._enforce(data))

    @property
    def has_predict_proba(self) -> bool:
        """Whether the model gives class probabilities."""
        return self._flavor.has_predict_proba(self.raw)

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities for ``data``, checked against the signature.

        Raises:
            InvalidInputError: the model gives no probabilities (it is no probabilistic classifier).
            SignatureMismatchError: ``data`` does not match the signature.
        """
        if not self.has_predict_proba:
            raise InvalidInputError(
                f"this {self.flavor} model ({type(self.raw).__name__}) has no predict_proba: call predict instead"
            )
        return self._flavor.predict_proba(self.raw, self._enforce(data))


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``model.yaml`` of the package at ``path`` (not verified: use :func:`load_model` to load).

    Raises:
        ModelIntegrityError: ``model.yaml`` is missing or is not a valid package description.
    """
    file = Path(path) / METADATA_FILE
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelIntegrityError(
            f"{str(path)!r} is no model package: it has no {METADATA_FILE}", METADATA_FILE
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelIntegrityError(f"{METADATA_FILE} is not valid YAML: {exc}", METADATA_FILE) from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("files"), dict):
        raise ModelIntegrityError(
            f"{METADATA_FILE} does not describe a model package (no 'files' mapping)", METADATA_FILE
        )
    return loaded


def load_model(
    path: str | os.PathLike[str],
    *,
    trust: bool = False,
    expected_files: Mapping[str, tuple[str, int]] | None = None,
) -> LoadedModel:
    """Load the model package at ``path`` after verifying every file.

    Args:
        path: the package directory.
        trust: allow ``unsafe_format`` packages (pickle, joblib, full PyTorch modules). Only pass it
            for packages from a source you trust: unpickling runs arbitrary code.
        expected_files: the manifest the package must match exactly (the registry's record of the
            version, ``model.yaml`` included), same shape as :attr:`ModelPackage.files`.

    Raises:
        ModelIntegrityError: a file is tampered with, missing or extra (the file is named); nothing
            was deserialised.
        UntrustedModelError: the package needs pickle and ``trust`` is false.
        InvalidInputError: the flavor is unknown or the package's format is newer than this modelyard.
        FlavorUnavailableError: the flavor's library is not installed (the extra is named).
    """
    directory = Path(path)
    if not directory.is_dir():
        raise InvalidInputError(f"no model package at {str(directory)!r}: expected a directory holding {METADATA_FILE}")
    hashed: FileManifest | None = None
    if expected_files is not None:
        hashed = verify_files(directory, expected_files, "the registry's manifest")
    metadata = read_metadata(directory)
    verify_files(
        directory, _yaml_manifest(metadata), METADATA_FILE, also_allowed=frozenset({METADATA_FILE}), hashed=hashed
    )
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InvalidInputError(
            f"model package format {version!r} is newer than this modelyard reads ({FORMAT_VERSION}): upgrade modelyard"
        )
    flavor = get_flavor(str(metadata.get("flavor")))
    if metadata.get("unsafe_format") is not False and not trust:
        raise UntrustedModelError(
            f"this {flavor.name} model package needs pickle to load, and unpickling runs arbitrary code: "
            "load it from the registry (a version registered by a user with write access to its project), "
            "or pass trust=True if you trust where the files came from"
        )
    info = metadata.get("flavor_info") or {}
    if not isinstance(info, dict):
        raise InvalidInputError(f"{METADATA_FILE}: flavor_info must be a mapping")
    sig = metadata.get("signature")
    try:
        signature = None if sig is None else Signature.model_validate(sig)
    except ValueError as exc:
        raise InvalidInputError(f"{METADATA_FILE} has an invalid signature: {exc}") from None
    raw = flavor.load(directory, info, trust=trust)
    return LoadedModel(flavor, raw, signature, metadata, directory)


def _yaml_manifest(metadata: dict[str, Any]) -> FileManifest:
    files: FileManifest = {}
    for rel, entry in metadata["files"].items():
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("digest"), str)
            or not isinstance(entry.get("size"), int)
        ):
            raise ModelIntegrityError(f"{METADATA_FILE} lists file {rel!r} without a digest and size", str(rel))
        if str(rel) == METADATA_FILE or ".." in str(rel).split("/") or str(rel).startswith("/"):
            raise ModelIntegrityError(f"{METADATA_FILE} lists an invalid file path {rel!r}", str(rel))
        files[str(rel)] = (entry["digest"], entry["size"])
    return files
