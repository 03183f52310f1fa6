"""What both stores share beneath the interface: loading their named statements and
scripts, the texts they store for a revocation or a failed chord, logging stale outcomes."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from ..exceptions import TaskRevokedError, WorkerLostError
from ..job import Job, JobState, Outcome
from .base import JobQuery

log = logging.getLogger("litejobs.store")

class LeaseClock:
    """Lease arithmetic on one clock for every process, whatever their wall clocks say.

    ``read()`` gives the shared clock (the host's CLOCK_BOOTTIME for SQLite, the Redis
    server's TIME); ``now(t)`` puts the caller's time ``t`` on it. The offset from this
    process's wall clock is kept while it stays within ``tolerance`` (reads jitter by
    microseconds, or a round trip), so equal ``t`` gives equal lease times, and is
    taken anew when the wall clock steps. ``t`` keeps its meaning: tests step it.
    """

    def __init__(self, read: Callable[[], float], tolerance: float) -> None:
        self.read = read
        self.tolerance = tolerance
        self._offset: float | None = None

    def now(self, t: float) -> float:
        offset = self.read() - time.time()
        if self._offset is None or abs(offset - self._offset) > self.tolerance:
            self._offset = offset
        return self._offset + t


#: the error a revoked job is stored with
REVOKED_ERROR_TYPE = f"{TaskRevokedError.__module__}.{TaskRevokedError.__qualname__}"


_LOST_ERROR_TYPE = f"{WorkerLostError.__module__}.{WorkerLostError.__qualname__}"


def attempt_outcome(o: Outcome) -> str | None:
    """How an attempt ended, as its record says: success, retry, failure, lost, revoked.

    None for a job handed back unrun (claimed, then returned at shutdown): no attempt.
    """
    state = o.state
    if state is JobState.SCHEDULED:
        return "retry"
    if state is JobState.PENDING:
        return "lost" if o.crashed else None
    return final_outcome(state, o.failure.error_type if o.failure is not None else None)


def final_outcome(state: JobState, error_type: str | None) -> str:
    """How the attempt that finished a job ended: success, failure, lost or revoked."""
    if state is JobState.SUCCESS:
        return "success"
    if state is JobState.REVOKED:
        return "revoked"
    return "lost" if error_type == _LOST_ERROR_TYPE else "failure"


def load_named_sections(package: str, filename: str) -> dict[str, str]:
    """The ``-- name: X`` sections of a file shipped in ``package`` (queries.sql, scripts.lua)."""
    text = resources.files(package).joinpath(filename).read_text()
    sections: dict[str, str] = {}
    for chunk in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, body = chunk.partition("\n")
        sections[name.strip()] = body
    return sections


def log_stale(stale: Sequence[str]) -> None:
    """Say that fenced-off outcomes were dropped (a job re-claimed or revoked since)."""
    if stale:
        log.warning("dropped %d stale outcome(s) (job re-claimed or revoked since): %s",
                    len(stale), ", ".join(stale[:10]))


def revoke_message(job_id: str, terminate: bool) -> str:
    """The error message a revoked job is stored with."""
    return f"job {job_id} was revoked" + (" and terminated" if terminate else "")


_PLACEHOLDER = re.compile(r"\{(member|type|message)\}")


def chord_failure_message(template: str, member: str, error_type: str | None,
                          message: str | None) -> str:
    """Fill a ``ChordSpec.failure_message`` template for the failed ``member``.

    ``{type}`` is the member's exception class name without its module. Plain text
    substitution in one pass (the Lua join does the same): a value is never scanned
    again, and braces that name nothing are left as they are.
    """
    values = {"member": member, "type": (error_type or "an error").rpartition(".")[2],
              "message": message or ""}
    return _PLACEHOLDER.sub(lambda m: values[m[1]], template)


def job_matches(job: Job, query: JobQuery) -> bool:
    """Whether ``job`` passes ``query``'s filters (for stores that filter outside queries)."""
    if query.state is not None and job.state is not query.state:
        return False
    if query.queue is not None and job.queue != query.queue:
        return False
    if query.task and query.task not in job.task:
        return False
    if query.since is not None and job.created_at < query.since:
        return False
    if query.until is not None and job.created_at >= query.until:
        return False
    text = query.text
    return not text or text in job.id or text in job.task or text.encode() in job.payload


def job_sort_value(job: Job, sort: str) -> tuple[int, Any]:
    """``query.sort``'s value of a job; unset counts as smallest."""
    if sort == "runtime":
        value: Any = (job.done_at - job.started_at
                      if job.done_at is not None and job.started_at is not None else None)
    else:
        value = {"created": job.created_at, "done": job.done_at, "task": job.task,
                 "state": job.state.value, "queue": job.queue}[sort]
    return (0, 0) if value is None else (1, value)
