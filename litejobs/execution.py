"""run_job: the one path from a claimed job to one outcome, for the worker and eager mode."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import serializer, signals
from .exceptions import (
    NotRegistered,
    Reject,
    Retry,
    SerializationError,
    SoftTimeLimitExceeded,
    TaskRevokedError,
)
from .failure import class_path, describe
from .job import Failure, Job, JobState, Outcome
from .links import expand_links, fail_links, failed_chord_member
from .task import Request, Task, pop_request, push_request
from .timeutil import from_timestamp
from .timeutil import now as clock_now

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("litejobs.worker")


@dataclasses.dataclass
class Execution:
    """An outcome for the store, plus what eager mode hands back to the caller."""

    outcome: Outcome
    task: Task | None = None
    value: Any = None
    exc: BaseException | None = None
    runtime: float = 0.0


def _purge_at(app: App, now: float) -> float | None:
    expires = app.conf.result_expires
    return now + expires if expires else None


def _finish(app: App, job: Job, state: JobState, failure: Failure | None,
            exc: BaseException | None = None, task: Task | None = None) -> Execution:
    """A final FAILURE or REVOKED: with errbacks, dead chain steps and the chord count."""
    purge_at = _purge_at(app, clock_now())
    chord_id, chord_member = failed_chord_member(job.options)
    outcome = Outcome(job.id, job.attempts, state, failure=failure, purge_at=purge_at,
                      chord_id=chord_id, chord_member=chord_member)
    if failure is not None and (job.options.get("link") or job.options.get("link_error")):
        outcome.follow_ups = fail_links(app, job, failure.error_type, failure.message,
                                        purge_at)
    return Execution(outcome, task=task, exc=exc)


def _plain_failure(exc_cls: type[BaseException], message: str) -> tuple[Failure, BaseException]:
    exc = exc_cls(message)
    return Failure(class_path(exc_cls), message, None,
                   serializer.dumps([message], "exception args")), exc


@contextlib.contextmanager
def soft_time_limit(seconds: float | None) -> Iterator[None]:
    """Raise SoftTimeLimitExceeded in this (main) thread after ``seconds``."""
    if not seconds or threading.current_thread() is not threading.main_thread():
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


def run_job(app: App, job: Job, *, task: Task | None = None, eager: bool = False,
            hostname: str | None = None) -> Execution:
    """Run one claimed job and decide its outcome: success, retry, failure or revoked."""
    execution = _run_job(app, job, task, eager, hostname)
    outcome = execution.outcome
    outcome.task, outcome.queue = job.task, job.queue
    outcome.runtime = execution.runtime
    return execution


def _run_job(app: App, job: Job, task: Task | None, eager: bool,
             hostname: str | None) -> Execution:
    started = time.perf_counter()
    if job.expires is not None and clock_now() > job.expires:
        failure, exc = _plain_failure(
            TaskRevokedError, f"job {job.id} expired at {from_timestamp(job.expires)}")
        signals.job_revoked(task or app.tasks.get(job.task), job, expired=True)
        return _finish(app, job, JobState.REVOKED, failure, exc)
    if task is None:
        try:
            task = app.resolve_task(job.task)
        except NotRegistered as missing:
            failure, exc = _plain_failure(NotRegistered, str(missing))
            return _finish(app, job, JobState.FAILURE, failure, exc)
    corrupt = job.options.get("_corrupt")
    try:
        if corrupt:
            raise SerializationError(f"job options of {job.id}: {corrupt}")
        args, kwargs = serializer.loads_call(job.payload)
    except (SerializationError, ValueError, TypeError) as bad:
        failure, exc = _plain_failure(
            SerializationError, f"cannot decode the arguments of job {job.id}: {bad}")
        return _finish(app, job, JobState.FAILURE, failure, exc, task)

    options = job.options
    soft = options.get("soft_time_limit") or task.soft_time_limit \
        or app.conf.task_soft_time_limit
    request = Request(
        id=job.id, task=task.name, args=args, kwargs=kwargs, retries=job.retries,
        attempt=job.attempts, eta=from_timestamp(job.eta) if job.eta else None,
        expires=from_timestamp(job.expires), queue=job.queue, priority=job.priority,
        is_eager=eager, hostname=hostname, root_id=options.get("root_id", job.id),
        parent_id=options.get("parent_id"), group_id=options.get("group_id"),
        time_limit=options.get("time_limit") or task.time_limit or app.conf.task_time_limit,
        soft_time_limit=soft, options=options,
    )
    push_request(request)
    try:
        execution = _call(app, job, task, request, args, kwargs, eager, soft, started)
        signals.after_job(task, job, request, args, kwargs, execution)  # self.request set
    finally:
        pop_request()
    return execution


def _call(app: App, job: Job, task: Task, request: Request, args: tuple, kwargs: dict,
          eager: bool, soft: float | None, started: float) -> Execution:
    """Call the task function and decide the outcome (signals around the call)."""
    signals.before_job(task, job, args, kwargs)
    try:
        with soft_time_limit(None if eager else soft):
            value = task.run(task, *args, **kwargs) if task.bind else task.run(*args, **kwargs)
    except Retry as retry:
        return _retry(app, job, task, retry, started)
    except Reject as reject:
        return _failed(app, job, task, reject, started)
    except Exception as exc:
        if task.autoretry_for and isinstance(exc, task.autoretry_for) and not (
                task.dont_autoretry_for and isinstance(exc, task.dont_autoretry_for)):
            retry_options = {"countdown": task._retry_delay(job.retries, automatic=True),
                             **task.retry_kwargs}
            try:
                task.retry(exc=exc, **retry_options)
            except Retry as retry:
                return _retry(app, job, task, retry, started)
            except Exception as final:
                return _failed(app, job, task, final, started)
        return _failed(app, job, task, exc, started)
    return _succeeded(app, job, task, request, value, eager, started)


def _succeeded(app: App, job: Job, task: Task, request: Request, value: Any, eager: bool,
               started: float) -> Execution:
    options = job.options
    ignore = options.get("ignore_result")
    if ignore is None:
        ignore = task.ignore_result
    if ignore is None:
        ignore = app.conf.task_ignore_result
    try:
        packed = serializer.dumps(value, f"the result of {task.name}")
    except SerializationError as exc:
        return _failed(app, job, task, exc, started)
    runtime = time.perf_counter() - started
    chord_id = options.get("chord")
    follow_ups, chords = expand_links(app, job, value) if options.get("link") else ([], [])
    outcome = Outcome(job.id, job.attempts, JobState.SUCCESS, result=packed,
                      purge_at=_purge_at(app, clock_now()),
                      forget=bool(ignore) and not chord_id,  # a chord reads member results
                      follow_ups=follow_ups, chords=chords, chord_id=chord_id)
    return Execution(outcome, task=task, value=serializer.loads(packed) if eager else value,
                     runtime=runtime)


def _retry(app: App, job: Job, task: Task, retry: Retry, started: float) -> Execution:
    when = retry.when if retry.when is not None else task._retry_delay(job.retries)
    reason = retry.exc if retry.exc is not None else retry
    failure = describe(reason)
    outcome = Outcome(job.id, job.attempts, JobState.SCHEDULED, failure=failure,
                      eta=clock_now() + when, retries=job.retries + 1)
    return Execution(outcome, task=task, exc=reason, runtime=time.perf_counter() - started)


def _failed(app: App, job: Job, task: Task, exc: BaseException, started: float) -> Execution:
    execution = _finish(app, job, JobState.FAILURE, describe(exc), exc, task)
    execution.runtime = time.perf_counter() - started
    return execution
