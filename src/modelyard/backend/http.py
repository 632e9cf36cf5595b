"""HttpBackend: the Backend operations over the server's REST API (httpx).

- One request per operation; writes are idempotent under retry (client-generated run ids, a
  batch id on every metric batch that the server de-duplicates, PUT for artifact uploads), so
  requests are retried with exponential backoff on connection errors, 429 and 503
  (``Retry-After`` honoured).
- Errors come back as the same :class:`~modelyard.errors.ModelyardError` subclasses as embedded
  mode, chosen by the error ``code`` in the JSON body.
- Artifacts stream in chunks both ways and are verified against their BLAKE3 digest at both ends.
- Client and server exchange versions when the backend opens; an incompatible pair fails with a
  message saying which side to upgrade.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import blake3
import httpx

from modelyard import errors
from modelyard._version import __version__
from modelyard.backend._http_datasets import DatasetCalls
from modelyard.backend._http_lineage import LineageCalls
from modelyard.backend._http_models import ModelCalls
from modelyard.backend._http_pipelines import PipelineCalls
from modelyard.backend._http_scheduling import SchedulingCalls
from modelyard.backend.base import Progress
from modelyard.blobs import CHUNK_SIZE, hash_file
from modelyard.entities import (
    ApiToken,
    ArtifactInfo,
    AuditEvent,
    GcReport,
    Membership,
    Metric,
    MetricBucket,
    Project,
    Role,
    Run,
    RunPage,
    RunStatus,
    User,
)
from modelyard.names import value_text
from modelyard.settings import Settings
from modelyard.tracking._downloads import download_plan
from modelyard.types import MetricPoint

__all__ = ["API_VERSION", "HttpBackend"]

API_VERSION = 1
"""The REST API version this client speaks."""
DIGEST_HEADER = "X-Content-Digest"
_RETRY_STATUS = frozenset({429, 502, 503, 504})
_BY_STATUS: dict[int, type[errors.ModelyardError]] = {
    400: errors.InvalidInputError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    413: errors.InvalidInputError,
    415: errors.InvalidInputError,
    422: errors.InvalidInputError,
    503: errors.StoreError,
}


def _error_classes() -> dict[str, type[errors.ModelyardError]]:
    found: dict[str, type[errors.ModelyardError]] = {}
    stack: list[type[errors.ModelyardError]] = [errors.ModelyardError]
    while stack:
        cls = stack.pop()
        found.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return found


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


class HttpBackend(DatasetCalls, ModelCalls, LineageCalls, SchedulingCalls, PipelineCalls):
    """The Backend protocol over a modelyard server at ``uri`` (``http(s)://host:port``)."""

    def __init__(self, uri: str, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        """Connect to the server and check that its version is compatible with this client."""
        self.uri = uri.rstrip("/")
        self.settings = settings
        headers = {"User-Agent": f"modelyard/{__version__}", "X-Modelyard-Client": __version__}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        self._http = httpx.Client(
            base_url=self.uri, headers=headers, timeout=settings.http_timeout, transport=transport
        )
        self._retries = settings.http_retries
        self._errors = _error_classes()
        self._check_version()

    # plumbing -----------------------------------------------------------------------------
    def _check_version(self) -> None:
        info = self._call("GET", "/api/v1/version")
        server_api = int(info.get("api_version", 0))
        if server_api < API_VERSION:
            raise errors.IncompatibleVersionError(
                f"The server at {self.uri} runs modelyard {info.get('version')} (API {server_api}), too old for "
                f"this client {__version__} (API {API_VERSION}): upgrade the server."
            )
        if server_api > API_VERSION or _version_tuple(__version__) < _version_tuple(
            str(info.get("min_client_version", "0"))
        ):
            raise errors.IncompatibleVersionError(
                f"The server at {self.uri} runs modelyard {info.get('version')}, which needs a newer client than "
                f"{__version__}: upgrade the client (pip install -U modelyard)."
            )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying transient failures; raise the matching ModelyardError on errors."""
        content_factory: Callable[[], Any] | None = kwargs.pop("content_factory", None)
        stream = kwargs.pop("stream", False)
        delay = 0.2
        for attempt in range(self._retries + 1):
            if content_factory is not None:
                kwargs["content"] = content_factory()
            try:
                request = self._http.build_request(method, path, **kwargs)
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt == self._retries:
                    raise errors.StoreError(
                        f"Cannot reach the modelyard server at {self.uri}: {exc}. Is it running?"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            if response.status_code in _RETRY_STATUS and attempt < self._retries:
                retry_after = response.headers.get("retry-after", "")
                response.close()
                time.sleep(float(retry_after) if retry_after.replace(".", "", 1).isdigit() else delay)
                delay = min(delay * 2, 10.0)
                continue
            if response.status_code >= 400:
                if stream:
                    response.read()
                raise self._error(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, response: httpx.Response) -> errors.ModelyardError:
        try:
            body = response.json()["error"]
            code, message = str(body["code"]), str(body["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "", f"Server answered {response.status_code}: {response.text[:200]}"
        cls = self._errors.get(code) or _BY_STATUS.get(response.status_code, errors.ModelyardError)
        return cls(message)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code == 204:
            return None
        return response.json()

    # projects -----------------------------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project."""
        return Project.model_validate(
            self._call("POST", "/api/v1/projects", json={"name": name, "description": description})
        )

    def list_projects(self) -> list[Project]:
        """Projects the caller can read."""
        return [Project.model_validate(p) for p in self._call("GET", "/api/v1/projects")]

    # runs ---------------------------------------------------------------------------------
    def create_run(self, **kwargs: Any) -> Run:
        """Create a run (idempotent for a given id)."""
        body = {k: v for k, v in kwargs.items() if v is not None}
        if "status" in body:
            body["status"] = RunStatus(body["status"]).value
        return Run.model_validate(self._call("POST", "/api/v1/runs", json=body))

    def get_run(self, run_id: str) -> Run:
        """A run."""
        return Run.model_validate(self._call("GET", f"/api/v1/runs/{_segment(run_id)}"))

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | str | None = None,
        end_time_ms: int | None = None,
        error: str | None = None,
        name: str | None = None,
    ) -> Run:
        """Change status, error or name."""
        body = {"status": status, "end_time_ms": end_time_ms, "error": error, "name": name}
        body = {k: (str(v) if k == "status" else v) for k, v in body.items() if v is not None}
        return Run.model_validate(self._call("PATCH", f"/api/v1/runs/{_segment(run_id)}", json=body))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
    ) -> bool:
        """Log metrics, params and tags atomically; retried safely under one batch id."""
        body = {
            "metrics": [[k, _json_float(v), ts, step] for k, v, ts, step in metrics],
            "params": {k: value_text(v) for k, v in (params or {}).items()},
            "tags": {k: value_text(v) for k, v in (tags or {}).items()},
            "batch_id": batch_id or uuid.uuid4().hex,
        }
        result = self._call("POST", f"/api/v1/runs/{_segment(run_id)}/batch", json=body)
        return bool(result["applied"])

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag."""
        self._call("DELETE", f"/api/v1/runs/{_segment(run_id)}/tags/{_segment(key, keep_slash=True)}")

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""
        self._call("DELETE", f"/api/v1/runs/{_segment(run_id)}")

    def restore_run(self, run_id: str) -> None:
        """Restore a run."""
        self._call("POST", f"/api/v1/runs/{_segment(run_id)}/restore")

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a series."""
        data = self._call("GET", f"/api/v1/runs/{_segment(run_id)}/metrics/history", params={"key": key})
        return [Metric.model_validate(m) for m in data]

    def get_metric_buckets(self, run_id: str, key: str, max_buckets: int = 1000) -> list[MetricBucket]:
        """A downsampled series (computed on the server)."""
        data = self._call(
            "GET",
            f"/api/v1/runs/{_segment(run_id)}/metrics/buckets",
            params={"key": key, "max_buckets": max_buckets},
        )
        return [MetricBucket.model_validate(b) for b in data]

    def search_runs(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """One page of runs."""
        body = {
            "project": project,
            "filter": filter,
            "order_by": list(order_by or []),
            "limit": limit,
            "page_token": page_token,
            "include_deleted": include_deleted,
        }
        data = self._call("POST", "/api/v1/runs/search", json=body)
        return RunPage([Run.model_validate(r) for r in data["runs"]], data.get("next_page_token"))

    # artifacts ----------------------------------------------------------------------------
    def log_artifacts(self, run_id: str, files: Sequence[tuple[Path, str]]) -> list[ArtifactInfo]:
        """Upload files one by one, streamed, each with its digest (the server checks it)."""
        infos = []
        for src, dst in files:
            local = hash_file(src)
            response = self._send(
                "PUT",
                f"/api/v1/runs/{_segment(run_id)}/artifacts/{_segment(dst, keep_slash=True)}",
                content_factory=lambda src=src: _file_chunks(Path(src)),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(local.size),
                    DIGEST_HEADER: local.digest,
                },
            )
            info = ArtifactInfo.model_validate(response.json())
            if info.digest != local.digest:
                raise errors.IntegrityError(
                    f"The server stored {dst!r} with digest {info.digest}, not {local.digest}: the file changed "
                    "while it was uploaded; log it again."
                )
            infos.append(info)
        return infos

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        """Artifacts of a run."""
        params = {"path": path} if path else None
        data = self._call("GET", f"/api/v1/runs/{_segment(run_id)}/artifacts", params=params)
        return [ArtifactInfo.model_validate(a) for a in data]

    def download_artifacts(self, run_id: str, path: str | None, dst: Path) -> Path:
        """Download artifacts, streamed into temp files and verified before they get their names."""
        pairs, result = download_plan(run_id, path, self.list_artifacts(run_id, path), Path(dst))
        for info, target in pairs:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._download(run_id, info, target)
        return result

    def _download(self, run_id: str, info: ArtifactInfo, target: Path) -> None:
        url = f"/api/v1/runs/{_segment(run_id)}/artifacts/{_segment(info.path, keep_slash=True)}"
        self._fetch(url, f"Artifact {info.path!r}", info.size, info.digest, target)

    def _fetch(
        self, url: str, label: str, size: int, digest: str, target: Path, progress: Progress | None = None
    ) -> None:
        """Stream ``url`` into a temp file beside ``target``; rename it only if its size and digest match."""
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        for attempt in range(self._retries + 1):
            hasher = blake3.blake3()
            received = 0
            try:
                response = self._send("GET", url, stream=True)
                try:
                    with tmp.open("wb") as out:
                        for chunk in response.iter_bytes(CHUNK_SIZE):
                            hasher.update(chunk)
                            received += len(chunk)
                            out.write(chunk)
                            if progress is not None:
                                progress(len(chunk))
                finally:
                    response.close()
            except httpx.TransportError:
                tmp.unlink(missing_ok=True)
                if attempt == self._retries:
                    raise errors.StoreError(f"Download of {label} from {self.uri} kept failing; retry later.") from None
                time.sleep(0.2 * 2**attempt)
                continue
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            actual = hasher.hexdigest()
            if received == size and actual == digest:
                tmp.replace(target)
                return
            tmp.unlink(missing_ok=True)
            if attempt == self._retries:
                raise errors.BlobCorruptedError(
                    f"{label} arrived with digest {actual} ({received} bytes), expected {digest} "
                    f"({size} bytes); the server's copy may be damaged."
                )

    # audit and maintenance ----------------------------------------------------------------
    def list_audit(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first."""
        params = {
            "user": filters.get("actor"),
            "action": filters.get("action"),
            "object_type": filters.get("object_type"),
            "object_id": filters.get("object_id"),
            "project": filters.get("project"),
            "since": _iso(filters.get("since_ms")),
            "until": _iso(filters.get("until_ms")),
            "before_id": filters.get("before_id"),
            "limit": filters.get("limit", 100),
        }
        data = self._call("GET", "/api/v1/audit", params={k: v for k, v in params.items() if v is not None})
        return [AuditEvent.model_validate(e) for e in data]

    def gc(self, *, dry_run: bool = True, grace_seconds: int | None = None) -> GcReport:
        """Garbage-collect the server's blob store (global admins)."""
        params: dict[str, Any] = {"dry_run": str(dry_run).lower()}
        if grace_seconds is not None:
            params["grace_seconds"] = grace_seconds
        return GcReport.model_validate(self._call("POST", "/api/v1/gc", params=params))

    # accounts -----------------------------------------------------------------------------
    def create_user(
        self, name: str, password: str | None = None, *, admin: bool = False, service_account: bool = False
    ) -> User:
        """Create a user (global admins)."""
        body = {"name": name, "password": password, "admin": admin, "service_account": service_account}
        return User.model_validate(self._call("POST", "/api/v1/users", json=body))

    def list_users(self) -> list[User]:
        """Every user (global admins)."""
        return [User.model_validate(u) for u in self._call("GET", "/api/v1/users")]

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        """Disable or enable a user."""
        return User.model_validate(self._call("PATCH", f"/api/v1/users/{_segment(name)}", json={"disabled": disabled}))

    def set_user_admin(self, name: str, admin: bool) -> User:
        """Grant or remove global admin."""
        return User.model_validate(self._call("PATCH", f"/api/v1/users/{_segment(name)}", json={"admin": admin}))

    def set_role(self, name: str, project: str, role: Role | None) -> Membership | None:
        """Give a user a role on a project (``None`` removes it)."""
        data = self._call(
            "PUT",
            f"/api/v1/projects/{_segment(project)}/members/{_segment(name)}",
            json={"role": None if role is None else Role(role).value},
        )
        return None if data is None else Membership.model_validate(data)

    def list_members(self, project: str) -> list[Membership]:
        """Members of a project."""
        return [
            Membership.model_validate(m) for m in self._call("GET", f"/api/v1/projects/{_segment(project)}/members")
        ]

    def create_token(self, user_name: str, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
        """Create an API token; returns it and its secret (shown once)."""
        data = self._call(
            "POST", "/api/v1/tokens", json={"user": user_name, "name": name, "expires_in_days": expires_in_days}
        )
        return ApiToken.model_validate(data["token"]), str(data["secret"])

    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        """API tokens (never their secrets)."""
        params = {"user": user_name} if user_name else None
        return [ApiToken.model_validate(t) for t in self._call("GET", "/api/v1/tokens", params=params)]

    def revoke_token(self, token_id: int) -> ApiToken:
        """Revoke a token."""
        return ApiToken.model_validate(self._call("DELETE", f"/api/v1/tokens/{int(token_id)}"))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def _segment(value: str, *, keep_slash: bool = False) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="/" if keep_slash else "")


def _json_float(value: float) -> float | str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as src:
        while chunk := src.read(CHUNK_SIZE):
            yield chunk
