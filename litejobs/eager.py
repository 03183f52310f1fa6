"""Eager mode: run a job inline through run_job, with the serializer round trip."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import serializer, states
from .canvas import Signature, _as_list, _first_id, chain, group
from .execution import run_job
from .job import Job, JobState, new_id
from .result import AsyncResult, EagerResult, GroupResult

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


# -- workflows ------------------------------------------------------------------------
def run_workflow_eagerly(app: App, steps: list[Any], args: tuple, kwargs: dict[str, Any],
                 options: dict[str, Any], errbacks: Any, links: Any) -> Any:
    value_args: tuple = args
    result: Any = None
    for n, step in enumerate(steps):
        previous, result = result, _eager_step(app, step, value_args, kwargs, options)
        if previous is not None and getattr(result, "_parent", None) is None:
            result.parent = previous
        kwargs = {}
        failed = _eager_failure(result)
        if failed is not None:
            for errback in _as_list(errbacks):
                errback.clone((result.id if isinstance(result, AsyncResult) else "",)
                              ).apply_async()
            if app.conf.task_eager_propagates:
                raise failed
            for later in steps[n + 1:]:  # as with a worker: later steps fail the same way
                dead = EagerResult(_first_id(later), app, getattr(later, "task", "group"),
                                   "FAILURE", exception=failed)
                dead.parent, result = result, dead
            return result
        value_args = (result.get() if isinstance(result, GroupResult) else result.result,)
    for link in _as_list(links):
        link.clone(value_args).apply_async()
    return result


def _eager_failure(result: Any) -> BaseException | None:
    results = result.results if isinstance(result, GroupResult) else [result]
    for r in results:
        if r.failed() or r.state == "REVOKED":
            return r.result
    return None


def _eager_step(app: App, step: Any, args: tuple, kwargs: dict[str, Any],
                options: dict[str, Any]) -> Any:
    propagate = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False  # failures become FAILURE results here
    try:
        if isinstance(step, Signature):
            return _eager_sig(app, step, args, kwargs, options)
        if isinstance(step, group):
            return GroupResult(step.options["group_id"],
                               [run_workflow_eagerly(app, t.tasks, args, kwargs, options,
                                                     None, None) if isinstance(t, chain)
                                else _eager_sig(app, t, args, kwargs, options)
                                for t in step.tasks], app=app)
        header = _eager_step(app, step.header, args, kwargs, options)
        body = step.body
        failed = _eager_failure(header)
        if failed is not None:
            from .exceptions import ChordError

            bad = next(r for r in header.results if r.failed() or r.state == "REVOKED")
            error = ChordError(f"Dependency {bad.id} raised {type(failed).__name__}: {failed}")
            return EagerResult(body.options["task_id"], app, body.task, "FAILURE",
                               exception=error)
        values = [r.result for r in header.results]
        body_args = () if body.immutable else (values,)
        result = _eager_sig(app, body, body_args, {}, options)
        result.parent = header
        return result
    finally:
        app.conf.task_eager_propagates = propagate


def _eager_sig(app: App, sig: Signature, args: tuple, kwargs: dict[str, Any],
               options: dict[str, Any]) -> Any:
    task = app.resolve_task(sig.task)
    call_args = sig.args if sig.immutable else args + sig.args
    opts = {k: v for k, v in {**options, **sig.options}.items()
            if k not in ("link", "link_error") and v is not None}
    return task.apply(call_args, {**sig.kwargs, **kwargs}, **opts)
