"""Dataset references in text: ``NAME``, ``NAME@latest``, ``NAME@3``, ``NAME@sha:<digest prefix>``.

The same syntax works everywhere a dataset version is named (Python API, CLI, REST paths).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelyard.errors import InvalidInputError
from modelyard.names import validate_name

__all__ = ["DatasetRef", "MIN_SHA_PREFIX", "parse_ref"]

MIN_SHA_PREFIX = 6
"""The shortest digest prefix accepted in ``NAME@sha:<prefix>``."""

_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """A parsed reference: a dataset name and which version (the newest when neither is set)."""

    name: str
    version: int | None = None
    sha: str | None = None
    """A lowercase hex prefix of the version's digest."""

    @property
    def is_latest(self) -> bool:
        """Whether the reference means the newest live version."""
        return self.version is None and self.sha is None

    def __str__(self) -> str:
        """The reference in text form."""
        if self.version is not None:
            return f"{self.name}@{self.version}"
        if self.sha is not None:
            return f"{self.name}@sha:{self.sha}"
        return f"{self.name}@latest"


def parse_ref(ref: str, version: int | str | None = None) -> DatasetRef:
    """Parse a dataset reference; ``version`` (``"latest"``, a number or ``"sha:..."``) may be given apart.

    Raises:
        InvalidInputError: the reference is malformed, with the accepted forms.
    """
    if not isinstance(ref, str) or not ref:
        raise InvalidInputError(f"dataset reference must be a non-empty string, got {ref!r}.")
    name, sep, selector = ref.partition("@")
    if version is not None:
        if sep:
            raise InvalidInputError(f"give the version either in the reference {ref!r} or as version=, not both.")
        selector, sep = str(version), "@"
    validate_name(name, "dataset name")
    if not sep or selector == "latest":
        return DatasetRef(name)
    if selector.isdigit() and selector.isascii():
        number = int(selector)
        if number < 1 or number > 2**31 - 1:
            raise InvalidInputError(f"dataset version in {ref!r} must be a positive integer.")
        return DatasetRef(name, version=number)
    if selector.startswith("sha:"):
        prefix = selector[4:].lower()
        if not _HEX.fullmatch(prefix) or not MIN_SHA_PREFIX <= len(prefix) <= 64:
            raise InvalidInputError(f"digest prefix in {ref!r} must be {MIN_SHA_PREFIX} to 64 hexadecimal characters.")
        return DatasetRef(name, sha=prefix)
    raise InvalidInputError(
        f"dataset reference {ref!r} is invalid: use NAME, NAME@latest, NAME@<version number> "
        "or NAME@sha:<digest prefix>."
    )
