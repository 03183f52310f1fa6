"""run_job: the one path from a claimed job to one outcome, for the worker and eager mode.

It calls the task and asks ``outcomes`` what its ending means; nothing here decides
a job's fate by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import inspect
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from . import outcomes, serializer, signals
from .core import Core
from .exceptions import (
    Ignore,
    NotRegistered,
    Reject,
    Replaced,
    Retry,
    SerializationError,
    SoftTimeLimitExceeded,
    TaskRevokedError,
)
from .failure import describe
from .job import Job, JobState, Outcome
from .result import running_job
from .task import Request, Task, pop_request, push_request
from .timeutil import from_timestamp
from .timeutil import now as clock_now


@dataclasses.dataclass
class Execution:
    """An outcome for the store, plus what eager mode hands back to the caller."""

    outcome: Outcome
    task: Task | None = None
    value: Any = None
    exc: BaseException | None = None
    runtime: float = 0.0


@contextlib.contextmanager
def soft_time_limit(seconds: float | None) -> Iterator[None]:
    """Raise SoftTimeLimitExceeded in this thread after ``seconds``.

    In the main thread (a pool process) a timer signal does it, which interrupts a
    blocking call. In another thread (``--pool threads``) the exception is set on the
    thread asynchronously: it is raised at the task's next Python instruction, so a
    blocking call (a socket read, ``time.sleep``) is not interrupted until it returns.
    """
    if not seconds:
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        with _async_time_limit(seconds):
            yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise SoftTimeLimitExceeded(f"soft time limit ({seconds}s) exceeded")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _async_time_limit(seconds: float) -> Iterator[None]:
    ident = ctypes.c_ulong(threading.get_ident())
    guard = threading.Lock()
    state = {"left": False, "fired": False}

    def fire() -> None:
        with guard:
            if not state["left"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ident, ctypes.py_object(SoftTimeLimitExceeded))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with guard:
            state["left"] = True
            if state["fired"]:  # not raised yet (the block ended first): drop it
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ident, None)


_loops = threading.local()


def _event_loop() -> asyncio.AbstractEventLoop:
    """This thread's event loop for ``async def`` tasks: made once, reused for every job
    (a fork's child makes its own)."""
    loop = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed() or _loops.pid != os.getpid():
        loop = _loops.loop = asyncio.new_event_loop()
        _loops.pid = os.getpid()
    return loop


def run_coroutine(coro: Any) -> Any:
    """Run an ``async def`` task's coroutine to its end on this thread's loop.

    An exception raised into the loop from outside (the soft time limit's alarm)
    cancels the coroutine, lets it clean up, and is raised here.
    """
    loop = _event_loop()
    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        raise


def run_job(core: Core, job: Job, *, task: Task | None = None, eager: bool = False,
            hostname: str | None = None,
            grow_chord: Callable[[str, Any], None] | None = None) -> Execution:
    """Run one claimed job and decide its outcome: success, retry, failure or revoked.

    ``grow_chord`` (eager mode): how ``add_to_chord`` grows a chord running inline."""
    started = time.perf_counter()
    execution = _run_job(core, job, task, eager, hostname, grow_chord)
    outcome = execution.outcome
    outcome.task, outcome.queue = job.task, job.queue
    execution.runtime = outcome.runtime = time.perf_counter() - started
    return execution


def _ended(core: Core, job: Job, state: JobState, exc_cls: type[BaseException], message: str,
           task: Task | None = None) -> Execution:
    failure, exc = outcomes.plain_failure(exc_cls, message)
    return Execution(outcomes.final(core, job, state, failure), task=task, exc=exc)


def _run_job(core: Core, job: Job, task: Task | None, eager: bool,
             hostname: str | None, grow_chord: Callable[[str, Any], None] | None
             ) -> Execution:
    if job.expires is not None and clock_now() > job.expires:
        signals.send_revoked(task or core.find_task(job.task), job, expired=True)
        return _ended(core, job, JobState.REVOKED, TaskRevokedError,
                      f"job {job.id} expired at {from_timestamp(job.expires)}")
    if job.options.get("chord_failed"):  # a chord body whose header failed: never runs
        outcome, exc = outcomes.chord_failed(core, job)
        return Execution(outcome, task=task, exc=exc)
    if task is None:
        try:
            task = core.resolve_task(job.task)
        except NotRegistered as missing:
            if signals.task_unknown.receivers:
                signals.task_unknown.send(sender=None, message=job, exc=missing,
                                          name=job.task, id=job.id)
            return _ended(core, job, JobState.FAILURE, NotRegistered, str(missing))
    corrupt = job.options.get("_corrupt")
    try:
        if corrupt:
            raise SerializationError(f"job options of {job.id}: {corrupt}")
        args, kwargs = serializer.loads_call(job.payload, core)
    except (SerializationError, ValueError, TypeError) as bad:
        if signals.task_rejected.receivers:
            signals.task_rejected.send(sender=None, message=job, exc=bad)
        return _ended(core, job, JobState.FAILURE, SerializationError,
                      f"cannot decode the arguments of job {job.id}: {bad}", task)

    options = job.options
    conf = core.conf
    soft = options.get("soft_time_limit") or task.soft_time_limit or conf.task_soft_time_limit
    request = Request(
        id=job.id, task=task.name or job.task, args=args, kwargs=kwargs, retries=job.retries,
        attempt=job.attempts, eta=from_timestamp(job.eta) if job.eta else None,
        expires=from_timestamp(job.expires), queue=job.queue, priority=job.priority,
        is_eager=eager, hostname=hostname, root_id=options.get("root_id", job.id),
        parent_id=options.get("parent_id"), group_id=options.get("group_id"),
        time_limit=options.get("time_limit") or task.time_limit or conf.task_time_limit,
        soft_time_limit=soft, options=options, grow_chord=grow_chord,
    )
    if not eager and signals.task_received.receivers:
        signals.task_received.send(sender=None, request=request)
    push_request(request)
    try:
        with running_job(on_worker=not eager):
            execution = _call(core, job, task, args, kwargs, None if eager else soft, eager)
        outcomes.announce(task, job, request, args, kwargs, execution.outcome,
                          execution.value, execution.exc)  # self.request still set
    finally:
        pop_request()
    packed = execution.outcome.result
    if eager and packed is not None:  # the caller sees what a worker's caller would
        execution.value = serializer.loads(packed, core)
    return execution


def _call(core: Core, job: Job, task: Task, args: tuple, kwargs: dict,
          soft: float | None, eager: bool = False) -> Execution:
    """Call the task (with its prerun signal and before_start) and ask for the outcome."""
    signals.send_prerun(task, job.id, args, kwargs)
    try:
        task.before_start(job.id, args, kwargs)
    except Exception:
        outcomes.log.exception("before_start of %s raised; the job runs anyway", task.name)
    try:
        with soft_time_limit(soft):
            value = task.run(*args, **kwargs)
            if inspect.iscoroutine(value):  # an async def task
                value = run_coroutine(value)
    except Retry as retry:
        when = retry.when if retry.when is not None else task.retry_delay(job.retries)
        reason = retry.exc if retry.exc is not None else retry
        return Execution(outcomes.retried(job, when, reason), task=task, exc=reason)
    except Reject as reject:
        if reject.requeue and not eager:  # inline, it would only run again at once
            return Execution(outcomes.requeued(job), task=task, exc=reject)
        return _failed(core, job, task, reject)
    except Replaced as replaced:
        try:
            outcome = outcomes.replaced(core, job, replaced.replacement)
        except Exception as exc:  # a replacement that cannot be sent fails the job
            return _failed(core, job, task, exc)
        return Execution(outcome, task=task, exc=replaced)
    except Ignore as ignore:
        return Execution(outcomes.ignored(core, job), task=task, exc=ignore)
    except SystemExit as exc:  # sys.exit() in a task fails its job, not the pool child
        return _failed(core, job, task, exc)
    except Exception as exc:
        delay = outcomes.autoretry_delay(task, job, exc)
        if delay is not None:
            return Execution(outcomes.retried(job, delay, exc), task=task, exc=exc)
        return _failed(core, job, task, exc)
    try:
        packed = serializer.dumps(value, f"the result of {task.name}")
    except SerializationError as exc:
        return _failed(core, job, task, exc)
    return Execution(outcomes.succeeded(core, job, task, packed, value), task=task,
                     value=value)


def _failed(core: Core, job: Job, task: Task, exc: BaseException) -> Execution:
    return Execution(outcomes.final(core, job, JobState.FAILURE, describe(exc)), task=task,
                     exc=exc)
