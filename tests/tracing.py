"""A tiny trace-context propagator on Celery's signals (the recipe in docs/signals.md),
and receivers of the worker's signals that write to the ledger. Workers load it with
``-A tracing``; the tests import it to send with a trace in context."""

from __future__ import annotations

import contextvars
import os

from litejobs import signals

from jobs import _ledger, app

current_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_trace", default=None)
RECEIVERS: list[tuple[str, object]] = []


def _receiver(signal_name):
    def add(fn):
        RECEIVERS.append((signal_name, fn))
        return fn
    return add


def connect():
    """Connect every receiver below (once). The worker does it at import, as
    LITEJOBS_TRACING=1 says; a test process only for the test that wants them."""
    for name, fn in RECEIVERS:
        getattr(signals, name).connect(fn, dispatch_uid=f"tracing.{fn.__name__}")


def disconnect():
    for name, fn in RECEIVERS:
        getattr(signals, name).disconnect(dispatch_uid=f"tracing.{fn.__name__}")


@_receiver("before_task_publish")
def inject(sender=None, headers=None, **kwargs):
    """Producer side: put the current trace in the message headers."""
    trace = current_trace.get()
    if trace and "traceparent" not in headers:
        headers["traceparent"] = trace


@_receiver("task_prerun")
def extract(sender=None, task=None, **kwargs):
    """Worker side: the job's trace becomes the current one while it runs."""
    current_trace.set(task.request.headers.get("traceparent"))


@_receiver("task_postrun")
def clear(sender=None, **kwargs):
    current_trace.set(None)


@app.task(bind=True, max_retries=3)
def traced(self, x, fail_times=0):
    _ledger(f"traced {x} retries={self.request.retries} trace={current_trace.get()} "
            f"tenant={self.request.headers.get('tenant')}")
    if self.request.retries < fail_times:
        raise self.retry(countdown=0.05)
    return x + 1


@app.task
def traced_sum(values):
    _ledger(f"sum {sum(values)} trace={current_trace.get()}")
    return sum(values)


@_receiver("celeryd_init")
def on_celeryd_init(sender=None, instance=None, conf=None, options=None, **kwargs):
    _ledger(f"celeryd_init {sender} queues={','.join(options['queues'])}")


@_receiver("worker_init")
def on_worker_init(sender=None, **kwargs):
    _ledger(f"worker_init {type(sender).__name__}")


@_receiver("worker_process_init")
def on_process_init(sender=None, **kwargs):
    _ledger(f"worker_process_init {os.getpid()}")


@_receiver("worker_process_shutdown")
def on_process_shutdown(sender=None, pid=None, exitcode=None, **kwargs):
    _ledger(f"worker_process_shutdown {pid} {exitcode}")


@_receiver("task_received")
def on_received(sender=None, request=None, **kwargs):
    _ledger(f"task_received {request.task} {request.id}")


@_receiver("task_unknown")
def on_unknown(sender=None, name=None, id=None, exc=None, **kwargs):
    _ledger(f"task_unknown {name} {id} {type(exc).__name__}")


@_receiver("setup_logging")
def on_setup_logging(sender=None, loglevel=None, **kwargs):
    _ledger(f"setup_logging {loglevel}")


@_receiver("after_setup_logger")
def on_after_setup_logger(sender=None, logger=None, loglevel=None, **kwargs):
    _ledger(f"after_setup_logger {logger.name} {loglevel}")


if os.environ.get("LITEJOBS_TRACING") == "1":
    connect()
