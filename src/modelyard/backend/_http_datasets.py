"""The dataset operations of :class:`~modelyard.backend.http.HttpBackend`, over ``/api/v1/datasets``.

Adding a version is three steps, each retried safely: ask which blobs the server lacks (in batches),
upload those (``PUT /api/v1/datasets/blobs/{digest}``, streamed, digest-checked by the server), then
record the version, which the server accepts only once every blob is stored. A large version's
manifest (from :data:`MANIFEST_UPLOAD_MIN_FILES` files) is uploaded the same way, as a blob of its
canonical text, and the version names it by digest: no JSON body limit applies to it. Blobs are write-only:
files come back only through a version the caller may read, streamed and verified here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import blake3
import httpx

from modelyard import errors
from modelyard.blobs import CHUNK_SIZE, BlobInfo, hash_file
from modelyard.data._manifest import manifest_text, select_files
from modelyard.data._service import corrupted_message
from modelyard.entities import Dataset, DatasetDeletion, DatasetFile, DatasetVersion, RunInput
from modelyard.names import validate_artifact_path

if TYPE_CHECKING:
    from modelyard.backend.base import Progress

__all__ = ["DatasetCalls"]

MANIFEST_UPLOAD_MIN_FILES = 5_000
"""Versions with this many files send their manifest as an uploaded blob instead of a JSON list."""
MISSING_BATCH = 10_000
"""Digests per missing-blobs request."""
UPLOAD_THREADS = 4


class DatasetCalls:
    """Dataset operations over REST; mixed into ``HttpBackend``, whose plumbing they use."""

    _call: Callable[..., Any]
    _send: Callable[..., httpx.Response]
    _fetch: Callable[..., None]

    def list_datasets(self, project: str) -> list[Dataset]:
        """Datasets of a project."""
        return [Dataset.model_validate(d) for d in self._call("GET", "/api/v1/datasets", params={"project": project})]

    def list_dataset_versions(self, project: str, name: str, *, include_deleted: bool = False) -> list[DatasetVersion]:
        """Versions of a dataset, newest first."""
        data = self._call(
            "GET",
            f"/api/v1/datasets/{_seg(project)}/{_seg(name)}/versions",
            params={"include_deleted": str(include_deleted).lower()},
        )
        return [DatasetVersion.model_validate(v) for v in data]

    def get_dataset_version(
        self, project: str, ref: str, *, files: bool = True, include_deleted: bool = False
    ) -> DatasetVersion:
        """The version a reference names."""
        params = {"files": str(files).lower(), "include_deleted": str(include_deleted).lower()}
        return DatasetVersion.model_validate(
            self._call("GET", f"/api/v1/datasets/{_seg(project)}/{_seg(ref)}", params=params)
        )

    def put_dataset_blobs(
        self,
        project: str,
        files: Sequence[tuple[Path, str | None]],
        *,
        link: bool = False,
        progress: Progress | None = None,
    ) -> list[tuple[BlobInfo, bool]]:
        """Hash the files whose digest is unknown, then upload only the blobs the server lacks.

        Hardlinks are impossible through a server: ``link`` is ignored and files are uploaded.
        """
        with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
            infos = list(pool.map(lambda item: _info(*item), files))
            digests = list(dict.fromkeys(info.digest for info in infos))
            missing: set[str] = set()
            for start in range(0, len(digests), MISSING_BATCH):
                body = {"project": project, "digests": digests[start : start + MISSING_BATCH]}
                missing.update(self._call("POST", "/api/v1/datasets/missing-blobs", json=body)["missing"])
            uploads: dict[str, tuple[Path, BlobInfo]] = {}
            for (path, _), info in zip(files, infos, strict=True):
                if info.digest in missing:
                    uploads.setdefault(info.digest, (Path(path), info))
            for _ in pool.map(lambda item: self._upload(project, item[0], item[1], progress), uploads.values()):
                pass
        return [(info, False) for info in infos]

    def _upload(self, project: str, path: Path, info: BlobInfo, progress: Progress | None) -> None:
        data = self._call(
            "PUT",
            f"/api/v1/datasets/blobs/{info.digest}",
            params={"project": project},
            content_factory=lambda: _chunks(path),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(info.size)},
        )
        if data["digest"] != info.digest:
            raise errors.IntegrityError(f"{path} changed while it was uploaded; add it again.")
        if progress is not None:
            progress(info.size)

    def create_dataset_version(
        self,
        project: str,
        name: str,
        files: Sequence[DatasetFile],
        *,
        message: str = "",
        tags: Mapping[str, Any] | None = None,
        num_rows: int | None = None,
        num_columns: int | None = None,
        schema: Mapping[str, Any] | None = None,
        profile: Mapping[str, Any] | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Record a version whose blobs are uploaded."""
        body = {
            "project": project,
            "name": name,
            "files": [{"path": f.path, "size": f.size, "digest": f.digest} for f in files],
            "message": message,
            "tags": {k: str(v) for k, v in (tags or {}).items()},
            "num_rows": num_rows,
            "num_columns": num_columns,
            "schema": schema,
            "profile": profile,
        }
        if len(files) >= MANIFEST_UPLOAD_MIN_FILES:
            # A large manifest would not fit a JSON body: it goes up as a blob (streamed, digest-checked;
            # its digest is the version's), and the version names it.
            text = manifest_text(files)
            digest = blake3.blake3(text).hexdigest()
            self._call(
                "PUT",
                f"/api/v1/datasets/blobs/{digest}",
                params={"project": project},
                content_factory=lambda: text,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(text))},
            )
            del body["files"]
            body["manifest"] = digest
            data = self._call("POST", "/api/v1/datasets/versions", json=body)
            version = DatasetVersion.model_validate(data["version"])
            version.files = sorted(files, key=lambda f: f.path)  # the server leaves the long list out
            return version, bool(data["created"])
        data = self._call("POST", "/api/v1/datasets/versions", json=body)
        return DatasetVersion.model_validate(data["version"]), bool(data["created"])

    def delete_dataset(self, project: str, ref: str, *, purge: bool = False) -> DatasetDeletion:
        """Delete (or purge) a dataset or one version (project admins)."""
        data = self._call(
            "DELETE", f"/api/v1/datasets/{_seg(project)}/{_seg(ref)}", params={"purge": str(purge).lower()}
        )
        return DatasetDeletion.model_validate(data)

    def restore_dataset(self, project: str, ref: str) -> list[DatasetVersion]:
        """Undo the deletion of a version or of a dataset's deleted versions (project admins)."""
        data = self._call("POST", f"/api/v1/datasets/{_seg(project)}/{_seg(ref)}/restore")
        return [DatasetVersion.model_validate(v) for v in data]

    def download_dataset(
        self,
        project: str,
        ref: str,
        dst: Path,
        *,
        include: str | Sequence[str] | None = None,
        link: bool = False,
        progress: Progress | None = None,
    ) -> tuple[DatasetVersion, list[DatasetFile]]:
        """Download a version's files (matching ``include``), each streamed and verified; ``link`` is ignored."""
        version = self.get_dataset_version(project, ref)
        chosen = select_files(version.files, include)
        if not chosen:
            raise errors.InvalidInputError(f"no file of {version.ref} matches {include!r}.")
        root = Path(dst).absolute()
        # The exact version, not the reference: a version added meanwhile must not mix in.
        base = f"/api/v1/datasets/{_seg(project)}/{_seg(version.ref)}/files/"
        for f in chosen:
            # Paths come from the server: checked like any input before they name a local file.
            target = root.joinpath(*validate_artifact_path(f.path, "dataset file path").split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._fetch(base + _seg(f.path, keep_slash=True), f"{version.ref}: file {f.path!r}", f.size,
                            f.digest, target, progress)  # fmt: skip
            except errors.BlobCorruptedError as exc:
                if exc.message.startswith(version.ref):
                    raise
                raise errors.BlobCorruptedError(corrupted_message(version, f)) from None
        return version, chosen

    def log_run_input(self, run_id: str, project: str, ref: str, role: str = "input") -> RunInput:
        """Link a run to a dataset version."""
        body = {"project": project, "ref": ref, "role": role}
        return RunInput.model_validate(self._call("POST", f"/api/v1/runs/{_seg(run_id)}/inputs", json=body))

    def list_run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run used."""
        return [RunInput.model_validate(i) for i in self._call("GET", f"/api/v1/runs/{_seg(run_id)}/inputs")]

    def dataset_lineage(self, project: str, ref: str) -> list[RunInput]:
        """The runs that used a dataset version."""
        data = self._call("GET", f"/api/v1/datasets/{_seg(project)}/{_seg(ref)}/lineage")
        return [RunInput.model_validate(i) for i in data]


def _info(path: Path, digest: str | None) -> BlobInfo:
    try:
        if digest is None:
            return hash_file(path)
        return BlobInfo(digest, Path(path).stat().st_size)
    except OSError as exc:
        raise errors.InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _seg(value: str, *, keep_slash: bool = False) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="/" if keep_slash else "")


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as src:
        while chunk := src.read(CHUNK_SIZE):
            yield chunk
