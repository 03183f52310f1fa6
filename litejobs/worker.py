"""Claiming and running jobs in one process: a pool child's loop, and run_until_idle.

A child claims from the store itself, a batch at a time, so no per-job message
passes through the supervisor. The batch adapts to how long jobs take: one at a
time for slow jobs, up to MAX_BATCH for jobs of microseconds (so one transaction
claims many and settles the previous batch).

Nothing waits behind a running job: a pool child's watchdog thread (``Watchdog``)
notices a job that has run HAND_OFF_AFTER seconds and, while it runs, stores the
outcomes finished before it and hands the jobs claimed behind it back to the queue,
where an idle sibling (or this child, later) claims them. So batching costs no latency:
a result is stored within milliseconds of its job's end, and a claimed job waits in a
batch (shown STARTED) for at most about HAND_OFF_AFTER.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
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
HAND_OFF_AFTER = 0.002  # a job running this long no longer holds up the ones around it


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
        # the batch and the unsettled outcomes are shared with the watchdog thread
        self._lock = threading.Lock()
        self._running_since = 0.0  # time.monotonic() when the current job started; 0: none
        self.watchdog: Watchdog | None = None
        self.should_stop: Callable[[], bool] = lambda: False
        self.queue_limits = queue_limits or None
        self._rates: dict[str, float] | None = None
        self._rates_for = -1
        self._stored_at = -STORED_RATES_EVERY
        self._turn = 0  # which queue a claim serves first: each claim starts at the next
        self.on_claimed: Callable[[], None] = lambda: None  # after a claim that took jobs

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
        with self._lock:
            settle, self._unsettled = self._unsettled, []
        queues = self.queues
        if len(queues) > 1:  # queues in turn, as kombu's round-robin: rotate the start
            self._turn = (self._turn + 1) % len(queues)
            queues = queues[self._turn:] + queues[:self._turn]
        try:
            batch = self.transport.claim(
                queues, self.worker_id, self.pid, self.batch_size(), now, settle=settle,
                rate_limits=self.rate_limits(), queue_limits=self.queue_limits)
        except BaseException:
            with self._lock:
                self._unsettled = settle + self._unsettled  # keep them for the next try
            raise
        if batch:
            self.on_claimed()
        batch.reverse()  # popped from the end
        self._batch = batch
        ran = 0
        lock = self._lock
        while self._batch:
            if self.should_stop():
                self.hand_back()
                break
            with lock:
                if not self._batch:
                    break  # the watchdog handed the rest back
                job = self._batch.pop()
                self._running_since = time.monotonic()
            if self.watchdog is not None and (self._batch or self._unsettled):
                self.watchdog.job_started()  # only when there is something to hand off
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
        try:
            execution = run_job(self.app, job, hostname=self.hostname)
        finally:
            self._running_since = 0.0
        if board is not None:
            board.finish(self.slot)
        with self._lock:
            if not self._unsettled:
                self._unsettled_since = time.monotonic()
            self._unsettled.append(execution.outcome)
        self._avg_runtime = 0.8 * self._avg_runtime + 0.2 * execution.runtime
        self.processed += 1
        log_outcome(job, execution)

    def flush(self) -> None:
        """Settle finished jobs now."""
        with self._lock:
            outcomes, self._unsettled = self._unsettled, []
        if outcomes:
            try:
                self.transport.settle(outcomes, clock_now())
            except BaseException:
                with self._lock:
                    self._unsettled = outcomes + self._unsettled
                raise

    def hand_back(self) -> None:
        """Return claimed jobs that have not started to the queue (on shutdown)."""
        with self._lock:
            batch, self._batch = self._batch, []
            self._unsettled.extend(Outcome(j.id, j.attempts, JobState.PENDING) for j in batch)
        self.flush()

    def hand_off(self, since: float, transport: Transport) -> None:
        """While the job started at ``since`` runs: settle what finished, hand back the rest.

        Called by the watchdog thread, with its own connection (one connection shared by
        two threads would share one transaction: a claim could commit or roll back inside
        the other's), and does nothing if that job has ended meanwhile.
        """
        with self._lock:
            if self._running_since != since or not (self._unsettled or self._batch):
                return
            waiting, self._batch = self._batch, []
            outcomes, self._unsettled = self._unsettled, []
        outcomes += [Outcome(j.id, j.attempts, JobState.PENDING) for j in waiting]
        try:
            transport.settle(outcomes, clock_now())
        except BaseException:
            with self._lock:  # the main thread settles them with its next claim
                self._unsettled = outcomes + self._unsettled
            raise
        if waiting:
            log.debug("handed %d claimed jobs back while a job runs long", len(waiting))

    def idle_wait(self, limit: float) -> None:
        """Sleep until the store changes, the next scheduled job is due, or ``limit``."""
        timeout = limit
        eta = self.transport.get_next_eta()
        if eta is not None:
            timeout = min(timeout, max(eta - clock_now(), 0.0))
        if timeout > 0:
            self.transport.wait_for_change(timeout)


class Watchdog:
    """A pool child's thread: hands off the batch around a job that runs long.

    It sleeps on an event while the child is idle (no CPU), and polls every
    HAND_OFF_AFTER while jobs run, taking the GIL for a few microseconds each time.
    """

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="litejobs-watchdog",
                                        daemon=True)
        consumer.watchdog = self
        self._thread.start()

    def job_started(self) -> None:
        if not self._wake.is_set():
            self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(5)

    def _loop(self) -> None:
        consumer = self.consumer
        own: Transport | None = None  # this thread's own connection, opened on first use
        try:
            while not self._stopped:
                self._wake.wait()
                self._wake.clear()
                # poll while jobs run; go back to sleep once a poll finds none running
                while not self._stopped:
                    time.sleep(HAND_OFF_AFTER)
                    since = consumer._running_since
                    if not since:
                        break
                    if time.monotonic() - since >= HAND_OFF_AFTER:
                        try:
                            if own is None:
                                own = consumer.app.open_transport()
                            consumer.hand_off(since, own)
                        except Exception as exc:  # the main thread retries what failed
                            log.error("could not hand off jobs around a long job: %s", exc)
        finally:
            if own is not None:
                own.close()


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
