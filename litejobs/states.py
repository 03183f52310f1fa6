"""Celery's state names, as ``AsyncResult.state`` shows them."""

from __future__ import annotations

from .job import JobState

PENDING = "PENDING"
STARTED = "STARTED"
RETRY = "RETRY"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
REVOKED = "REVOKED"

READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})
EXCEPTION_STATES = frozenset({FAILURE, RETRY, REVOKED})
ALL_STATES = frozenset({PENDING, STARTED, RETRY, SUCCESS, FAILURE, REVOKED})

_FINISHED = {JobState.SUCCESS: SUCCESS, JobState.FAILURE: FAILURE, JobState.REVOKED: REVOKED}


def celery_state(state: JobState | None, custom_state: str | None, retries: int) -> str:
    """The Celery state of a stored job (None: unknown id, which Celery calls PENDING)."""
    if state is None:
        return PENDING
    if state is JobState.RUNNING:
        return custom_state or STARTED
    if state is JobState.PENDING or state is JobState.SCHEDULED:
        return RETRY if retries else PENDING
    return _FINISHED[state]
