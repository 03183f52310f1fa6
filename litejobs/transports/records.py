"""What the transport verbs take and give back: plain records (attempts, workers,
schedules' state, events, lost jobs, a job search), no I/O."""

from __future__ import annotations

import dataclasses

from ..job import JobState

FINISHED_KINDS = ("task-succeeded", "task-failed")  #: the events of a job finishing
EVENTS_KEPT = 100_000  # the newest job events a store keeps; older ones go with each prune


@dataclasses.dataclass
class Attempt:
    """One run of a job, as kept beside it (``litejobs inspect``, ``AsyncResult.attempts``)."""

    job_id: str
    attempt: int  #: 1 for the first run
    started_at: float | None
    finished_at: float
    worker: str | None
    pid: int | None
    outcome: str  #: success, retry, failure, lost or revoked
    exc_type: str | None = None
    exc_message: str | None = None
    traceback: str | None = None
    retry_in: float | None = None  #: seconds until the retry, for a retry


@dataclasses.dataclass
class WorkerInfo:
    """A worker as its heartbeat stores it."""

    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: float
    heartbeat_at: float = 0.0
    lease_until: float = 0.0
    running: int = 0
    processed: int = 0


@dataclasses.dataclass
class BeatEntryState:
    """A periodic schedule as the store keeps it."""

    name: str
    task: str
    schedule: str
    last_run: float | None
    next_run: float | None
    origin: str = "code"  #: "code" (beat_schedule, add_periodic_task: read-only) or "store"
    enabled: bool = True
    spec: str | None = None  #: a stored schedule's definition (JSON text), None for code's
    updated_at: float | None = None


JOB_SORTS = ("created", "done", "task", "state", "queue", "runtime")


@dataclasses.dataclass
class JobQuery:
    """What ``search_jobs`` looks for: filters, a search term, an order and a page.

    ``task`` and ``text`` are substrings, case-sensitive: ``text`` matches a job's id,
    its task name, or the text inside its arguments (string arguments, keyword names).
    ``since``/``until`` bound the creation time (``since <= created_at < until``).
    Jobs are ordered by ``sort`` (one of ``JOB_SORTS``; unset times and runtimes count
    as smallest), ties by enqueue order in the same direction.
    """

    state: JobState | None = None
    queue: str | None = None
    task: str | None = None
    text: str | None = None
    since: float | None = None
    until: float | None = None
    sort: str = "created"
    descending: bool = True
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if self.sort not in JOB_SORTS:
            raise ValueError(f"sort must be one of {', '.join(JOB_SORTS)}, not {self.sort!r}")
        if self.limit < 0 or self.offset < 0:
            raise ValueError("limit and offset must not be negative")


@dataclasses.dataclass
class Event:
    """Something that happened to a job, as workers record it."""

    seq: int
    ts: float
    kind: str  #: task-started, task-succeeded, task-failed, task-retried, task-revoked, ...
    job_id: str
    task: str
    queue: str
    worker: str | None = None
    runtime: float | None = None
    detail: str | None = None  #: the exception class of a failure


@dataclasses.dataclass
class Lost:
    """A running job whose process or worker died; ``acks_late`` decides its fate."""

    job_id: str
    attempt: int
    acks_late: bool
    crashes: int = 0  #: times it lost its process before this one
    task: str = ""
    max_retries: int | None = -1  #: the job's own max_retries; -1: the task's
