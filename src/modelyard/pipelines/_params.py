"""Typed pipeline parameters: read from the function's signature, validated and coerced before a run.

Values from the command line arrive as strings and are parsed by the declared type (``int``,
``float``, ``bool``, ``str``, ``list``/``dict`` as JSON). A value is only ever data: nothing in it
is evaluated or handed to a shell.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.errors import InvalidPipelineError

__all__ = ["Param", "ParamSpec"]

_NO_DEFAULT = inspect.Parameter.empty
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One parameter: its name, type (``None`` when unannotated) and default."""

    name: str
    type: Any
    default: Any
    optional: bool

    @property
    def required(self) -> bool:
        """Whether the parameter has no default."""
        return self.default is _NO_DEFAULT

    def describe(self) -> dict[str, Any]:
        """The parameter as JSON (for ``--json`` listings)."""
        return {
            "name": self.name,
            "type": getattr(self.type, "__name__", None if self.type is None else str(self.type)),
            "default": None if self.required else self.default,
            "required": self.required,
        }


class ParamSpec:
    """The parameters of a pipeline function."""

    def __init__(self, pipeline: str, fn: Callable[..., Any]) -> None:
        """Read the parameters of ``fn`` (positional-or-keyword or keyword-only, no ``*args``)."""
        self.pipeline = pipeline
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # noqa: BLE001 - annotations naming unknown types: treat as unannotated
            hints = {}
        self.params: dict[str, Param] = {}
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
                raise InvalidPipelineError(
                    f"pipeline {pipeline!r}: parameter {p.name!r} must be a plain named parameter "
                    "(no *args, **kwargs or positional-only)."
                )
            kind, optional = _unwrap(hints.get(p.name))
            self.params[p.name] = Param(p.name, kind, p.default, optional or p.default is None)

    @property
    def all_defaulted(self) -> bool:
        """Whether every parameter has a default (the pipeline can be traced without arguments)."""
        return all(not p.required for p in self.params.values())

    def defaults(self) -> dict[str, Any]:
        """The default value of every parameter that has one."""
        return {p.name: p.default for p in self.params.values() if not p.required}

    def coerce(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validate ``values`` (strings from the CLI are parsed) and fill in defaults.

        Raises:
            InvalidPipelineError: an unknown or missing parameter, or a value of the wrong type
                (the message names the parameter and the expected type).
        """
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise InvalidPipelineError(
                f"pipeline {self.pipeline!r} has no parameter {unknown[0]!r}; its parameters are: {known}."
            )
        out: dict[str, Any] = {}
        for param in self.params.values():
            if param.name not in values:
                if param.required:
                    raise InvalidPipelineError(
                        f"pipeline {self.pipeline!r} needs parameter {param.name!r}: pass it with "
                        f"params={{{param.name!r}: ...}} or `-p {param.name}=VALUE`."
                    )
                out[param.name] = param.default
                continue
            out[param.name] = self._coerce_one(param, values[param.name])
        return out

    def _coerce_one(self, param: Param, value: Any) -> Any:
        kind = param.type
        if value is None and param.optional:
            return None
        if kind is None or kind is Any:
            return value
        try:
            if isinstance(value, str) and kind is not str:
                return _parse(kind, value)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            if kind in (int, float) and isinstance(value, bool):
                raise TypeError
            if isinstance(kind, type) and not isinstance(value, kind):
                raise TypeError
            return value
        except (TypeError, ValueError):
            name = getattr(kind, "__name__", str(kind))
            raise InvalidPipelineError(
                f"pipeline {self.pipeline!r}: parameter {param.name!r} must be {name}, got {value!r}."
            ) from None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Reduce ``X | None`` / ``Optional[X]`` to ``(X, True)``; generics to their origin."""
    if annotation is None:
        return None, False
    optional = False
    args = typing.get_args(annotation)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        optional = True
        annotation = rest[0] if len(rest) == 1 else None
    origin = typing.get_origin(annotation)
    if origin in (list, dict, tuple):
        annotation = origin
    if (
        annotation is not None
        and annotation not in (int, float, bool, str, list, dict, tuple)
        and annotation is not Any
    ):
        annotation = None  # types we do not coerce are passed through as given
    return annotation, optional


def _parse(kind: Any, text: str) -> Any:
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(text)
    if kind is int:
        return int(text.strip())
    if kind is float:
        return float(text.strip())
    if kind in (list, dict, tuple):
        value = json.loads(text)
        if kind is tuple and isinstance(value, list):
            return tuple(value)
        if not isinstance(value, kind):
            raise ValueError(text)
        return value
    raise ValueError(text)
