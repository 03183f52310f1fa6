"""Eager mode: run a job inline through run_job, with the serializer round trip."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import serializer, states
from .execution import run_job
from .job import Job, JobState, new_id
from .result import EagerResult

if TYPE_CHECKING:
    from .app import App
    from .task import Task

# A task that retries forever would hang a unit test; eager mode stops it here.
MAX_EAGER_RETRIES = 100


def apply_eagerly(app: App, task: Task, args: tuple, kwargs: dict,
                  options: dict[str, Any]) -> EagerResult:
    payload = serializer.dumps_call(task.name, args, kwargs)
    job = Job(id=options.get("task_id") or new_id(), task=task.name, payload=payload,
              queue=options.get("queue") or task.queue or app.conf.task_default_queue,
              priority=options.get("priority") or 0, state=JobState.RUNNING, attempts=1,
              options={k: v for k, v in options.items()
                       if k in ("root_id", "parent_id", "group_id", "max_retries",
                                "time_limit", "soft_time_limit", "ignore_result")})
    while True:
        execution = run_job(app, job, task=task, eager=True)
        outcome = execution.outcome
        if outcome.state is not JobState.SCHEDULED or job.retries >= MAX_EAGER_RETRIES:
            break
        job.retries = outcome.retries or job.retries + 1
        job.attempts += 1
    args_back, kwargs_back = serializer.loads_call(payload)
    if outcome.state is JobState.SUCCESS:
        return EagerResult(job.id, app, task.name, states.SUCCESS, value=execution.value,
                           retries=job.retries, args=args_back, kwargs=kwargs_back)
    exc = execution.exc
    if app.conf.task_eager_propagates or options.get("throw"):
        assert exc is not None
        raise exc
    state = states.REVOKED if outcome.state is JobState.REVOKED else states.FAILURE
    failure = outcome.failure
    return EagerResult(job.id, app, task.name, state, exception=exc,
                       traceback=failure.traceback if failure else None, retries=job.retries,
                       args=args_back, kwargs=kwargs_back)
