"""What ``data.add`` reads: a file, a directory, a glob, or a DataFrame written to Parquet.

Every source becomes a list of :class:`SourceFile` (absolute path, relative forward-slash path in the
version, stat), checked before anything is stored: a missing source, a special file, or a path the
store would refuse is an error naming it, and nothing is written. Files that will be read (those the
stat cache does not know) are checked to be readable by :func:`check_readable`, also before anything
is stored.
"""

from __future__ import annotations

import glob
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.data._digests import gc_paused, is_plain_path
from modelyard.data._statcache import FileStat, file_stat
from modelyard.errors import InvalidInputError
from modelyard.names import validate_artifact_path

__all__ = ["FRAME_FILE", "SKIPPED_DIRS", "SourceFile", "check_readable", "is_dataframe", "open_source"]

FRAME_FILE = "data.parquet"
"""The file name a DataFrame is stored under."""

SKIPPED_DIRS = frozenset({".git", ".modelyard"})
"""Directories never added: version control data, and a modelyard store itself."""

_MAGIC = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file to add: where it is, its path inside the version, and its stat when listed."""

    path: str
    rel: str
    stat: FileStat


def is_dataframe(source: object) -> bool:
    """Whether ``source`` is a pandas or polars DataFrame."""
    module = type(source).__module__.split(".", 1)[0]
    return module in ("pandas", "polars") and type(source).__name__ == "DataFrame"


@contextmanager
def open_source(source: Any) -> Iterator[tuple[list[SourceFile], bool]]:
    """List the files of ``source``; yields them and whether they were written from a DataFrame.

    A DataFrame is written to a temporary ``data.parquet`` that lives until the block ends.

    Raises:
        InvalidInputError: the source does not exist, matches no file, or holds a file that cannot
            be read or stored.
    """
    if is_dataframe(source):
        with tempfile.TemporaryDirectory(prefix="modelyard-frame-") as tmp:
            target = os.path.join(tmp, FRAME_FILE)
            _write_parquet(source, target)
            yield [_source_file(target, FRAME_FILE)], True
        return
    if not isinstance(source, str | os.PathLike):
        raise InvalidInputError(
            f"cannot add a {type(source).__name__}: give a file, a directory, a glob or a pandas/polars DataFrame."
        )
    yield _list(os.fspath(source)), False


def _write_parquet(frame: Any, target: str) -> None:
    try:
        if type(frame).__module__.startswith("polars"):
            frame.write_parquet(target)
        else:
            frame.to_parquet(target, index=False)
    except ImportError as exc:
        raise InvalidInputError(f"storing a DataFrame needs pyarrow: pip install pyarrow ({exc}).") from None


def _list(source: str) -> list[SourceFile]:
    if os.path.isdir(source):
        with gc_paused():
            files = [_source_file(path, rel) for path, rel in _walk(os.path.abspath(source))]
        if not files:
            raise InvalidInputError(f"directory {source} holds no file to add.")
        return files
    if os.path.lexists(source) and not os.path.isdir(source):
        return [_source_file(os.path.abspath(source), os.path.basename(os.path.abspath(source)))]
    if _MAGIC & set(source):
        return _glob(source)
    raise InvalidInputError(f"cannot add {source}: no such file or directory.")


def _walk(root: str) -> Iterator[tuple[str, str]]:
    """Files under ``root`` (symlinks to files followed, symlinked directories not), with relative paths."""
    stack = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise InvalidInputError(f"cannot read directory {directory}: {exc.strerror or exc}.") from None
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIPPED_DIRS:
                    stack.append((entry.path, rel + "/"))
            else:
                yield entry.path, rel


def _glob(pattern: str) -> list[SourceFile]:
    parts = Path(pattern).parts
    base_parts: list[str] = []
    for part in parts:
        if _MAGIC & set(part):
            break
        base_parts.append(part)
    base = os.path.abspath(os.path.join(*base_parts)) if base_parts else os.getcwd()
    files = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        if os.path.isdir(match):
            continue
        path = os.path.abspath(match)
        files.append(_source_file(path, os.path.relpath(path, base).replace(os.sep, "/")))
    if not files:
        raise InvalidInputError(f"no file matches {pattern}.")
    return files


def check_readable(files: Iterable[SourceFile]) -> None:
    """Check that the files about to be read can be, before anything is stored.

    Raises:
        InvalidInputError: naming the first file that cannot be read.
    """
    for f in files:
        if not os.access(f.path, os.R_OK):
            raise InvalidInputError(f"cannot read {f.path}: permission denied.")


def _source_file(path: str, rel: str) -> SourceFile:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInputError(f"cannot add {path}: not a regular file.")
    if not is_plain_path(rel):
        validate_artifact_path(rel, "dataset file path")  # the full check, for anything unusual
    return SourceFile(path, rel, file_stat(st))
