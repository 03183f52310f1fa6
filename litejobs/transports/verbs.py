"""The transport interface's verbs for what is not a job: groups, queues, workers, beat
(schedules), events, maintenance and control records (``base.Transport`` combines them
with the jobs' verbs of job_verbs.py)."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from ..job import Job
from .records import FINISHED_KINDS, BeatEntryState, Event, Lost, WorkerInfo


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
