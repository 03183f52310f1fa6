"""What becomes of a job, and what follows from it: the one home of outcome policy.

Every place that ends a job asks here instead of deciding itself: the pool child and
eager mode (``execution.run_job``), the supervisor (a lost process, a hard time limit)
and revocation (``Control.revoke_job``). Each function returns an ``Outcome`` for the
store to apply in one transaction, with what follows from it:

- a success: its ``link`` steps, and the count toward its chord;
- a retry: the next eta and retry count (autoretry, including after a hard limit);
- a final failure or revocation: errbacks, the later chain steps stored FAILED, the
  chord member it counts as, and when the record may be purged;
- a lost process: back to the queue (``acks_late``, with crashes counted against
  ``max_retries``) or a final ``WorkerLostError``.

Task handlers (``on_success``, ``on_failure``, ``on_retry``, ``after_return``) run from
here, in Celery's order, with the signals between them.
"""

from __future__ import annotations

import logging
from typing import Any

from . import serializer, signals
from .core import Core
from .exceptions import ChordError, Ignore, TaskRevokedError, TimeLimitExceeded, WorkerLostError
from .failure import ExceptionInfo, class_path, describe, rebuild
from .job import TASK_OPTION_DEFAULTS, Failure, Job, JobState, Outcome
from .links import expand_links, fail_links, failed_chord_member, replacement
from .task import Request, Task
from .timeutil import now as clock_now
from .transports import Lost

log = logging.getLogger("litejobs.worker")

def purge_at(core: Core, now: float) -> float | None:
    """When a finished job's record may be deleted (``result_expires``; None: never)."""
    expires = core.conf.result_expires
    return now + expires if expires else None


# -- deciding ------------------------------------------------------------------------
def succeeded(core: Core, job: Job, task: Task, packed: bytes, value: Any) -> Outcome:
    """SUCCESS with its packed result; the job's links start with ``value``."""
    options = job.options
    ignore = core.ignores_result(task, options)
    chord_id = options.get("chord")
    follow_ups, chords = expand_links(core, job, value) if options.get("link") else ([], [])
    return Outcome(job.id, job.attempts, JobState.SUCCESS, result=packed,
                   purge_at=purge_at(core, clock_now()),
                   forget=ignore and not chord_id,  # a chord reads member results
                   follow_ups=follow_ups, chords=chords, chord_id=chord_id)


def requeued(job: Job) -> Outcome:
    """PENDING again at once (``Reject(requeue=True)``): no retry spent."""
    return Outcome(job.id, job.attempts, JobState.PENDING)


def ignored(core: Core, job: Job) -> Outcome:
    """The task raised ``Ignore``: no result kept, no callbacks (a chord member still
    counts, so its chord is not left waiting)."""
    return Outcome(job.id, job.attempts, JobState.SUCCESS, purge_at=purge_at(core, clock_now()),
                   forget=not job.options.get("chord"), chord_id=job.options.get("chord"))


def replaced(core: Core, job: Job, step: Any) -> Outcome:
    """The task called ``self.replace(step)``: the job's row gives way (no result, no
    callbacks, no chord count of its own) to the replacement's jobs, stored in the same
    transaction, whose last job takes its id, callbacks and place (``links.replacement``).
    Until that job is stored the id reads PENDING, as Celery records a replaced task."""
    follow_ups, chords = replacement(core, job, step)
    return Outcome(job.id, job.attempts, JobState.SUCCESS, forget=True,
                   follow_ups=follow_ups, chords=chords)


def retried(job: Job, delay: float, reason: BaseException | Failure) -> Outcome:
    """SCHEDULED again in ``delay`` seconds, one retry more."""
    failure = reason if isinstance(reason, Failure) else describe(reason)
    return Outcome(job.id, job.attempts, JobState.SCHEDULED, failure=failure,
                   eta=clock_now() + delay, retries=job.retries + 1)


def autoretry_delay(task: Task, job: Job, exc: BaseException) -> float | None:
    """Seconds until the automatic retry of ``exc``; None if it does not autoretry
    (not in ``autoretry_for``, in ``dont_autoretry_for``, or no retries left)."""
    if not task.autoretry_for or not isinstance(exc, task.autoretry_for):
        return None
    if task.dont_autoretry_for and isinstance(exc, task.dont_autoretry_for):
        return None
    retry_kwargs = task.retry_kwargs or {}
    if task.retries_exhausted(job.retries, job.options, retry_kwargs.get("max_retries")):
        return None
    countdown = retry_kwargs.get("countdown")
    if countdown is None:
        return task.retry_delay(job.retries, automatic=True)
    return float(countdown)


def final(core: Core, job: Job, state: JobState, failure: Failure | None) -> Outcome:
    """A final FAILURE or REVOKED, with errbacks, dead chain steps and the chord count."""
    when = purge_at(core, clock_now())
    chord_id, chord_member = failed_chord_member(job.options)
    outcome = Outcome(job.id, job.attempts, state, failure=failure, purge_at=when,
                      chord_id=chord_id, chord_member=chord_member)
    if failure is not None and (job.options.get("link") or job.options.get("link_error")):
        outcome.follow_ups = fail_links(core, job, failure.error_type, failure.message, when)
    return outcome


def chord_failed(core: Core, job: Job) -> tuple[Outcome, BaseException]:
    """A chord body fired after a member failed (marked ``chord_failed``, the error on its
    record): FAILURE with that error, its errbacks called and later steps stored FAILED."""
    error_type, message = job.error_type, job.error_message
    if error_type is None:  # a claimed job carries no error: read it from its record
        stored = core.transport.get(job.id)
        if stored is not None:
            error_type, message = stored.error_type, stored.error_message
    error_type = error_type or class_path(ChordError)
    message = message or f"a member of the chord of {job.id} failed"
    failure = Failure(error_type, message, None, serializer.dumps([message], "exception args"))
    return final(core, job, JobState.FAILURE, failure), rebuild(error_type, message, None, None)


def plain_failure(exc_cls: type[BaseException], message: str
                  ) -> tuple[Failure, BaseException]:
    """A failure litejobs itself decided (no traceback of user code)."""
    exc = exc_cls(message)
    return Failure(class_path(exc_cls), message, None,
                   serializer.dumps([message], "exception args")), exc


def revocation(core: Core, job: Job | None, job_id: str
               ) -> tuple[list[Job], tuple[str, str] | None]:
    """What a revocation stores with it: follow-ups (errbacks, dead chain steps) and the
    chord member it counts as failed, so nothing waits on a job that never runs."""
    if job is None or job.state.finished:
        return [], None
    failure, _ = plain_failure(TaskRevokedError, f"job {job_id} was revoked")
    outcome = final(core, job, JobState.REVOKED, failure)
    chord = (outcome.chord_id, outcome.chord_member or job_id) if outcome.chord_id else None
    return outcome.follow_ups, chord


# -- outcomes the supervisor decides ------------------------------------------------
def lost(core: Core, losts: list[Lost], reason: str, requeue_all: bool = False
         ) -> list[Outcome]:
    """Jobs whose process died: back to the queue (acks_late), or FAILURE WorkerLostError.

    Crashes count against ``max_retries``: a job whose process keeps dying (a poison
    pill that segfaults or runs out of memory) fails for good instead of looping.
    """
    outcomes = []
    for x in losts:
        if requeue_all:
            outcomes.append(Outcome(x.job_id, x.attempt, JobState.PENDING))
            continue
        why = reason
        if x.acks_late:
            limit = x.max_retries
            if limit == -1:
                task = core.find_task(x.task)
                limit = task.max_retries if task is not None \
                    else TASK_OPTION_DEFAULTS["max_retries"]
            if limit is None or x.crashes < limit:
                outcomes.append(Outcome(x.job_id, x.attempt, JobState.PENDING, crashed=True))
                continue
            why = (f"{reason}; the job lost its process {x.crashes + 1} times "
                   f"(max_retries={limit}), so it is not run again")
        outcome = _decided_failure(core, x.job_id, x.attempt, WorkerLostError, why)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def time_limit(core: Core, job_id: str, attempt: int, message: str) -> Outcome | None:
    """A job killed at its hard limit: a retry if its task autoretries for
    TimeLimitExceeded, else FAILURE. None if the job has moved on since."""
    job = core.transport.get(job_id)
    if job is None or job.attempts != attempt:
        return None
    task = core.find_task(job.task)
    if task is not None:
        delay = autoretry_delay(task, job, TimeLimitExceeded(message))
        if delay is not None:
            return retried(job, delay, Failure(class_path(TimeLimitExceeded), message))
    return _decided_failure(core, job_id, attempt, TimeLimitExceeded, message, job)


def _decided_failure(core: Core, job_id: str, attempt: int, exc_cls: type[BaseException],
                     message: str, job: Job | None = None) -> Outcome | None:
    job = job or core.transport.get(job_id)
    if job is None or job.attempts != attempt:
        return None  # already moved on (re-claimed, revoked): nothing to decide
    failure, exc = plain_failure(exc_cls, message)
    outcome = final(core, job, JobState.FAILURE, failure)
    task = core.find_task(job.task)
    if task is not None:
        try:
            args, kwargs = serializer.loads_call(job.payload, core)
        except Exception:
            args, kwargs = (), {}
        _call(task.on_failure, exc, job.id, args, kwargs, ExceptionInfo(exc, message))
        _call(task.after_return, "FAILURE", exc, job.id, args, kwargs,
              ExceptionInfo(exc, message))
    return outcome


# -- handlers and signals ----------------------------------------------------------
def announce(task: Task, job: Job, request: Request, args: tuple, kwargs: dict,
             outcome: Outcome, value: Any, exc: BaseException | None) -> None:
    """Task handlers and signals for a job run here, in Celery's order: on_success /
    on_failure / on_retry, then the matching signal, then after_return, then
    task_postrun. A handler that raises is logged; it never changes the outcome."""
    state = outcome.state
    failure = outcome.failure
    einfo = ExceptionInfo(exc, failure.traceback if failure else None) \
        if exc is not None else None
    if state is JobState.PENDING:  # rejected back to its queue: it runs again
        return
    if isinstance(exc, Ignore):  # ignored or replaced: no handlers, as in Celery
        signals.send_postrun(task, job.id, args, kwargs, None, "IGNORED")
        return
    if state is JobState.SUCCESS:
        _call(task.on_success, value, job.id, args, kwargs)
        signals.send_success(task, value)
        status, retval = "SUCCESS", value
    elif state is JobState.SCHEDULED:
        _call(task.on_retry, exc, job.id, args, kwargs, einfo)
        signals.send_retry(task, request, exc, einfo)
        status, retval = "RETRY", exc
    else:
        status, retval = "FAILURE", exc
        _call(task.on_failure, exc, job.id, args, kwargs, einfo)
        signals.send_failure(task, job.id, exc, args, kwargs, einfo)
    _call(task.after_return, status, retval, job.id, args, kwargs, einfo)
    signals.send_postrun(task, job.id, args, kwargs, retval, status)


def _call(handler: Any, *args: Any) -> None:
    try:
        handler(*args)
    except Exception:
        log.exception("task handler %s raised; the job's outcome stands",
                      getattr(handler, "__qualname__", handler))
