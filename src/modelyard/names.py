"""Validation of user-chosen names: projects, runs, metric/param/tag keys and artifact paths.

Every check raises :class:`~modelyard.errors.InvalidInputError` with a message that names the
field, says what is wrong and how to fix it. Nothing is written before these checks pass.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from modelyard.errors import InvalidInputError, RunNotFoundError
from modelyard.ids import is_run_id

__all__ = [
    "MAX_ARTIFACT_PATH_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_PATH_SEGMENT_BYTES",
    "MAX_TAG_VALUE_LENGTH",
    "validate_artifact_path",
    "validate_key",
    "validate_name",
    "validate_run_id",
    "validate_run_name",
    "value_text",
]

MAX_NAME_LENGTH = 128
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_ARTIFACT_PATH_LENGTH = 4096
MAX_PATH_SEGMENT_BYTES = 255  # NAME_MAX of common filesystems: a longer name cannot be downloaded
_MAX_DECODINGS = 8

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# Keys may be namespaced with "/" (``system/cpu_percent``) and contain spaces, as in MLflow.
_KEY = re.compile(r"^[A-Za-z0-9_\-. /:]+$")


def validate_name(value: object, field: str = "name") -> str:
    """Check an object name (project, dataset, model): letters, digits, ``_ . -``.

    Raises:
        InvalidInputError: naming ``field`` and the rule.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{field} must be a non-empty string, got {value!r}.")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"{field} {value[:40]!r}... is longer than {MAX_NAME_LENGTH} characters; use a shorter name."
        )
    if not _NAME.match(value):
        raise InvalidInputError(
            f"{field} {value!r} is invalid: use letters, digits, '_', '.' and '-', starting with a letter or digit."
        )
    return value


def validate_run_name(value: object) -> str:
    """Check a run name: any printable text up to 250 characters (names need not be unique)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"run name must be a non-empty string, got {value!r}.")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidInputError(f"run name is longer than {MAX_KEY_LENGTH} characters; use a shorter name.")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidInputError(f"run name {value!r} contains control characters; remove them.")
    return value


def validate_key(value: object, kind: str = "metric") -> str:
    """Check a metric, param or tag key.

    Keys use letters, digits, ``_ - . / :`` and spaces, at most 250 characters, and may not
    contain ``..`` path segments or start with ``/``.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{kind} key must be a non-empty string, got {value!r}.")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidInputError(f"{kind} key {value[:40]!r}... is longer than {MAX_KEY_LENGTH} characters.")
    if not _KEY.match(value) or value.startswith("/") or ".." in value.split("/"):
        raise InvalidInputError(
            f"{kind} key {value!r} is invalid: use letters, digits, spaces and '_ - . / :' "
            "(no leading '/', no '..' segment)."
        )
    return value


def validate_run_id(value: object) -> str:
    """Check a run id (32 lowercase hex characters).

    Raises:
        RunNotFoundError: a malformed id can name no run.
    """
    if not is_run_id(value):
        raise RunNotFoundError(f"No run with id {value!r}: run ids are 32 lowercase hex characters.")
    assert isinstance(value, str)
    return value


def validate_artifact_path(value: object, field: str = "artifact path") -> str:
    """Check and normalise a relative artifact path.

    Rejects absolute paths, drive letters, backslashes, ``..`` segments in any encoding
    (percent-encoded, double-encoded, or segments of dots and spaces that Windows reads as ``..``),
    NUL and control characters, and paths too long for a filesystem. Returns the path with
    redundant ``./`` segments and slashes removed.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{field} must be a non-empty string, got {value!r}.")
    if len(value) > MAX_ARTIFACT_PATH_LENGTH:
        raise InvalidInputError(
            f"{field} {value[:40]!r}... is longer than {MAX_ARTIFACT_PATH_LENGTH} characters; use a shorter path."
        )
    decoded = value
    for _ in range(_MAX_DECODINGS):  # percent-decode until nothing changes: any depth of encoding
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        raise InvalidInputError(f"{field} {value!r} is percent-encoded too many times; send it decoded.")
    problem = None
    segments = decoded.split("/")
    if any(unicodedata.category(ch) == "Cc" for ch in decoded):
        problem = "contains NUL or control characters"
    elif "\\" in decoded:
        problem = "contains a backslash; use '/'"
    elif decoded.startswith("/") or re.match(r"^[A-Za-z]:", decoded):
        problem = "is absolute; use a path relative to the run's artifact root"
    elif ".." in segments:
        problem = "contains a '..' segment"
    elif any(seg != "." and seg and not seg.strip(". ") for seg in segments):
        problem = "has a name made only of dots and spaces (Windows reads '...' and '.. ' as '..')"
    elif any(len(seg.encode()) > MAX_PATH_SEGMENT_BYTES for seg in segments):
        problem = f"has a file or directory name longer than {MAX_PATH_SEGMENT_BYTES} bytes"
    if problem:
        raise InvalidInputError(f"{field} {value!r} {problem}.")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if not parts:
        raise InvalidInputError(f"{field} {value!r} names no file.")
    return "/".join(parts)


def value_text(value: object) -> str:
    """The text stored for a param or tag value: ``str(value)``, but ``1.0`` stays ``"1.0"``."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return str(value)
