"""The transport interface: the verbs of a job's life, implemented once per store.

The verbs are grouped by what they act on, one small ABC each, which ``Transport``
combines: jobs, groups, queues, workers, beat (schedules), events and maintenance.
The records they pass are in records.py, the jobs' verbs in job_verbs.py, the other
groups in verbs.py; every name is importable from here.

Transports know only ``job``, ``serializer``, ``exceptions`` and ``timeutil``; never the
app, tasks or worker. Every verb that compares with the clock takes ``now`` (epoch
seconds), so tests step a clock instead of sleeping; no store calls ``time.time()``.
"""

from __future__ import annotations

from .job_verbs import JobVerbs
from .records import (
    EVENTS_KEPT,
    FINISHED_KINDS,
    JOB_SORTS,
    Attempt,
    BeatEntryState,
    Event,
    JobQuery,
    Lost,
    WorkerInfo,
)
from .verbs import (
    BeatVerbs,
    ControlVerbs,
    EventVerbs,
    GroupVerbs,
    MaintenanceVerbs,
    QueueVerbs,
    WorkerVerbs,
)

__all__ = [
    "EVENTS_KEPT", "FINISHED_KINDS", "JOB_SORTS", "Attempt", "BeatEntryState",
    "BeatVerbs", "ControlVerbs", "Event", "EventVerbs", "GroupVerbs", "JobQuery",
    "JobVerbs", "Lost", "MaintenanceVerbs", "QueueVerbs", "Transport", "WorkerInfo",
    "WorkerVerbs",
]


class Transport(JobVerbs, GroupVerbs, QueueVerbs, WorkerVerbs, BeatVerbs, EventVerbs,
                MaintenanceVerbs, ControlVerbs):
    """One store of jobs, results and worker heartbeats: every group of verbs."""

    url: str

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
