"""The pipeline operations of :class:`~modelyard.backend.http.HttpBackend`, over ``/api/v1/pipelines``.

A pipeline can run on a machine that reaches only the server: the engine's writes (create and start
a run, batches of step records, cache lookups) are one request each, and output blobs are uploaded
by digest (durable on the server when the upload returns) and read back through their step run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from modelyard.blobs import hash_bytes
from modelyard.entities import PipelineInfo, PipelineRun, RunStatus, StepOutputRef

__all__ = ["PipelineCalls"]


def _seg(value: str) -> str:
    return quote(value, safe="")


class PipelineCalls:
    """Pipeline operations over REST; mixed into ``HttpBackend``, whose plumbing they use."""

    _call: Callable[..., Any]

    def create_pipeline_run(
        self,
        *,
        run_id: str,
        project: str,
        pipeline: str,
        target: str | None = None,
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
        status: RunStatus | str = RunStatus.PENDING,
        dag: Mapping[str, Any] | None = None,
    ) -> PipelineRun:
        """Create a pipeline run (idempotent for a given id, so a retried request is safe)."""
        body = {
            "run_id": run_id,
            "project": project,
            "pipeline": pipeline,
            "target": target,
            "params": dict(params or {}),
            "executor": executor,
            "status": RunStatus(status).value,
            "dag": dict(dag or {}),
        }
        return PipelineRun.model_validate(self._call("POST", "/api/v1/pipelines/runs", json=body))

    def start_pipeline_run(self, run_id: str, *, dag: Mapping[str, Any], executor: str) -> PipelineRun:
        """Mark a pipeline run ``RUNNING`` with its DAG."""
        body = {"dag": dict(dag), "executor": executor}
        return PipelineRun.model_validate(self._call("POST", f"/api/v1/pipelines/runs/{_seg(run_id)}/start", json=body))

    def record_pipeline_steps(
        self, run_id: str, records: Sequence[Mapping[str, Any]], *, finish: Mapping[str, Any] | None = None
    ) -> bool:
        """Write a batch of step records (replaying a batch rewrites the same rows: safe to retry)."""
        body = {"records": [dict(r) for r in records], "finish": None if finish is None else dict(finish)}
        result = self._call("POST", f"/api/v1/pipelines/runs/{_seg(run_id)}/steps", json=body)
        return bool(result["cancel_requested"])

    def cancel_pipeline_run(self, run_id: str) -> PipelineRun:
        """Ask a pipeline run to stop."""
        return PipelineRun.model_validate(self._call("POST", f"/api/v1/pipelines/runs/{_seg(run_id)}/cancel"))

    def get_pipeline_run(self, run_id: str) -> PipelineRun:
        """A pipeline run with its DAG and step runs."""
        return PipelineRun.model_validate(self._call("GET", f"/api/v1/pipelines/runs/{_seg(run_id)}"))

    def list_pipeline_runs(
        self, project: str, pipeline: str | None = None, *, status: str | None = None, limit: int = 100
    ) -> list[PipelineRun]:
        """Pipeline runs of a project, newest first."""
        params: dict[str, Any] = {"project": project, "limit": limit}
        if pipeline is not None:
            params["pipeline"] = pipeline
        if status is not None:
            params["status"] = status
        return [PipelineRun.model_validate(r) for r in self._call("GET", "/api/v1/pipelines/runs", params=params)]

    def list_pipelines(self, project: str) -> list[PipelineInfo]:
        """Pipelines with runs in a project."""
        return [
            PipelineInfo.model_validate(p) for p in self._call("GET", "/api/v1/pipelines", params={"project": project})
        ]

    def lookup_step_cache(self, project: str, cache_keys: Sequence[str]) -> dict[str, tuple[str, list[StepOutputRef]]]:
        """Live step-cache entries."""
        data = self._call("POST", "/api/v1/pipelines/cache", json={"project": project, "keys": list(cache_keys)})
        return {
            key: (hit["step_run_id"], [StepOutputRef.model_validate(o) for o in hit["outputs"]])
            for key, hit in data.items()
        }

    def put_step_output_blob(self, project: str, data: bytes) -> tuple[str, int]:
        """Upload a step output's bytes by digest (durable on the server when this returns)."""
        info = hash_bytes(data)
        self._call(
            "PUT",
            f"/api/v1/pipelines/blobs/{info.digest}",
            params={"project": project},
            content_factory=lambda: data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(info.size)},
        )
        return info.digest, info.size

    def sync_step_output_blobs(self) -> None:
        """Nothing to do: each upload is durable on the server before it returns."""

    def read_step_output_blob(self, project: str, step_run_id: str | None, digest: str) -> bytes:
        """The bytes of a blob output, read through its step run and checked against the digest."""
        from modelyard import errors

        if step_run_id is None:
            raise errors.InvalidInputError("reading an output from a server needs the step run that holds it.")
        response = self._send("GET", f"/api/v1/pipelines/runs/{_seg(step_run_id)}/outputs/{_seg(digest)}")  # type: ignore[attr-defined]
        data = bytes(response.content)
        if hash_bytes(data).digest != digest:
            raise errors.BlobCorruptedError(f"output blob {digest} of step run {step_run_id} arrived corrupted.")
        return data
