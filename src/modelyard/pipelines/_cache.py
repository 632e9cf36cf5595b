"""Cache keys of steps: code (with the local functions it calls), parameters, inputs and dependencies.

The code part hashes the step function's source and, transitively, the source of every function
or class it references by global name that is defined in user code (not the standard library, not
an installed package): editing a helper the step calls changes the key, not only editing its body.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
import sysconfig
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInputError
from modelyard.pipelines._step import Step

__all__ = ["cache_key", "code_digest", "dependency_digest"]

_code_digests: dict[Any, str] = {}
_PACKAGE = "package:"
_SYSTEM_DIRS = tuple(
    {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sysconfig.get_paths()["stdlib"]) if p}
)


def _is_user_object(obj: Any) -> bool:
    """Whether ``obj`` is a function or class defined in user code (hashed into the cache key)."""
    if isinstance(obj, Step):
        obj = obj.fn
    if not isinstance(obj, (types.FunctionType, type)):
        return False
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    if module is None or getattr(obj, "__module__", "").startswith("modelyard."):
        return False
    path = getattr(module, "__file__", None)
    if path is None:
        return obj.__module__ == "__main__"
    resolved = str(Path(path).resolve())
    return not resolved.startswith(_SYSTEM_DIRS) and "site-packages" not in resolved


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        return repr(code.co_code) if code is not None else repr(obj)


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def code_digest(fn: Callable[..., Any]) -> str:
    """Digest of ``fn``'s source plus the source of the user functions and classes it reaches."""
    cached = _code_digests.get(fn)
    if cached is not None:
        return cached
    hasher = hashlib.sha256()
    seen: set[int] = set()
    stack: list[Any] = [fn]
    while stack:
        obj = stack.pop()
        if isinstance(obj, Step):
            obj = obj.fn
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        hasher.update(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}\n".encode())
        hasher.update(_source(obj).encode())
        members: list[Any] = [obj]
        if isinstance(obj, type):
            members = [v for v in vars(obj).values() if isinstance(v, types.FunctionType)]
        for member in members:
            code = getattr(member, "__code__", None)
            if code is None:
                continue
            scope = getattr(member, "__globals__", {})
            for name in sorted(_names(code)):
                ref = scope.get(name)
                if ref is not None and _is_user_object(ref) and id(ref) not in seen:
                    stack.append(ref)
    digest = hasher.hexdigest()
    _code_digests[fn] = digest
    return digest


def _canonical(value: Any) -> Any:
    try:
        return json.dumps(value, sort_keys=True, default=_fallback)
    except (TypeError, ValueError):
        return _fallback(value)


def _fallback(value: Any) -> str:
    try:
        import cloudpickle

        return "pickle:" + hashlib.sha256(cloudpickle.dumps(value)).hexdigest()
    except Exception:  # noqa: BLE001 - unhashable constant: never equal twice, so never a false hit
        return f"repr:{type(value).__qualname__}:{id(value)}"


def cache_key(step: Step, arguments: Any, input_digests: Sequence[str], dependency_digests: Sequence[str]) -> str:
    """The cache key of one step call.

    ``arguments`` are the call's arguments with every input replaced by its output's digest.
    """
    hasher = hashlib.sha256()
    hasher.update(step.qualname.encode())
    hasher.update(code_digest(step.fn).encode())
    hasher.update(str(_canonical(arguments)).encode())
    for digest in input_digests:
        hasher.update(digest.encode())
    for digest in dependency_digests:
        hasher.update(digest.encode())
    return hasher.hexdigest()


def dependency_digest(dep: Any, resolve_dataset: Callable[[str], str] | None) -> str:
    """Digest of one declared dependency.

    A file or directory (its content), a dataset version reference (``name@3``: that version's
    digest), or an installed package (``package:scikit-learn``: its version).
    """
    if isinstance(dep, Mapping) or not isinstance(dep, (str, Path)):
        raise InvalidInputError(
            f"depends_on entries are file or directory paths or dataset references (name@3), got {dep!r}."
        )
    if isinstance(dep, str) and dep.startswith(_PACKAGE):
        return _package_digest(dep[len(_PACKAGE) :])
    path = Path(dep)
    if path.is_file():
        return _file_digest(path)
    if path.is_dir():
        hasher = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            hasher.update(str(file.relative_to(path)).encode())
            hasher.update(_file_digest(file).encode())
        return hasher.hexdigest()
    if isinstance(dep, str) and "@" in dep and resolve_dataset is not None:
        return resolve_dataset(dep)
    raise InvalidInputError(
        f"depends_on entry {str(dep)!r} is neither an existing file or directory, a dataset version "
        "reference (name@3, name@latest) nor an installed package (package:scikit-learn)."
    )


def _package_digest(name: str) -> str:
    """Digest of an installed distribution's name and version (``package:NAME`` in ``depends_on``)."""
    from importlib import metadata

    try:
        version = metadata.version(name.strip())
    except (metadata.PackageNotFoundError, ValueError):
        raise InvalidInputError(
            f"depends_on entry 'package:{name}' names no installed package; use the distribution's name "
            "as pip knows it (package:scikit-learn)."
        ) from None
    return hashlib.sha256(f"package:{name.strip().lower()}=={version}".encode()).hexdigest()


def _file_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()
