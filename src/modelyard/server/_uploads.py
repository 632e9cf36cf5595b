"""Streamed uploads: a request body spooled to a temporary file while it is hashed.

Never whole in memory; only a complete body (its length as declared) whose BLAKE3 digest matches the
one announced is handed on, so an interrupted or corrupted upload leaves nothing visible.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import blake3
from fastapi import Request

from modelyard.errors import IntegrityError, InvalidInputError
from modelyard.server._errors import PayloadTooLargeError

__all__ = ["received_upload"]


@asynccontextmanager
async def received_upload(
    request: Request, label: str, limit: int, expected_digest: str | None
) -> AsyncIterator[tuple[Path, str, int]]:
    """Spool the request body to a temp file; yield ``(path, digest, size)``; remove the file after.

    Raises:
        PayloadTooLargeError: the body is longer than ``limit`` bytes.
        InvalidInputError: fewer bytes arrived than ``Content-Length`` announced.
        IntegrityError: the body's digest is not ``expected_digest``.
    """
    fd, tmp_name = tempfile.mkstemp(prefix="modelyard-upload-")
    tmp = Path(tmp_name)
    try:
        hasher = blake3.blake3()
        size = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(f"{label} is larger than the limit of {limit} bytes.")
                hasher.update(chunk)
                out.write(chunk)
        digest = hasher.hexdigest()
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) != size:
            raise InvalidInputError(f"Upload of {label} was cut short: {size} of {declared} bytes arrived; retry.")
        if expected_digest is not None and expected_digest.lower() != digest:
            raise IntegrityError(
                f"Upload of {label} arrived with digest {digest}, not {expected_digest}: retry the upload."
            )
        yield tmp, digest, size
    finally:
        tmp.unlink(missing_ok=True)
