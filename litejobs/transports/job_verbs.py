"""The jobs' verbs of the transport interface (``base.Transport`` combines every group)."""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from ..job import ChordSpec, Job, JobState, Outcome
from .records import Attempt, JobQuery

if TYPE_CHECKING:  # annotation only: base.Transport combines this group with the others
    from .base import Transport

WAIT_SLICE = 0.1  # wait_finished looks again at least this often, woken or not


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
    def enqueue_unique(self, job: Job, now: float, key: str, unique_for: float) -> str:
        """Store ``job`` (waiting) unless another job holds ``key``; the holder's id.

        A job holds its key while SCHEDULED, PENDING or RUNNING, and for ``unique_for``
        seconds after it ended SUCCESS; one that ended FAILURE or REVOKED, or was pruned,
        forgotten or purged, holds it no more. Check and insert are one transaction: of
        producers racing on a key, one stores a job and all get its id. A job whose id is
        already stored is left alone (and takes no key): its id comes back.
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
    def add_chord_members(self, chord_id: str, member_ids: Sequence[str], now: float,
                          jobs: Sequence[Job] = (), chords: Sequence[ChordSpec] = (),
                          close: bool = False) -> bool:
        """Grow a stored chord by ``member_ids`` and store ``jobs`` (and ``chords``) in
        the same transaction: its join waits for them too, and their results follow the
        others' in the body's input (``Task.add_to_chord``, a header read from a
        generator). ``close``: the last call for a chord stored ``open``; the join no
        longer waits for more, and fires now if every member has finished. False
        (nothing changed, nothing stored) if the chord is not stored: fired, or unknown."""

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

    #: None where a search reads an index, however many jobs the store holds; otherwise
    #: the most jobs a search sorting other than by creation, or filtering, looks at (the
    #: newest first, or the oldest with ``descending=False``): the dashboard says so.
    search_scan_limit: int | None = None

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
