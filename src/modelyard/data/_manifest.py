"""Version manifests: checking file lists, the version digest, and selecting files by glob.

A version's digest is the BLAKE3 of its manifest, one ``path<TAB>digest<TAB>size<LF>`` line per file
sorted by path, so the same files under the same paths always give the same digest, wherever and
however they were added.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any

import blake3

from modelyard.blobs import check_digest
from modelyard.entities import DatasetFile
from modelyard.errors import InvalidInputError
from modelyard.names import validate_artifact_path

__all__ = ["MAX_FILES", "check_files", "digest_of_entries", "manifest_digest", "select_files"]

MAX_FILES = 1_000_000
"""The most files one version may hold."""


def manifest_digest(files: Iterable[DatasetFile]) -> str:
    """The digest of a version with these files (order does not matter)."""
    return digest_of_entries((f.path, f.digest, f.size) for f in files)


def digest_of_entries(entries: Iterable[tuple[str, str, int]]) -> str:
    """:func:`manifest_digest` of ``(path, digest, size)`` tuples."""
    lines = "".join(f"{path}\t{digest}\t{size}\n" for path, digest, size in sorted(entries))
    return blake3.blake3(lines.encode()).hexdigest()


def check_files(files: Sequence[Any]) -> list[DatasetFile]:
    """Validate a manifest: relative paths (no traversal), digests, sizes, no duplicates; sorted by path.

    Raises:
        InvalidInputError: the manifest is empty, too long, or names a file twice or badly.
    """
    if not files:
        raise InvalidInputError("a dataset version needs at least one file.")
    if len(files) > MAX_FILES:
        raise InvalidInputError(f"a dataset version holds at most {MAX_FILES} files, got {len(files)}.")
    checked: dict[str, DatasetFile] = {}
    for item in files:
        f = item if isinstance(item, DatasetFile) else DatasetFile.model_validate(item)
        path = validate_artifact_path(f.path, "dataset file path")
        check_digest(f.digest)
        if not isinstance(f.size, int) or f.size < 0:
            raise InvalidInputError(f"dataset file {path!r} has an invalid size {f.size!r}.")
        if path in checked:
            raise InvalidInputError(f"dataset file path {path!r} appears twice; each path names one file.")
        checked[path] = DatasetFile.model_construct(path=path, size=f.size, digest=f.digest)
    _check_no_file_is_a_directory(checked)
    return [checked[p] for p in sorted(checked)]


def _check_no_file_is_a_directory(files: dict[str, DatasetFile]) -> None:
    """A path cannot be both a file and a directory of other files (it could not be materialised)."""
    for path in files:
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in files:
                raise InvalidInputError(f"dataset file path {parent!r} is also the directory of {path!r}.")


def select_files(files: Sequence[DatasetFile], include: str | Sequence[str] | None) -> list[DatasetFile]:
    """The files matching ``include``: glob patterns on the relative path, or a directory prefix.

    ``*`` matches across ``/`` (``*.csv`` selects CSV files at any depth); ``images/`` or
    ``images`` selects everything under that directory. ``None`` selects every file.
    """
    if include is None:
        return list(files)
    patterns = [include] if isinstance(include, str) else list(include)
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise InvalidInputError("include must be a non-empty glob pattern (or a list of them).")

    def matches(path: str) -> bool:
        for pattern in patterns:
            prefix = pattern.rstrip("/")
            if fnmatch.fnmatchcase(path, pattern) or path.startswith(prefix + "/"):
                return True
            if "/" not in pattern and fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern):
                return True
        return False

    return [f for f in files if matches(f.path)]
