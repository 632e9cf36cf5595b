"""Remotes: where an embedded store pushes its dataset versions to, and pulls them from.

A remote is any fsspec URL (a local directory, ``file://``, ``s3://bucket/prefix``, ``gs://...``,
``memory://`` in tests) holding the blob store's layout plus one JSON manifest per version::

    <remote>/objects/ab/cdef0123...                        blobs, as in the local blob store
    <remote>/datasets/<project>/<name>/<version>.json      version manifests
    <remote>/quarantine/<digest>.<ns>                      corrupted blobs a pull set aside

Which remotes exist is client configuration (``remotes.json`` in the store's home, see
:mod:`modelyard.data._remote_config`); what a remote holds is read and written by
:class:`~modelyard.data._remote_store.RemoteStore`.

Push (:func:`push`): for each selected version, the blobs the remote lacks are found in one batch and
copied in parallel (verified, retried); the version's manifest is written **only after** every blob
it references is durable on the remote, so an interrupted push never publishes a version whose files
are missing. Pull (:func:`pull`) copies the missing blobs into the local blob store (verified: a
corrupted remote blob is moved to the remote's ``quarantine/`` and the error names the dataset,
version and file) and then records the version with the same number, digest, files and metadata, so
a pull into an empty store reproduces the version exactly.

In server mode the server is the remote: datasets already live there and move through its API,
with its authentication and audit, so push and pull refuse an HTTP backend.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.data._refs import DatasetRef, parse_ref
from modelyard.data._remote_config import REMOTES_FILE, Remote, RemoteConfig
from modelyard.data._remote_store import MANIFEST_FORMAT, RemoteStore
from modelyard.data._transfer import BlobJob, BlobTransfer, TransferProgress
from modelyard.entities import DatasetVersion
from modelyard.errors import (
    ConflictError,
    DatasetNotFoundError,
    InvalidInputError,
    NotFoundError,
)
from modelyard.names import validate_name

if TYPE_CHECKING:
    from modelyard.client import Client
    from modelyard.data._service import DatasetService

__all__ = [
    "MANIFEST_FORMAT",
    "REMOTES_FILE",
    "Remote",
    "RemoteConfig",
    "RemoteStore",
    "TransferReport",
    "VersionTransfer",
    "add_remote",
    "import_version",
    "list_remotes",
    "pull",
    "push",
    "remote_config",
    "remove_remote",
]

_list = builtins.list


# -- results ------------------------------------------------------------------------------------


class VersionTransfer(BaseModel):
    """What a push or pull did with one version."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    digest: str
    status: Literal["pushed", "repaired", "up_to_date", "pulled", "present"]
    """``pushed``: manifest published; ``repaired``: it was there but blobs were missing;
    ``up_to_date``: nothing to do; ``pulled``: recorded locally; ``present``: the local store had it."""
    blobs: int = 0
    """Blobs copied for this version."""
    bytes: int = 0
    """Bytes copied for this version."""

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"


class TransferReport(BaseModel):
    """What a push or a pull did."""

    model_config = ConfigDict(extra="forbid")

    direction: Literal["push", "pull"]
    remote: str
    url: str
    project: str
    versions: _list[VersionTransfer] = Field(default_factory=_list)
    blobs: int = 0
    """Blobs copied."""
    bytes: int = 0
    """Bytes copied."""
    blobs_skipped: int = 0
    """Blobs the destination already held."""
    seconds: float = 0.0


# -- push and pull --------------------------------------------------------------------------------


class _Plan:
    """The blobs to copy for some versions: each digest once, charged to the first version using it."""

    def __init__(self, versions: Sequence[DatasetVersion], missing: set[str]) -> None:
        self.jobs: dict[str, BlobJob] = {}
        self.owner: dict[str, str] = {}
        self.waits: dict[str, set[str]] = {}
        for version in versions:
            key = _key(version)
            needed = self.waits.setdefault(key, set())
            for f in version.files:
                if f.digest in missing:
                    needed.add(f.digest)
                    if f.digest not in self.jobs:
                        self.jobs[f.digest] = BlobJob(f.digest, f.size, f"{version.ref}, file {f.path!r}")
                        self.owner[f.digest] = key

    @property
    def total(self) -> int:
        """Bytes to copy."""
        return sum(j.size for j in self.jobs.values())

    def copied(self, version: DatasetVersion) -> tuple[int, int]:
        """Blobs and bytes copied on behalf of ``version``."""
        key = _key(version)
        own = [self.jobs[d] for d in self.waits[key] if self.owner[d] == key]
        return len(own), sum(j.size for j in own)


def _key(version: DatasetVersion) -> str:
    return f"{version.project}/{version.ref}"


def push_versions(
    service: DatasetService,
    remote: RemoteStore,
    versions: Sequence[DatasetVersion],
    *,
    progress: TransferProgress | None = None,
    workers: int | None = None,
    retries: int = 3,
) -> TransferReport:
    """Push local versions (with their files) to a remote; see :func:`push`.

    All the blobs are copied in one parallel transfer; then each version whose blobs are all durable
    on the remote gets its manifest — also when another version's blob failed, before the error is
    raised.

    Raises:
        ConflictError: the remote holds one of these version numbers with other content.
    """
    started = time.perf_counter()
    project = versions[0].project if versions else ""
    report = TransferReport(direction="push", remote=remote.remote.name, url=remote.remote.url, project=project)
    # Refuse a diverged remote before copying anything.
    published: dict[str, bool] = {}
    for version in versions:
        existing = remote.read_manifest(version.project, version.name, version.version)
        if existing is not None and existing.digest != version.digest:
            raise ConflictError(
                f"{remote.label} already holds {version.ref} with other content (sha:{existing.digest[:12]}) "
                f"than the local {version.ref} (sha:{version.digest[:12]}): the stores have diverged. "
                "Push to another remote, or pull the remote's version into another project first."
            )
        published[_key(version)] = existing is not None
    wanted = {f.digest for v in versions for f in v.files}
    missing = wanted - remote.present(wanted)
    plan = _Plan(versions, missing)
    report.blobs_skipped = len(wanted) - len(missing)
    if progress is not None:
        progress.start(plan.total, len(plan.jobs))
    transfer = BlobTransfer(
        service.blobs,
        remote.blobs,
        src_name="the local blob store",
        workers=workers,
        retries=retries,
        progress=progress,
    )
    error: BaseException | None = None
    try:
        transfer.copy(_list(plan.jobs.values()))
    except Exception as exc:  # noqa: BLE001 - raised below, once the complete versions are published
        error = exc
    for version in versions:
        key = _key(version)
        if not plan.waits[key] <= transfer.completed:
            continue  # a blob is missing: this version stays unpublished
        if not published[key]:
            remote.write_manifest(version)
        status: Literal["pushed", "repaired", "up_to_date"] = (
            "pushed" if not published[key] else ("repaired" if plan.waits[key] else "up_to_date")
        )
        blobs, size = plan.copied(version)
        report.versions.append(
            VersionTransfer(
                name=version.name,
                version=version.version,
                digest=version.digest,
                status=status,
                blobs=blobs,
                bytes=size,
            )
        )
        report.blobs += blobs
        report.bytes += size
    if error is not None:
        raise error
    report.seconds = time.perf_counter() - started
    return report


def pull_versions(
    service: DatasetService,
    remote: RemoteStore,
    versions: Sequence[DatasetVersion],
    *,
    progress: TransferProgress | None = None,
    workers: int | None = None,
    retries: int = 3,
) -> TransferReport:
    """Pull remote versions into the local store; see :func:`pull`.

    All the blobs are copied in one parallel transfer; then each version whose blobs are all durable
    in the local blob store is recorded — also when another version's blob failed, before the error
    is raised.

    Raises:
        ConflictError: the local store holds one of these version numbers with other content.
    """
    started = time.perf_counter()
    project = versions[0].project if versions else ""
    report = TransferReport(direction="pull", remote=remote.remote.name, url=remote.remote.url, project=project)
    todo: _list[DatasetVersion] = []
    for version in versions:
        local = _local_version(service, version)
        if local is None:
            todo.append(version)
            continue
        if local.digest != version.digest:
            raise ConflictError(
                f"the local store already holds {version.ref} with other content (sha:{local.digest[:12]}) than "
                f"{remote.label} (sha:{version.digest[:12]}): the stores have diverged. Pull into another project."
            )
        report.versions.append(
            VersionTransfer(name=version.name, version=version.version, digest=version.digest, status="present")
        )
    wanted = {f.digest for v in todo for f in v.files}
    missing = wanted - service.blobs.exists_many(wanted)
    plan = _Plan(todo, missing)
    report.blobs_skipped = len(wanted) - len(missing)
    if progress is not None:
        progress.start(plan.total, len(plan.jobs))
    transfer = BlobTransfer(
        remote.blobs, service.blobs, src_name=remote.label, workers=workers, retries=retries, progress=progress
    )
    error: BaseException | None = None
    try:
        transfer.copy(_list(plan.jobs.values()))
    except Exception as exc:  # noqa: BLE001 - raised below, once the complete versions are recorded
        error = exc
    for version in sorted(todo, key=lambda v: (v.name, v.version)):
        if not plan.waits[_key(version)] <= transfer.completed:
            continue  # a blob is missing: this version is not recorded
        import_version(service, version, source=remote.remote.url)
        blobs, size = plan.copied(version)
        report.versions.append(
            VersionTransfer(
                name=version.name,
                version=version.version,
                digest=version.digest,
                status="pulled",
                blobs=blobs,
                bytes=size,
            )
        )
        report.blobs += blobs
        report.bytes += size
    if error is not None:
        raise error
    report.versions.sort(key=lambda v: (v.name, v.version))
    report.seconds = time.perf_counter() - started
    return report


def _local_version(service: DatasetService, version: DatasetVersion) -> DatasetVersion | None:
    try:
        return service.get_version(
            version.project, f"{version.name}@{version.version}", files=False, include_deleted=True
        )
    except NotFoundError:
        return None


def import_version(service: DatasetService, version: DatasetVersion, *, source: str) -> tuple[DatasetVersion, bool]:
    """Record a version exactly as another store holds it (see :meth:`DatasetService.import_version`)."""
    return service.import_version(version, source=source)


# -- the client side ----------------------------------------------------------------------------


def _client(client: Client | None) -> Client:
    if client is not None:
        return client
    from modelyard.tracking import get_client

    return get_client()


def _local_parts(client: Client, action: str) -> tuple[DatasetService, Path]:
    """The dataset service and home directory of an embedded store; refuse a server."""
    backend = client.backend
    service = getattr(backend, "datasets", None)
    if service is None or not hasattr(backend, "location"):
        raise InvalidInputError(
            f"cannot {action} with {backend.uri}: in server mode the server is the remote. Datasets already live on "
            "the server and move through its API (`modelyard data add` / `modelyard data get` with MODELYARD_URI set "
            "to it); remotes are for embedded stores."
        )
    home = backend.location.home or client.settings.home
    return service, Path(home).expanduser().absolute()


def remote_config(client: Client | None = None) -> RemoteConfig:
    """The remote configuration of a client's embedded store (``<home>/remotes.json``)."""
    _, home = _local_parts(_client(client), "use remotes")
    return RemoteConfig(home / REMOTES_FILE)


def add_remote(
    name: str, url: str, *, default: bool = False, replace: bool = False, client: Client | None = None
) -> Remote:
    """Add a remote to the store's configuration (the first one added is the default).

    Args:
        name: The remote's name (letters, digits, ``_ . -``).
        url: A local directory, ``file://``, ``s3://bucket/prefix``, ``gs://...`` or any fsspec URL.
        default: Make it the remote push and pull use when none is named.
        replace: Change the URL of an existing remote of this name.
        client: The client whose store is configured (default: the fluent API's).
    """
    return remote_config(client).add(name, url, default=default, replace=replace)


def list_remotes(*, client: Client | None = None) -> _list[Remote]:
    """The configured remotes, by name."""
    return remote_config(client).list()


def remove_remote(name: str, *, client: Client | None = None) -> Remote:
    """Remove a remote from the configuration (its content is left untouched)."""
    return remote_config(client).remove(name)


def _select_local(
    client: Client, service: DatasetService, project: str, ref: str | None, all_versions: bool
) -> _list[DatasetVersion]:
    if ref is None:
        names = [d.name for d in client.data.list(project=project)]
        if not names:
            raise DatasetNotFoundError(f"project {project!r} has no datasets to push.")
    else:
        parsed = parse_ref(ref)
        if "@" in ref:
            if all_versions:
                raise InvalidInputError(f"give either a version ({ref}) or --all-versions, not both.")
            return [service.get_version(project, ref)]
        names = [parsed.name]
    selected: _list[DatasetVersion] = []
    for name in names:
        numbers = sorted(v.version for v in service.list_versions(project, name))
        if not numbers:
            continue
        for number in numbers if all_versions else numbers[-1:]:
            selected.append(service.get_version(project, f"{name}@{number}"))
    return selected


def push(
    ref: str | None = None,
    *,
    remote: str | None = None,
    all_versions: bool = False,
    project: str | None = None,
    client: Client | None = None,
    progress: TransferProgress | None = None,
    workers: int | None = None,
    retries: int = 3,
) -> TransferReport:
    """Push dataset versions and their files to a remote.

    Every blob a version references is copied (those the remote lacks, found in one batch, in
    parallel, verified, retried) and durable on the remote before the version's manifest is
    written, so an interrupted push publishes nothing incomplete; pushing again resumes.

    Args:
        ref: ``NAME`` (its newest version), ``NAME@V`` / ``NAME@sha:<prefix>`` (that version), or
            ``None`` (the newest version of every dataset of the project).
        remote: The remote's name (default: the default remote, or the only one).
        all_versions: Push every live version of the selected datasets, not only the newest.
        project: The datasets' project (default: the client's current project).
        client: The client whose store is pushed (default: the fluent API's).
        progress: Receives the bytes copied (the CLI draws a progress bar).
        workers: Parallel copies (default: chosen from the CPU count and the kind of remote).
        retries: Further attempts for a blob after a transient error.

    Raises:
        InvalidInputError: the client talks to a server (the server is the remote), or a bad reference.
        NotFoundError: no such remote, dataset or version.
        ConflictError: the remote holds one of these version numbers with other content.
        BlobCorruptedError: a local blob does not match its digest (it was quarantined).
    """
    client = _client(client)
    service, home = _local_parts(client, "push")
    project = validate_name(project or client.project, "project name")
    store = RemoteStore(RemoteConfig(home / REMOTES_FILE).get(remote))
    versions = _select_local(client, service, project, ref, all_versions)
    return push_versions(service, store, versions, progress=progress, workers=workers, retries=retries)


def pull(
    ref: str | None = None,
    *,
    remote: str | None = None,
    all_versions: bool = False,
    project: str | None = None,
    client: Client | None = None,
    progress: TransferProgress | None = None,
    workers: int | None = None,
    retries: int = 3,
) -> TransferReport:
    """Pull dataset versions and their files from a remote into the local store.

    Missing blobs are copied in parallel into the local blob store, each verified (a corrupted
    remote blob is refused, moved to the remote's ``quarantine/``, and the error names the
    dataset, version and file); then each version is recorded with the same number, digest, files
    and metadata. Versions the local store already has (same digest) are skipped.

    Args:
        ref: ``NAME`` (the remote's newest version), ``NAME@V`` / ``NAME@sha:<prefix>``, or ``None``
            (the newest version of every dataset the remote holds for the project).
        remote: The remote's name (default: the default remote, or the only one).
        all_versions: Pull every version the remote holds of the selected datasets.
        project: The project (default: the client's current project).
        client: The client whose store receives the versions (default: the fluent API's).
        progress: Receives the bytes copied.
        workers: Parallel copies.
        retries: Further attempts for a blob after a transient error.

    Raises:
        InvalidInputError: the client talks to a server, or a bad reference.
        NotFoundError: no such remote, dataset or version on the remote.
        ConflictError: the local store holds one of these version numbers with other content.
        BlobCorruptedError: a remote blob does not match its digest.
    """
    client = _client(client)
    service, home = _local_parts(client, "pull")
    project = validate_name(project or client.project, "project name")
    store = RemoteStore(RemoteConfig(home / REMOTES_FILE).get(remote))
    if ref is None:
        names = store.dataset_names(project)
        if not names:
            raise DatasetNotFoundError(f"{store.label} holds no datasets in project {project!r}.")
        refs = [DatasetRef(n) for n in names]
    else:
        parsed = parse_ref(ref)
        if "@" in ref and all_versions:
            raise InvalidInputError(f"give either a version ({ref}) or --all-versions, not both.")
        refs = [parsed]
    versions = [v for r in refs for v in store.resolve(project, r, all_versions=all_versions)]
    return pull_versions(service, store, versions, progress=progress, workers=workers, retries=retries)
