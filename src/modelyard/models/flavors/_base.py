"""The flavor protocol: how one kind of model is saved, loaded and asked for predictions.

A flavor writes its files into a package directory and returns :class:`SavedFlavor` (the load info
that goes into ``model.yaml``, whether loading needs pickle, the distributions to pin); it loads the
raw model back from the same directory and that load info. Flavors import their library lazily, only
when used, and say which extra to install when it is missing.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, NamedTuple

from modelyard.errors import FlavorUnavailableError, InvalidInputError, UntrustedModelError

__all__ = ["Flavor", "SavedFlavor", "import_optional", "module_loaded_instance", "require_trust"]


class SavedFlavor(NamedTuple):
    """What a flavor's ``save`` tells the package.

    Attributes:
        info: flavor-specific load info, stored in ``model.yaml`` (JSON-compatible values only).
        unsafe_format: whether loading the files needs pickle (so trust is required).
        packages: top-level modules the files need at load time; their distributions are pinned.
        hashed: digests and sizes of files the flavor hashed while writing them (the package
            hashes the others).
    """

    info: dict[str, Any]
    unsafe_format: bool
    packages: tuple[str, ...]
    hashed: dict[str, tuple[str, int]] | None = None


def import_optional(module: str, *, flavor: str, extra: str | None) -> Any:
    """Import ``module`` for ``flavor``, or raise an error that names the extra to install.

    Raises:
        FlavorUnavailableError: the library is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        fix = f"pip install 'modelyard[{extra}]'" if extra else f"pip install {module.split('.')[0]}"
        raise FlavorUnavailableError(
            f"the {flavor!r} model flavor needs {module.split('.')[0]!r}, which is not installed: run {fix}"
        ) from exc


def require_trust(trust: bool, file: str) -> None:
    """Refuse to unpickle ``file`` unless trusted — checked again by each flavor, not only from ``model.yaml``.

    A package whose ``model.yaml`` was edited to claim ``unsafe_format: false`` still cannot reach
    pickle without trust.

    Raises:
        UntrustedModelError: ``trust`` is false.
    """
    if not trust:
        raise UntrustedModelError(
            f"{file} is a pickle-based file and unpickling runs arbitrary code: load the package from the registry, "
            "or pass trust=True if you trust where the files came from"
        )


def module_loaded_instance(model: Any, module: str, qualname: str) -> bool:
    """Whether ``model`` is an instance of ``module.qualname`` — without importing ``module``.

    A model can only be an instance of a class whose module is already imported, so detection never
    pays for importing an optional library.
    """
    loaded = sys.modules.get(module)
    if loaded is None:
        return False
    cls: Any = loaded
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            return False
    return isinstance(model, cls)


class Flavor:
    """Base of the flavors: one kind of model, saved, loaded and asked for predictions.

    Subclasses set :attr:`name` and :attr:`extra` and implement :meth:`detects`, :meth:`save` and
    :meth:`load`; :meth:`predict` and :meth:`predict_proba` default to the raw model's methods.
    """

    name: str = ""
    """The flavor's name in ``model.yaml``."""
    extra: str | None = None
    """The pyproject extra that installs the flavor's library (``None`` for built-in flavors)."""
    serializations: tuple[str, ...] = ()
    """Serializations a caller may ask for with ``save_model(serialization=...)``."""

    def detects(self, model: Any) -> bool:
        """Whether this flavor handles ``model`` (used when no flavor is named)."""
        raise NotImplementedError

    def save(
        self, model: Any, directory: Path, input_example: Any = None, serialization: str | None = None
    ) -> SavedFlavor:
        """Write ``model``'s files into ``directory`` (which exists and is empty).

        ``serialization`` is one of :attr:`serializations`, or ``None`` for the flavor's choice.
        """
        raise NotImplementedError

    def load(self, directory: Path, info: dict[str, Any], *, trust: bool) -> Any:
        """Load the raw model from a verified package ``directory`` and its load ``info``."""
        raise NotImplementedError

    def predict(self, raw: Any, data: Any) -> Any:
        """Predictions of the raw model on already-enforced ``data``."""
        return raw.predict(data)

    def default_signature(self, model: Any) -> dict[str, Any] | None:
        """A signature (as a dict) the model itself declares, used when no example is given."""
        return None

    def sample_output(self, model: Any, example: Any) -> Any:
        """The output of the (unsaved) ``model`` on ``example``, to infer the signature's outputs."""
        return self.predict(model, example)

    def has_predict_proba(self, raw: Any) -> bool:
        """Whether the raw model can give class probabilities."""
        return callable(getattr(raw, "predict_proba", None))

    def predict_proba(self, raw: Any, data: Any) -> Any:
        """Class probabilities of the raw model on already-enforced ``data``.

        Raises:
            InvalidInputError: the model gives no probabilities.
        """
        if not self.has_predict_proba(raw):
            raise InvalidInputError(
                f"this {self.name!r} model ({type(raw).__name__}) has no predict_proba: "
                "it is not a probabilistic classifier; call predict instead"
            )
        return raw.predict_proba(data)
