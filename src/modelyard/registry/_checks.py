"""Checks of the registry's inputs: versions, request ids, free text, flavors, JSON fields, importance, tags.

Each raises :class:`~modelyard.errors.InvalidInputError` naming the field, before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.errors import InvalidInputError
from modelyard.names import MAX_TAG_VALUE_LENGTH, validate_key

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_TEXT",
    "check_flavor",
    "check_importance",
    "check_json_object",
    "check_moment",
    "check_request_id",
    "check_requirements",
    "check_tags",
    "check_text",
    "check_version_number",
]

MAX_TEXT = 10_000
MAX_JSON_BYTES = 1024**2


def check_version_number(version: object) -> int:
    """A version number: a positive integer (or its digits)."""
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        raise InvalidInputError(f"version must be a positive integer, got {version!r}.")
    text = str(version)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 2**31 - 1:
        raise InvalidInputError(f"version must be a positive integer, got {version!r}.")
    return int(text)


def check_request_id(value: object) -> int:
    """A promotion request id: a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise InvalidInputError(f"promotion request id must be a positive integer, got {value!r}.")
    return value


def check_text(value: object, field: str) -> str:
    """A description or reason: a string of at most ``MAX_TEXT`` characters."""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InvalidInputError(f"{field} must be a string of at most {MAX_TEXT} characters.")
    return value


def check_flavor(value: object) -> str:
    """A flavor name (``sklearn``, ``python_function``, ...)."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 64
        or not value.replace("_", "").replace("-", "").isalnum()
    ):
        raise InvalidInputError(f"flavor must be a flavor name like 'sklearn', got {value!r}.")
    return value


def check_json_object(value: object, field: str) -> dict[str, Any] | None:
    """A JSON mapping (signature) of at most ``MAX_JSON_BYTES``, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{field} must be a mapping, got {type(value).__name__}.")
    try:
        text = json.dumps(dict(value), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{field} must be JSON: {exc}.") from None
    if len(text) > MAX_JSON_BYTES:
        raise InvalidInputError(f"{field} is larger than {MAX_JSON_BYTES} bytes as JSON.")
    result: dict[str, Any] = json.loads(text)
    return result


def check_importance(value: object) -> dict[str, dict[str, float]] | None:
    """Feature importance: feature -> {statistic: number}, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"importance must map feature -> {{statistic: number}}, got {type(value).__name__}.")
    out: dict[str, dict[str, float]] = {}
    for feature, stats in value.items():
        if not isinstance(feature, str) or not isinstance(stats, Mapping):
            raise InvalidInputError(f"importance of {feature!r} must map statistic names to numbers.")
        try:
            out[feature] = {str(k): float(v) for k, v in stats.items()}
        except (TypeError, ValueError):
            raise InvalidInputError(f"importance of {feature!r} must map statistic names to numbers.") from None
    check_json_object(out, "importance")
    return out


def check_requirements(value: object) -> list[str]:
    """Pinned requirements: a list of strings."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInputError(f"requirements must be a list of strings, got {value!r}.")
    if not all(isinstance(r, str) and 0 < len(r) <= 500 for r in value) or len(value) > 1000:
        raise InvalidInputError("requirements must be at most 1000 strings like 'scikit-learn==1.5.2'.")
    return list(value)


def check_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Model tags: valid keys, string values of bounded length."""
    if not isinstance(tags, Mapping):
        raise InvalidInputError(f"tags must be a mapping of key to value, got {type(tags).__name__}.")
    out = {}
    for key, value in tags.items():
        validate_key(key, "tag")
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_TAG_VALUE_LENGTH:
            raise InvalidInputError(f"tag {key!r} is longer than {MAX_TAG_VALUE_LENGTH} characters.")
        out[key] = text
    return out


def check_moment(value: object, field: str) -> int | None:
    """A moment in epoch milliseconds (``None`` allowed)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**62:
        raise InvalidInputError(f"{field} must be a time in epoch milliseconds, got {value!r}.")
    return value
