"""Turning workflows into jobs: each job carries descriptions of what runs after it.

``link`` holds the next step (a signature, group or chord, with ids assigned up front)
and ``link_error`` the errbacks. The worker expands them with ``expand_links`` /
``fail_links`` into jobs stored in the same transaction as the job's outcome, so a
crash never loses or doubles a step: follow-up ids are fixed when the workflow is
sent, and storing an id twice stores it once. Chord joins are counted in the store
(see ``Transport.settle``).
"""

from __future__ import annotations

from typing import Any

from .canvas import (
    PASS_TASK,
    Signature,
    as_list,
    as_member,
    chain,
    chord,
    copy_step,
    counted_id,
    counted_signature,
    describe,
    ends_in_group,
    enroll,
    freeze_steps,
    from_description,
    group,
    inherit_stamps,
)
from .core import Core, JobTemplate
from .exceptions import ConfigurationError
from .job import ChordSpec, Job, JobState
from .routing import MapRoute


def attach(step: Any, links: list[dict[str, Any]], errbacks: list[dict[str, Any]]) -> None:
    """Make ``links`` run after ``step`` (after a chord: after its body; after a chain, a
    group member, after its last step, each step linked to the next)."""
    if isinstance(step, chain):
        following = links
        for inner in reversed(step.tasks):
            attach(inner, following, errbacks)
            following = [describe(inner)]
        return
    if isinstance(step, Signature):
        target = step
    elif isinstance(step, chord):
        for t in step.header.tasks:
            attach_member(t, errbacks)
        if not isinstance(step.body, Signature):  # a group, chain or chord: what follows
            attach(step.body, links, errbacks)    # it follows the body's own ending
            return
        target = step.body
    else:
        for t in step.tasks:  # after a group: each member's result goes on
            attach(t, links, errbacks)
        return
    if links:
        target.options["link"] = [*target.options.get("link", []), *links]
    if errbacks:
        target.options["link_error"] = [*target.options.get("link_error", []), *errbacks]


def attach_member(member: Any, errbacks: list[dict[str, Any]]) -> None:
    """Make a chord header's ``member`` call ``errbacks`` if it fails (nothing follows it
    but the join)."""
    if isinstance(member, (chain, chord)):  # steps linked to the next; the join follows
        attach(member, [], errbacks)
    elif errbacks:
        member.options["link_error"] = list(errbacks)


def wire(steps: list[Any], links: list[dict[str, Any]], errbacks: list[dict[str, Any]]
         ) -> None:
    """Link a chain's (frozen) ``steps`` each to the next, the last to ``links``, and
    every step to ``errbacks``."""
    following = links
    for step in reversed(steps[1:]):
        attach(step, following, errbacks)
        following = [describe(step)]
    attach(steps[0], following, errbacks)


def _job(app: Core, sig: Signature, args: tuple, kwargs: dict[str, Any],
         options: dict[str, Any], extra: dict[str, Any]) -> Job:
    call_args = sig.args if sig.immutable else args + sig.args
    merged = {**options, **sig.options, **extra}
    if extra.get("headers") and sig.options.get("headers"):  # inherited, then its own
        merged["headers"] = {**extra["headers"], **sig.options["headers"]}
    if "chord_tail" in merged:  # a chain's early step: its last step is the chord member
        merged.pop("chord", None)
    for key in ("link", "link_error"):
        if merged.get(key) is not None:  # one step or a list of them, as Celery takes
            steps = merged[key]
            merged[key] = [describe(x) for x in (
                steps if isinstance(steps, (list, tuple)) else [steps])]
    return app.make_job(sig.task, call_args, {**sig.kwargs, **kwargs}, merged)


def _jobs(app: Core, sigs: list[Any], args: tuple, kwargs: dict[str, Any],
          options: dict[str, Any], extra: dict[str, Any]) -> list[Job]:
    """The jobs of a group's members: those alike but for their arguments and id share
    one checked template (and one stored options blob), so a large group costs little
    more than packing its arguments."""
    templates: dict[str, JobTemplate] = {}
    out: list[Job] = []
    for sig in sigs:
        while isinstance(sig, chain):  # a chain member starts with its first step
            sig = sig.tasks[0]
        own = sig.options
        if own and (len(own) > 1 or not isinstance(own.get("task_id"), str)):
            out.append(_job(app, sig, args, kwargs, options, extra))  # checked in full
            continue
        template = templates.get(sig.task)
        if app.conf.routers and any(not isinstance(r, MapRoute) for r in app.conf.routers):
            out.append(_job(app, sig, args, kwargs, options, extra))  # a router sees args
            continue
        if template is None:
            template = templates[sig.task] = app.job_template(sig.task, {**options, **extra})
        out.append(template.make(sig.args if sig.immutable else args + sig.args,
                                 {**sig.kwargs, **kwargs} if kwargs else sig.kwargs,
                                 own.get("task_id")))
    return out


def build(app: Core, step: Any, args: tuple, kwargs: dict[str, Any], options: dict[str, Any],
          root_id: str | None = None, parent_id: str | None = None,
          headers: dict[str, Any] | None = None) -> tuple[list[Job], list[ChordSpec]]:
    """The jobs (and chords) that start ``step`` with ``args`` prepended."""
    extra: dict[str, Any] = {}
    if root_id:
        extra["root_id"] = root_id
    if parent_id:
        extra["parent_id"] = parent_id
    if headers or options.get("headers"):  # headers travel with the whole workflow
        extra["headers"] = {**(headers or {}), **(options.get("headers") or {})}
    if isinstance(step, Signature):
        return [_job(app, step, args, kwargs, options, extra)], []
    if isinstance(step, chain):  # its steps are linked: it starts with its first
        return build(app, step.tasks[0], args, kwargs, options, root_id, parent_id)
    if isinstance(step, group):
        group_id = step.options["group_id"]
        return _members(app, step.tasks, args, kwargs, options, {**extra, "group_id": group_id},
                        root_id, parent_id)
    chord_id = step.header.options["group_id"]
    if not step.header.tasks:  # an empty header calls the body with []
        body = _body(app, step)
        return [_job(app, body, ([],) if not body.immutable else (), {}, {}, extra)], []
    header, chords = _members(app, step.header.tasks, args, kwargs, options,
                              {**extra, "group_id": chord_id, "chord": chord_id},
                              root_id, parent_id)
    members = [_counted(t) for t in step.header.tasks]
    return header, [*chords, ChordSpec(chord_id, members, _body_job(app, step, extra),
                                       app.conf.result_expires)]


def _body(app: Core, step: chord) -> Signature:
    """The signature a chord fires: its body, or one handing the results on to it."""
    if isinstance(step.body, Signature):
        return step.body
    return Signature(PASS_TASK, options={"link": [describe(step.body)]}, app=app)


def _body_job(app: Core, step: chord, extra: dict[str, Any]) -> Job:
    body = _body(app, step)
    job = _job(app, body, (), {}, {}, extra)
    if body.immutable:
        job.options = {**job.options, "_immutable": True}
    return job


def open_chord(app: Core, step: chord, root_id: str) -> ChordSpec:
    """The chord ``step`` stored open, with no members yet: its header is read (from a
    generator) as it is sent, each member by ``open_member``."""
    return ChordSpec(step.header.options["group_id"], [],
                     _body_job(app, step, {"root_id": root_id}), app.conf.result_expires,
                     open=True)


def open_member(app: Core, chord_id: str, member: Any, args: tuple, kwargs: dict[str, Any],
                options: dict[str, Any], root_id: str, errbacks: list[dict[str, Any]]
                ) -> tuple[list[Job], list[ChordSpec], str, Any]:
    """One more member of an open chord: its jobs and chords, the id the join counts,
    and its result."""
    member = as_member(member)
    result = member.freeze()
    enroll(member, chord_id)
    attach_member(member, errbacks)
    jobs, chords = _members(app, [member], args, kwargs, options,
                            {"root_id": root_id, "group_id": chord_id, "chord": chord_id},
                            root_id, None)
    return jobs, chords, _counted(member), result


def _counted(member: Any) -> str:
    """The member a chord's join counts for a header member. A chain member read back
    from a link is its first step alone, which names its last in ``chord_tail``."""
    while isinstance(member, chain) and _simple(member):
        member = member.tasks[0]
    if isinstance(member, Signature) and "chord_tail" in member.options:
        return member.options["chord_tail"][1]
    return counted_id(member)


def _simple(member: Any) -> bool:
    """A member that starts with a signature (a chain's later steps are linked to it)."""
    while isinstance(member, chain):
        member = member.tasks[0]
    return isinstance(member, Signature)


def _members(app: Core, members: list[Any], args: tuple, kwargs: dict[str, Any],
             options: dict[str, Any], extra: dict[str, Any], root_id: str | None,
             parent_id: str | None) -> tuple[list[Job], list[ChordSpec]]:
    """The first jobs of a group's (or chord header's) members: a member that is a chord
    (or a chain starting with a group or chord) is built as a workflow of its own."""
    if all(_simple(m) for m in members):
        return _jobs(app, members, args, kwargs, options, extra), []
    jobs: list[Job] = []
    chords: list[ChordSpec] = []
    for member in members:
        if _simple(member):
            jobs += _jobs(app, [member], args, kwargs, options, extra)
        else:
            more, more_chords = build(app, member, args, kwargs, options, root_id, parent_id)
            jobs += more
            chords += more_chords
    return jobs, chords


def replacement(app: Core, job: Job, step: Any) -> tuple[list[Job], list[ChordSpec]]:
    """The jobs that take ``job``'s place when its task calls ``self.replace(step)``, as
    Celery's ``Task.replace``: the replacement's last job takes the job's id (so the
    job's result is the replacement's), its callbacks and errbacks, the rest of its
    chain and its chord membership. A group is joined first (its list is the result)."""
    if isinstance(step, dict):
        step = Signature.from_dict(step, app) if "task" in step else from_description(app, step)
    if not isinstance(step, (Signature, chain, group, chord)):
        raise ConfigurationError(f"self.replace() takes a signature, chain, group or chord, "
                                 f"not {step!r}")
    if isinstance(step, Signature) and "chord" in step.options:
        raise ConfigurationError("a signature replacing a task must not be part of a chord")
    options = job.options
    links = [describe(x) for x in as_list(step.options.get("link"))] \
        if isinstance(step, chain) else []  # chain.link(): after its last step
    errbacks = [describe(x) for x in as_list(step.options.get("link_error"))] \
        if isinstance(step, chain) else []
    if ends_in_group(step) or (isinstance(step, chain) and ends_in_group(step.tasks[-1])):
        step = chain(step, Signature(PASS_TASK, app=app))
    steps = [copy_step(s) for s in chain(step).steps()]
    for each in steps:
        inherit_stamps(each, options.get("stamps") or {})
    target = counted_signature(steps[-1])
    target.options["task_id"] = job.id
    chord_id, tail = options.get("chord"), options.get("chord_tail")
    if chord_id and not tail:  # a chord member: the last job counts for it
        enroll(chain(*steps), chord_id, options.get("group_id"))
    elif tail:  # an early step of a chain that is a chord member: any failure counts
        for each in steps:
            counted_signature(each).options["chord_tail"] = list(tail)
    elif options.get("group_id"):
        target.options["group_id"] = options["group_id"]
    freeze_steps(steps)
    wire(steps, [*links, *(options.get("link") or ())],
         [*errbacks, *(options.get("link_error") or ())])
    return build(app, steps[0], (), {}, {}, root_id=options.get("root_id") or job.id,
                 parent_id=job.id, headers=options.get("headers"))


# -- what the worker stores after a job ------------------------------------------------
def failed_chord_member(options: dict[str, Any]) -> tuple[str | None, str | None]:
    """The chord a final failure of a job with these options counts toward, and the
    member it counts as (None: the job itself). An early step of a chain that is a
    chord member carries ``chord_tail``: its failure fails the chain's last step."""
    tail = options.get("chord_tail")
    if tail:
        return tail[0], tail[1]
    return options.get("chord"), None


def expand_links(app: Core, job: Job, value: Any) -> tuple[list[Job], list[ChordSpec]]:
    """The follow-up jobs of a successful job: its ``link`` steps with ``value`` first."""
    jobs: list[Job] = []
    chords: list[ChordSpec] = []
    root = job.options.get("root_id") or job.id
    for desc in job.options.get("link") or ():
        step = from_description(app, desc)
        more, more_chords = build(app, step, (value,), {}, {}, root_id=root, parent_id=job.id,
                                  headers=job.options.get("headers"))
        jobs += more
        chords += more_chords
    return jobs, chords


def fail_links(app: Core, job: Job, error_type: str, message: str,
               purge_at: float | None) -> list[Job]:
    """After a final failure: errbacks to run, and chain steps that will never run now.

    As in Celery, the later steps of a failed chain are stored FAILED with the same
    error, so ``chain(...).get()`` raises it instead of waiting forever. Errbacks
    (``link_error``) are called with the failed job's id as first argument.
    """
    out: list[Job] = []
    root = job.options.get("root_id") or job.id
    for desc in job.options.get("link_error") or ():
        sig = Signature.from_dict(desc["sig"], app) if "sig" in desc else None
        if sig is not None:
            extra = {"root_id": root, "parent_id": job.id}
            if job.options.get("headers"):
                extra["headers"] = job.options["headers"]
            out.append(_job(app, sig, (job.id,), {}, {}, extra))
    pending = list(job.options.get("link") or ())
    while pending:
        step = from_description(app, pending.pop())
        sigs = ([step] if isinstance(step, Signature) else
                step.tasks if isinstance(step, group) else [*step.header.tasks, step.body])
        for sig in sigs:
            if not isinstance(sig, Signature):  # a chord's body that is a group or chord
                pending.append(describe(sig))
                continue
            dead = _job(app, sig, (), {}, {}, {"root_id": root})
            dead.state = JobState.FAILURE
            dead.error_type, dead.error_message, dead.purge_at = error_type, message, purge_at
            dead.options = {}
            out.append(dead)
            pending.extend(sig.options.get("link") or ())
    return out
