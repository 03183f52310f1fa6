"""The transport interface: the verbs of a job's life, implemented once per store.

The verbs are grouped by what they act on, one small ABC each, which ``Transport``
combines: jobs, groups, queues, workers, beat (schedules), events and maintenance.

Transports know only ``job``, ``serializer``, ``exceptions`` and ``timeutil``; never the
app, tasks or worker. Every verb that compares with the clock takes ``now`` (epoch
seconds), so tests step a clock instead of sleeping; no store calls ``time.time()``.
"""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Sequence
from typing import cast

from ..job import ChordSpec, Job, JobState, Outcome

FINISHED_KINDS = ("task-succeeded", "task-failed")  #: the events of a job finishing
WAIT_SLICE = 0.1  # wait_finished looks again at least this often, woken or not
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


class JobVerbs(abc.ABC):
    """Jobs: store them, lease and settle them, read them, and act on them by id.

    A job's state only moves through these verbs: ``enqueue`` stores it waiting (or
    finished), ``claim`` leases it, ``settle`` applies what became of a claim (fenced by
    its attempt number), ``revoke``/``retry_failed``/``purge``/``forget`` are the
    operator's hands on it.
    """

    # -- storing and leasing ---------------------------------------------------
    @abc.abstractmethod
    def enqueue(self, jobs: Sequence[Job], now: float, chords: Sequence[ChordSpec] = ()) -> int:
        """Store new jobs (and chords over them) in one transaction; known ids are left alone.

        Returns how many jobs were new. A job with ``eta > now`` is SCHEDULED, else
        PENDING; a job given in a finished state (SUCCESS, FAILURE, REVOKED) is stored as
        such, with its result or error (type, message, args, traceback) and ``purge_at``.
        """

    @abc.abstractmethod
    def claim(
        self,
        queues: Sequence[str],
        worker: str,
        pid: int,
        limit: int,
        now: float,
        settle: Sequence[Outcome] = (),
        rate_limits: dict[str, float] | None = None,
        queue_limits: dict[str, int] | None = None,
    ) -> list[Job]:
        """Apply ``settle`` outcomes, then lease up to ``limit`` due jobs, all in one transaction.

        Claimed jobs are RUNNING under ``worker``/``pid`` with ``attempts`` + 1. Queues
        are served in turn: the best job of each queue (in the order of ``queues``), then
        the second of each, and so on, and the jobs come back in that order; within a
        queue the best is by priority (higher first), eta, then enqueue order (the caller
        rotates ``queues`` between claims for round-robin). Nothing is deleted. Paused
        queues are skipped. ``rate_limits`` (task -> jobs per second) hold across every
        claimer of the store: a job over its task's rate goes back to wait for its turn,
        without spending an attempt. ``queue_limits`` (queue -> n) cap how many jobs of a
        queue run at once across every worker.
        """

    @abc.abstractmethod
    def settle(self, outcomes: Sequence[Outcome], now: float) -> list[str]:
        """Apply outcomes in one transaction; return the ids of stale ones (fenced off).

        An applied outcome also stores its ``follow_ups`` and ``chords``, and, for a
        chord member's final outcome, counts it once toward its chord; the last member's
        transaction enqueues the chord's body, or, if a member failed, enqueues it with
        ``chord_failed: True`` added to its options and the error its ``ChordSpec`` says
        (``failure_type``, ``failure_message``) on its record: the worker then ends it
        through the outcome policy (errbacks, later steps) without running it.
        """

    @abc.abstractmethod
    def set_custom_state(self, job_id: str, attempt: int, state: str, meta: bytes | None) -> bool:
        """Record ``update_state`` of a running job; False if the claim is stale."""

    # -- reading -----------------------------------------------------------------
    @abc.abstractmethod
    def get(self, job_id: str) -> Job | None:
        """The whole job, or None for an unknown (or pruned) id."""

    @abc.abstractmethod
    def get_state(self, job_id: str) -> tuple[JobState, str | None, int] | None:
        """``(state, custom_state, retries)`` without the blobs: the cheap poll of ``get()``."""

    def wait_finished(self, job_id: str, timeout: float) -> Job | None:
        """The job once it is finished, waiting up to ``timeout`` seconds for that; None
        if it is not finished by then (or unknown). ``AsyncResult.get()`` waits here.

        This default looks at the job each time the store changes; a store with a wake-up
        per job (Redis) waits for that job alone.
        """
        store = cast("Transport", self)  # a verb of the jobs, waiting as the queues do
        deadline = time.monotonic() + timeout
        while True:
            found = store.get_state(job_id)
            if found is not None and found[0].finished:
                job = store.get(job_id)
                if job is not None and job.state.finished:
                    return job
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            store.wait_for_change(min(remaining, WAIT_SLICE))

    def get_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        """Several jobs, in the order asked (a group's results): one pass, not N polls."""
        return [self.get(job_id) for job_id in job_ids]

    def get_states(self, job_ids: Sequence[str]
                   ) -> list[tuple[JobState, str | None, int] | None]:
        """``get_state`` of several jobs, in the order asked."""
        return [self.get_state(job_id) for job_id in job_ids]

    @abc.abstractmethod
    def list_jobs(
        self,
        state: JobState | None = None,
        queue: str | None = None,
        task: str | None = None,
        limit: int = 100,
        offset: int = 0,
        since: float | None = None,
    ) -> list[Job]:
        """Jobs, newest first, filtered; ``since``: only those created at or after it."""

    @abc.abstractmethod
    def claim_job(self, job_id: str, worker: str, pid: int, now: float) -> Job | None:
        """Take one given job that is not running (in any other state) for a run by
        ``worker``, as ``claim`` would: ``litejobs replay --record``. None if it is
        running or unknown. Its outcome is then settled, and recorded, as any other."""

    @abc.abstractmethod
    def list_attempts(self, job_id: str) -> list[Attempt]:
        """Every run of a job, first first; written with each outcome ``settle`` applies
        (lost processes too), removed with the job (its retention)."""

    @abc.abstractmethod
    def search_jobs(self, query: JobQuery) -> list[Job]:
        """Jobs matching ``query``, in its order, one page (the dashboard's job list)."""

    @abc.abstractmethod
    def count_jobs(self) -> dict[str, dict[str, int]]:
        """Jobs per queue per state: ``{"default": {"pending": 3, ...}}``."""

    # -- acting on jobs ------------------------------------------------------------
    @abc.abstractmethod
    def revoke(self, job_id: str, now: float, purge_at: float | None,
               terminate: bool = False, follow_ups: Sequence[Job] = (),
               chord: tuple[str, str] | None = None) -> str:
        """Revoke a job that has not finished; the revocation is stored, so it lasts.

        With the revocation, in its transaction: ``follow_ups`` are stored (a workflow's
        errbacks, and its later steps as FAILED) and ``chord`` = (chord id, member id)
        counts a chord member as failed, as a worker's final outcome would.

        Returns ``"revoked"`` (it was waiting: it never runs), ``"terminating"`` (it was
        running and ``terminate``: it ends REVOKED and its worker kills the process),
        ``"running"`` (running, left to finish), ``"finished"`` or ``"unknown"``.
        """

    @abc.abstractmethod
    def list_terminated_jobs(self, worker: str) -> list[tuple[str, int]]:
        """``(job_id, pid)`` of this worker's jobs revoked with terminate, still to be killed."""

    @abc.abstractmethod
    def clear_terminated(self, job_id: str) -> None:
        """Mark a terminated job's process as handled."""

    @abc.abstractmethod
    def forget(self, job_id: str) -> bool:
        """Drop a finished job's record and result; False if it is unknown or not finished."""

    @abc.abstractmethod
    def retry_failed(self, job_id: str | None = None, task: str | None = None, *,
                     now: float) -> int:
        """Queue failed (or revoked, by id) jobs again, due at ``now``.

        By id: that job; by ``task``: its failed jobs; neither: every failed job.
        Returns how many were queued.
        """

    @abc.abstractmethod
    def purge(self, queue: str | None = None, states: Sequence[JobState] | None = None) -> int:
        """Delete waiting (pending or scheduled) jobs, or finished jobs in ``states``.

        Running jobs are never purged. ``queue`` limits it to one queue.
        """


class GroupVerbs(abc.ABC):
    """Saved groups (``GroupResult.save()``): a group id and its member ids."""

    @abc.abstractmethod
    def save_group(self, group_id: str, member_ids: Sequence[str], now: float) -> None:
        """Remember a group's members."""

    @abc.abstractmethod
    def restore_group(self, group_id: str) -> list[str] | None:
        """The member ids of a saved group, or None."""

    @abc.abstractmethod
    def delete_group(self, group_id: str) -> None:
        """Forget a saved group."""


class QueueVerbs(abc.ABC):
    """Queues: pausing them, and the cheap reads an idle worker sleeps on."""

    #: True where a claim that finds nothing costs what ``has_work`` costs (one round
    #: trip, no write transaction): a woken worker claims at once instead of asking first.
    claims_cheaply: bool = False

    @abc.abstractmethod
    def set_queue_paused(self, queue: str, paused: bool) -> None:
        """Pause a queue (it keeps its jobs; nobody claims from it) or resume it."""

    @abc.abstractmethod
    def list_paused_queues(self) -> list[str]:
        """Names of paused queues, sorted."""

    @abc.abstractmethod
    def list_waiting_queues(self) -> list[str]:
        """Names of queues holding pending or scheduled jobs (cheap: indexes only)."""

    @abc.abstractmethod
    def has_work(self, queues: Sequence[str], now: float) -> bool:
        """Cheap read: is any job in ``queues`` claimable now (or due to be promoted)?"""

    @abc.abstractmethod
    def get_next_eta(self) -> float | None:
        """The earliest eta of a scheduled job, if any (for sleeping until it).

        It reads no clock: a scheduled job whose eta has passed is still scheduled until
        the next claim promotes it, and its eta is returned like any other.
        """

    @abc.abstractmethod
    def wait_for_change(self, timeout: float) -> bool:
        """Block until the store may have changed, or ``timeout`` seconds; True if woken."""


class WorkerVerbs(abc.ABC):
    """Workers: heartbeats (a worker's lease on its running jobs) and finding lost jobs."""

    @abc.abstractmethod
    def record_heartbeat(self, worker: WorkerInfo, now: float, lease: float) -> None:
        """Store or renew a worker; its running jobs stay leased until ``now + lease``."""

    @abc.abstractmethod
    def unregister_worker(self, worker_id: str) -> None:
        """Remove a worker that stopped cleanly."""

    @abc.abstractmethod
    def list_workers(self, now: float) -> list[WorkerInfo]:
        """Live workers (lease not run out at ``now``), oldest first."""

    @abc.abstractmethod
    def find_lost_jobs(self, now: float, worker: str | None = None,
                       pid: int | None = None) -> list[Lost]:
        """Running jobs whose holder is gone.

        With ``worker`` and ``pid``: that pool child's jobs (it died). With ``worker`` only:
        all of that worker's jobs. Neither: jobs of every worker whose lease ran out.
        """

    @abc.abstractmethod
    def forget_dead_workers(self, now: float) -> int:
        """Remove the workers whose lease ran out before ``now``; return how many.

        Callers pass a time well in the past (``now - 1 hour``) to keep recently dead
        workers visible for a while.
        """


class BeatVerbs(abc.ABC):
    """Periodic schedules: one beat leads (a lease), and each slot fires once."""

    @abc.abstractmethod
    def lead_beat(self, holder: str, now: float, lease: float) -> bool:
        """Take or renew the beat's leader lease; False while another holder's is live."""

    @abc.abstractmethod
    def resign_beat(self, holder: str) -> None:
        """Give up the leader lease (a beat that stops cleanly); others' leases stay."""

    @abc.abstractmethod
    def get_beat_leader(self, now: float) -> str | None:
        """Who leads the beat at ``now``, if anyone."""

    @abc.abstractmethod
    def list_schedules(self) -> list[BeatEntryState]:
        """Every stored schedule with its last and next run, by name."""

    @abc.abstractmethod
    def sync_schedules(self, entries: Sequence[tuple[str, str, str]]) -> None:
        """Store ``(name, task, schedule text)`` for each schedule from code; forget the
        other schedules from code (stored ones stay). A stored schedule of the same name
        becomes code's."""

    @abc.abstractmethod
    def save_schedule(self, name: str, task: str, schedule: str, spec: str, now: float,
                      create: bool) -> bool:
        """Store a schedule kept in the store (``origin`` "store"), defined by ``spec``.

        ``create``: a new one, enabled; False if the name is taken. Else: change a stored
        one (its last run stays, its next run is recomputed); False if there is no stored
        schedule of that name (schedules from code are read-only).
        """

    @abc.abstractmethod
    def delete_schedule(self, name: str) -> bool:
        """Forget a stored schedule; False if none of that name (or it is from code)."""

    @abc.abstractmethod
    def set_schedule_enabled(self, name: str, enabled: bool, now: float) -> bool:
        """Enable or disable a stored schedule; False if none of that name (or from code).

        A disabled schedule's slots do not fire (``fire_schedule`` refuses them).
        """

    @abc.abstractmethod
    def fire_schedule(self, name: str, slot: float, job: Job | None, next_run: float,
                      now: float) -> bool:
        """Record that ``slot`` fired and enqueue ``job``, in one transaction, once.

        Returns False (and enqueues nothing) if that slot or a later one already fired,
        if no schedule of that name is stored, or if it is disabled.
        """

    @abc.abstractmethod
    def set_schedule_next_run(self, name: str, next_run: float) -> None:
        """Record when a schedule runs next (for ``status``)."""


class EventVerbs(abc.ABC):
    """Job events (started, succeeded, failed, ...) recorded by claim and settle."""

    @abc.abstractmethod
    def list_events(self, seq: int, limit: int = 1000) -> list[Event]:
        """Events after ``seq``, oldest first (retention is capped)."""

    @abc.abstractmethod
    def get_last_event_seq(self) -> int:
        """The newest event's sequence number (0 if none)."""

    @abc.abstractmethod
    def count_events(self) -> dict[tuple[str, str], tuple[int, float]]:
        """``(task, kind) -> (count, total runtime)`` over the events kept."""

    @abc.abstractmethod
    def count_throughput(self, since: float, bucket: float,
                         kinds: Sequence[str] = FINISHED_KINDS) -> list[tuple[float, int]]:
        """Events of ``kinds`` (by default: jobs finished, succeeded or failed) per
        ``bucket`` seconds, from events whose time is at or after ``since``:
        ``[(bucket start, n)]``, oldest first."""


class MaintenanceVerbs(abc.ABC):
    """Keeping a store small and healthy: pruning, checkpointing, closing."""

    @abc.abstractmethod
    def prune(self, now: float, limit: int = 500) -> int:
        """Delete up to ``limit`` finished jobs whose results expired by ``now``.

        Also caps the events kept. Returns how many jobs were deleted.
        """

    @abc.abstractmethod
    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int] | None:
        """Fold the write-ahead log into the store (``PASSIVE``, ``RESTART``, ``TRUNCATE``).

        Returns ``(frames in the log, frames checkpointed)``, or None when the store
        has no such log (Redis) or the checkpoint gave way to other connections.
        """

    @abc.abstractmethod
    def backup(self, path: str) -> None:
        """Copy the whole store to a new file at ``path`` while it is in use (online).

        Stores without a file of their own (Redis) raise ``LiteJobsError`` saying how to
        back them up instead.
        """

    def close(self) -> None:  # noqa: B027 - optional for stores without resources
        """Release connections; closing twice is harmless."""


class ControlVerbs(abc.ABC):
    """Store-wide control records (``app.control``: stored rate limits, what each worker
    reports, commands to workers), read and written whole, by key."""

    @abc.abstractmethod
    def put_control(self, key: str, value: bytes | None) -> None:
        """Store ``value`` under ``key`` (``None`` deletes it)."""

    @abc.abstractmethod
    def list_controls(self, prefix: str) -> dict[str, bytes]:
        """Every record whose key starts with ``prefix``."""


class Transport(JobVerbs, GroupVerbs, QueueVerbs, WorkerVerbs, BeatVerbs, EventVerbs,
                MaintenanceVerbs, ControlVerbs):
    """One store of jobs, results and worker heartbeats: every group of verbs."""

    url: str

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

