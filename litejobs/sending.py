"""Sending: the one home for putting jobs and workflows into the store (or, in eager
mode, running them inline through the same expansion)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import eager
from .canvas import Signature, as_list, chain, copy_step, first_id, freeze_steps, group
from .core import Core
from .exceptions import ConfigurationError
from .links import attach, build, describe
from .result import AsyncResult
from .task import Task
from .timeutil import now as clock_now

# Options apply_async() takes besides args and kwargs (Celery's names).
SEND_OPTIONS = frozenset({
    "countdown", "eta", "expires", "queue", "priority", "task_id", "link", "link_error",
    "time_limit", "soft_time_limit", "ignore_result", "acks_late", "max_retries",
    "retries", "root_id", "parent_id", "group_id",
})


def send_task(core: Core, name: str, args: Iterable[Any] | None,
              kwargs: dict[str, Any] | None, options: dict[str, Any],
              task: Task | None = None) -> AsyncResult[Any]:
    """Send one job by task name (``apply_async``, ``send_task``)."""
    unknown = set(options) - SEND_OPTIONS
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {', '.join(sorted(unknown))} for {name}; valid options: "
            + ", ".join(sorted(SEND_OPTIONS)))
    if options.get("link") is not None or options.get("link_error") is not None:
        sig_options = {k: v for k, v in options.items()
                       if v is not None and k not in ("link", "link_error")}
        if isinstance(args, (str, bytes, dict)):
            core.job_template(name, sig_options, task).make(args, kwargs)  # the same error
        return Signature(name, args or (), kwargs, sig_options, app=core).apply_async(
            link=options.get("link"), link_error=options.get("link_error"))
    if core.eager:
        return eager.apply(core, task or core.resolve_task(name), args, kwargs,
                           {k: v for k, v in options.items() if v is not None})
    job = core.make_job(name, args, kwargs, options, task)
    core.transport.enqueue([job], clock_now())
    return AsyncResult(job.id, app=core, task_name=name)


def send_workflow(core: Core, workflow: chain, args: tuple, kwargs: dict[str, Any],
                  options: dict[str, Any]) -> Any:
    """Send a chain (a lone signature, group or chord is a chain of one step).

    Every step's id is fixed first; each step then carries the description of the
    next (``links.attach``), and the first step's jobs are stored in one transaction.
    """
    steps = [copy_step(s) for s in workflow.steps()]
    options = dict(options)
    errbacks = options.pop("link_error", None)
    links = options.pop("link", None)
    results = freeze_steps(steps)
    following: list[dict[str, Any]] = [describe(x) for x in as_list(links)]
    error_links = [describe(x) for x in as_list(errbacks)]
    for step in reversed(steps[1:]):
        attach(step, following, error_links)
        following = [describe(step)]
    first = steps[0]
    attach(first, following, error_links)
    jobs, chords = build(core, first, args, kwargs, options, root_id=first_id(first))
    if core.eager:
        return eager.view(core, results[-1], eager.run(core, jobs, chords))
    core.transport.enqueue(jobs, clock_now(), chords=chords)
    if isinstance(first, group):
        core.transport.save_group(first.options["group_id"],
                                  [r.id for r in results[0].results], clock_now())
    return results[-1]
