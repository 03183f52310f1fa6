"""Signals as in Celery: ``@task_success.connect`` on ``def handler(sender=None, **kwargs)``.

A receiver that raises is logged and skipped; it never breaks the job or the worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("litejobs.signals")

Receiver = Callable[..., Any]


class Signal:
    """A named hook; ``send`` calls every connected receiver in order of connection.

    As in Celery, ``connect(sender=...)`` limits a receiver to one sender (a task, or
    its name), and ``dispatch_uid`` connects a receiver once however often the
    connecting code runs.
    """

    def __init__(self, name: str, providing_args: tuple[str, ...] = ()) -> None:
        self.name = name
        self.providing_args = providing_args
        # (receiver, sender filter or None, key that makes a connection unique)
        self._receivers: list[tuple[Receiver, Any, Any]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Signal: {self.name}>"

    def connect(self, receiver: Receiver | None = None, sender: Any = None,
                dispatch_uid: Any = None, weak: bool = False) -> Any:
        """Connect ``receiver``; usable as ``@signal.connect`` or ``@signal.connect(...)``.

        ``weak`` is accepted for Celery compatibility; receivers are held strongly.
        """
        def add(fn: Receiver) -> Receiver:
            key = dispatch_uid if dispatch_uid is not None else (fn, _sender_key(sender))
            with self._lock:
                if all(k != key for _, _, k in self._receivers):
                    self._receivers.append((fn, sender, key))
            return fn

        return add(receiver) if receiver is not None else add

    def disconnect(self, receiver: Receiver | None = None, sender: Any = None,
                   dispatch_uid: Any = None) -> bool:
        with self._lock:
            before = len(self._receivers)
            def matches(entry: tuple[Receiver, Any, Any]) -> bool:
                if dispatch_uid is not None:
                    return bool(entry[2] == dispatch_uid)
                return entry[0] == receiver and (
                    sender is None or _sender_key(entry[1]) == _sender_key(sender))

            self._receivers = [entry for entry in self._receivers if not matches(entry)]
            return len(self._receivers) < before

    @property
    def receivers(self) -> list[Receiver]:
        return [fn for fn, _, _ in self._receivers]

    def send(self, sender: Any = None, **kwargs: Any) -> list[tuple[Receiver, Any]]:
        responses = []
        for receiver, wanted, _ in list(self._receivers):
            if wanted is not None and _sender_key(wanted) != _sender_key(sender):
                continue
            try:
                responses.append((receiver, receiver(sender=sender, signal=self, **kwargs)))
            except Exception as exc:
                log.exception("signal %s: receiver %r raised", self.name, receiver)
                responses.append((receiver, exc))
        return responses


def _sender_key(sender: Any) -> Any:
    """A task and its name are the same sender (Celery users filter by either)."""
    name = getattr(sender, "name", None)
    return name if isinstance(name, str) else sender


task_prerun = Signal("task_prerun", ("task_id", "task", "args", "kwargs"))
task_postrun = Signal("task_postrun", ("task_id", "task", "args", "kwargs", "retval", "state"))
task_success = Signal("task_success", ("result",))
task_failure = Signal("task_failure", ("task_id", "exception", "args", "kwargs", "traceback"))
task_retry = Signal("task_retry", ("request", "reason", "einfo"))
task_revoked = Signal("task_revoked", ("request", "terminated", "signum", "expired"))
worker_ready = Signal("worker_ready")
worker_shutdown = Signal("worker_shutdown")
# Sending (sender: the task's name), as Celery sends them; ``headers`` is mutable in
# before_task_publish: what a receiver adds travels with the job (self.request.headers).
before_task_publish = Signal("before_task_publish", (
    "body", "exchange", "routing_key", "headers", "properties", "declare", "retry_policy"))
after_task_publish = Signal("after_task_publish", ("body", "exchange", "routing_key"))
# The worker and its processes.
celeryd_init = Signal("celeryd_init", ("instance", "conf", "options"))  # sender: hostname
worker_init = Signal("worker_init")  # sender: the worker (supervisor)
worker_process_init = Signal("worker_process_init")  # in each pool process, at its start
worker_process_shutdown = Signal("worker_process_shutdown", ("pid", "exitcode"))
task_received = Signal("task_received", ("request",))  # sender: the consumer
task_unknown = Signal("task_unknown", ("message", "exc", "name", "id"))
task_rejected = Signal("task_rejected", ("message", "exc"))
beat_init = Signal("beat_init")  # sender: the beat
# Logging, sent by the litejobs command: a setup_logging receiver replaces the set-up.
setup_logging = Signal("setup_logging", ("loglevel", "logfile", "format", "colorize"))
after_setup_logger = Signal("after_setup_logger", (
    "logger", "loglevel", "logfile", "format", "colorize"))
after_setup_task_logger = Signal("after_setup_task_logger", (
    "logger", "loglevel", "logfile", "format", "colorize"))

# -- sent by litejobs.execution and litejobs.outcomes (worker and eager mode alike) ---
def send_prerun(task: Any, job_id: str, args: tuple, kwargs: dict) -> None:
    if task_prerun._receivers:
        task_prerun.send(sender=task, task_id=job_id, task=task, args=args, kwargs=kwargs)


def send_success(task: Any, value: Any) -> None:
    if task_success._receivers:
        task_success.send(sender=task, result=value)


def send_retry(task: Any, request: Any, reason: Any, einfo: Any) -> None:
    if task_retry._receivers:
        task_retry.send(sender=task, request=request, reason=reason, einfo=einfo)


def send_failure(task: Any, job_id: str, exc: Any, args: tuple, kwargs: dict,
                 einfo: Any) -> None:
    if task_failure._receivers:
        task_failure.send(sender=task, task_id=job_id, exception=exc, args=args,
                          kwargs=kwargs, traceback=einfo.traceback if einfo else None,
                          einfo=einfo)


def send_postrun(task: Any, job_id: str, args: tuple, kwargs: dict, retval: Any,
                 state: str) -> None:
    if task_postrun._receivers:
        task_postrun.send(sender=task, task_id=job_id, task=task, args=args, kwargs=kwargs,
                          retval=retval, state=state)


def send_revoked(task: Any, request: Any, expired: bool = False,
                 terminated: bool = False) -> None:
    if task_revoked._receivers:
        task_revoked.send(sender=task, request=request, terminated=terminated, signum=None,
                          expired=expired)


__all__ = [
    "Signal", "after_setup_logger", "after_setup_task_logger", "after_task_publish",
    "beat_init", "before_task_publish", "celeryd_init", "setup_logging", "task_failure",
    "task_postrun", "task_prerun", "task_received", "task_rejected", "task_retry",
    "task_revoked", "task_success", "task_unknown", "worker_init", "worker_process_init",
    "worker_process_shutdown", "worker_ready", "worker_shutdown",
]
