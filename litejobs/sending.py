"""Sending: the one home for putting jobs and workflows into the store (or, in eager
mode, running them inline through the same expansion)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import djangofix, eager, serializer, signals
from .canvas import (
    Signature,
    as_list,
    chain,
    chord,
    copy_step,
    first_id,
    freeze_steps,
    group,
)
from .core import Core
from .exceptions import ConfigurationError
from .job import Job
from .links import build, describe, open_chord, open_member, wire
from .result import AsyncResult, GroupResult
from .task import Task
from .timeutil import now as clock_now
from .unique import UniqueSeen, unique_key

# Options apply_async() takes besides args and kwargs (Celery's names).
SEND_OPTIONS = frozenset({
    "countdown", "eta", "expires", "queue", "priority", "task_id", "link", "link_error",
    "time_limit", "soft_time_limit", "ignore_result", "acks_late", "max_retries",
    "retries", "root_id", "parent_id", "group_id", "headers", "unique_for", "unique_key",
})
# What a job sent inside a Django transaction takes: link/link_error make a workflow,
# which is not sent that way (send it after the commit: apply_async_on_commit); a unique
# job's key is checked by the store as the job goes in, which the outbox cannot do.
IN_TRANSACTION_OPTIONS = SEND_OPTIONS - {"link", "link_error", "unique_for", "unique_key"}
# What before_task_publish receivers see in ``headers`` beside the job's own headers
# (Celery's message protocol); only the others are kept with the job.
PROTOCOL_HEADERS = frozenset({"id", "task", "root_id", "parent_id", "group", "retries",
                              "eta", "expires", "lang"})


def send_task(core: Core, name: str, args: Iterable[Any] | None,
              kwargs: dict[str, Any] | None, options: dict[str, Any],
              task: Task | None = None) -> AsyncResult[Any]:
    """Send one job by task name (``apply_async``, ``send_task``)."""
    _check_options(name, options, SEND_OPTIONS)
    if options.get("link") is not None or options.get("link_error") is not None:
        sig_options = {k: v for k, v in options.items()
                       if v is not None and k not in ("link", "link_error")}
        if isinstance(args, (str, bytes, dict)):
            core.job_template(name, sig_options, task).make(args, kwargs)  # the same error
        return Signature(name, args or (), kwargs, sig_options, app=core).apply_async(
            link=options.get("link"), link_error=options.get("link_error"))
    if core.eager:
        return eager.apply(core, task or core.resolve_task(name), args, kwargs,
                           {k: v for k, v in options.items() if v is not None}, sent=True)
    template = core.job_template(name, options, task, args, kwargs)
    job = template.make(args, kwargs)
    _before_publish([job])
    job_id = job.id
    if template.unique_for is None:
        core.transport.enqueue([job], clock_now())
    else:  # docs/unique.md: the store returns the job holding the key
        job_id = core.transport.enqueue_unique(
            job, clock_now(), unique_key(name, args, kwargs, template.unique_key),
            template.unique_for)
    if job_id == job.id:
        _after_publish([job])
    result: AsyncResult[Any] = AsyncResult(job_id, app=core, task_name=name)
    result.ignored = core.ignores_result(task or core.find_task(name), options)
    return result


def send_in_transaction(core: Core, name: str, args: Iterable[Any] | None,
                        kwargs: dict[str, Any] | None, options: dict[str, Any],
                        task: Task | None = None, using: str | None = None
                        ) -> AsyncResult[Any]:
    """Send one job inside the current transaction of a SQLite Django database
    (``delay_in_transaction``): stored if and when that transaction commits."""
    _check_options(name, options, IN_TRANSACTION_OPTIONS, " sent in a transaction")
    template = core.job_template(name, options, task, args, kwargs)
    if template.unique_for is not None:
        raise ConfigurationError(
            f"{name} is a unique task (unique_for): it cannot be sent inside a transaction, "
            "where the store cannot check its key; send it after the commit "
            "(apply_async_on_commit), or with unique_for=False")
    job = template.make(args, kwargs)
    if core.eager:  # no store: run it inline once the transaction commits
        job_options = {k: v for k, v in options.items() if v is not None}
        job_options["task_id"] = job.id
        djangofix.on_commit(lambda: eager.apply(core, task or core.resolve_task(name),
                                                args, kwargs, job_options), using)
        return AsyncResult(job.id, app=core, task_name=name)
    _before_publish([job])
    djangofix.enqueue_in_transaction(core, [job], using)
    _after_publish([job])
    result: AsyncResult[Any] = AsyncResult(job.id, app=core, task_name=name)
    result.ignored = core.ignores_result(task or core.find_task(name), options)
    return result


# What delay_many takes: the options of every job it sends (an id is each job's own; a
# callback or a unique key makes each call a workflow or a check of its own).
MANY_OPTIONS = SEND_OPTIONS - {"task_id", "link", "link_error", "unique_for", "unique_key"}


def send_many(core: Core, name: str, calls: Iterable[Any], options: dict[str, Any],
              task: Task | None = None) -> list[AsyncResult[Any]]:
    """Send a job per call, all in one transaction (``Task.delay_many``).

    A call is a tuple or list of positional arguments, or a dict of keyword arguments.
    The options are checked once, and every job is built from one template unless
    ``task_routes`` routes by arguments (then each call is routed as ``delay`` would).
    """
    _check_options(name, options, MANY_OPTIONS, " sent many at once")
    split = [_split_call(name, call) for call in calls]
    if task is not None and task.typing:
        for args, kwargs in split:
            task.check_arguments(args, kwargs)
    template = core.job_template(name, options, task)  # checked here in both modes
    if template.unique_for is not None:
        raise ConfigurationError(
            f"{name} is a unique task (unique_for): delay_many does not send unique jobs; "
            "call delay() for each, or give unique_for=False")
    if core.eager:
        given = {k: v for k, v in options.items() if v is not None}
        resolved = task or core.resolve_task(name)
        return [eager.apply(core, resolved, args, kwargs, dict(given), sent=True)
                for args, kwargs in split]
    if core.conf.routers:  # a router may look at each call's arguments
        jobs = [core.job_template(name, options, task, args, kwargs).make(args, kwargs)
                for args, kwargs in split]
    else:
        jobs = [template.make(args, kwargs) for args, kwargs in split]
    if not jobs:
        return []
    _before_publish(jobs)
    core.transport.enqueue(jobs, clock_now())
    _after_publish(jobs)
    ignored = core.ignores_result(task or core.find_task(name), options)
    results = [AsyncResult(job.id, app=core, task_name=name) for job in jobs]
    if ignored:
        for result in results:
            result.ignored = True
    return results


def _split_call(name: str, call: Any) -> tuple[tuple | list, dict[str, Any] | None]:
    if isinstance(call, (tuple, list)):
        return call, None
    if isinstance(call, dict):
        return (), call
    raise ConfigurationError(
        f"each call of {name}.delay_many must be a tuple or list of arguments or a dict "
        f"of keyword arguments, not {type(call).__name__} (did you mean ({call!r},)?)")


def _check_options(name: str, options: dict[str, Any], valid: frozenset[str],
                   how: str = "") -> None:
    """Refuse an option ``apply_async`` does not take, or one not taken this way (given
    a value: Celery passes ``None`` for what is not set)."""
    refused = {k for k, v in options.items()
               if k not in valid and (k not in SEND_OPTIONS or v is not None)}
    if refused:
        word = "option(s) not taken" if refused & SEND_OPTIONS else "unknown option(s)"
        raise ConfigurationError(f"{word} {', '.join(sorted(refused))} for {name}{how}; "
                                 "valid options: " + ", ".join(sorted(valid)))


def _send_open_chord(core: Core, first: chord, result: AsyncResult[Any], members: Any,
                     args: tuple, kwargs: dict[str, Any], options: dict[str, Any],
                     errbacks: list[dict[str, Any]]) -> None:
    """Send a chord whose header is a generator, as Celery 5.3+ does: the chord is stored
    open, then each member as the generator yields it (with the join's growth, in one
    transaction), so early members run while later ones are still being made; the join
    is closed after the last. If the generator raises, the members sent so far run, the
    body never does, and the error reaches the caller."""
    chord_id = first.header.options["group_id"]
    spec = open_chord(core, first, chord_id)
    _before_publish([spec.body])
    core.transport.enqueue([], clock_now(), chords=[spec])
    member_results = []
    for member in members:
        if UniqueSeen.seen:  # read as it is sent: each member is checked as it comes
            unique = _unique_steps(core, member, options, {})
            if unique:
                _refuse_unique(unique)
        jobs, chords, counted, member_result = open_member(
            core, chord_id, member, args, kwargs, options, chord_id, errbacks)
        _before_publish([*jobs, *(c.body for c in chords)])
        core.transport.add_chord_members(chord_id, [counted], clock_now(), jobs=jobs,
                                         chords=chords)
        _after_publish(jobs)
        member_results.append(member_result)
    core.transport.add_chord_members(chord_id, [], clock_now(), close=True)
    result.parent = GroupResult(chord_id, member_results, app=core)


def _before_publish(jobs: list[Job]) -> None:
    """``before_task_publish`` for each job; what receivers put in ``headers`` is kept."""
    if not signals.before_task_publish.receivers:
        return
    for job in jobs:
        options = job.options
        protocol = {"lang": "py", "id": job.id, "task": job.task,
                    "root_id": options.get("root_id", job.id),
                    "parent_id": options.get("parent_id"), "group": options.get("group_id"),
                    "retries": job.retries, "eta": job.eta, "expires": job.expires}
        headers = {**protocol, **(options.get("headers") or {})}
        signals.before_task_publish.send(
            sender=job.task, body=serializer.loads_call(job.payload) + ({},), exchange="",
            routing_key=job.queue, headers=headers, properties={"priority": job.priority},
            declare=[], retry_policy=None)
        own = {k: v for k, v in headers.items() if k not in PROTOCOL_HEADERS}
        if own:
            serializer.dumps(own, f"the headers of {job.task}")  # a clear error, now
            job.options = {**options, "headers": own}


def _after_publish(jobs: list[Job]) -> None:
    if signals.after_task_publish.receivers:
        for job in jobs:
            signals.after_task_publish.send(
                sender=job.task, body=serializer.loads_call(job.payload) + ({},),
                exchange="", routing_key=job.queue,
                headers={"id": job.id, "task": job.task, **(job.options.get("headers") or {})})


def send_workflow(core: Core, workflow: chain, args: tuple, kwargs: dict[str, Any],
                  options: dict[str, Any], inline: bool = False) -> Any:
    """Send a chain (a lone signature, group or chord is a chain of one step).

    Every step's id is fixed first; each step then carries the description of the
    next (``links.attach``), and the first step's jobs are stored in one transaction.
    """
    head = workflow.tasks[0]
    lazy = head.take_lazy_header() if isinstance(head, chord) and not (
        core.eager or inline) else None  # inline, a generator header is read at once
    UniqueSeen.note(options)
    unique = _unique_steps(core, workflow, options, {}) if UniqueSeen.seen else None
    if unique and not inline:
        lone = workflow.tasks[0] if len(workflow.tasks) == 1 else None
        if isinstance(lone, Signature) and not workflow.options and not {
                "link", "link_error"} & {k for k, v in {**options, **lone.options}.items()
                                         if v}:
            return _send_alone(core, lone, args, kwargs, options)
        _refuse_unique(unique)
    steps = [copy_step(s) for s in workflow.steps()]
    options = dict(options)
    throw = options.pop("throw", None) if (core.eager or inline) else None
    own = workflow.options  # chain.link(), chain.link_error()
    errbacks = [*as_list(own.get("link_error")), *as_list(options.pop("link_error", None))]
    links = [*as_list(own.get("link")), *as_list(options.pop("link", None))]
    results = freeze_steps(steps)
    error_links = [describe(x) for x in errbacks]
    wire(steps, [describe(x) for x in links], error_links)
    first = steps[0]
    if lazy is not None:
        _send_open_chord(core, first, results[0], lazy, args, kwargs, options, error_links)
        return results[-1]
    jobs, chords = build(core, first, args, kwargs, options, root_id=first_id(first))
    last = steps[-1]
    if isinstance(last, Signature):
        given = {**options, **last.options} if len(steps) == 1 else last.options
        results[-1].ignored = core.ignores_result(core.find_task(last.task), given)
    if core.eager or inline:
        return eager.view(core, results[-1], eager.run(core, jobs, chords, propagate=throw))
    _before_publish([*jobs, *(c.body for c in chords)])  # a chord's body is sent now too
    core.transport.enqueue(jobs, clock_now(), chords=chords)
    _after_publish(jobs)
    if isinstance(first, group):
        core.transport.save_group(first.options["group_id"],
                                  [r.id for r in results[0].results], clock_now())
    return results[-1]


def _refuse_unique(names: list[str]) -> None:
    raise ConfigurationError(
        f"{', '.join(sorted(set(names)))} is unique (unique_for), and a unique job is "
        "sent on its own (delay, apply_async, send_task), not as a step of a chain, "
        "group or chord or with link/link_error: a step that is not enqueued would "
        "leave the workflow waiting. Send it alone, or .set(unique_for=False) to run "
        "it as a plain step (docs/unique.md)")


def _unique_steps(core: Core, step: Any, options: dict[str, Any],
                  seen: dict[tuple[str, str], bool]) -> list[str]:
    """The names of the unique steps of a workflow, callbacks included: each signature's
    unique options over the workflow's (as links merge them), then the core decides, as
    for any job (``seen``: its answers, by task and options)."""
    if isinstance(step, (chain, group)):
        names = [n for t in step.tasks for n in _unique_steps(core, t, options, seen)]
    elif isinstance(step, chord):
        names = [*_unique_steps(core, step.header, options, seen),
                 *_unique_steps(core, step.body, options, seen)]
    elif isinstance(step, Signature):
        given = {k: v for k, v in {**options, **step.options}.items()
                 if k in ("unique_for", "unique_key")}
        key = (step.task, repr(sorted(given.items())))  # (any value: refused below)
        if key not in seen:
            seen[key] = core.unique_options(step.task, given)[0] is not None
        names = [step.task] if seen[key] else []
    else:
        return []  # a callback stored as a description
    for link in ("link", "link_error"):
        for callback in as_list(step.options.get(link)):
            names += _unique_steps(core, callback, {}, seen)
    return names


def _send_alone(core: Core, sig: Signature, args: tuple, kwargs: dict[str, Any],
                options: dict[str, Any]) -> AsyncResult[Any]:
    """A lone unique signature (``sig.delay()``), sent as ``apply_async`` sends it."""
    call_args = sig.args if sig.immutable else (*args, *sig.args)
    merged = {**options, **sig.options}
    return send_task(core, sig.task, call_args, {**sig.kwargs, **kwargs},
                     {k: v for k, v in merged.items() if k in SEND_OPTIONS})
