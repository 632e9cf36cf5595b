"""Pinned requirements of a model: the flavor's libraries and the packages its classes come from."""

from __future__ import annotations

import functools
import importlib.metadata
import re
import sys
from collections.abc import Iterable
from typing import Any

from modelyard.errors import InvalidInputError

__all__ = ["detect_requirements", "merge_requirements", "model_modules"]

_MAX_OBJECTS = 10_000


def model_modules(model: Any) -> set[str]:
    """Top-level modules of the classes making up ``model`` (a pipeline's steps, an ensemble's members)."""
    roots: set[str] = set()
    seen: set[int] = set()
    stack = [model]
    while stack and len(seen) < _MAX_OBJECTS:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        roots.add(type(obj).__module__.split(".")[0])
        if isinstance(obj, list | tuple):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif hasattr(obj, "get_params") and not isinstance(obj, type):
            try:
                stack.extend(obj.get_params(deep=False).values())
            except Exception:  # noqa: BLE001 - a broken get_params only hides nested packages
                pass
    return roots


_KNOWN = {
    "sklearn": ("scikit-learn",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "skl2onnx": ("skl2onnx",),
}
"""Distributions to try first for modules whose distribution has another name (or several builds)."""


@functools.cache
def _distributions() -> dict[str, list[str]]:
    # Scans every installed distribution (~0.3 s): only for modules the fast paths do not find.
    return dict(importlib.metadata.packages_distributions())


@functools.cache
def _distribution_of(module: str) -> str | None:
    if module in sys.stdlib_module_names or module in ("builtins", "__main__"):
        return None
    for candidate in _KNOWN.get(module, (module,)):
        try:
            name: str = importlib.metadata.distribution(candidate).metadata["Name"]
            return name
        except importlib.metadata.PackageNotFoundError:
            continue
    names = _distributions().get(module)
    return names[0] if names else None


@functools.cache
def _pin(distribution: str) -> str | None:
    # Cached per process, like the module -> distribution lookup (each costs ~0.5 ms of metadata
    # scanning per log_model): a distribution upgraded on disk meanwhile is not the code imported here.
    try:
        return f"{distribution}=={importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        return None


def detect_requirements(packages: Iterable[str], model: Any) -> list[str]:
    """``name==version`` pins of the distributions of ``packages`` and of ``model``'s classes.

    ``packages`` are the top-level module names the flavor needs (``sklearn``, ``xgboost``).
    Modules that come from no installed distribution (the standard library, ``__main__``, local
    code) are skipped; so is modelyard itself unless a model class comes from it.
    """
    names: dict[str, str] = {}
    for module in sorted(model_modules(model)):
        dist = _distribution_of(module)
        if dist:
            names.setdefault(_key(dist), dist)
    for module in packages:
        dist = _distribution_of(module)
        if dist:
            names.setdefault(_key(dist), dist)
    pins = (_pin(d) for d in names.values())
    return sorted((p for p in pins if p), key=str.lower)


def merge_requirements(detected: list[str], given: Iterable[str] | None) -> list[str]:
    """``detected`` with the user's ``given`` requirements added; a given one replaces a detected one.

    Raises:
        InvalidInputError: a given requirement is not a requirement string.
    """
    if given is None:
        return detected
    if isinstance(given, str):
        raise InvalidInputError(
            "requirements must be a list of requirement strings such as ['pandas>=2'], not a string"
        )
    from packaging.requirements import InvalidRequirement, Requirement

    merged = {_key(Requirement(r).name): r for r in detected}
    for requirement in given:
        try:
            name = Requirement(requirement).name if isinstance(requirement, str) else None
        except InvalidRequirement:
            name = None
        if name is None:
            raise InvalidInputError(f"invalid requirement {requirement!r}: expected e.g. 'scikit-learn==1.5.0'")
        merged[_key(name)] = requirement.strip()
    return sorted(merged.values(), key=str.lower)


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
