"""Claiming and running jobs in one process: a pool child's loop, and run_until_idle.

A child claims from the store itself, a batch at a time, so no per-job message
passes through the supervisor. The batch adapts to how long jobs take: one at a
time for slow jobs (so no job waits behind another in a busy child while a
sibling idles), up to MAX_BATCH for jobs of microseconds (so one transaction
claims many and settles the previous batch).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable

from .core import Core
from .exceptions import LiteJobsError
from .execution import run_job
from .job import Job, JobState, Outcome
from .log import log_outcome, log_received
from .scoreboard import Scoreboard
from .timeutil import now as clock_now
from .transports import Transport, WorkerInfo

log = logging.getLogger("litejobs.worker")

STORED_RATES_EVERY = 1.0  # seconds between reads of the store's run-time rate limits
MAX_BATCH = 64
BATCH_TARGET_SECONDS = 0.005  # claim about this much work at once
FLUSH_AFTER_SECONDS = 0.005  # settle finished jobs at least this often


class Consumer:
    """Claim, run, settle: the loop body of one worker process."""

    def __init__(self, app: Core, transport: Transport, queues: Iterable[str], worker_id: str,
                 hostname: str | None = None, scoreboard: Scoreboard | None = None,
                 slot: int = 0, queue_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.transport = transport
        self.queues = list(dict.fromkeys(queues))
        if not self.queues:
            raise LiteJobsError("a worker needs at least one queue")
        self.worker_id = worker_id
        self.hostname = hostname or socket.gethostname()
        self.pid = os.getpid()
        self.scoreboard = scoreboard
        self.slot = slot
        self.processed = 0
        self._avg_runtime = 0.01  # seconds; start cautious: one job per claim
        self._unsettled: list[Outcome] = []
        self._unsettled_since = 0.0
        self._batch: list[Job] = []
        self.should_stop: Callable[[], bool] = lambda: False
        self.queue_limits = queue_limits or None
        self._rates: dict[str, float] | None = None
        self._rates_for = -1
        self._stored_at = -STORED_RATES_EVERY

    def rate_limits(self) -> dict[str, float] | None:
        """Rate limits of the tasks this process knows (refreshed when it learns more),
        and those set for the whole store (``app.control.rate_limit``, read each second)."""
        known = self.app.known_task_count()
        mono = time.monotonic()
        if known != self._rates_for or mono >= self._stored_at + STORED_RATES_EVERY:
            self._stored_at = mono
            self._rates = self.app.rate_limits(self.app.stored_rate_limits()) or None
            self._rates_for = known
        return self._rates

    def batch_size(self) -> int:
        return max(1, min(MAX_BATCH, int(BATCH_TARGET_SECONDS / max(self._avg_runtime, 1e-6))))

    def run_once(self) -> int:
        """Claim one batch (settling the last one in the same transaction) and run it."""
        now = clock_now()
        settle, self._unsettled = self._unsettled, []
        try:
            self._batch = self.transport.claim(
                self.queues, self.worker_id, self.pid, self.batch_size(), now, settle=settle,
                rate_limits=self.rate_limits(), queue_limits=self.queue_limits)
        except BaseException:
            self._unsettled = settle + self._unsettled  # keep them for the next try
            raise
        ran = 0
        while self._batch:
            if self.should_stop():
                self.hand_back()
                break
            job = self._batch.pop(0)
            self._run(job)
            ran += 1
            if self._unsettled and (
                    time.monotonic() - self._unsettled_since > FLUSH_AFTER_SECONDS):
                self.flush()
        return ran

    def _run(self, job: Job) -> None:
        board = self.scoreboard
        if board is not None:
            board.start(self.slot, job, self.app)
        log_received(job)
        execution = run_job(self.app, job, hostname=self.hostname)
        if board is not None:
            board.finish(self.slot)
        if not self._unsettled:
            self._unsettled_since = time.monotonic()
        self._unsettled.append(execution.outcome)
        self._avg_runtime = 0.8 * self._avg_runtime + 0.2 * execution.runtime
        self.processed += 1
        log_outcome(job, execution)

    def flush(self) -> None:
        """Settle finished jobs now."""
        if self._unsettled:
            outcomes, self._unsettled = self._unsettled, []
            try:
                self.transport.settle(outcomes, clock_now())
            except BaseException:
                self._unsettled = outcomes + self._unsettled
                raise

    def hand_back(self) -> None:
        """Return claimed jobs that have not started to the queue (on shutdown)."""
        batch, self._batch = self._batch, []
        self._unsettled.extend(Outcome(j.id, j.attempts, JobState.PENDING) for j in batch)
        self.flush()

    def idle_wait(self, limit: float) -> None:
        """Sleep until the store changes, the next scheduled job is due, or ``limit``."""
        timeout = limit
        eta = self.transport.get_next_eta()
        if eta is not None:
            timeout = min(timeout, max(eta - clock_now(), 0.0))
        if timeout > 0:
            self.transport.wait_for_change(timeout)


class InProcessWorker:
    """Runs due jobs in the calling process until none is left (``app.run_until_idle``)."""

    def __init__(self, app: Core, queues: Iterable[str] | None = None) -> None:
        self.app = app
        self.queues = list(queues) if queues is not None else None

    def run_until_idle(self, timeout: float | None = 60.0) -> int:
        app = self.app
        transport = app.transport
        queues = self.queues or sorted(
            set(app.known_queues()) | set(transport.list_waiting_queues()))
        info = WorkerInfo(id=f"inprocess-{socket.gethostname()}-{os.getpid()}-{id(self):x}",
                          host=socket.gethostname(), pid=os.getpid(), queues=queues,
                          concurrency=1, started_at=clock_now())
        # A heartbeat row, so that a real worker sharing the store does not take our
        # running jobs for a dead worker's.
        lease = app.conf.worker_lease_timeout
        transport.record_heartbeat(info, clock_now(), lease)
        consumer = Consumer(app, transport, queues, worker_id=info.id)
        deadline = None if timeout is None else time.monotonic() + timeout
        beat_at = time.monotonic() + lease / 3
        ran = 0
        try:
            while True:
                n = consumer.run_once()
                ran += n
                if n == 0:
                    consumer.flush()
                    if not transport.has_work(queues, clock_now()):
                        return ran
                if time.monotonic() > beat_at:
                    transport.record_heartbeat(info, clock_now(), lease)
                    beat_at = time.monotonic() + lease / 3
                if deadline is not None and time.monotonic() > deadline:
                    raise LiteJobsError(f"run_until_idle: jobs still due after {timeout}s")
        finally:
            consumer.flush()
            transport.unregister_worker(info.id)
