"""One exception tree for the whole package.

Every error a user can provoke derives from :class:`MlopsError`, so callers (and the
faces: magics, CLI, REST) can catch one base class and show one clear line. Each
subclass also derives from the builtin exception a Python user would expect
(``KeyError`` for an unknown reference, ``ValueError`` for a bad argument), so
``except ValueError`` in user code keeps working.
"""

from __future__ import annotations

__all__ = [
    "MlopsError",
    "UsageError",
    "InvalidNameError",
    "NotFoundError",
    "AmbiguousReferenceError",
    "ConflictError",
    "IntegrityError",
    "StoreError",
    "StoreConnectionError",
    "SchemaVersionError",
    "NoActiveRunError",
    "ValidationError",
    "UnsafeModelError",
    "JobError",
    "GateFailedError",
    "AccessDeniedError",
]


class MlopsError(Exception):
    """Base of every error raised on purpose by mlops-jupyter."""

    #: exit status the CLI uses for this error (2 = bad usage, 1 = failure)
    exit_code: int = 1


class UsageError(MlopsError, ValueError):
    """A bad argument: wrong type, malformed value, unsupported option."""

    exit_code = 2


class InvalidNameError(UsageError):
    """A name (experiment, dataset, model, artifact, parameter) that is not accepted."""


class NotFoundError(MlopsError, KeyError):
    """A reference that names nothing; the message lists what exists."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class AmbiguousReferenceError(NotFoundError):
    """A prefix or name that matches more than one thing."""


class ConflictError(MlopsError):
    """A compare-and-set that lost: the current state is not what the caller expected."""


class IntegrityError(MlopsError):
    """Stored bytes do not hash to what the store recorded (tampered or truncated)."""


class StoreError(MlopsError):
    """The store cannot be opened or used."""


class StoreConnectionError(StoreError):
    """The database URL could not be reached (the message never shows the password)."""


class SchemaVersionError(StoreError):
    """The store was written by a newer mlops-jupyter than this one."""


class NoActiveRunError(MlopsError, RuntimeError):
    """A logging call was made with no run active and none could be started."""


class ValidationError(MlopsError, ValueError):
    """Data does not satisfy a schema (dataset validation, serving payloads)."""

    def __init__(self, message: str, violations: object | None = None) -> None:
        super().__init__(message)
        self.violations = violations


class UnsafeModelError(IntegrityError):
    """A model file asks for types or formats that are not trusted; nothing was loaded."""


class JobError(MlopsError):
    """A notebook job failed (cell error, timeout, dead kernel)."""


class GateFailedError(JobError):
    """A quality gate such as ``auc>=0.8`` did not hold."""


class AccessDeniedError(MlopsError, PermissionError):
    """The database refused an action for the connected user's role (PostgreSQL access
    control: reader, contributor, approver, admin; see docs/security.md)."""
