"""The registry on the client side: ``log_model``, verified cached loading, and registry operations.

``log_model`` writes a package with :func:`modelyard.models.save_model` into a temporary directory,
stores its files as the run's ``model/`` artifacts (so ``runs:/<run id>/model`` works) and, with
``register=True``, registers the next version of the named model from them.

``load`` resolves a reference to a package manifest, materialises the package once into
``<home>/cache/models/<package digest>/`` (written beside it, then renamed into place, so a
half-written cache entry is never seen), and loads it with every file verified against the
registry's manifest — also when it comes from the cache.

The trust rule: a package that needs pickle (``unsafe_format``) loads without ``trust=True`` only
from the store, as a version registered by an authenticated user with write access to its project
(``ModelVersion.trusted``; in embedded mode the caller owns the store, so what it registers is
trusted). Over a server with auth off nobody is authenticated: its versions are not trusted. A
run's package (``runs:/<id>/model``) is trusted when it is embedded or is the package of a trusted
version registered from that run. Anything else — an arbitrary directory included — needs
``trust=True``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.data._manifest import digest_of_entries
from modelyard.entities import AliasChange, ModelFile, ModelVersion, PromotionRequest, RegisteredModel
from modelyard.errors import InvalidInputError, ModelIntegrityError, UntrustedModelError
from modelyard.registry._refs import parse_model_ref

if TYPE_CHECKING:
    from modelyard.client import Client
    from modelyard.models import LoadedModel, ModelPackage

__all__ = ["MODEL_ARTIFACT_PATH", "RegistryClient"]

MODEL_ARTIFACT_PATH = "model"
"""Where ``log_model`` stores a package among the run's artifacts."""


class RegistryClient:
    """Model packages and the registry through one :class:`~modelyard.client.Client` (``client.registry``)."""

    def __init__(self, client: Client) -> None:
        """Work through ``client``'s backend and default project."""
        self.client = client
        self.backend: Any = client.backend

    def _project(self, project: str | None) -> str:
        return project or self.client.project

    @property
    def cache_dir(self) -> Path:
        """Where loaded packages are cached: ``<home>/cache/models``."""
        location = getattr(self.backend, "location", None)
        home = getattr(location, "home", None) or self.client.settings.home
        return Path(home).expanduser().absolute() / "cache" / "models"

    # logging ------------------------------------------------------------------------------
    def log_model(
        self,
        run_id: str,
        model: Any,
        name: str,
        *,
        input_example: Any = None,
        signature: Any = None,
        requirements: Sequence[str] | None = None,
        register: bool = True,
        eval_data: Any = None,
        target: Any = None,
        flavor: str | None = None,
        description: str = "",
        shap: bool | None = None,
    ) -> ModelVersion | ModelPackage:
        """Package ``model`` on run ``run_id`` (artifacts under ``model/``) and register it as ``name``.

        Args:
            run_id: the run the model belongs to (its project is the model's project).
            model: the model object (any flavor :func:`~modelyard.models.save_model` handles).
            name: the registered model's name.
            input_example: a few input rows; the signature is inferred from them.
            signature: an explicit signature.
            requirements: extra pinned requirements.
            register: create the next registered version (else only the run's package is written).
            eval_data: evaluation data for permutation feature importance: ``(X, y)``, or a
                DataFrame with the label column named by ``target``.
            target: the label column of ``eval_data`` when it is a DataFrame.
            flavor: force a flavor (default: detected).
            description: the version's description.
            shap: with ``eval_data``, also store the mean absolute SHAP value per feature (default:
                when the ``shap`` extra is installed; ``False`` skips it, ``True`` requires it).

        Returns:
            The new :class:`ModelVersion`, or the :class:`~modelyard.models.ModelPackage` written
            when ``register=False``.
        """
        from modelyard.models import save_model
        from modelyard.models._manifest import early_writeback
        from modelyard.registry._refs import validate_model_name

        validate_model_name(name)
        importance = None
        if eval_data is not None:
            importance = _importance(model, eval_data, target, _want_shap(shap))
        # Staged beside the store (same filesystem as a local blob store by default), so the files
        # can be hardlinked into it instead of copied a second time.
        staging = self.cache_dir.parent / "tmp"
        staging.mkdir(parents=True, exist_ok=True)
        local = getattr(self.backend, "location", None) is not None
        if register:
            self.client.flush(wait=False)  # the version snapshots the run's metrics: write them while packaging
        with tempfile.TemporaryDirectory(prefix="modelyard-model-", dir=staging) as tmp:
            package_dir = Path(tmp) / "package"
            # A local store fsyncs these very files as blobs: start their writeback while writing.
            with early_writeback() if local else contextlib.nullcontext():
                package = save_model(
                    model,
                    package_dir,
                    flavor=flavor,
                    input_example=input_example,
                    signature=signature,
                    requirements=requirements,
                    run_id=run_id,
                )
            files = [(package_dir / rel, f"{MODEL_ARTIFACT_PATH}/{rel}") for rel in sorted(package.files)]
            # save_model hashed every file as it wrote it: the blob store need not read them again
            known = {f"{MODEL_ARTIFACT_PATH}/{rel}": entry for rel, entry in package.files.items()}
            if register:
                self.client.flush()
            # one call, one transaction: the artifact rows and, registering, the version
            _, version = self.backend.log_model_package(
                run_id,
                files,
                known=known,
                register=name if register else None,
                artifact_path=MODEL_ARTIFACT_PATH,
                importance=importance,
                description=description,
            )
        return package if version is None else version

    def register(
        self, name: str, run_id: str, *, path: str = MODEL_ARTIFACT_PATH, project: str | None = None
    ) -> ModelVersion:
        """Register a package already logged on a run (``log_model(..., register=False)``, autolog)."""
        project = project or self.client.get_run(run_id).project
        result: ModelVersion = self.backend.register_model_version(project, name, run_id, path)
        return result

    # loading ------------------------------------------------------------------------------
    def load(self, ref: str | ModelVersion, *, project: str | None = None, trust: bool = False) -> LoadedModel:
        """Load a model: ``models:/churn@champion``, ``churn@3``, ``runs:/<run id>/model`` or a directory path.

        Store packages are materialised once into the cache and verified on every load; a local
        directory is loaded as it is and needs ``trust=True`` if its format needs pickle.
        """
        from modelyard.models import load_model

        if isinstance(ref, ModelVersion):
            project, ref = ref.project, ref.ref
        if not isinstance(ref, str) or not ref:
            raise InvalidInputError(f"model reference must be a non-empty string, got {ref!r}.")
        if not ref.startswith(("models:/", "runs:/")) and ("/" in ref or os.sep in ref):
            # a path (``./churn``, ``/models/churn``); a bare name is always a registered model
            return load_model(ref, trust=trust)
        parsed = parse_model_ref(ref)
        if parsed.is_run:
            assert parsed.run_id is not None and parsed.path is not None
            artifacts = self.backend.list_artifacts(parsed.run_id, parsed.path)
            files = [
                ModelFile(path=a.path.removeprefix(parsed.path + "/"), size=a.size, digest=a.digest)
                for a in artifacts
                if a.path != parsed.path
            ]
            if not files:
                raise InvalidInputError(f"{ref} holds no model package; log one with yard.log_model.")
            run_id, path = parsed.run_id, parsed.path
            source = f"runs:/{run_id}/{path}"

            def fetch(dst: Path) -> None:
                self.backend.download_artifacts(run_id, path, dst)
                staged = dst / Path(path).name
                for item in staged.iterdir():
                    item.rename(dst / item.name)
                staged.rmdir()

        else:
            version = self.backend.get_model_version(self._project(project), ref)
            files = version.files
            exact = version.ref
            source = version.ref

            def fetch(dst: Path) -> None:
                self.backend.download_model(version.project, exact, dst)

        expected = {f.path: (f.digest, f.size) for f in files}
        digest = digest_of_entries((f.path, f.digest, f.size) for f in files)
        if parsed.is_run:
            trusted = self._run_package_trusted(run_id, digest)
        else:
            trusted = version.trusted
        directory = self._cached(digest, fetch)
        try:
            return load_model(directory, trust=trust or trusted, expected_files=expected)
        except ModelIntegrityError:
            shutil.rmtree(directory, ignore_errors=True)  # the next load fetches a fresh copy
            raise
        except UntrustedModelError:
            raise UntrustedModelError(
                f"{source} needs pickle to load, and it is not a version registered by an authenticated user "
                "with write access to its project (registered over a server with auth off, or a run's package "
                "never registered): register it as an authenticated editor, or pass trust=True if you trust "
                "whoever wrote it."
            ) from None

    def _run_package_trusted(self, run_id: str, digest: str) -> bool:
        """Embedded stores are the caller's own; on a server, a run's package needs a trusted version."""
        if getattr(self.backend, "location", None) is not None:  # LocalBackend: the caller owns the store
            return True
        return any(v.trusted and v.digest == digest for v in self.versions_of_run(run_id))

    def _cached(self, digest: str, fetch: Any) -> Path:
        target = self.cache_dir / digest
        if target.is_dir():
            return target
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = self.cache_dir / f".{digest}.{uuid.uuid4().hex[:8]}.tmp"
        staging.mkdir()
        try:
            fetch(staging)
            try:
                os.rename(staging, target)
            except OSError:
                if not target.is_dir():  # not a concurrent load that finished first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def download(self, ref: str, dst: str | Path, *, project: str | None = None) -> ModelVersion:
        """Write a version's package files under ``dst``, each verified."""
        result: ModelVersion = self.backend.download_model(self._project(project), ref, Path(dst))
        return result

    # registry -----------------------------------------------------------------------------
    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        """Registered models of a project."""
        result: list[RegisteredModel] = self.backend.list_models(self._project(project))
        return result

    def get_model(self, name: str, *, project: str | None = None) -> RegisteredModel:
        """A registered model with its aliases and environments."""
        result: RegisteredModel = self.backend.get_model(self._project(project), name)
        return result

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        project: str | None = None,
    ) -> RegisteredModel:
        """Change a model's description or tags."""
        result: RegisteredModel = self.backend.update_model(
            self._project(project), name, description=description, tags=tags
        )
        return result

    def list_versions(self, name: str, *, project: str | None = None) -> list[ModelVersion]:
        """Versions of a model, newest first."""
        result: list[ModelVersion] = self.backend.list_model_versions(self._project(project), name)
        return result

    def get_version(self, ref: str, *, project: str | None = None) -> ModelVersion:
        """The version a reference names (with its files)."""
        result: ModelVersion = self.backend.get_model_version(self._project(project), ref)
        return result

    def set_alias(self, name: str, alias: str, version: int, *, project: str | None = None) -> ModelVersion:
        """Point an alias at a version (moved atomically)."""
        result: ModelVersion = self.backend.set_model_alias(self._project(project), name, alias, version)
        return result

    def delete_alias(self, name: str, alias: str, *, project: str | None = None) -> None:
        """Remove an alias."""
        self.backend.delete_model_alias(self._project(project), name, alias)

    def request_promotion(
        self, ref: str, environment: str, *, reason: str = "", project: str | None = None
    ) -> PromotionRequest:
        """Ask for a version to enter an environment (an approver decides)."""
        result: PromotionRequest = self.backend.request_promotion(self._project(project), ref, environment, reason)
        return result

    def approve(self, request_id: int, *, reason: str = "", project: str | None = None) -> PromotionRequest:
        """Approve a pending promotion (moves the environment)."""
        result: PromotionRequest = self.backend.decide_promotion(
            self._project(project), request_id, approve=True, reason=reason
        )
        return result

    def reject(self, request_id: int, *, reason: str, project: str | None = None) -> PromotionRequest:
        """Reject a pending promotion, with a reason."""
        result: PromotionRequest = self.backend.decide_promotion(
            self._project(project), request_id, approve=False, reason=reason
        )
        return result

    def list_promotions(
        self, name: str | None = None, *, state: str | None = None, project: str | None = None
    ) -> list[PromotionRequest]:
        """Promotion requests, newest first."""
        result: list[PromotionRequest] = self.backend.list_promotions(self._project(project), name, state)
        return result

    def archive(self, ref: str, *, project: str | None = None) -> ModelVersion:
        """Archive a version."""
        result: ModelVersion = self.backend.set_model_version_archived(self._project(project), ref, True)
        return result

    def restore(self, ref: str, *, project: str | None = None) -> ModelVersion:
        """Restore an archived version."""
        result: ModelVersion = self.backend.set_model_version_archived(self._project(project), ref, False)
        return result

    def history(
        self, name: str, target: str | None = None, *, until_ms: int | None = None, project: str | None = None
    ) -> list[AliasChange]:
        """Moves of a model's aliases and environments, oldest first (from the audit log)."""
        result: list[AliasChange] = self.backend.model_history(self._project(project), name, target, until_ms)
        return result

    def holder_at(self, name: str, target: str, at_ms: int, *, project: str | None = None) -> int | None:
        """The version an alias or environment pointed at, at ``at_ms`` (epoch ms)."""
        changes = self.history(name, target, until_ms=at_ms, project=project)
        return changes[-1].version if changes else None

    def rollback(
        self,
        name: str,
        target: str,
        *,
        at_ms: int | None = None,
        reason: str = "",
        project: str | None = None,
    ) -> ModelVersion:
        """Move an alias or environment back to the version it held at ``at_ms`` (or its previous one)."""
        result: ModelVersion = self.backend.rollback_model(self._project(project), name, target, at_ms, reason)
        return result

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The model versions registered from a run."""
        result: list[ModelVersion] = self.backend.model_versions_of_run(run_id)
        return result


def _want_shap(shap: bool | None) -> bool:
    from modelyard.models import shap_available

    if shap and not shap_available():
        raise InvalidInputError("shap=True needs the shap extra: pip install 'modelyard[shap]'.")
    return shap_available() if shap is None else bool(shap)


def _importance(model: Any, eval_data: Any, target: Any, shap: bool = False) -> dict[str, dict[str, float]]:
    from modelyard.models import permutation_importance

    if isinstance(eval_data, tuple):
        if len(eval_data) != 2:
            raise InvalidInputError("eval_data must be (X, y) or a DataFrame with target= naming the label column.")
        X, y = eval_data
        result: dict[str, dict[str, float]] = permutation_importance(model, X, y, shap=shap)
        return result
    if target is None:
        raise InvalidInputError("eval_data as a DataFrame needs target= naming its label column (or pass (X, y)).")
    result = permutation_importance(model, eval_data, target, shap=shap)
    return result
