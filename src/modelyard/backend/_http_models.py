"""The registry operations of :class:`~modelyard.backend.http.HttpBackend`, over ``/api/v1/models``.

Logging a model uploads its package as the run's artifacts (streamed, digest-checked by the server),
then registers a version from them in one request; the server reads ``model.yaml`` itself. Package
files come back only through a version the caller may read, streamed and verified here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelyard import errors
from modelyard.blobs import BlobInfo
from modelyard.entities import AliasChange, ArtifactInfo, ModelVersion, PromotionRequest, RegisteredModel, Run
from modelyard.names import validate_artifact_path, validate_name
from modelyard.registry._refs import parse_model_ref, validate_alias, validate_model_name

__all__ = ["ModelCalls"]


def _seg(value: object, *, keep_slash: bool = False) -> str:
    return quote(str(value), safe="/" if keep_slash else "")


def _model(project: str, name: str) -> str:
    """The URL of a model, its names checked here (a '/' in them would otherwise reach another route)."""
    validate_name(project, "project name")
    return f"/api/v1/models/{_seg(project)}/{_seg(validate_model_name(name))}"


def _version_path(project: str, ref: str) -> str:
    parsed = parse_model_ref(ref)
    if parsed.is_run or parsed.name is None:
        raise errors.InvalidInputError(f"{ref} names a run's package, not a registered version.")
    selector = str(parsed).partition("@")[2]
    return f"{_model(project, parsed.name)}/versions/{_seg(selector)}"


class ModelCalls:
    """Registry operations over REST; mixed into ``HttpBackend``, whose plumbing they use."""

    _call: Callable[..., Any]
    _fetch: Callable[..., None]
    get_run: Callable[[str], Run]
    put_dataset_blobs: Callable[..., list[tuple[BlobInfo, bool]]]

    def log_model_package(
        self,
        run_id: str,
        files: Sequence[tuple[Path, str]],
        *,
        known: Mapping[str, tuple[str, int]] | None = None,
        register: str | None = None,
        artifact_path: str = "model",
        importance: Mapping[str, Mapping[str, float]] | None = None,
        description: str = "",
    ) -> tuple[list[ArtifactInfo], ModelVersion | None]:
        """Upload the blobs the server lacks, then record the package (and its version) in one request.

        ``known`` digests spare hashing the files again; the server checks every upload against its
        digest, so a wrong one is refused, never stored under the wrong name.
        """
        project = self.get_run(run_id).project
        known = known or {}
        digests = [known[dst][0] if dst in known else None for _, dst in files]
        blobs = self.put_dataset_blobs(project, [(Path(src), d) for (src, _), d in zip(files, digests, strict=True)])
        body = {
            "files": [
                {"path": dst, "digest": info.digest, "size": info.size}
                for (_, dst), (info, _) in zip(files, blobs, strict=True)
            ],
            "artifact_path": artifact_path,
            "register_as": register,
            "importance": None if importance is None else {k: dict(v) for k, v in importance.items()},
            "description": description,
        }
        data = self._call("POST", f"/api/v1/runs/{_seg(run_id)}/model-package", json=body)
        version = None if data["version"] is None else ModelVersion.model_validate(data["version"])
        return [ArtifactInfo.model_validate(a) for a in data["artifacts"]], version

    def register_model_version(
        self,
        project: str,
        name: str,
        run_id: str,
        artifact_path: str = "model",
        *,
        importance: Mapping[str, Mapping[str, float]] | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register a run's uploaded package as the next version of a model."""
        body = {
            "project": project,
            "name": name,
            "run_id": run_id,
            "artifact_path": artifact_path,
            "importance": None if importance is None else {k: dict(v) for k, v in importance.items()},
            "description": description,
        }
        return ModelVersion.model_validate(self._call("POST", "/api/v1/models/versions", json=body))

    def list_models(self, project: str) -> list[RegisteredModel]:
        """Registered models of a project."""
        return [
            RegisteredModel.model_validate(m) for m in self._call("GET", "/api/v1/models", params={"project": project})
        ]

    def get_model(self, project: str, name: str) -> RegisteredModel:
        """A registered model."""
        return RegisteredModel.model_validate(self._call("GET", f"{_model(project, name)}"))

    def update_model(
        self, project: str, name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> RegisteredModel:
        """Change a model's description or tags."""
        body = {"description": description, "tags": None if tags is None else {k: str(v) for k, v in tags.items()}}
        data = self._call("PATCH", f"{_model(project, name)}", json=body)
        return RegisteredModel.model_validate(data)

    def list_model_versions(self, project: str, name: str) -> list[ModelVersion]:
        """Versions of a model, newest first."""
        data = self._call("GET", f"{_model(project, name)}/versions")
        return [ModelVersion.model_validate(v) for v in data]

    def get_model_version(self, project: str, ref: str) -> ModelVersion:
        """The version a reference names, with its files."""
        return ModelVersion.model_validate(self._call("GET", _version_path(project, ref)))

    def model_versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The model versions registered from a run."""
        return [ModelVersion.model_validate(v) for v in self._call("GET", f"/api/v1/runs/{_seg(run_id)}/models")]

    def set_model_alias(self, project: str, name: str, alias: str, version: int) -> ModelVersion:
        """Point an alias at a version."""
        data = self._call(
            "PUT", f"{_model(project, name)}/aliases/{_seg(validate_alias(alias))}", json={"version": version}
        )
        return ModelVersion.model_validate(data)

    def delete_model_alias(self, project: str, name: str, alias: str) -> None:
        """Remove an alias."""
        self._call("DELETE", f"{_model(project, name)}/aliases/{_seg(validate_alias(alias))}")

    def request_promotion(self, project: str, ref: str, environment: str, reason: str = "") -> PromotionRequest:
        """Ask for a version to enter an environment."""
        parsed = parse_model_ref(ref)
        if parsed.is_run or parsed.name is None:
            raise errors.InvalidInputError(f"{ref} names a run's package, not a registered version.")
        body = {"version": str(parsed).partition("@")[2], "environment": environment, "reason": reason}
        data = self._call("POST", f"{_model(project, parsed.name)}/promotions", json=body)
        return PromotionRequest.model_validate(data)

    def decide_promotion(self, project: str, request_id: int, *, approve: bool, reason: str = "") -> PromotionRequest:
        """Approve or reject a pending promotion."""
        verb = "approve" if approve else "reject"
        data = self._call(
            "POST",
            f"/api/v1/models/promotions/{int(request_id)}/{verb}",
            params={"project": project},
            json={"reason": reason},
        )
        return PromotionRequest.model_validate(data)

    def list_promotions(
        self, project: str, name: str | None = None, state: str | None = None
    ) -> list[PromotionRequest]:
        """Promotion requests, newest first."""
        params = {k: v for k, v in {"project": project, "name": name, "state": state}.items() if v is not None}
        return [
            PromotionRequest.model_validate(p) for p in self._call("GET", "/api/v1/models/promotions", params=params)
        ]

    def set_model_version_archived(self, project: str, ref: str, archived: bool) -> ModelVersion:
        """Archive or restore a version."""
        verb = "archive" if archived else "restore"
        return ModelVersion.model_validate(self._call("POST", f"{_version_path(project, ref)}/{verb}"))

    def model_history(
        self, project: str, name: str, target: str | None = None, until_ms: int | None = None
    ) -> list[AliasChange]:
        """Alias and environment moves, oldest first."""
        params = {k: v for k, v in {"target": target, "until_ms": until_ms}.items() if v is not None}
        data = self._call("GET", f"{_model(project, name)}/history", params=params)
        return [AliasChange.model_validate(c) for c in data]

    def rollback_model(
        self, project: str, name: str, target: str, at_ms: int | None = None, reason: str = ""
    ) -> ModelVersion:
        """Move an alias or environment back."""
        body = {"target": target, "at_ms": at_ms, "reason": reason}
        data = self._call("POST", f"{_model(project, name)}/rollback", json=body)
        return ModelVersion.model_validate(data)

    def download_model(self, project: str, ref: str, dst: Path) -> ModelVersion:
        """Download a version's package files under ``dst``, each streamed and verified."""
        version = self.get_model_version(project, ref)
        root = Path(dst).absolute()
        # The exact version, not the reference: an alias moved meanwhile must not mix in files.
        base = _version_path(project, version.ref) + "/files/"
        for f in version.files:
            # Paths come from the server: checked like any input before they name a local file.
            target = root.joinpath(*validate_artifact_path(f.path, "model file path").split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            self._fetch(
                base + _seg(f.path, keep_slash=True), f"{version.ref}: file {f.path!r}", f.size, f.digest, target
            )
        return version
