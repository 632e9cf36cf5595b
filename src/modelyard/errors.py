"""The modelyard exception tree.

Every error raised on purpose by modelyard is a :class:`ModelyardError`. Each class carries a
stable snake_case ``code`` that front doors use (the server maps classes to HTTP statuses in one
place, the CLI prints the message and exits 2), so the core never knows about HTTP::

    ModelyardError                      code "error"
    ├── InvalidInputError               "invalid_input"       bad name, value, path or argument
    │   ├── InvalidFilterError          "invalid_filter"      search language syntax error
    │   ├── ParamConflictError          "param_conflict"      a param re-logged with another value
    │   ├── SignatureMismatchError      "signature_mismatch"  model input does not match its signature
    │   ├── FlavorUnavailableError      "flavor_unavailable"  a model flavor's library is not installed
    │   └── InvalidPipelineError        "invalid_pipeline"    a pipeline's graph, steps or parameters are invalid
    ├── NotFoundError                   "not_found"
    │   ├── ProjectNotFoundError        "project_not_found"
    │   ├── RunNotFoundError            "run_not_found"
    │   ├── ArtifactNotFoundError       "artifact_not_found"
    │   ├── BlobNotFoundError           "blob_not_found"
    │   ├── DatasetNotFoundError        "dataset_not_found"   no such dataset, or no such version of it
    │   ├── ModelNotFoundError          "model_not_found"     no such registered model, version or alias
    │   ├── UserNotFoundError           "user_not_found"
    │   ├── TokenNotFoundError          "token_not_found"
    │   ├── PipelineNotFoundError       "pipeline_not_found"  no pipeline at this import path / no such pipeline run
    │   ├── ScheduleNotFoundError       "schedule_not_found"  the pipeline has no schedule
    │   └── TriggerNotFoundError        "trigger_not_found"   no such pipeline trigger
    ├── ConflictError                   "conflict"            the object exists / is in the wrong state
    ├── AuthenticationError             "unauthenticated"     no valid credentials (password, token, session)
    ├── PermissionDeniedError           "permission_denied"   authenticated, but the role does not allow it
    │   └── UntrustedModelError         "untrusted_model"     a pickle-based model package loaded without trust
    ├── IntegrityError                  "integrity_error"
    │   ├── BlobCorruptedError          "blob_corrupted"      stored bytes do not match their digest
    │   └── ModelIntegrityError         "model_integrity"     a model package file is tampered, missing or extra
    ├── ValidationError                 "validation_failed"   data failed its schema (carries the report)
    ├── StoreError                      "store_error"         the store cannot be opened or written
    │   └── SchemaOutdatedError         "schema_outdated"     run `modelyard db upgrade`
    ├── IncompatibleVersionError        "incompatible_version"
    └── PipelineFailedError             "pipeline_failed"     a step failed (names it; carries the run)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArtifactNotFoundError",
    "AuthenticationError",
    "BlobCorruptedError",
    "BlobNotFoundError",
    "ConflictError",
    "DatasetNotFoundError",
    "FlavorUnavailableError",
    "IncompatibleVersionError",
    "IntegrityError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidPipelineError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "ModelyardError",
    "NotFoundError",
    "ParamConflictError",
    "PermissionDeniedError",
    "PipelineFailedError",
    "PipelineNotFoundError",
    "ProjectNotFoundError",
    "RunNotFoundError",
    "ScheduleNotFoundError",
    "SchemaOutdatedError",
    "SignatureMismatchError",
    "StoreError",
    "TokenNotFoundError",
    "TriggerNotFoundError",
    "UntrustedModelError",
    "UserNotFoundError",
    "ValidationError",
]


class ModelyardError(Exception):
    """Base of every error modelyard raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        """Create the error with a message that says what is wrong and how to fix it."""
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        """Return the message alone."""
        return self.message


class InvalidInputError(ModelyardError):
    """An argument, name, value or path is invalid."""

    code = "invalid_input"


class InvalidFilterError(InvalidInputError):
    """A search filter or order-by clause does not parse."""

    code = "invalid_filter"


class ParamConflictError(InvalidInputError):
    """A param was logged again with a different value (params are immutable)."""

    code = "param_conflict"


class SignatureMismatchError(InvalidInputError):
    """Data given to a model does not match its signature (missing column, wrong type or shape)."""

    code = "signature_mismatch"


class FlavorUnavailableError(InvalidInputError):
    """A model flavor needs an optional library that is not installed (the message names the extra)."""

    code = "flavor_unavailable"


class InvalidPipelineError(InvalidInputError):
    """A pipeline's graph, steps or parameters are invalid (refused before anything runs)."""

    code = "invalid_pipeline"


class NotFoundError(ModelyardError):
    """The object asked for does not exist."""

    code = "not_found"


class ProjectNotFoundError(NotFoundError):
    """No project has this name."""

    code = "project_not_found"


class RunNotFoundError(NotFoundError):
    """No run has this id."""

    code = "run_not_found"


class ArtifactNotFoundError(NotFoundError):
    """The run has no artifact at this path."""

    code = "artifact_not_found"


class BlobNotFoundError(NotFoundError):
    """The blob store has no blob with this digest."""

    code = "blob_not_found"


class DatasetNotFoundError(NotFoundError):
    """No dataset has this name in the project, or the dataset has no such version."""

    code = "dataset_not_found"


class ModelNotFoundError(NotFoundError):
    """No registered model has this name in the project, or the model has no such version or alias."""

    code = "model_not_found"


class UserNotFoundError(NotFoundError):
    """No user has this name."""

    code = "user_not_found"


class TokenNotFoundError(NotFoundError):
    """No API token has this id."""

    code = "token_not_found"


class PipelineNotFoundError(NotFoundError):
    """No pipeline at this import path, or no pipeline run with this id."""

    code = "pipeline_not_found"


class ScheduleNotFoundError(NotFoundError):
    """The pipeline has no schedule."""

    code = "schedule_not_found"


class TriggerNotFoundError(NotFoundError):
    """No pipeline trigger matches."""

    code = "trigger_not_found"


class ConflictError(ModelyardError):
    """The object already exists or is in a state that forbids the change."""

    code = "conflict"


class AuthenticationError(ModelyardError):
    """The credentials (password, API token, session or sign-in link) are missing or not valid.

    Messages never say whether a user name exists.
    """

    code = "unauthenticated"


class PermissionDeniedError(ModelyardError):
    """The caller may not do this."""

    code = "permission_denied"


class UntrustedModelError(PermissionDeniedError):
    """A model package needs pickle to load and was not trusted (``trust=True`` or a registered version)."""

    code = "untrusted_model"


class IntegrityError(ModelyardError):
    """Stored data failed an integrity check."""

    code = "integrity_error"


class BlobCorruptedError(IntegrityError):
    """A blob's bytes do not match its digest; the corrupted bytes are never returned."""

    code = "blob_corrupted"


class ModelIntegrityError(IntegrityError):
    """A model package file does not match its manifest (tampered, missing or extra); nothing was loaded.

    Attributes:
        path: the package-relative path of the offending file.
    """

    code = "model_integrity"

    def __init__(self, message: str, path: str | None = None) -> None:
        """Create the error with its message and the offending file's path."""
        super().__init__(message)
        self.path = path


class ValidationError(ModelyardError):
    """Data failed validation against its schema; nothing was stored.

    Attributes:
        report: the :class:`~modelyard.entities.ValidationReport` listing every failure (``None``
            when the error came back from a server without it).
    """

    code = "validation_failed"

    def __init__(self, message: str, report: Any = None) -> None:
        """Create the error with its message and the validation report."""
        super().__init__(message)
        self.report = report


class StoreError(ModelyardError):
    """The metadata or blob store cannot be opened, read or written."""

    code = "store_error"


class SchemaOutdatedError(StoreError):
    """The database schema is older than this version of modelyard expects."""

    code = "schema_outdated"


class IncompatibleVersionError(ModelyardError):
    """Client and server versions cannot work together."""

    code = "incompatible_version"


class PipelineFailedError(ModelyardError):
    """A pipeline run failed: the message names the failed step and its error.

    Attributes:
        run: the :class:`~modelyard.entities.PipelineRun` (status ``FAILED``), or ``None`` when the
            error came back from a server without it.
        step: the name of the first step that failed, or ``None``.
    """

    code = "pipeline_failed"

    def __init__(self, message: str, run: Any = None, step: str | None = None) -> None:
        """Create the error with its message, the failed run and the failing step's name."""
        super().__init__(message)
        self.run = run
        self.step = step
