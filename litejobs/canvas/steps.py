"""What the canvas types share: ``signature()``, copies, freezing, chord membership, and
their descriptions as data (in a job's ``link`` options; as task arguments and results,
in Celery's dict form).

The types live in ``workflows.py``, which imports these helpers; here they are reached
as ``wf.X`` (``workflows``) when called, so the two modules can use each other.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from ..core import Core
from ..exceptions import ConfigurationError
from ..result import AsyncResult, GroupResult
from . import workflows as wf

MAP_TASK = "litejobs.map"
STARMAP_TASK = "litejobs.starmap"
#: the job a chord whose body is a group, chain or chord fires: it hands the header's
#: results on to that body (its link)
PASS_TASK = "litejobs.pass"


def signature(task: str | wf.Signature | dict[str, Any], args: Iterable[Any] = (),
              kwargs: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
              app: Core | None = None, immutable: bool = False, **extra: Any) -> Any:
    """``signature("tasks.add", args=(2, 2))``: a signature by task name; a dict (as
    ``to_data`` or Celery makes it) or a canvas object gives that object back."""
    if isinstance(task, wf.Signature):
        return task.clone()
    if isinstance(task, (wf.chain, wf.group, wf.chord)):
        return task
    if isinstance(task, dict):
        return wf.Signature.from_dict(task, wf.app_of(app))
    return wf.Signature(task, args, kwargs, {**(options or {}), **extra}, immutable, app)


def group_with_links(g: wf.group) -> wf.chord:
    """A group whose ``link`` is called once with the list: a chord, read as the group."""
    members = wf.group(g.tasks, app=g._app)
    members.options = {k: v for k, v in g.options.items() if k != "link"}
    joined = wf.chord(members, wf.Signature(PASS_TASK, options={"link": list(g.options["link"])},
                                      app=g.app))
    joined.options["as_group"] = True
    return joined


def ends_in_group(step: Any) -> bool:
    """Whether ``step`` ends in a group (a group, or a chord whose body does)."""
    while isinstance(step, wf.chord):
        step = step.body
    return isinstance(step, wf.group)


def joined(step: Any, following: Any) -> Any:
    """``step`` (a chord whose body ends in a group) with ``following`` joining that group."""
    if isinstance(step, wf.group):
        return wf.chord(step, following)
    c = wf.chord(step.header, joined(step.body, following), step._app)
    c.options = dict(step.options)
    return c


# -- steps as data (what a job's link and link_error options hold) -----------------------
def describe(item: Any) -> dict[str, Any]:
    """The msgpack-able description of a step, as stored in a job's ``link`` option."""
    if isinstance(item, dict):
        return item
    # A step without ids (a user's callback, linked to any number of parents) is
    # described as a frozen copy: each parent's link runs under its own new id, and the
    # user's signature is never changed.
    if isinstance(item, wf.Signature):
        if "task_id" not in item.options:
            item = item.clone()
            item.freeze()
        return {"sig": item.to_dict()}
    if isinstance(item, wf.chain):  # a group member: its first step, linked to the rest
        return describe(item.tasks[0])
    if isinstance(item, wf.group):
        if "group_id" not in item.options:
            item = copy_step(item)
            item.freeze()
        return {"group": [_member(t) for t in item.tasks], "id": item.options["group_id"]}
    if isinstance(item, wf.chord):
        if item.body is None:
            raise ConfigurationError("a chord needs a body")
        if "group_id" not in item.header.options:
            item = copy_step(item)
            item.freeze()
        return {"chord": {"header": [_member(t) for t in item.header.tasks],
                          "body": describe(item.body),
                          "id": item.header.options["group_id"]}}
    raise ConfigurationError(f"cannot link {item!r}: give a signature, group or chord")


def _member(item: Any) -> dict[str, Any]:
    """A group's or chord header's member as stored: a signature's dict (a chain: its
    first step's, linked to the rest), or a nested chord's description."""
    desc = describe(item)
    return desc["sig"] if "sig" in desc else desc


def _step(app: Core, desc: dict[str, Any]) -> Any:
    """A stored member, body or step: a signature's dict, or a step's description."""
    return wf.Signature.from_dict(desc, app) if "task" in desc else from_description(app, desc)


def from_description(app: Core, desc: dict[str, Any]) -> Any:
    """The step ``describe`` described."""
    if "sig" in desc:
        return wf.Signature.from_dict(desc["sig"], app)
    if "group" in desc:
        g = wf.group([_step(app, s) for s in desc["group"]], app=app)
        g.options["group_id"] = desc["id"]
        return g
    spec = desc["chord"]
    c = wf.chord(wf.group([_step(app, s) for s in spec["header"]], app=app),
              _step(app, spec["body"]), app)
    c.header.options["group_id"] = spec["id"]
    return c


# -- canvas objects as data (task arguments and results), in Celery's dict form ----------
def to_data(item: Any) -> dict[str, Any]:
    """A signature, chain, group or chord as plain data, in Celery's dict form
    (``subtask_type``): what a task argument or result holding one is packed as.
    Nothing is frozen or changed; callbacks stay objects (packed the same way)."""
    if isinstance(item, wf.Signature):
        return {"task": item.task, "args": item.args, "kwargs": item.kwargs,
                "options": item.options, "subtask_type": None, "immutable": item.immutable}
    if isinstance(item, wf.chain):
        parts = {"tasks": list(item.tasks)}
        kind, name = "chain", "celery.chain"
    elif isinstance(item, wf.group):
        parts = {"tasks": list(item.tasks)}
        kind, name = "group", "celery.group"
    else:
        parts = {"header": item.header, "body": item.body, "kwargs": {}}
        kind, name = "chord", "celery.chord"
    return {"task": name, "args": (), "kwargs": parts, "options": item.options,
            "subtask_type": kind, "immutable": False}


def from_data(data: dict[str, Any], app: Core | None = None) -> Any:
    """The canvas object ``to_data`` (or Celery's ``dict(sig)``) described."""
    kind = data.get("subtask_type")
    parts = data.get("kwargs") or {}
    options = dict(data.get("options") or {})
    for key in ("link", "link_error"):  # callbacks in Celery's form come back as objects
        if options.get(key):
            options[key] = [_maybe_canvas(x, app) for x in as_list(options[key])]
    if not kind:
        return wf.Signature(data["task"], data.get("args", ()), parts, options,
                         data.get("immutable", False), app)
    if kind in ("chain", "group"):
        tasks = [_maybe_canvas(t, app) for t in parts.get("tasks", ())]
        made: Any = wf.chain(*tasks) if kind == "chain" else wf.group(tasks, app=app)
    elif kind == "chord":
        made = wf.chord(_maybe_canvas(parts["header"], app), _maybe_canvas(parts["body"], app)
                     if parts.get("body") is not None else None, app)
    else:
        raise ConfigurationError(f"unknown canvas type {kind!r} in {data!r}")
    made.options.update(options)
    return made


def _maybe_canvas(item: Any, app: Core | None) -> Any:
    """A canvas object, or the one a dict in Celery's form describes (a stored link's
    description is left as it is)."""
    if isinstance(item, dict) and isinstance(item.get("task"), str) and "args" in item:
        return from_data(item, app)
    return item



# -- helpers ---------------------------------------------------------------------------
def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def copy_step(step: Any) -> Any:
    if isinstance(step, (wf.Signature, wf.chain)):
        return step.clone()
    if isinstance(step, wf.group):
        g = wf.group([copy_step(t) for t in step.tasks], app=step._app)
        g.options = dict(step.options)
        return g
    c = wf.chord(copy_step(step.header), copy_step(step.body) if step.body else None, step._app)
    c.options = dict(step.options)
    return c


def freeze_steps(steps: list[Any]) -> list[Any]:
    """Fix the ids of a chain's steps; each result's parent is the step before."""
    results = [step.freeze() for step in steps]
    for previous, result in itertools.pairwise(results):
        if isinstance(result, GroupResult) and result.parent is None:
            result.parent = previous  # a group's results come after the step before
        elif isinstance(result, AsyncResult) and result._parent is None:
            result.parent = previous
    return results


def countable(step: Any) -> Any:
    """``step`` made to end in one job (a chord header member, whose join counts it):
    a group at its end becomes a chord of that group handing the list on."""
    if isinstance(step, wf.group):
        return wf.chord(step, wf.Signature(PASS_TASK, app=step.app))
    if isinstance(step, wf.chain):
        return wf.chain(*step.tasks[:-1], countable(step.tasks[-1]))
    if isinstance(step, wf.chord):
        c = wf.chord(step.header, countable(step.body), step._app)
        c.options = step.options
        return c
    return step


def enroll(member: Any, chord_id: str, group_id: str | None = None) -> None:
    """Make a frozen header ``member`` (made ``countable``) count toward ``chord_id``: its
    last job carries the chord; each earlier step of a chain names that job in
    ``chord_tail``, as a final failure of it counts as the last step failing (which
    then never runs)."""
    counted = counted_signature(member)
    counted.options.update(chord=chord_id, group_id=group_id or chord_id)
    if isinstance(member, wf.chain):
        for step in member.tasks[:-1]:
            counted_signature(step).options["chord_tail"] = [chord_id,
                                                             counted.options["task_id"]]


def as_member(step: Any) -> Any:
    """``step`` as one chord member: a chain's "group then step" made chords (Celery's
    rule), and ending in one job the join counts."""
    if isinstance(step, wf.chain):
        steps = step.steps()
        step = wf.chain(*steps) if len(steps) > 1 else steps[0]
    return countable(step)


def counted_signature(step: Any) -> wf.Signature:
    """The signature of the job ``step`` (made ``countable``) ends with."""
    while not isinstance(step, wf.Signature):
        step = step.tasks[-1] if isinstance(step, wf.chain) else step.body
    return step


def counted_id(step: Any) -> str:
    """The id of the job a chord header member's join counts: its last (or body) job."""
    if isinstance(step, wf.Signature):
        return step.options["task_id"]
    if isinstance(step, wf.chain):
        return counted_id(step.tasks[-1])
    if isinstance(step, wf.chord):
        return counted_id(step.body)
    raise ConfigurationError(f"a chord header member cannot be {step!r}")


def first_id(step: Any) -> str:
    if isinstance(step, wf.Signature):
        return step.options["task_id"]
    if isinstance(step, wf.chain):
        return first_id(step.tasks[0])
    if isinstance(step, wf.group):
        return first_id(step.tasks[0]) if step.tasks else step.options["group_id"]
    return first_id(step.header)
