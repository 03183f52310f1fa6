"""A pool child: claim, run and settle jobs until told to stop.

Started by fork (``child_main``) or, where fork is missing or not wanted, as
``python -m litejobs.loading CONFIG`` (spawn), which imports the app anew.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import resource
import signal
import time
from collections.abc import Callable
from typing import Any

from . import signals
from .core import Core
from .exceptions import StoreError
from .scoreboard import Scoreboard
from .timeutil import now as clock_now
from .transports import Transport
from .worker import Consumer, Watchdog

log = logging.getLogger("litejobs.worker")

#: blocked while a process starts, so a stop arriving then waits for the handlers
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})
IDLE_SLICE = 5.0  # an idle child also wakes this often (orphan check where no PDEATHSIG)
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # elsewhere the child's idle loop checks its parent pid
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class _StopWaiting(Exception):
    """Raised by the stop signal's handler to end an idle wait at once."""


class StopFlag:
    """Set by a signal handler; interrupts the idle wait, never a job or a transaction."""

    def __init__(self) -> None:
        self.now = False
        self.idle = False

    def handler(self, signum: int, frame: Any) -> None:
        self.now = True
        if self.idle:
            self.idle = False
            raise _StopWaiting

    def set_idle(self, flag: bool) -> None:
        self.idle = flag

    def __call__(self) -> bool:
        return self.now


class IdleTurn:
    """One idle child of a pool at a time watches the store; the others wait their turn.

    Every waiting process wakes on every commit, so N idle children would all wake, and
    all but one claim nothing, for each job. Instead an idle child takes the turn (an
    ``flock`` on the pool's scoreboard file: the kernel hands it on the moment its holder
    lets go, and frees it if that holder dies) and keeps it until it has claimed jobs;
    the next idle child then takes it and looks for more at once.
    """

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # this child's own lock
        self.held = False

    def take(self) -> bool:
        """Take the turn (blocking while another child has it); True if it had to wait."""
        if self.held:
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # a stop signal raises out of this
            waited = True
        self.held = True
        return waited

    def give_up(self) -> None:
        if self.held:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self.held = False

    def close(self) -> None:
        os.close(self._fd)  # releases the lock too


def child_main(app: Core, worker_id: str, queues: list[str], slot: int,
               scoreboard: Scoreboard | None, max_tasks: int | None, parent_pid: int,
               hostname: str, queue_limits: dict[str, int] | None = None,
               max_memory: int | None = None) -> int:
    die_with_parent(parent_pid)
    stop = StopFlag()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the supervisor's to handle
    signal.signal(signal.SIGTERM, stop.handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the fork
    signals.worker_process_init.send(sender=None)
    exitcode = 1
    try:
        run_consumer(app, worker_id, queues, scoreboard, slot, max_tasks, parent_pid, hostname,
                     should_stop=stop, set_idle=stop.set_idle, queue_limits=queue_limits,
                     max_memory=max_memory)
        exitcode = 0
    finally:
        signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=exitcode)
    return 0


def memory_kb() -> int:
    """This process's peak resident memory in KB (as Celery's max_memory_per_child)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_consumer(app: Core, worker_id: str, queues: list[str], scoreboard: Scoreboard | None,
                 slot: int, max_tasks: int | None, parent_pid: int | None, hostname: str,
                 should_stop: Callable[[], bool],
                 heartbeat: Callable[[], None] | None = None,
                 heartbeat_every: float = 5.0,
                 set_idle: Callable[[bool], None] = lambda flag: None,
                 queue_limits: dict[str, int] | None = None,
                 max_memory: int | None = None, transport: Transport | None = None) -> None:
    if transport is None:
        transport = app.transport  # reopened in this process on first use
    consumer = Consumer(app, transport, queues, worker_id, hostname, scoreboard, slot,
                        queue_limits)
    consumer.should_stop = should_stop
    watchdog = Watchdog(consumer)
    turn = IdleTurn(scoreboard.path) if scoreboard is not None else None
    if turn is not None:
        consumer.on_claimed = turn.give_up
    next_beat = time.monotonic() + heartbeat_every
    backoff = 0.0
    try:
        while not should_stop():
            try:
                ran = consumer.run_once()
                if heartbeat is not None and time.monotonic() >= next_beat:
                    heartbeat()
                    next_beat = time.monotonic() + heartbeat_every
                backoff = 0.0
                if max_tasks and consumer.processed >= max_tasks:
                    break
                if max_memory and ran and memory_kb() > max_memory:
                    log.warning("pool child %d uses %d KB (over --max-memory-per-child "
                                "%d KB): replacing it", os.getpid(), memory_kb(), max_memory)
                    break
                if ran:
                    continue
                # Nothing claimed: sleep until the store changes (or a job comes due)
                # at least once, so that work we may not take (a paused queue, one at
                # its concurrency limit) never makes us spin. Where an empty claim is
                # as cheap as asking, a wake-up goes straight to the claim.
                # One idle child of the pool watches (IdleTurn); one that waited for
                # the turn looks for work at once (the watcher just left with a batch).
                waited = False
                if turn is not None:
                    try:
                        set_idle(True)
                        if not should_stop():
                            waited = turn.take()
                    except _StopWaiting:
                        break
                    finally:
                        set_idle(False)
                while not should_stop() and (not waited or not (
                        transport.claims_cheaply or transport.has_work(queues, clock_now()))):
                    if parent_pid is not None and os.getppid() != parent_pid:
                        return  # orphaned where PDEATHSIG is missing: stop claiming
                    try:
                        set_idle(True)
                        if not should_stop():
                            consumer.idle_wait(min(IDLE_SLICE, heartbeat_every))
                    except _StopWaiting:
                        break
                    finally:
                        set_idle(False)
                    waited = True
                    if heartbeat is not None and time.monotonic() >= next_beat:
                        heartbeat()
                        next_beat = time.monotonic() + heartbeat_every
            except StoreError as exc:
                # Locked past the bound, disk full, I/O error: finished outcomes stay
                # buffered in the consumer; back off and try again.
                backoff = min(max(backoff * 2, 0.1), 5.0)
                log.error("store error, retrying in %.1fs: %s", backoff, exc)
                time.sleep(backoff)
    finally:
        if turn is not None:
            turn.close()
        watchdog.stop()
        try:
            consumer.hand_back()
            consumer.flush()
        except StoreError as exc:
            log.error("could not settle finished jobs on the way out: %s", exc)
