"""The worker's parent process: start, watch and replace pool children; leases; signals.

Only this module forks and installs signal handlers. Children claim from the store
themselves; the supervisor never passes jobs. It keeps the worker's heartbeat (the
lease of every job its children hold), hands a dead child's jobs back at once,
rescues jobs of other workers whose lease ran out, kills children past a hard time
limit or whose job was revoked with terminate, and prunes expired results.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

from . import control, djangofix, outcomes, signals
from .autoscale import Autoscaler
from .beat import Beat
from .child import STOP_SIGNALS, StopFlag, child_main, run_consumer
from .core import Core
from .exceptions import StoreError
from .job import Outcome
from .log import set_process_name, worker_banner
from .scoreboard import Scoreboard
from .threadpool import ThreadPool
from .timeutil import now as clock_now
from .transports import WorkerInfo, safe_url

log = logging.getLogger("litejobs.worker")

RESCUE_EVERY = 1.0  # seconds between looks for jobs of dead workers
PRUNE_BATCH = 500
WAL_CHECKPOINT_FRAMES = 2000  # checkpoint from here once the WAL holds this many pages


class Supervisor:
    """``litejobs worker``: one supervisor process and ``concurrency`` pool children."""

    def __init__(self, app: Core, queues: Iterable[str] | None = None,
                 concurrency: int | None = None, pool: str = "prefork",
                 max_tasks_per_child: int | None = None, start_method: str | None = None,
                 hostname: str | None = None, app_spec: str | None = None,
                 loglevel: str = "WARNING", queue_limits: dict[str, int] | None = None,
                 beat: bool = False, max_memory_per_child: int | None = None,
                 logfile: str | None = None, autoscale: tuple[int, int] | None = None
                 ) -> None:
        self.app = app
        self.queue_limits = dict(queue_limits or {})
        self.beat = None
        if beat:
            self.beat = Beat(app)
        self.queues = list(dict.fromkeys(queues or [app.conf.task_default_queue]))
        self.concurrency = concurrency or app.conf.worker_concurrency or os.cpu_count() or 1
        if pool not in ("prefork", "solo", "threads"):
            raise ValueError(f"pool must be 'prefork', 'solo' or 'threads', not {pool!r}")
        self.pool = pool
        if pool == "solo":
            self.concurrency = 1
        self.autoscaler = None
        if autoscale and pool == "prefork":
            self.autoscaler = Autoscaler(*autoscale)
            self.concurrency = autoscale[0]  # the scoreboard has a slot for the most
        self.retiring: set[int] = set()  # children told to stop by the autoscaler
        self.max_tasks_per_child = max_tasks_per_child or app.conf.worker_max_tasks_per_child
        self.start_method = start_method or ("fork" if hasattr(os, "fork") else "spawn")
        self.app_spec = app_spec
        self.loglevel = loglevel
        self.hostname = control.expand_hostname(hostname) if hostname else socket.gethostname()
        self.id = f"{self.hostname}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = float(app.conf.worker_lease_timeout)
        self.children: dict[int, int] = {}  # pid -> slot
        self.killed: dict[int, str] = {}  # pid -> why we killed it
        self.stopping: str | None = None  # None, "warm" or "cold"
        self.started_at = clock_now()
        self._wake_r = self._wake_w = -1
        self.scoreboard: Scoreboard | None = None
        self._spawned: dict[int, subprocess.Popen] = {}
        self._spawn_count = 0  # numbers pool children in log lines: ForkPoolWorker-N
        self.max_memory_per_child = max_memory_per_child
        self.logfile = logfile
        # jobs committed in a Django transaction whose sender died before relaying them
        self.outbox_files = djangofix.outbox_files(app)

    # -- the main loop ---------------------------------------------------------
    def run(self) -> int:
        signals.celeryd_init.send(sender=self.hostname, instance=self, conf=self.app.conf,
                                  options={"queues": self.queues,
                                           "concurrency": self.concurrency, "pool": self.pool})
        self._send_signal("worker_init")
        transport = self.app.transport
        info = self.info()
        transport.record_heartbeat(info, clock_now(), self.lease)
        control.publish_report(self.app, info, self.pool)
        self._commands_after = control.command_key(self.started_at)
        if self.pool == "solo":
            return self._run_solo(info)
        if self.pool == "threads":
            return ThreadPool(self).run()
        self.scoreboard = Scoreboard(self.concurrency)
        self._install_signals()
        try:
            first = self.autoscaler.low if self.autoscaler else self.concurrency
            for slot in range(first):
                if self.stopping:  # a stop during start-up: start no more children
                    break
                self._spawn(slot)
            log.info("litejobs worker %s ready: queues %s, concurrency %d, store %s",
                        self.id, ",".join(self.queues), self.concurrency, safe_url(self.app.url))
            self._send_signal("worker_ready")
            self._loop(info)
        finally:
            self._shutdown_children()
            if self.beat is not None:
                self.beat.stop()
            transport.unregister_worker(self.id)
            control.forget_report(self.app, self.id)
            self._send_signal("worker_shutdown")
            self.scoreboard.close()
            self._restore_signals()
        log.info("litejobs worker %s stopped", self.id)
        return 0

    def banner(self) -> str:
        """What the worker says when it starts, laid out as Celery's banner."""
        scale = (self.autoscaler.high, self.autoscaler.low) if self.autoscaler else None
        return worker_banner(self.id, self.app_spec or self.app.main or "-",
                             safe_url(self.app.url), self.concurrency, self.pool, scale,
                             self.hostname, self.queues, self.queue_limits,
                             sorted(n for n in self.app.tasks if not n.startswith("litejobs.")))

    def info(self) -> WorkerInfo:
        running = 0
        if self.scoreboard is not None:
            running = sum(1 for s in range(self.scoreboard.slots) if self.scoreboard.read(s)[0])
        return WorkerInfo(
            id=self.id, host=self.hostname, pid=os.getpid(), queues=self.queues,
            concurrency=self.concurrency, started_at=self.started_at, running=running,
            processed=self.scoreboard.total_processed() if self.scoreboard else 0)

    def _loop(self, info: WorkerInfo) -> None:
        transport = self.app.transport
        next_beat = next_rescue = 0.0
        beat_every = max(min(self.lease / 3, 5.0), 0.2)
        while self.children or not self.stopping:
            self._reap()
            if self.stopping == "cold":
                break
            mono = time.monotonic()
            try:
                next_deadline = self._enforce_time_limits()
                if mono >= next_rescue:
                    self._rescue()
                    self._terminate_revoked()
                    if self.autoscaler is not None and not self.stopping:
                        self._autoscale()
                    next_rescue = mono + RESCUE_EVERY
                if mono >= next_beat:
                    transport.record_heartbeat(self.info(), clock_now(), self.lease)
                    self._maintain()
                    self._obey_commands()
                    next_beat = mono + beat_every
            except StoreError as exc:
                # Children keep running; leases outlive a few missed heartbeats.
                log.error("store error in the supervisor, retrying: %s", exc)
                next_deadline = None
                next_rescue = next_beat = time.monotonic() + 1.0
            timeout = min(next_rescue, next_beat) - time.monotonic()
            if next_deadline is not None:
                timeout = min(timeout, next_deadline - time.time())
            if self.beat is not None and not self.stopping:
                try:
                    timeout = min(timeout, self.beat.run_once())
                except StoreError as exc:
                    log.error("store error in the beat, retrying: %s", exc)
            self._sleep(max(timeout, 0.01))

    def _sleep(self, timeout: float) -> None:
        try:
            readable, _, _ = select.select([self._wake_r], [], [], timeout)
        except InterruptedError:
            return
        if readable:
            try:
                while os.read(self._wake_r, 512):
                    pass
            except BlockingIOError:
                pass

    # -- children --------------------------------------------------------------
    def _spawn(self, slot: int) -> None:
        assert self.scoreboard is not None
        if self.start_method == "spawn":
            self._spawn_process(slot)
            return
        parent = os.getpid()
        self._spawn_count += 1
        # A stop signal arriving now waits until the child has its own handlers (it
        # unblocks them) and the parent knows the child (so it forwards the stop).
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:  # the child
                code = 1
                try:
                    set_process_name(f"ForkPoolWorker-{self._spawn_count}")
                    self._restore_signals()
                    os.close(self._wake_r)
                    os.close(self._wake_w)
                    code = child_main(self.app, self.id, self.queues, slot, self.scoreboard,
                                      self.max_tasks_per_child, parent, self.hostname,
                                      self.queue_limits, self.max_memory_per_child)
                except BaseException:
                    log.exception("pool child crashed")
                finally:
                    os._exit(code)
            self.children[pid] = slot
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _spawn_process(self, slot: int) -> None:
        assert self.scoreboard is not None
        config = {
            "url": self.app.url, "app": self.app_spec, "worker": self.id, "queues": self.queues,
            "slot": slot, "scoreboard": self.scoreboard.path, "slots": self.scoreboard.slots,
            "max_tasks": self.max_tasks_per_child, "parent": os.getpid(),
            "hostname": self.hostname, "loglevel": self.loglevel,
            "queue_limits": self.queue_limits, "logfile": self.logfile,
            "max_memory": self.max_memory_per_child,
            "process_name": f"SpawnPoolWorker-{self._spawn_count + 1}",
        }
        self._spawn_count += 1
        proc = subprocess.Popen([sys.executable, "-m", "litejobs.loading", json.dumps(config)])
        self._spawned[proc.pid] = proc
        self.children[proc.pid] = slot

    def _autoscale(self) -> None:
        assert self.scoreboard is not None and self.autoscaler is not None
        board = self.scoreboard
        working = {pid: slot for pid, slot in self.children.items() if pid not in self.retiring}
        busy = [pid for pid, slot in working.items() if board.read(slot)[0]]
        waiting = len(busy) >= len(working) and self.app.transport.has_work(
            self.queues, clock_now())
        step = self.autoscaler.decide(len(working), len(busy), waiting, time.monotonic())
        if step > 0:
            slot = min(set(range(self.concurrency)) - set(self.children.values()), default=None)
            if slot is not None:
                log.info("autoscale: %d -> %d pool children", len(working), len(working) + 1)
                self._spawn(slot)
        elif step < 0:
            idle = [pid for pid in working if pid not in busy]
            if idle:
                log.info("autoscale: %d -> %d pool children", len(working), len(working) - 1)
                self.retiring.add(idle[-1])
                self._signal_child(idle[-1], signal.SIGTERM)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._spawned.pop(pid, None)
            slot = self.children.pop(pid, None)
            if slot is None:
                continue
            self._child_exited(pid, slot, status)

    def _child_exited(self, pid: int, slot: int, status: int) -> None:
        assert self.scoreboard is not None
        why = self.killed.pop(pid, None)
        code = os.waitstatus_to_exitcode(status)
        if why is None and code != 0:
            sig = -code if code < 0 else None
            why = f"pool child {pid} died ({'signal ' + signal.Signals(sig).name if sig else f'exit code {code}'})"  # noqa: E501
            log.error("%s", why)
        lost = self.app.transport.find_lost_jobs(clock_now(), worker=self.id, pid=pid)
        if lost:
            self._settle(outcomes.lost(self.app, lost, why or f"pool child {pid} exited",
                                       requeue_all=self.stopping == "cold"))
        self.scoreboard.clear(slot)
        if pid in self.retiring:
            self.retiring.discard(pid)
        elif not self.stopping:
            self._spawn(slot)

    def _settle(self, decided: list[Outcome]) -> None:
        """Store outcomes decided here (lost or killed jobs); fenced like any other."""
        if decided:
            self.app.transport.settle(decided, clock_now())

    def _kill(self, pid: int, why: str) -> None:
        self.killed[pid] = why
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _enforce_time_limits(self) -> float | None:
        """Kill children past their job's hard limit; return the nearest deadline."""
        assert self.scoreboard is not None
        nearest = None
        now = time.time()
        for pid, slot in list(self.children.items()):
            job_id, attempt, _started, deadline, _pid = self.scoreboard.read(slot)
            if not job_id or not deadline:
                continue
            if now < deadline:
                nearest = deadline if nearest is None else min(nearest, deadline)
                continue
            message = f"job {job_id} ran past its hard time limit and was killed"
            log.error("%s (pool child %d)", message, pid)
            decided = outcomes.time_limit(self.app, job_id, attempt, message)
            self._settle([decided] if decided is not None else [])
            self.scoreboard.clear(slot)
            self._kill(pid, message)
        return nearest

    def _terminate_revoked(self) -> None:
        assert self.scoreboard is not None
        transport = self.app.transport
        for job_id, pid in transport.list_terminated_jobs(self.id):
            slot = self.children.get(pid)
            if slot is not None and self.scoreboard.read(slot)[0] == job_id:
                log.warning("terminating job %s (revoked): killing pool child %d", job_id, pid)
                self.scoreboard.clear(slot)
                self._kill(pid, f"job {job_id} was revoked with terminate")
            transport.clear_terminated(job_id)

    # -- leases and upkeep -----------------------------------------------------
    def _rescue(self) -> None:
        if self.outbox_files:
            djangofix.relay_outbox(self.app, self.outbox_files)
        transport = self.app.transport
        lost = transport.find_lost_jobs(clock_now())
        if lost:
            log.warning("rescuing %d job(s) of workers whose lease ran out", len(lost))
            self._settle(outcomes.lost(self.app, lost, "the worker running it stopped "
                                                       "renewing its lease (it died)"))

    def _maintain(self) -> None:
        transport = self.app.transport
        now = clock_now()
        transport.prune(now, PRUNE_BATCH)
        transport.forget_dead_workers(now - 3600)
        # PASSIVE never waits; RESTART/TRUNCATE wait on readers while holding the write
        # lock, so they run only when a passive one could not keep up.
        done = transport.checkpoint("PASSIVE")
        if done is not None and done[0] > WAL_CHECKPOINT_FRAMES and done[1] < done[0]:
            transport.checkpoint("RESTART")

    # -- signals and shutdown ----------------------------------------------------
    def _install_signals(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._old_wakeup = signal.set_wakeup_fd(self._wake_w)
        self._old_handlers = {
            sig: signal.signal(sig, handler) for sig, handler in (
                (signal.SIGTERM, self._on_term), (signal.SIGINT, self._on_int),
                (signal.SIGQUIT, self._on_quit), (signal.SIGCHLD, lambda *a: None))
        }
        # The embedded worker starts us with stop signals blocked: a stop() that came
        # before the handlers were in place is delivered now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _restore_signals(self) -> None:
        if self._wake_r < 0:
            return
        signal.set_wakeup_fd(self._old_wakeup)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)

    def _on_term(self, signum: int, frame: Any) -> None:
        self._begin_stop("warm")

    def _on_int(self, signum: int, frame: Any) -> None:
        self._begin_stop("cold" if self.stopping else "warm")

    def _on_quit(self, signum: int, frame: Any) -> None:
        self._begin_stop("cold")

    def _begin_stop(self, how: str) -> None:
        if self.stopping == how or self.stopping == "cold":
            return
        self.stopping = how
        if how == "warm":
            log.warning("worker: Warm shutdown (MainProcess): no new jobs; waiting for "
                        "running jobs to finish (Ctrl-C again to hand them back and exit)")
            for pid in self.children:
                self._signal_child(pid, signal.SIGTERM)
        else:
            log.warning("worker: Cold shutdown (MainProcess): handing running jobs back "
                        "to the queue")

    def _signal_child(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def _shutdown_children(self) -> None:
        if not self.children:
            return
        if self.stopping != "cold":
            self.stopping = "cold"
        for pid in self.children:
            self._kill(pid, f"pool child {pid} stopped by a cold shutdown")
        deadline = time.monotonic() + 10
        while self.children and time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            slot = self.children.pop(pid, None)
            if slot is not None:
                self._child_exited(pid, slot, status)

    def _run_solo(self, info: WorkerInfo) -> int:
        """``--pool solo``: run jobs in this process (no hard time limits)."""
        stop = StopFlag()
        old = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        log.info("litejobs worker %s ready (solo pool): queues %s, store %s", self.id,
                    ",".join(self.queues), safe_url(self.app.url))
        self._send_signal("worker_ready")
        try:
            run_consumer(self.app, self.id, self.queues, None, 0, self.max_tasks_per_child,
                         None, self.hostname, should_stop=stop, set_idle=stop.set_idle,
                         heartbeat=lambda: self._solo_heartbeat(info),
                         heartbeat_every=max(min(self.lease / 3, 5.0), 0.2))
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            self.app.transport.unregister_worker(self.id)
            self._send_signal("worker_shutdown")
        return 0

    def _solo_heartbeat(self, info: WorkerInfo) -> None:
        self.app.transport.record_heartbeat(info, clock_now(), self.lease)
        if self.outbox_files:
            djangofix.relay_outbox(self.app, self.outbox_files)

    def _obey_commands(self) -> None:
        """``app.control.shutdown/add_consumer/cancel_consumer`` sent to this worker."""
        for key, command, args in control.commands_for(self.app, self.id, self.hostname,
                                                        self._commands_after):
            self._commands_after = key
            log.info("control: %s %s", command, args or "")
            if command == "shutdown":
                self._begin_stop("warm")
                continue
            queue = args.get("queue")
            queues = [q for q in self.queues if q != queue]
            if command == "add_consumer":
                queues.append(queue)
            if not queues or queues == self.queues:
                continue
            self.queues = queues
            control.publish_report(self.app, self.info(), self.pool)
            for pid in self.children:  # each finishes its job; its successor reads the queues
                self._signal_child(pid, signal.SIGTERM)

    def _send_signal(self, name: str) -> None:
        getattr(signals, name).send(sender=self)
