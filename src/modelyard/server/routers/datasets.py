"""Datasets: versions, references, streamed file downloads, write-only blob uploads, deletion, lineage.

Blobs go in by digest (``PUT /api/v1/datasets/blobs/{digest}``, editors of the project named in the
query) but never come out by digest: files are downloaded only through a version the caller may read.
``missing-blobs`` answers for the caller's project only, so it reveals nothing about other projects.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from modelyard.blobs import check_digest
from modelyard.entities import Dataset, DatasetDeletion, DatasetVersion, Role, RunInput
from modelyard.errors import InvalidInputError
from modelyard.names import validate_artifact_path, validate_name
from modelyard.server._auth import check_role, requires
from modelyard.server._context import Principal, app_state
from modelyard.server._schemas import (
    DatasetVersionCreate,
    DatasetVersionCreated,
    MissingBlobsRequest,
    MissingBlobsResponse,
    RunInputCreate,
)
from modelyard.server._uploads import received_upload
from modelyard.server.routers._deps import accounts, datasets, tracking

__all__ = ["router"]

PREVERIFY_BYTES = 64 * 1024**2
"""Files up to this size are verified before their first byte is sent."""
DIGEST_HEADER = "X-Content-Digest"

router = APIRouter(prefix="/api/v1", tags=["datasets"])

ProjectViewer = Annotated[Principal, Depends(requires(Role.VIEWER, project_from="path"))]


def _claim_new_project(request: Request, principal: Principal) -> None:
    """A project created by this request makes its creator the project's admin (as for runs)."""
    new_project = getattr(request.state, "new_project", None)
    if new_project and principal.user is not None:
        accounts(request, principal).set_role(principal.name, new_project, Role.ADMIN)


@router.post("/datasets/missing-blobs")
def missing_blobs(
    body: MissingBlobsRequest,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.EDITOR, project_from="body", allow_new_project=True))],
) -> MissingBlobsResponse:
    """Which blobs to upload before recording a version that uses them."""
    for digest in body.digests:
        check_digest(digest)
    return MissingBlobsResponse(
        missing=datasets(request, principal).missing_blobs(body.project, body.digests, scoped=True)
    )


@router.put("/datasets/blobs/{digest}", status_code=201)
async def upload_blob(
    digest: str,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.EDITOR, project_from="query", allow_new_project=True))],
    project: Annotated[str, Query(max_length=128)],
) -> dict[str, str | int]:
    """Upload one blob (``application/octet-stream``) whose BLAKE3 digest must be ``digest``."""
    check_digest(digest)
    validate_name(project, "project name")
    limit = app_state(request).settings.max_upload_bytes
    async with received_upload(request, f"blob {digest[:12]}", limit, digest) as (tmp, _, _):
        info = await run_in_threadpool(datasets(request, principal).put_uploaded_blob, tmp, digest, project)
    _claim_new_project(request, principal)
    return {"digest": info.digest, "size": info.size}


@router.post("/datasets/versions", status_code=201)
def create_version(
    body: DatasetVersionCreate,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.EDITOR, project_from="body", allow_new_project=True))],
) -> DatasetVersionCreated:
    """Record a version whose blobs are uploaded; identical to the newest version, it returns that one.

    The files come in ``files``, or for large versions as ``manifest``: the digest of the canonical
    manifest text, uploaded first like any blob (streamed, so no JSON body limit applies); the answer
    then leaves the file list out.
    """
    service = datasets(request, principal)
    extra: dict[str, Any] = {
        "message": body.message,
        "tags": body.tags,
        "num_rows": body.num_rows,
        "num_columns": body.num_columns,
        "schema": body.schema_,
        "profile": body.profile,
        "scoped": True,  # only blobs this project uploaded or already references
    }
    if body.manifest is not None:
        if body.files:
            raise InvalidInputError("give the files either in 'files' or as an uploaded 'manifest', not both.")
        version, created = service.create_version_from_manifest(body.project, body.name, body.manifest, **extra)
        version.files = []  # the client holds them: a large list is not sent back (see num_files)
    else:
        version, created = service.create_version(body.project, body.name, body.files, **extra)
    _claim_new_project(request, principal)
    return DatasetVersionCreated(version=version, created=created)


@router.get("/datasets")
def list_datasets(
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="query"))],
    project: Annotated[str, Query(max_length=128)],
) -> list[Dataset]:
    """Datasets of a project with their newest version."""
    return datasets(request, principal).list_datasets(project)


@router.get("/datasets/{project}/{name}/versions")
def list_versions(
    project: str, name: str, request: Request, principal: ProjectViewer, include_deleted: bool = False
) -> list[DatasetVersion]:
    """Versions of a dataset, newest first, without their file lists."""
    return datasets(request, principal).list_versions(project, name, include_deleted=include_deleted)


@router.get("/datasets/{project}/{ref}")
def get_version(
    project: str,
    ref: str,
    request: Request,
    principal: ProjectViewer,
    files: bool = True,
    include_deleted: bool = False,
) -> DatasetVersion:
    """The version a reference names: ``name``, ``name@latest``, ``name@3`` or ``name@sha:<prefix>``."""
    return datasets(request, principal).get_version(project, ref, files=files, include_deleted=include_deleted)


@router.get("/datasets/{project}/{ref}/lineage")
def lineage(project: str, ref: str, request: Request, principal: ProjectViewer) -> list[RunInput]:
    """The runs that used a dataset version."""
    return datasets(request, principal).lineage(project, ref)


@router.get("/datasets/{project}/{ref}/files/{path:path}")
def download_file(project: str, ref: str, path: str, request: Request, principal: ProjectViewer) -> StreamingResponse:
    """Download one file of a version, streamed, with ``Content-Length`` and its digest."""
    path = validate_artifact_path(path, "dataset file path")
    info, chunks = datasets(request, principal).iter_file(project, ref, path, verify_up_to=PREVERIFY_BYTES)
    name = path.rsplit("/", 1)[-1]
    quoted = quote(name, safe="")
    disposition = f'attachment; filename="{name}"' if quoted == name else f"attachment; filename*=UTF-8''{quoted}"
    headers = {"Content-Length": str(info.size), DIGEST_HEADER: info.digest, "Content-Disposition": disposition}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@router.delete("/datasets/{project}/{ref}")
def delete(
    project: str,
    ref: str,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.ADMIN, project_from="path"))],
    purge: bool = False,
) -> DatasetDeletion:
    """Delete a dataset (``name``) or a version (project admins); ``purge`` erases unreferenced blobs."""
    return datasets(request, principal).delete(project, ref, purge=purge)


@router.post("/datasets/{project}/{ref}/restore")
def restore(
    project: str,
    ref: str,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.ADMIN, project_from="path"))],
) -> list[DatasetVersion]:
    """Undo the deletion of a version (``name@3``) or of a dataset's deleted versions (project admins)."""
    return datasets(request, principal).restore(project, ref)


@router.post("/runs/{run_id}/inputs", status_code=201)
def log_input(
    run_id: str,
    body: RunInputCreate,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.EDITOR, project_from="run"))],
) -> RunInput:
    """Link a run to a dataset version; a dataset of another project needs the viewer role there."""
    run_project = tracking(request, principal).get_run(run_id).project
    if body.project != run_project:
        check_role(request, principal, body.project, Role.VIEWER)
    return datasets(request, principal).log_input(run_id, body.project, body.ref, body.role)


@router.get("/runs/{run_id}/inputs")
def run_inputs(
    run_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="run"))],
) -> list[RunInput]:
    """The dataset versions a run used, with their roles."""
    return tracking(request, principal).list_run_inputs(run_id)
