"""The scikit-learn flavor: estimators and pipelines, saved with skops when it can, joblib otherwise.

skops writes a zip of numpy arrays and a JSON description of the object tree: loading it never runs
pickle. joblib is pickle: its packages are ``unsafe_format`` and load only when trusted (from the
registry, or with ``trust=True``).

Choice of serialization (``serialization=None``, the default):

1. The model is written with joblib through a hashing writer — one pass, digest included.
2. If that file is at most :data:`SKOPS_MAX_BYTES`, the model is also written with skops; when
   skops can represent it using only types of scikit-learn, numpy and scipy, the skops file
   replaces the joblib file and the package is safe. Otherwise (a user-defined transformer, a
   lambda) the joblib file stays.

Why the size limit: skops writes about 4x slower than joblib (100 MB RandomForest: ~290 ms vs
~75 ms on the reference machine) and must re-read its file to list the types it needs, so a large
model saved with skops could never meet the packaging target (at most 1.5x a plain
``joblib.dump``). Below the limit the extra cost is tens of milliseconds. ``serialization="skops"``
forces skops at any size (an error if skops cannot represent the model safely);
``serialization="joblib"`` forces joblib.

Loading a skops file passes an explicit ``trusted`` list: the types the file needs, recomputed from
the file itself (never read from ``model.yaml``), each checked against :data:`TRUSTED_PREFIXES`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInputError, UntrustedModelError
from modelyard.models._manifest import HashingWriter
from modelyard.models.flavors._base import (
    Flavor,
    SavedFlavor,
    import_optional,
    module_loaded_instance,
    require_trust,
)

__all__ = [
    "JOBLIB_FILE",
    "SKOPS_FILE",
    "SKOPS_MAX_BYTES",
    "SklearnFlavor",
    "TRUSTED_PREFIXES",
    "untrusted_outside_allowlist",
]

SKOPS_FILE = "model.skops"
JOBLIB_FILE = "model.joblib"

SKOPS_MAX_BYTES = 32 * 1024 * 1024
"""Models whose joblib file is larger are kept in joblib unless skops is asked for."""

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
"""Modules whose types a skops file may need and still load without ``trust=True``.

skops only rebuilds these objects from their state (``__new__`` + ``__setstate__`` or a known
reducer), so trusting types of these libraries does not let a file run arbitrary code.
"""


def untrusted_outside_allowlist(types: list[str]) -> list[str]:
    """The types of ``types`` not covered by :data:`TRUSTED_PREFIXES`."""
    return [t for t in types if not t.startswith(TRUSTED_PREFIXES)]


class SklearnFlavor(Flavor):
    """scikit-learn estimators and pipelines (``predict_proba`` when the estimator has it)."""

    name = "sklearn"
    extra = None
    serializations = ("joblib", "skops")

    def detects(self, model: Any) -> bool:
        """Whether ``model`` is a scikit-learn estimator (a ``BaseEstimator``)."""
        return module_loaded_instance(model, "sklearn.base", "BaseEstimator")

    def save(
        self, model: Any, directory: Path, input_example: Any = None, serialization: str | None = None
    ) -> SavedFlavor:
        """Write ``model.skops`` or ``model.joblib`` (see the module docstring for the choice).

        Raises:
            InvalidInputError: ``serialization="skops"`` and skops cannot represent the model safely.
        """
        skops_path = directory / SKOPS_FILE
        if serialization == "skops":
            problem = _dump_skops(model, skops_path)
            if problem:
                skops_path.unlink(missing_ok=True)
                raise InvalidInputError(f"cannot save this model with skops: {problem}; use serialization='joblib'")
            return _skops_saved()
        import joblib

        with HashingWriter(directory / JOBLIB_FILE) as writer:
            joblib.dump(model, writer)
            digest, size = writer.close()
        if serialization is None and size <= SKOPS_MAX_BYTES:
            if _dump_skops(model, skops_path) is None:
                (directory / JOBLIB_FILE).unlink()
                return _skops_saved()
            skops_path.unlink(missing_ok=True)
        info = {"format": "joblib", "file": JOBLIB_FILE}
        return SavedFlavor(info, True, ("sklearn", "joblib"), {JOBLIB_FILE: (digest, size)})

    def load(self, directory: Path, info: dict[str, Any], *, trust: bool) -> Any:
        """Load the estimator: skops with an explicit trusted list, or joblib (only when trusted)."""
        fmt = info.get("format")
        if fmt == "joblib":
            require_trust(trust, JOBLIB_FILE)
            import joblib

            return joblib.load(directory / JOBLIB_FILE)
        if fmt != "skops":
            raise InvalidInputError(f"unknown sklearn model format {fmt!r} in model.yaml: expected 'skops' or 'joblib'")
        sio = import_optional("skops.io", flavor=self.name, extra=None)
        path = directory / SKOPS_FILE
        needed: list[str] = list(sio.get_untrusted_types(file=path))
        outside = untrusted_outside_allowlist(needed)
        if outside and not trust:
            raise UntrustedModelError(
                f"the skops file {SKOPS_FILE} needs types outside scikit-learn, numpy and scipy: "
                f"{', '.join(outside)}; load it with trust=True only if you trust where it came from"
            )
        return sio.load(path, trusted=needed)


def _skops_saved() -> SavedFlavor:
    return SavedFlavor({"format": "skops", "file": SKOPS_FILE}, False, ("sklearn", "skops"))


def _dump_skops(model: Any, path: Path) -> str | None:
    """Write ``model`` with skops; ``None`` on success, else why the file is not usable without trust."""
    try:
        import skops.io as sio
    except ImportError:  # skops is a core dependency, but a stripped install falls back to joblib
        return "skops is not installed"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skops warns about types it will ask to trust
            sio.dump(model, path)
        needed = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - anything skops cannot represent goes to joblib
        return f"skops cannot represent it ({type(exc).__name__}: {exc})"
    outside = untrusted_outside_allowlist(list(needed))
    return f"it needs types outside scikit-learn, numpy and scipy: {', '.join(outside)}" if outside else None
