"""Model registry: models, versions, aliases, promotions with approval, archive, history, file downloads.

A version is registered from a package already uploaded as a run's artifacts (``PUT
/api/v1/runs/{run_id}/artifacts/model/...``), so files move through the server and are checked like
every artifact; registration reads ``model.yaml`` from the store. Package files come back only
through a version the caller may read, streamed with their digest. Approving or rejecting a
promotion needs the configured approver role (``MODELYARD_MODEL_APPROVER_ROLE``), checked by the
service against the caller's role in the project.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from modelyard.entities import AliasChange, ArtifactInfo, ModelVersion, PromotionRequest, RegisteredModel, Role
from modelyard.names import validate_artifact_path
from modelyard.registry._service import RegistryService
from modelyard.server._auth import requires
from modelyard.server._context import Principal, app_state, caller_for
from modelyard.server.routers._deps import accounts

__all__ = ["router"]

PREVERIFY_BYTES = 64 * 1024**2
"""Files up to this size are verified before their first byte is sent."""
DIGEST_HEADER = "X-Content-Digest"

router = APIRouter(prefix="/api/v1", tags=["models"])

Viewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="path"))]
Editor = Annotated[Principal, Depends(requires(Role.EDITOR, project_from="path"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionCreate(_Body):
    """Register the package a run holds at ``artifact_path`` as the next version of ``name``."""

    project: str = Field(max_length=128)
    name: str = Field(max_length=128)
    run_id: str = Field(max_length=32)
    artifact_path: str = Field(default="model", max_length=1024)
    importance: dict[str, dict[str, float]] | None = None
    description: str = Field(default="", max_length=10_000)


class PackageFile(_Body):
    """One uploaded file of a package: its artifact path and the blob holding its bytes."""

    path: str = Field(max_length=1024)
    digest: str = Field(max_length=64)
    size: int = Field(ge=0)


class PackageRecord(_Body):
    """Record a run's uploaded package files as artifacts and, with ``register_as``, register them."""

    files: list[PackageFile] = Field(min_length=1, max_length=10_000)
    artifact_path: str = Field(default="model", max_length=1024)
    register_as: str | None = Field(default=None, max_length=128)
    importance: dict[str, dict[str, float]] | None = None
    description: str = Field(default="", max_length=10_000)


class PackageRecorded(BaseModel):
    """The artifact rows written and the version registered (``None`` without ``register_as``)."""

    artifacts: list[ArtifactInfo]
    version: ModelVersion | None


class ModelUpdate(_Body):
    """Change a model's description or tags (the tags given replace the old ones)."""

    description: str | None = Field(default=None, max_length=10_000)
    tags: dict[str, str] | None = None


class AliasSet(_Body):
    """Point an alias at a version."""

    version: int = Field(ge=1, le=2**31 - 1)


class PromotionCreate(_Body):
    """Ask for a version (number, alias or ``latest``) to enter an environment."""

    version: str = Field(max_length=200)
    environment: str = Field(max_length=64)
    reason: str = Field(default="", max_length=10_000)


class Decision(_Body):
    """The reason recorded with an approval or a rejection (required to reject)."""

    reason: str = Field(default="", max_length=10_000)


class RollbackRequest(_Body):
    """Move an alias or environment back to the version it held at ``at_ms`` (default: its previous one)."""

    target: str = Field(max_length=128)
    at_ms: int | None = Field(default=None, ge=0, le=2**62)
    reason: str = Field(default="", max_length=10_000)


def registry(request: Request, principal: Principal) -> RegistryService:
    """The registry service acting for ``principal``, with the app's environments and approval rule."""
    state = app_state(request)
    settings = state.settings

    def role_of(project: str) -> Role | None:
        if principal.is_admin:
            return Role.ADMIN
        if principal.user is None:
            return None
        role: Role | None = accounts(request, principal).role_for(principal.user, project)
        return role

    return RegistryService(
        state.store,
        state.blobs,
        caller_for(request, principal),
        environments=[e.strip() for e in settings.model_environments.split(",") if e.strip()],
        approver_role=settings.model_approver_role,
        role_of=role_of,
        # auth off (loopback only): callers are anonymous, so what they register is not trusted
        authenticated=principal.via != "anonymous",
    )


def _ref(name: str, selector: str) -> str:
    return f"{name}@{selector}"


@router.get("/models")
def list_models(
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="query"))],
    project: Annotated[str, Query(max_length=128)],
) -> list[RegisteredModel]:
    """Registered models of a project."""
    return registry(request, principal).list_models(project)


@router.post("/models/versions", status_code=201)
def register_version(
    body: VersionCreate,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.EDITOR, project_from="body"))],
) -> ModelVersion:
    """Register a run's uploaded package as the next version of a model (editors of the project)."""
    return registry(request, principal).register_version(
        body.project,
        body.name,
        run_id=body.run_id,
        artifact_path=body.artifact_path,
        importance=body.importance,
        description=body.description,
    )


@router.post("/runs/{run_id}/model-package", status_code=201)
def record_package(
    run_id: Annotated[str, Path(max_length=32)],
    body: PackageRecord,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.EDITOR, project_from="run"))],
) -> PackageRecorded:
    """Record a package uploaded blob by blob (``PUT /api/v1/datasets/blobs/{digest}``) on a run, in one transaction.

    The artifact rows and, with ``register_as``, the next version of that model commit together:
    a registration that fails leaves no rows. Each blob must belong to the run's project.
    """
    artifacts, version = registry(request, principal).record_package(
        run_id,
        [ArtifactInfo(path=f.path, size=f.size, digest=f.digest) for f in body.files],
        register=body.register_as,
        artifact_path=body.artifact_path,
        importance=body.importance,
        description=body.description,
    )
    return PackageRecorded(artifacts=artifacts, version=version)


@router.get("/models/promotions")
def list_promotions(
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="query"))],
    project: Annotated[str, Query(max_length=128)],
    name: Annotated[str | None, Query(max_length=128)] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
) -> list[PromotionRequest]:
    """Promotion requests of a project (or one model), newest first."""
    return registry(request, principal).list_promotions(project, name, state)


@router.post("/models/promotions/{request_id}/approve")
def approve(
    request_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: Decision,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="query"))],
    project: Annotated[str, Query(max_length=128)],
) -> PromotionRequest:
    """Approve a pending promotion (the approver role, checked by the service)."""
    return registry(request, principal).decide_promotion(project, request_id, approve=True, reason=body.reason)


@router.post("/models/promotions/{request_id}/reject")
def reject(
    request_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: Decision,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="query"))],
    project: Annotated[str, Query(max_length=128)],
) -> PromotionRequest:
    """Reject a pending promotion with a reason (the approver role, checked by the service)."""
    return registry(request, principal).decide_promotion(project, request_id, approve=False, reason=body.reason)


@router.get("/models/{project}/{name}")
def get_model(project: str, name: str, request: Request, principal: Viewer) -> RegisteredModel:
    """A registered model with its newest version, aliases and environments."""
    return registry(request, principal).get_model(project, name)


@router.patch("/models/{project}/{name}")
def update_model(project: str, name: str, body: ModelUpdate, request: Request, principal: Editor) -> RegisteredModel:
    """Change a model's description or tags."""
    return registry(request, principal).update_model(project, name, description=body.description, tags=body.tags)


@router.get("/models/{project}/{name}/versions")
def list_versions(project: str, name: str, request: Request, principal: Viewer) -> list[ModelVersion]:
    """Versions of a model, newest first, without their file lists."""
    return registry(request, principal).list_versions(project, name)


@router.get("/models/{project}/{name}/versions/{selector}")
def get_version(project: str, name: str, selector: str, request: Request, principal: Viewer) -> ModelVersion:
    """The version ``selector`` names (a number, an alias or environment, ``latest``, ``sha:<prefix>``)."""
    return registry(request, principal).get_version(project, _ref(name, selector))


@router.get("/models/{project}/{name}/versions/{selector}/files/{path:path}")
def download_file(
    project: str, name: str, selector: str, path: str, request: Request, principal: Viewer
) -> StreamingResponse:
    """Download one package file, streamed, with ``Content-Length`` and its digest."""
    path = validate_artifact_path(path, "model file path")
    _, info, chunks = registry(request, principal).iter_file(
        project, _ref(name, selector), path, verify_up_to=PREVERIFY_BYTES
    )
    filename = path.rsplit("/", 1)[-1]
    quoted = quote(filename, safe="")
    disposition = (
        f'attachment; filename="{filename}"' if quoted == filename else f"attachment; filename*=UTF-8''{quoted}"
    )
    headers = {"Content-Length": str(info.size), DIGEST_HEADER: info.digest, "Content-Disposition": disposition}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@router.post("/models/{project}/{name}/versions/{selector}/archive")
def archive(project: str, name: str, selector: str, request: Request, principal: Editor) -> ModelVersion:
    """Archive a version (no alias or environment may point at it)."""
    return registry(request, principal).set_archived(project, _ref(name, selector), True)


@router.post("/models/{project}/{name}/versions/{selector}/restore")
def restore(project: str, name: str, selector: str, request: Request, principal: Editor) -> ModelVersion:
    """Restore an archived version."""
    return registry(request, principal).set_archived(project, _ref(name, selector), False)


@router.put("/models/{project}/{name}/aliases/{alias}")
def set_alias(project: str, name: str, alias: str, body: AliasSet, request: Request, principal: Editor) -> ModelVersion:
    """Point an alias at a version (moved atomically)."""
    return registry(request, principal).set_alias(project, name, alias, body.version)


@router.delete("/models/{project}/{name}/aliases/{alias}", status_code=204)
def delete_alias(project: str, name: str, alias: str, request: Request, principal: Editor) -> None:
    """Remove an alias."""
    registry(request, principal).delete_alias(project, name, alias)


@router.post("/models/{project}/{name}/promotions", status_code=201)
def request_promotion(
    project: str, name: str, body: PromotionCreate, request: Request, principal: Editor
) -> PromotionRequest:
    """Ask for a version to enter an environment; an approver decides."""
    return registry(request, principal).request_promotion(
        project, _ref(name, body.version), body.environment, body.reason
    )


@router.get("/models/{project}/{name}/history")
def history(
    project: str,
    name: str,
    request: Request,
    principal: Viewer,
    target: Annotated[str | None, Query(max_length=128)] = None,
    until_ms: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> list[AliasChange]:
    """Moves of the model's aliases and environments (from the audit log), oldest first."""
    return registry(request, principal).history(project, name, target=target, until_ms=until_ms)


@router.post("/models/{project}/{name}/rollback")
def rollback(project: str, name: str, body: RollbackRequest, request: Request, principal: Editor) -> ModelVersion:
    """Move an alias or environment back (environments need the approver role)."""
    return registry(request, principal).rollback(project, name, body.target, at_ms=body.at_ms, reason=body.reason)


@router.get("/runs/{run_id}/models")
def versions_of_run(
    run_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="run"))],
) -> list[ModelVersion]:
    """The model versions registered from a run."""
    return registry(request, principal).versions_of_run(run_id)
