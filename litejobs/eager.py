"""Eager mode: jobs built and checked as for the store, run inline through run_job.

A task sent in eager mode is made by the same job template (so an option the store
refuses is refused here, with the same error), its arguments and result go through
the serializer, and a workflow is expanded by the same code the worker uses
(``links.build`` and the follow-ups ``outcomes`` decides). Only the queue is
different: a list in this process instead of the store, with chord joins counted
here.
"""

from __future__ import annotations

import collections
import weakref
from typing import Any

from . import serializer, states
from .core import Core
from .exceptions import LiteJobsError
from .execution import Execution, run_job
from .failure import rebuild
from .job import ChordSpec, Job, JobState
from .result import AsyncResult, EagerResult, GroupResult
from .task import Task
from .timeutil import now as clock_now
from .unique import unique_key

# A task that retries forever would hang a unit test; eager mode stops it here.
MAX_EAGER_RETRIES = 100
_EAGER_ONLY_OPTIONS = ("throw",)
# Unique jobs run inline (docs/unique.md): per app, each key's last job and when it ended
# (None: still running, for a task that sends itself again).
_held: weakref.WeakKeyDictionary[Core, dict[str, tuple[EagerResult[Any], float | None]]] = \
    weakref.WeakKeyDictionary()


def apply(core: Core, task: Task, args: Any, kwargs: Any, options: dict[str, Any],
          sent: bool = False) -> EagerResult[Any]:
    """Run ``task`` inline now (``task.apply()``, eager ``delay()``); return its result.

    ``sent`` (eager ``delay()``, not ``apply()``): a unique job whose key is held
    returns the holder's result instead of running.
    """
    throw = options.get("throw")
    template = core.job_template(task.name or "", {
        k: v for k, v in options.items() if k not in _EAGER_ONLY_OPTIONS}, task)
    job = template.make(args, kwargs)
    if template.unique_for is None or not sent:
        return run(core, [job], [], propagate=bool(throw) or None, task=task)[job.id]
    # a unique job: the one holding its key, as the stores decide (enqueue_unique)
    held = _held.setdefault(core, {})
    key = unique_key(job.task, args, kwargs, template.unique_key)
    holder = held.get(key)
    if holder is not None:
        result, done_at = holder
        if done_at is None or (result.state == states.SUCCESS
                               and done_at > clock_now() - template.unique_for):
            return result
    held[key] = (EagerResult(job.id, core, job.task, states.STARTED), None)
    try:
        result = run(core, [job], [], propagate=bool(throw) or None, task=task)[job.id]
    except BaseException:
        del held[key]  # a failure holds no key
        raise
    held[key] = (result, clock_now())
    return result


def run(core: Core, jobs: list[Job], chords: list[ChordSpec], propagate: bool | None = None,
        task: Task | None = None) -> dict[str, EagerResult[Any]]:
    """Run ``jobs`` and everything that follows from them; their results by id.

    With ``propagate`` (default: ``task_eager_propagates``) the first failure is raised
    once the whole workflow has run (errbacks included), as in Celery.
    """
    if propagate is None:
        propagate = bool(core.conf.task_eager_propagates)
    runner = _Runner(core, task)
    for spec in chords:
        runner.add_chord(spec)
    runner.queue.extend(jobs)
    runner.run_all()
    if propagate and runner.first_error is not None:
        raise runner.first_error
    return runner.results


def view(core: Core, frozen: Any, results: dict[str, EagerResult[Any]]) -> Any:
    """The eager results shaped as ``frozen`` (a workflow's result, parents included)."""
    if isinstance(frozen, GroupResult):
        group = GroupResult(frozen.id, [view(core, r, results) for r in frozen.results],
                            app=core)
        if frozen.parent is not None:
            group.parent = view(core, frozen.parent, results)
        return group
    assert isinstance(frozen, AsyncResult)
    result = results.get(frozen.id)
    if result is None:  # never ran (nothing led to it)
        result = EagerResult(frozen.id, core, frozen.task_name or "", states.PENDING)
    parent = frozen._parent
    if parent is not None:
        result.parent = view(core, parent, results)
    return result


class _Chord:
    def __init__(self, spec: ChordSpec) -> None:
        self.spec = spec
        self.done: set[str] = set()
        self.failed_member: str | None = None


class _Runner:
    """The eager queue: run each job, then what its outcome says follows."""

    def __init__(self, core: Core, task: Task | None) -> None:
        self.core = core
        self.task = task  # the one task of a plain apply (skips a registry lookup)
        self.queue: collections.deque[Job] = collections.deque()
        self.results: dict[str, EagerResult[Any]] = {}
        self.chords: dict[str, _Chord] = {}
        self.errors: dict[str, BaseException] = {}  # job id -> exception it ended with
        self.first_error: BaseException | None = None

    def add_chord(self, spec: ChordSpec) -> None:
        self.chords[spec.id] = _Chord(spec)

    def run_all(self) -> None:
        while self.queue:
            job = self.queue.popleft()
            if job.id in self.results:
                continue  # an id stored twice is stored once, as in the store
            if job.state.finished:
                self._record_dead(job)
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        job.state, job.attempts = JobState.RUNNING, 1
        task = self.task if self.task is not None and self.task.name == job.task else None
        while True:
            execution = run_job(self.core, job, task=task, eager=True)
            outcome = execution.outcome
            if outcome.state is not JobState.SCHEDULED or job.retries >= MAX_EAGER_RETRIES:
                break
            job.retries = outcome.retries or job.retries + 1  # retries run at once
            job.attempts += 1
        self._record(job, execution)
        for follow_up in outcome.follow_ups:
            if follow_up.state.finished and execution.exc is not None:
                self.errors[follow_up.id] = execution.exc  # a dead step fails alike
            self.queue.append(follow_up)
        for spec in outcome.chords:
            self.add_chord(spec)
        if outcome.chord_id and outcome.state.finished:
            self._count(outcome.chord_id, outcome.chord_member or job.id,
                        outcome.state is not JobState.SUCCESS)

    def _record(self, job: Job, execution: Execution) -> None:
        args, kwargs = serializer.loads_call(job.payload)
        state = execution.outcome.state
        if state is JobState.SUCCESS:
            result: EagerResult[Any] = EagerResult(
                job.id, self.core, job.task, states.SUCCESS, value=execution.value,
                retries=job.retries, args=args, kwargs=kwargs)
        else:
            exc = execution.exc or LiteJobsError(f"job {job.id} ended {state.value}")
            failure = execution.outcome.failure
            result = EagerResult(
                job.id, self.core, job.task,
                states.REVOKED if state is JobState.REVOKED else states.FAILURE,
                exception=exc, traceback=failure.traceback if failure else None,
                retries=job.retries, args=args, kwargs=kwargs)
            self.errors[job.id] = exc
            if self.first_error is None:
                self.first_error = exc
        self.results[job.id] = result

    def _record_dead(self, job: Job) -> None:
        """A step that will never run (stored FAILED by what came before it)."""
        exc = self.errors.get(job.id) or rebuild(job.error_type, job.error_message,
                                                 job.error_args, job.traceback)
        self.errors[job.id] = exc
        self.results[job.id] = EagerResult(job.id, self.core, job.task, states.FAILURE,
                                           exception=exc, traceback=job.traceback)
        if job.options.get("chord"):
            self._count(job.options["chord"], job.id, failed=True)

    def _count(self, chord_id: str, member: str, failed: bool) -> None:
        """One header member finished; the last one fires the body (as the store does)."""
        chord = self.chords.get(chord_id)
        if chord is None or member in chord.done:
            return
        chord.done.add(member)
        if failed and chord.failed_member is None:
            chord.failed_member = member
        spec = chord.spec
        if len(chord.done) < len(spec.member_ids):
            return
        del self.chords[chord_id]
        body = spec.body
        args, kwargs = serializer.loads_call(body.payload)
        if chord.failed_member is not None:  # as the store fires it: marked to fail
            cause = self.errors.get(chord.failed_member)
            body.options = {**body.options, "chord_failed": True}
            body.error_type = spec.failure_type
            body.error_message = spec.failure_message.format(
                member=chord.failed_member,
                type=type(cause).__name__ if cause is not None else "an error",
                message=str(cause) if cause else "")
            self.queue.append(body)
            return
        if not body.options.get("_immutable"):
            values = [self.results[m].result for m in spec.member_ids]
            body.payload = serializer.dumps_call(body.task, (values, *args), kwargs)
        self.queue.append(body)
