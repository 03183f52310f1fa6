"""``--pool threads``: the pool as threads of the worker process, for I/O-bound tasks and
where fork is missing.

Each thread claims with a store connection of its own; the main thread keeps the
heartbeat (which renews every running job's lease), rescues other workers' jobs and
prunes, as the prefork supervisor does. Soft time limits are raised inside the task's
thread (at its next Python instruction). Hard time limits are not enforced: a thread
cannot be killed, so a task that must be stopped by force needs the prefork pool.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from . import outcomes
from .child import STOP_SIGNALS, run_consumer
from .exceptions import StoreError
from .timeutil import now as clock_now

if TYPE_CHECKING:  # annotations only: the supervisor sits above and calls in
    from .supervisor import Supervisor

log = logging.getLogger("litejobs.worker")

IDLE_CHECK = 1.0  # an idle thread notices a stop within this


class ThreadPool:
    """Run ``supervisor.concurrency`` consumer threads until a stop signal."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor
        self.stop = threading.Event()
        self.cold = False

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.stop.is_set() or signum == signal.SIGQUIT:
            self.cold = True
            log.warning("worker: Cold shutdown (MainProcess): handing running jobs back "
                        "to the queue")
        else:
            log.warning("worker: Warm shutdown (MainProcess): no new jobs; waiting for "
                        "running jobs to finish (Ctrl-C again to hand them back and exit)")
        self.stop.set()

    def _work(self, slot: int) -> None:
        sup = self.sup
        try:
            run_consumer(sup.app, sup.id, sup.queues, None, slot, None, None, sup.hostname,
                         should_stop=self.stop.is_set,
                         heartbeat_every=IDLE_CHECK, queue_limits=sup.queue_limits,
                         transport=sup.app.open_transport())
        except BaseException:
            log.exception("pool thread %d crashed", slot + 1)

    def run(self) -> int:
        sup = self.sup
        old = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        threads = [threading.Thread(target=self._work, args=(slot,), daemon=True,
                                    name=f"ThreadPoolWorker-{slot + 1}")
                   for slot in range(sup.concurrency)]
        for thread in threads:
            thread.start()
        log.info("litejobs worker %s ready (threads pool): queues %s, concurrency %d",
                 sup.id, ",".join(sup.queues), sup.concurrency)
        sup._send_signal("worker_ready")
        transport = sup.app.transport
        beat_every = max(min(sup.lease / 3, 5.0), 0.2)
        try:
            while not self.cold and any(t.is_alive() for t in threads):
                try:
                    transport.record_heartbeat(sup.info(), clock_now(), sup.lease)
                    sup._rescue()
                    if not self.stop.is_set():
                        sup._maintain()
                except StoreError as exc:
                    log.error("store error in the supervisor, retrying: %s", exc)
                wait = beat_every
                if sup.beat is not None and not self.stop.is_set():
                    try:
                        wait = min(wait, sup.beat.run_once())
                    except StoreError as exc:
                        log.error("store error in the beat, retrying: %s", exc)
                deadline = time.monotonic() + wait
                while (not self.cold and time.monotonic() < deadline
                       and any(t.is_alive() for t in threads)):
                    time.sleep(0.05)
            if self.cold:  # running jobs go back to the queue at once; the threads die
                lost = transport.find_lost_jobs(clock_now(), worker=sup.id)
                sup._settle(outcomes.lost(sup.app, lost, "cold shutdown", requeue_all=True))
        finally:
            if sup.beat is not None:
                sup.beat.stop()
            for sig, handler in old.items():
                signal.signal(sig, handler)
            transport.unregister_worker(sup.id)
            sup._send_signal("worker_shutdown")
        log.info("litejobs worker %s stopped", sup.id)
        return 0
