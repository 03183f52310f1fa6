"""Every error litejobs raises.

    LiteJobsError
    ├── ConfigurationError      unknown conf key or task option, bad value
    ├── SchemaError             not a litejobs store, or written by a newer litejobs
    ├── StoreError              the store cannot be used (busy past the bound, disk full, read-only)
    ├── SerializationError      an argument or result msgpack cannot carry
    ├── NotRegistered           no task of that name in this process
    ├── Retry                   control flow: the task asked to run again later
    ├── Reject                  control flow: the task refuses the job (it fails, or requeue=)
    ├── Ignore                  control flow: end the job with no result and no callbacks
    │   └── Replaced            control flow: self.replace(sig) handed the job to sig
    ├── MaxRetriesExceededError retries exhausted and no exception to re-raise
    ├── SoftTimeLimitExceeded   raised inside a task at its soft time limit
    ├── TimeLimitExceeded       the job was killed at its hard time limit
    ├── WorkerLostError         the process running the job died
    ├── TaskRevokedError        the job was revoked (or expired) before it finished
    ├── TaskError               a task failed with an exception this process cannot import
    ├── ChordError              a chord member failed
    └── TimeoutError            AsyncResult.get() gave up (also a built-in TimeoutError)
"""

from __future__ import annotations

import builtins
from typing import Any


class LiteJobsError(Exception):
    """Root of every litejobs error."""


class ConfigurationError(LiteJobsError, ValueError):
    """An unknown setting or task option, or a value it cannot take."""


class SchemaError(LiteJobsError):
    """The file is not a litejobs store, or its schema is newer than this litejobs."""


class StoreError(LiteJobsError):
    """The store cannot be used right now (locked past the bound, disk full, read-only)."""


class SerializationError(LiteJobsError, TypeError):
    """A value that msgpack (with litejobs' extension types) cannot carry."""


class NotRegistered(LiteJobsError, KeyError):
    """No task is registered under that name."""

    def __str__(self) -> str:
        return Exception.__str__(self)


class Retry(LiteJobsError):
    """Raised by ``self.retry()``: the job runs again at ``when`` (seconds or datetime)."""

    def __init__(
        self,
        message: str | None = None,
        exc: BaseException | None = None,
        when: float | None = None,
    ) -> None:
        self.exc = exc
        self.when = when
        super().__init__(message or (f"Retry in {when}s" if when is not None else "Retry"))


class Reject(LiteJobsError):
    """Raised by a task to fail its job at once, without retrying (``requeue=True``:
    put it back in its queue instead)."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        super().__init__(*(() if reason is None else (reason,)))
        self.reason = reason
        self.requeue = requeue


class Ignore(LiteJobsError):
    """Raised by a task to end its job leaving no result and calling no callbacks."""


class Replaced(Ignore):
    """Raised by ``self.replace(sig)``: the job's id, callbacks and place go to ``sig``."""

    def __init__(self, replacement: Any) -> None:
        super().__init__("replaced by a new task")
        self.replacement = replacement


class MaxRetriesExceededError(LiteJobsError):
    """The task asked to retry but has no retries left."""


class SoftTimeLimitExceeded(LiteJobsError):
    """The task ran past its soft time limit; raised inside the task."""


class TimeLimitExceeded(LiteJobsError):
    """The task ran past its hard time limit and its process was killed."""


class WorkerLostError(LiteJobsError):
    """The process running the job died before reporting an outcome."""


class TaskRevokedError(LiteJobsError):
    """The job was revoked (or expired) and did not complete."""


class TaskError(LiteJobsError):
    """A task failed with an exception whose class this process cannot import."""

    def __init__(self, exc_type: str, message: str, traceback: str | None = None) -> None:
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback
        super().__init__(f"{exc_type}: {message}")

    def __reduce__(self) -> Any:
        return (TaskError, (self.exc_type, self.message, self.traceback))


class ChordError(LiteJobsError):
    """A member of a chord's header failed, so its body does not run."""


class TimeoutError(LiteJobsError, builtins.TimeoutError):  # noqa: A001 - Celery's name
    """``AsyncResult.get(timeout=...)`` gave up waiting."""


__all__ = [
    "ChordError",
    "ConfigurationError",
    "Ignore",
    "LiteJobsError",
    "MaxRetriesExceededError",
    "NotRegistered",
    "Reject",
    "Replaced",
    "Retry",
    "SchemaError",
    "SerializationError",
    "SoftTimeLimitExceeded",
    "StoreError",
    "TaskError",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "TimeoutError",
    "WorkerLostError",
]
