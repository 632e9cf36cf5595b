"""Model references in text, and the rules for model names and aliases.

Forms: ``churn`` and ``churn@latest`` (the newest READY version), ``churn@3`` (version 3),
``churn@champion`` (an alias, or an environment such as ``production``), ``churn@sha:<prefix>``
(a package digest prefix), MLflow's ``models:/churn/3``, ``models:/churn@champion`` and
``models:/churn/latest``, and ``runs:/<run id>/model`` (a package logged on a run).

Model names follow :func:`~modelyard.names.validate_name` (ASCII letters, digits, ``_ . -``: no path
characters, no look-alike Unicode) and are compared by :func:`model_key` — NFC-normalised and
case-folded — so ``Churn`` and ``churn`` are the same model.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from modelyard.errors import InvalidInputError
from modelyard.names import validate_artifact_path, validate_name, validate_run_id

__all__ = ["ModelRef", "model_key", "parse_model_ref", "validate_alias"]

MIN_SHA_PREFIX = 6
_HEX = re.compile(r"[0-9a-f]+")
_FORMS = (
    "NAME, NAME@latest, NAME@<version>, NAME@<alias>, NAME@sha:<digest prefix>, models:/NAME/<version>, "
    "models:/NAME@<alias> or runs:/<run id>/model"
)


def model_key(name: str) -> str:
    """The key two names of one model share: NFC-normalised, case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def validate_model_name(name: object) -> str:
    """Check a registered model name (the rules of project and dataset names)."""
    if isinstance(name, str) and unicodedata.normalize("NFC", name) != name:
        raise InvalidInputError(f"model name {name!r} is not in Unicode NFC form; use plain ASCII letters.")
    return validate_name(name, "model name")


def validate_alias(alias: object) -> str:
    """Check an alias: a name that is not a number and not ``latest``; returned lower-cased.

    Raises:
        InvalidInputError: naming the alias and the rule.
    """
    text = validate_name(alias, "alias")
    if text.isdigit():
        raise InvalidInputError(f"alias {text!r} is a number: aliases may not be integers (NAME@3 is version 3).")
    folded = model_key(text)
    if folded == "latest":
        raise InvalidInputError("alias 'latest' is reserved: NAME@latest always means the newest version.")
    return folded


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed model reference: a registered version selector, or a run's package."""

    name: str | None = None
    version: int | None = None
    alias: str | None = None
    sha: str | None = None
    run_id: str | None = None
    path: str | None = None
    """The artifact path of a ``runs:/`` reference (``model``)."""

    @property
    def is_run(self) -> bool:
        """Whether the reference names a run's package, not a registered version."""
        return self.run_id is not None

    def __str__(self) -> str:
        """The reference in text form."""
        if self.run_id is not None:
            return f"runs:/{self.run_id}/{self.path}"
        if self.version is not None:
            return f"{self.name}@{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        if self.sha is not None:
            return f"{self.name}@sha:{self.sha}"
        return f"{self.name}@latest"


def parse_model_ref(ref: object) -> ModelRef:
    """Parse a model reference.

    Raises:
        InvalidInputError: the reference is malformed; the message lists the accepted forms.
    """
    if not isinstance(ref, str) or not ref:
        raise InvalidInputError(f"model reference must be a non-empty string, got {ref!r}.")
    if ref.startswith("runs:/"):
        run_id, sep, path = ref.removeprefix("runs:/").partition("/")
        validate_run_id(run_id)
        return ModelRef(run_id=run_id, path=validate_artifact_path(path if sep else "model", "model path"))
    text = ref
    if ref.startswith("models:/"):
        body = ref.removeprefix("models:/")
        name, sep, rest = body.partition("/")
        if sep:
            if not rest or "/" in rest or "@" in name:
                raise InvalidInputError(f"model reference {ref!r} is invalid: use {_FORMS}.")
            text = f"{name}@{rest}"
        else:
            text = body
    name, sep, selector = text.partition("@")
    validate_model_name(name)
    if not sep or selector == "latest":
        return ModelRef(name=name)
    if selector.isascii() and selector.isdigit():
        number = int(selector)
        if number < 1 or number > 2**31 - 1:
            raise InvalidInputError(f"model version in {ref!r} must be a positive integer.")
        return ModelRef(name=name, version=number)
    if selector.startswith("sha:"):
        prefix = selector[4:].lower()
        if not _HEX.fullmatch(prefix) or not MIN_SHA_PREFIX <= len(prefix) <= 64:
            raise InvalidInputError(f"digest prefix in {ref!r} must be {MIN_SHA_PREFIX} to 64 hexadecimal characters.")
        return ModelRef(name=name, sha=prefix)
    try:
        return ModelRef(name=name, alias=validate_alias(selector))
    except InvalidInputError:
        raise InvalidInputError(f"model reference {ref!r} is invalid: use {_FORMS}.") from None
