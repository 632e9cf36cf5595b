"""Artifacts through the server: streamed uploads and downloads, digest-verified at both ends.

Clients never hold bucket credentials. An upload streams into a temporary file while it is hashed
(never whole in memory); only when the byte count and digest match does the service store the blob
and record the artifact, so an interrupted or corrupted upload leaves nothing visible. Downloads
stream the blob with ``Content-Length`` and ``X-Content-Digest``, verified as they are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from modelyard.blobs import CHUNK_SIZE
from modelyard.entities import ArtifactInfo, Role
from modelyard.errors import ArtifactNotFoundError
from modelyard.names import validate_artifact_path
from modelyard.server._auth import requires
from modelyard.server._context import Principal, app_state
from modelyard.server._uploads import received_upload
from modelyard.server.routers._deps import tracking

__all__ = ["DIGEST_HEADER", "PREVERIFY_BYTES", "router"]

PREVERIFY_BYTES = 64 * 1024**2
DIGEST_HEADER = "X-Content-Digest"
"""BLAKE3 hex digest of an artifact's bytes, sent with uploads and downloads."""

router = APIRouter(prefix="/api/v1/runs/{run_id}/artifacts", tags=["artifacts"])


@router.get("")
def list_artifacts(
    run_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="run"))],
    path: Annotated[str | None, Query(max_length=1024)] = None,
) -> list[ArtifactInfo]:
    """Artifacts of a run, optionally under a directory path."""
    return tracking(request, principal).list_artifacts(run_id, path)


@router.put("/{path:path}", status_code=201)
async def upload_artifact(
    run_id: str,
    path: str,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.EDITOR, project_from="run"))],
    content_digest: Annotated[str | None, Header(alias=DIGEST_HEADER, max_length=64)] = None,
) -> ArtifactInfo:
    """Upload one file (``application/octet-stream``) as the artifact at ``path``."""
    path = validate_artifact_path(path)
    service = tracking(request, principal)
    await run_in_threadpool(service.list_artifacts, run_id, path)  # the run exists and is readable
    limit = app_state(request).settings.max_upload_bytes
    async with received_upload(request, f"artifact {path!r}", limit, content_digest) as (tmp, _, _):
        infos = await run_in_threadpool(service.log_artifacts, run_id, [(tmp, path)])
    return infos[0]


@router.get("/{path:path}")
def download_artifact(
    run_id: str,
    path: str,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Role.VIEWER, project_from="run"))],
) -> StreamingResponse:
    """Download one artifact file, streamed, with ``Content-Length`` and its digest."""
    path = validate_artifact_path(path)
    found = [a for a in tracking(request, principal).list_artifacts(run_id, path) if a.path == path]
    if not found:
        raise ArtifactNotFoundError(f"Run {run_id} has no artifact file {path!r}.")
    info = found[0]
    blobs = app_state(request).blobs
    if info.size <= PREVERIFY_BYTES:
        # Small files are verified before the first byte goes out, so a corrupted blob is a clean
        # error; larger ones are verified as they stream (the client checks the digest too).
        blobs.verify(info.digest)
    reader = blobs.open(info.digest)

    def chunks() -> Iterator[bytes]:
        with reader:
            while chunk := reader.read(CHUNK_SIZE):
                yield chunk

    name = path.rsplit("/", 1)[-1]
    quoted = quote(name, safe="")  # RFC 6266: a non-ASCII or odd name goes percent-encoded in filename*
    disposition = f'attachment; filename="{name}"' if quoted == name else f"attachment; filename*=UTF-8''{quoted}"
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(info.size),
            DIGEST_HEADER: info.digest,
            "Content-Disposition": disposition,
        },
    )
