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
from modelyard.data._digests import digest_of_entries, gc_paused, is_plain_path
from modelyard.entities import DatasetFile
from modelyard.errors import InvalidInputError
from modelyard.names import validate_artifact_path

__all__ = [
    "CheckedFiles",
    "MAX_FILES",
    "check_files",
    "digest_of_entries",
    "files_of_entries",
    "gc_paused",
    "is_plain_path",
    "manifest_digest",
    "manifest_text",
    "parse_manifest",
    "select_files",
]

MAX_FILES = 1_000_000
"""The most files one version may hold."""


def manifest_digest(files: Iterable[DatasetFile]) -> str:
    """The digest of a version with these files (order does not matter)."""
    if isinstance(files, CheckedFiles):
        return files.digest
    return digest_of_entries((f.path, f.digest, f.size) for f in files)


def manifest_text(files: Iterable[DatasetFile]) -> bytes:
    """The canonical manifest of these files: the bytes whose BLAKE3 digest is the version digest.

    One ``path<TAB>digest<TAB>size<LF>`` line per file, sorted by path. Large manifests travel to a
    server as a blob in this form (streamed, digest-checked) instead of a JSON body.
    """
    entries = sorted((f.path, f.digest, f.size) for f in files)
    return "".join(f"{path}\t{digest}\t{size}\n" for path, digest, size in entries).encode()


def parse_manifest(data: bytes, digest: str) -> list[DatasetFile]:
    """The files of a canonical manifest (see :func:`manifest_text`) whose version digest is ``digest``.

    Raises:
        InvalidInputError: a line is malformed, a file is invalid, or the text is not the canonical
            manifest of its files (unsorted, duplicated or differently written lines).
    """
    if blake3.blake3(data).hexdigest() != digest:
        raise InvalidInputError(f"the manifest does not match its digest {digest}.")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise InvalidInputError("the manifest is not UTF-8 text.") from None
    lines = text.split("\n")
    if lines[-1] != "":
        raise InvalidInputError("the manifest must end with a newline (one path<TAB>digest<TAB>size line per file).")
    entries: list[tuple[str, str, int]] = []
    for number, line in enumerate(lines[:-1], start=1):
        parts = line.split("\t")
        if len(parts) != 3 or not parts[2].isdigit() or not parts[2].isascii():
            raise InvalidInputError(f"manifest line {number} is not path<TAB>digest<TAB>size: {line[:80]!r}.")
        entries.append((parts[0], parts[1], int(parts[2])))
    files = check_files(files_of_entries(entries))
    if manifest_digest(files) != digest or len(files) != len(entries):
        raise InvalidInputError(
            "the manifest is not canonical: its lines must be sorted by path, one per file, "
            "with lowercase digests and sizes without leading zeros."
        )
    return files


def _construct_files(entries: Iterable[tuple[str, str, int]]) -> list[DatasetFile]:
    construct = DatasetFile.model_construct
    return [construct(path=path, size=size, digest=digest) for path, digest, size in entries]


def _direct_files(entries: Iterable[tuple[str, str, int]]) -> list[DatasetFile]:
    # What ``model_construct`` does, without its generic per-field work: about twice as fast.
    new, assign, fields = object.__new__, object.__setattr__, frozenset(("path", "size", "digest"))
    out = []
    for path, digest, size in entries:
        f = new(DatasetFile)
        assign(f, "__dict__", {"path": path, "size": size, "digest": digest})
        assign(f, "__pydantic_fields_set__", set(fields))
        assign(f, "__pydantic_extra__", None)
        assign(f, "__pydantic_private__", None)
        out.append(f)
    return out


def _pick_builder() -> Any:
    probe = [("a.csv", "0" * 64, 1)]
    try:
        fast = _direct_files(probe)[0]
        if fast == _construct_files(probe)[0] and fast.model_dump() == {"path": "a.csv", "size": 1, "digest": "0" * 64}:
            return _direct_files
    except Exception:  # noqa: BLE001 - another pydantic: the documented way
        pass
    return _construct_files


_build_files = _pick_builder()


def files_of_entries(entries: Iterable[tuple[str, str, int]]) -> list[DatasetFile]:
    """:class:`DatasetFile` objects of already checked ``(path, digest, size)`` entries, built without validation."""
    with gc_paused():
        built: list[DatasetFile] = _build_files(entries)
    return built


class CheckedFiles(list[DatasetFile]):
    """A manifest :func:`check_files` accepted (sorted by path), with its version digest computed once."""

    @property
    def digest(self) -> str:
        """The version digest of these files (see :func:`manifest_digest`)."""
        found: str | None = getattr(self, "_digest", None)
        if found is None:
            found = digest_of_entries(((f.path, f.digest, f.size) for f in self), ordered=True)
            self._digest = found
        return found


def check_files(files: Sequence[Any]) -> CheckedFiles:
    """Validate a manifest: relative paths (no traversal), digests, sizes, no duplicates; sorted by path.

    A manifest this function returned is returned as it is (checked once).

    Raises:
        InvalidInputError: the manifest is empty, too long, or names a file twice or badly.
    """
    if isinstance(files, CheckedFiles):
        return files
    if not files:
        raise InvalidInputError("a dataset version needs at least one file.")
    if len(files) > MAX_FILES:
        raise InvalidInputError(f"a dataset version holds at most {MAX_FILES} files, got {len(files)}.")
    checked: dict[str, DatasetFile] = {}
    for item in files:
        f = item if isinstance(item, DatasetFile) else DatasetFile.model_validate(item)
        path = f.path
        if not (isinstance(path, str) and is_plain_path(path)):
            path = validate_artifact_path(path, "dataset file path")
        check_digest(f.digest)
        if type(f.size) is not int or f.size < 0:
            raise InvalidInputError(f"dataset file {path!r} has an invalid size {f.size!r}.")
        if path in checked:
            raise InvalidInputError(f"dataset file path {path!r} appears twice; each path names one file.")
        checked[path] = f if path == f.path else DatasetFile.model_construct(path=path, size=f.size, digest=f.digest)
    _check_no_file_is_a_directory(checked)
    with gc_paused():
        return CheckedFiles(checked[p] for p in sorted(checked))


def _check_no_file_is_a_directory(files: dict[str, DatasetFile]) -> None:
    """A path cannot be both a file and a directory of other files (it could not be materialised)."""
    directories: set[str] = set()  # checked already, with all their parents
    for path in files:
        end = path.rfind("/")
        while end > 0:
            parent = path[:end]
            if parent in directories:
                break
            if parent in files:
                raise InvalidInputError(f"dataset file path {parent!r} is also the directory of {path!r}.")
            directories.add(parent)
            end = path.rfind("/", 0, end)


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
