"""What both stores share beneath the interface: loading their named statements and
scripts, the texts they store for a revocation or a failed chord, logging stale outcomes."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from importlib import resources

from ..exceptions import TaskRevokedError

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
