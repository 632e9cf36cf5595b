"""Where downloaded artifacts land: the same layout for every backend."""

from __future__ import annotations

from pathlib import Path

from modelyard.entities import ArtifactInfo
from modelyard.errors import ArtifactNotFoundError
from modelyard.names import validate_artifact_path

__all__ = ["download_plan"]


def download_plan(
    run_id: str, path: str | None, found: list[ArtifactInfo], dst: Path
) -> tuple[list[tuple[ArtifactInfo, Path]], Path]:
    """Map artifacts to local files under ``dst``, keeping the name of the file or directory asked for.

    Returns ``(artifact, local file)`` pairs and the local path of what was asked for.
    """
    if not found:
        raise ArtifactNotFoundError(
            f"Run {run_id} has no artifact {path!r}; list them with `modelyard runs show {run_id}`."
        )
    base = validate_artifact_path(path) if path else ""
    strip = base.rsplit("/", 1)[0] + "/" if "/" in base else ""
    pairs = [(info, dst / info.path.removeprefix(strip)) for info in found]
    return pairs, (dst / base.removeprefix(strip) if base else dst)
