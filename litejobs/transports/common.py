"""What both stores share beneath the interface: loading their named statements and
scripts, the texts they store for a revocation or a failed chord, logging stale outcomes."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from importlib import resources

from ..exceptions import TaskRevokedError, WorkerLostError
from ..job import JobState, Outcome

log = logging.getLogger("litejobs.store")

#: the error a revoked job is stored with
REVOKED_ERROR_TYPE = f"{TaskRevokedError.__module__}.{TaskRevokedError.__qualname__}"


_LOST_ERROR_TYPE = f"{WorkerLostError.__module__}.{WorkerLostError.__qualname__}"


def attempt_outcome(o: Outcome) -> str | None:
    """How an attempt ended, as its record says: success, retry, failure, lost, revoked.

    None for a job handed back unrun (claimed, then returned at shutdown): no attempt.
    """
    state = o.state
    if state is JobState.SUCCESS:
        return "success"
    if state is JobState.SCHEDULED:
        return "retry"
    if state is JobState.REVOKED:
        return "revoked"
    if state is JobState.FAILURE:
        lost = o.failure is not None and o.failure.error_type == _LOST_ERROR_TYPE
        return "lost" if lost else "failure"
    if state is JobState.PENDING and o.crashed:
        return "lost"
    return None


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
