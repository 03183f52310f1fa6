"""Workflows as users write them: signatures, chain, group, chord, map, starmap, chunks.

``links.py`` turns them into jobs and the links between them; ``sending.py`` stores
them (or, in eager mode, runs them inline through the same expansion).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from .core import Core, default_app
from .exceptions import ConfigurationError
from .job import new_id
from .result import AsyncResult, GroupResult
from .unique import UniqueSeen

MAP_TASK = "litejobs.map"
STARMAP_TASK = "litejobs.starmap"
#: the job a chord whose body is a group, chain or chord fires: it hands the header's
#: results on to that body (its link)
PASS_TASK = "litejobs.pass"


class StampingVisitor:
    """Celery's stamping visitor: override ``on_signature`` (and the other hooks) to
    return the headers to stamp; ``workflow.stamp(visitor=MyVisitor())``."""

    def on_signature(self, sig: Signature, **headers: Any) -> dict[str, Any]:
        raise NotImplementedError("a StampingVisitor defines on_signature()")

    def on_group_start(self, group: group, **headers: Any) -> dict[str, Any]:
        return {}

    def on_group_end(self, group: group, **headers: Any) -> None:
        pass

    def on_chain_start(self, chain: chain, **headers: Any) -> dict[str, Any]:
        return {}

    def on_chain_end(self, chain: chain, **headers: Any) -> None:
        pass

    def on_chord_header_start(self, chord: chord, **headers: Any) -> dict[str, Any]:
        return {}

    def on_chord_header_end(self, chord: chord, **headers: Any) -> None:
        pass

    def on_chord_body(self, chord: chord, **headers: Any) -> dict[str, Any]:
        return {}

    def on_callback(self, callback: Signature, **headers: Any) -> dict[str, Any]:
        return {}

    def on_errback(self, errback: Signature, **headers: Any) -> dict[str, Any]:
        return {}


def _add_stamps(sig: Signature, stamps: dict[str, Any], append: bool) -> None:
    own = dict(sig.options.get("stamps") or {})
    for key, value in stamps.items():
        if append and key in own:
            old = own[key] if isinstance(own[key], list) else [own[key]]
            own[key] = [*old, *(value if isinstance(value, list) else [value])]
        else:
            own[key] = value
    sig.options["stamps"] = own
    sig.options["stamped_headers"] = list(own)


def _app_of(app: Core | None) -> Core:
    return app if app is not None else default_app()


class Signature:
    """A task name with (partial) arguments and options: ``add.s(2, 2)``."""

    def __init__(self, task: str, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                 options: dict[str, Any] | None = None, immutable: bool = False,
                 app: Core | None = None) -> None:
        self.task = task
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.options = dict(options or {})
        if options:
            UniqueSeen.note(options)
        self.immutable = immutable
        self.app = _app_of(app)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.task}({', '.join(parts)}){'!' if self.immutable else ''}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and (
            self.task, self.args, self.kwargs, self.options, self.immutable) == (
            other.task, other.args, other.kwargs, other.options, other.immutable)

    def __hash__(self) -> int:
        return hash((self.task, self.args))

    @property
    def id(self) -> str | None:
        return self.options.get("task_id")

    @property
    def name(self) -> str:
        return self.task

    def clone(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
              **options: Any) -> Signature:
        """A copy with ``args`` appended (as Celery does), kwargs and options merged."""
        return Signature(self.task, self.args + tuple(args), {**self.kwargs, **(kwargs or {})},
                         {**self.options, **options}, self.immutable, self.app)

    def set(self, **options: Any) -> Signature:
        self.options.update(options)
        UniqueSeen.note(options)
        return self

    def set_immutable(self, immutable: bool) -> None:
        self.immutable = immutable

    def freeze(self, id: str | None = None) -> AsyncResult[Any]:
        """Fix this signature's job id now; returns the result it will have."""
        if id is not None or "task_id" not in self.options:
            self.options["task_id"] = id or new_id()
        return AsyncResult(self.options["task_id"], app=self.app, task_name=self.task)

    def link(self, callback: Any) -> Any:
        self.options.setdefault("link", []).append(callback)
        return callback

    def link_error(self, errback: Any) -> Any:
        self.options.setdefault("link_error", []).append(errback)
        return errback

    on_error = link_error

    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> None:
        """Stamp this signature (and its callbacks) with ``headers`` and what ``visitor``
        adds; a job sees them as ``self.request.stamps``."""
        stamps = dict(headers)
        if visitor is not None:
            stamps.update(visitor.on_signature(self, **headers) or {})
        _add_stamps(self, stamps, append_stamps)
        for key, hook in (("link", "on_callback"), ("link_error", "on_errback")):
            for cb in self.options.get(key) or ():
                if isinstance(cb, Signature):
                    extra = getattr(visitor, hook)(cb, **headers) if visitor else {}
                    cb.stamp(None, append_stamps, **{**headers, **(extra or {})})

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> AsyncResult[Any]:
        return chain(self).apply_async(args, kwargs, **options)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult[Any]:
        return self.apply_async(args, kwargs)

    def apply(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
              **options: Any) -> Any:
        """Run it here now, as eager mode does (its links too); an EagerResult."""
        return chain(self).apply(args, kwargs, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the task inline (no job), with the signature's arguments first."""
        task = self.app.resolve_task(self.task)
        return task(*(self.args + args), **{**self.kwargs, **kwargs})

    def __or__(self, other: Any) -> chain:
        return chain(self, other)

    # -- as stored in a job's options ------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        options = dict(self.options)
        for key in ("link", "link_error"):
            if key in options:
                options[key] = [describe(x) for x in options[key]]
        return {"task": self.task, "args": self.args, "kwargs": self.kwargs,
                "options": options, "immutable": self.immutable}

    @classmethod
    def from_dict(cls, data: dict[str, Any], app: Core | None = None) -> Signature:
        """The signature ``to_dict()`` described (plain data: msgpack packs it)."""
        if not isinstance(data, dict) or not isinstance(data.get("task"), str):
            raise ConfigurationError(f"a signature's dict needs a 'task' name, not {data!r}")
        return cls(data["task"], data.get("args", ()), data.get("kwargs"), data.get("options"),
                   data.get("immutable", False), app)


def signature(task: str | Signature | dict[str, Any], args: Iterable[Any] = (),
              kwargs: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
              app: Core | None = None, immutable: bool = False, **extra: Any) -> Signature:
    """``signature("tasks.add", args=(2, 2))``: a signature by task name."""
    if isinstance(task, Signature):
        return task.clone()
    if isinstance(task, dict):
        return Signature.from_dict(task, _app_of(app))
    return Signature(task, args, kwargs, {**(options or {}), **extra}, immutable, app)


class group:  # noqa: N801 - Celery's name
    """Run signatures in parallel: ``group(add.s(i, i) for i in range(10))()``."""

    def __init__(self, *tasks: Any, app: Core | None = None) -> None:
        if len(tasks) == 1 and not isinstance(tasks[0], (Signature, group, chain, chord)):
            tasks = tuple(tasks[0])
        members: list[Any] = []
        for t in tasks:
            if isinstance(t, group):  # a group in a group: its members, flattened (Celery)
                members.extend(t.tasks)
            elif isinstance(t, (Signature, chain, chord)):
                members.append(t)  # a chain's or chord's last result is the member's
            else:
                raise ConfigurationError(
                    "group members must be signatures (task.s(...)), chains, groups or "
                    f"chords, not {t!r}")
        self.tasks: list[Any] = members
        self.options: dict[str, Any] = {}
        self._app = app

    @property
    def app(self) -> Core:
        return self.tasks[0].app if self.tasks else _app_of(self._app)

    def __repr__(self) -> str:
        return f"group({self.tasks!r})"

    def __len__(self) -> int:
        return len(self.tasks)

    def __or__(self, other: Any) -> chain:
        return chain(self, other)

    def link(self, callback: Any) -> Any:
        """Call ``callback`` once every member succeeded, with the list of their results."""
        self.options.setdefault("link", []).append(callback)
        return callback

    def link_error(self, errback: Any) -> Any:
        """Call ``errback`` for each member that fails (Celery's rule)."""
        for t in self.tasks:
            t.link_error(errback)
        return errback

    on_error = link_error

    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> None:
        """Stamp every member (``visitor.on_group_start`` may add headers)."""
        _stamp_parts(self, self.tasks, visitor, append_stamps, headers, "on_group_start",
                     "on_group_end")

    def freeze(self, id: str | None = None) -> GroupResult:
        group_id = id or self.options.get("group_id") or new_id()
        self.options["group_id"] = group_id
        return GroupResult(group_id, [t.freeze() for t in self.tasks], app=self.app)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> GroupResult:
        return chain(self).apply_async(args, kwargs, **options)

    def delay(self, *args: Any, **kwargs: Any) -> GroupResult:
        return self.apply_async(args, kwargs)

    def apply(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
              **options: Any) -> GroupResult:
        return chain(self).apply(args, kwargs, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> GroupResult:
        return self.apply_async(args, kwargs)


class chord:  # noqa: N801 - Celery's name
    """``chord(header, body)``: run the body once with every header result, in order."""

    def __init__(self, header: Any, body: Signature | None = None, app: Core | None = None
                 ) -> None:
        self.header = header if isinstance(header, group) else group(header, app=app)
        self.body: Any = body
        self.options: dict[str, Any] = {}
        self._app = app

    @property
    def app(self) -> Core:
        if self.body is not None:
            return self.body.app
        return self.header.app

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"

    def __or__(self, other: Any) -> chain:
        return chain(self, other)

    def link(self, callback: Any) -> Any:
        """Call ``callback`` with the body's result (Celery: the body's link)."""
        return self.body.link(callback)

    def link_error(self, errback: Any) -> Any:
        """Call ``errback`` once if the chord fails; on the header's members too only
        with ``task_allow_error_cb_on_chord_header`` (Celery's rule)."""
        if self.app.conf.task_allow_error_cb_on_chord_header:
            for t in self.header.tasks:
                t.link_error(errback)
        return self.body.link_error(errback)

    on_error = link_error

    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> None:
        """Stamp the header's members and the body."""
        if visitor is not None:
            headers = {**headers, **(visitor.on_chord_header_start(self, **headers) or {})}
        self.header.stamp(visitor, append_stamps, **headers)
        if visitor is not None:
            visitor.on_chord_header_end(self, **headers)
            headers = {**headers, **(visitor.on_chord_body(self, **headers) or {})}
        if self.body is not None:
            self.body.stamp(visitor, append_stamps, **headers)

    def __call__(self, body: Signature | None = None, **options: Any) -> AsyncResult[Any]:
        if body is not None:
            self.body = body
        return self.apply_async((), None, **options)

    def freeze(self, id: str | None = None) -> AsyncResult[Any]:
        if self.body is None:
            raise ConfigurationError("a chord needs a body: chord(header, body) or "
                                     "chord(header)(body)")
        # each header member ends in one job the join counts (a group at the end of a
        # member is joined first, by a chord of its own)
        self.header.tasks = [countable(t) for t in self.header.tasks]
        header = self.header.freeze()
        chord_id = self.header.options["group_id"]
        for t in self.header.tasks:
            counted = counted_signature(t)
            counted.options.update(chord=chord_id, group_id=chord_id)
            if isinstance(t, chain):
                # a final failure of an earlier step counts as the last step failing
                # (it never runs)
                for step in t.tasks[:-1]:
                    counted_signature(step).options["chord_tail"] = [
                        chord_id, counted.options["task_id"]]
        result = self.body.freeze(id)
        if self.options.get("as_group"):  # a group with a link: its result is the group's
            return header
        if isinstance(result, GroupResult) or result._parent is None:
            result.parent = header
        return result

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> AsyncResult[Any]:
        if self.body is None:
            raise ConfigurationError("a chord needs a body: chord(header, body) or "
                                     "chord(header)(body)")
        return chain(self).apply_async(args, kwargs, **options)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult[Any]:
        return self.apply_async(args, kwargs)

    def apply(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
              **options: Any) -> Any:
        return chain(self).apply(args, kwargs, **options)


class chain:  # noqa: N801 - Celery's name
    """``chain(a, b, c)`` or ``a | b | c``: each result is the first argument of the next."""

    def __init__(self, *tasks: Any) -> None:
        if len(tasks) == 1 and not isinstance(tasks[0], (Signature, group, chain, chord)):
            tasks = tuple(tasks[0])
        steps: list[Any] = []
        for t in tasks:
            if isinstance(t, chain):
                steps.extend(t.tasks)
            elif isinstance(t, (Signature, group, chord)):
                steps.append(t)
            else:
                raise ConfigurationError(f"chain steps must be signatures, not {t!r}")
        if not steps:
            raise ConfigurationError("a chain needs at least one step")
        self.tasks = steps
        self.options: dict[str, Any] = {}

    @property
    def app(self) -> Core:
        return self.tasks[0].app

    def __repr__(self) -> str:
        return " | ".join(repr(t) for t in self.tasks)

    def clone(self) -> chain:
        """A copy, "a group followed by a step" made a chord at every level (Celery's)."""
        c = chain(*[copy_step(t) for t in self.steps()])
        c.options = dict(self.options)
        return c

    def link(self, callback: Any) -> Any:
        """Call ``callback`` with the chain's last result."""
        self.options.setdefault("link", []).append(callback)
        return callback

    def link_error(self, errback: Any) -> Any:
        """Call ``errback`` (once) if any step fails."""
        self.options.setdefault("link_error", []).append(errback)
        return errback

    on_error = link_error

    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> None:
        """Stamp every step."""
        _stamp_parts(self, self.tasks, visitor, append_stamps, headers, "on_chain_start",
                     "on_chain_end")

    def freeze(self, id: str | None = None) -> Any:
        """Fix every step's id now; returns the last step's result (parents linked)."""
        if id is not None and isinstance(self.tasks[-1], Signature):
            self.tasks[-1].options["task_id"] = id
        return freeze_steps(self.tasks)[-1]

    def __or__(self, other: Any) -> chain:
        return chain(self, other)

    def steps(self) -> list[Any]:
        """Steps with "a group followed by a signature" turned into a chord, as Celery does."""
        steps: list[Any] = []
        for step in self.tasks:
            if isinstance(step, group) and step.options.get("link"):
                step = _group_with_links(step)
            if isinstance(step, (Signature, group, chord)) and steps \
                    and isinstance(steps[-1], group):
                steps[-1] = chord(steps[-1], step)
            elif isinstance(step, (Signature, group, chord)) and steps \
                    and _ends_in_group(steps[-1]):
                steps[-1] = _joined(steps[-1], step)  # chord(h, group) | s: s joins the group
            elif isinstance(step, chord) and step.body is None:
                raise ConfigurationError("a chord in a chain needs a body")
            else:
                steps.append(step)
        return steps

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> Any:
        return self.app.send_workflow(self, tuple(args), kwargs or {}, options)

    def apply(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
              **options: Any) -> Any:
        """Run the whole chain here now, as eager mode does; its last EagerResult."""
        return self.app.send_workflow(self, tuple(args), kwargs or {}, options, inline=True)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_async(args, kwargs)


def _group_with_links(g: group) -> chord:
    """A group whose ``link`` is called once with the list: a chord, read as the group."""
    members = group(g.tasks, app=g._app)
    members.options = {k: v for k, v in g.options.items() if k != "link"}
    joined = chord(members, Signature(PASS_TASK, options={"link": list(g.options["link"])},
                                      app=g.app))
    joined.options["as_group"] = True
    return joined


def _ends_in_group(step: Any) -> bool:
    while isinstance(step, chord):
        step = step.body
    return isinstance(step, group)


def _joined(step: Any, following: Any) -> Any:
    """``step`` (a chord whose body ends in a group) with ``following`` joining that group."""
    if isinstance(step, group):
        return chord(step, following)
    c = chord(step.header, _joined(step.body, following), step._app)
    c.options = dict(step.options)
    return c


def _stamp_parts(whole: Any, parts: list[Any], visitor: StampingVisitor | None,
                 append_stamps: bool, headers: dict[str, Any], start: str, end: str) -> None:
    """Stamp each part of a group or chain, between the visitor's start and end hooks
    (the start hook may add headers)."""
    if visitor is not None:
        headers = {**headers, **(getattr(visitor, start)(whole, **headers) or {})}
    for part in parts:
        part.stamp(visitor, append_stamps, **headers)
    if visitor is not None:
        getattr(visitor, end)(whole, **headers)


# -- steps as data (what a job's link and link_error options hold) -----------------------
def describe(item: Any) -> dict[str, Any]:
    """The msgpack-able description of a step, as stored in a job's ``link`` option."""
    if isinstance(item, dict):
        return item
    # A step without ids (a user's callback, linked to any number of parents) is
    # described as a frozen copy: each parent's link runs under its own new id, and the
    # user's signature is never changed.
    if isinstance(item, Signature):
        if "task_id" not in item.options:
            item = item.clone()
            item.freeze()
        return {"sig": item.to_dict()}
    if isinstance(item, chain):  # a group member: its first step, linked to the rest
        return describe(item.tasks[0])
    if isinstance(item, group):
        if "group_id" not in item.options:
            item = copy_step(item)
            item.freeze()
        return {"group": [_member(t) for t in item.tasks], "id": item.options["group_id"]}
    if isinstance(item, chord):
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
    return Signature.from_dict(desc, app) if "task" in desc else from_description(app, desc)


def from_description(app: Core, desc: dict[str, Any]) -> Any:
    """The step ``describe`` described."""
    if "sig" in desc:
        return Signature.from_dict(desc["sig"], app)
    if "group" in desc:
        g = group([_step(app, s) for s in desc["group"]], app=app)
        g.options["group_id"] = desc["id"]
        return g
    spec = desc["chord"]
    c = chord(group([_step(app, s) for s in spec["header"]], app=app),
              _step(app, spec["body"]), app)
    c.header.options["group_id"] = spec["id"]
    return c


# -- helpers ---------------------------------------------------------------------------
def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def copy_step(step: Any) -> Any:
    if isinstance(step, (Signature, chain)):
        return step.clone()
    if isinstance(step, group):
        g = group([copy_step(t) for t in step.tasks], app=step._app)
        g.options = dict(step.options)
        return g
    c = chord(copy_step(step.header), copy_step(step.body) if step.body else None, step._app)
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
    if isinstance(step, group):
        return chord(step, Signature(PASS_TASK, app=step.app))
    if isinstance(step, chain):
        return chain(*step.tasks[:-1], countable(step.tasks[-1]))
    if isinstance(step, chord):
        c = chord(step.header, countable(step.body), step._app)
        c.options = step.options
        return c
    return step


def counted_signature(step: Any) -> Signature:
    """The signature of the job ``step`` (made ``countable``) ends with."""
    while not isinstance(step, Signature):
        step = step.tasks[-1] if isinstance(step, chain) else step.body
    return step


def counted_id(step: Any) -> str:
    """The id of the job a chord header member's join counts: its last (or body) job."""
    if isinstance(step, Signature):
        return step.options["task_id"]
    if isinstance(step, chain):
        return counted_id(step.tasks[-1])
    if isinstance(step, chord):
        return counted_id(step.body)
    raise ConfigurationError(f"a chord header member cannot be {step!r}")


def first_id(step: Any) -> str:
    if isinstance(step, Signature):
        return step.options["task_id"]
    if isinstance(step, chain):
        return first_id(step.tasks[0])
    if isinstance(step, group):
        return first_id(step.tasks[0]) if step.tasks else step.options["group_id"]
    return first_id(step.header)


# -- map, starmap, chunks ---------------------------------------------------------------
def register_builtins(app: Any) -> None:
    """Tasks behind ``task.map``, ``task.starmap`` and ``task.chunks``, on every App."""

    def map_(task: str, it: list[Any]) -> list[Any]:
        fn = app.resolve_task(task)
        return [fn(item) for item in it]

    def starmap(task: str, it: list[Any]) -> list[Any]:
        fn = app.resolve_task(task)
        return [fn(*item) for item in it]

    def pass_(value: Any) -> Any:
        return value

    app.task(name=MAP_TASK)(map_)
    app.task(name=STARMAP_TASK)(starmap)
    app.task(name=PASS_TASK)(pass_)


class chunks:  # noqa: N801 - Celery's name
    """``add.chunks(pairs, 10)``: a group of jobs, each running ``add`` on 10 argument tuples."""

    def __init__(self, task: str, it: Iterable[Any], n: int, app: Core) -> None:
        if not isinstance(n, int) or n < 1:
            raise ConfigurationError(f"chunk size must be an int >= 1, not {n!r}")
        self.task, self.items, self.n, self.app = task, list(it), n, app

    def group(self) -> group:
        return group([Signature(STARMAP_TASK, (self.task, self.items[i:i + self.n]), app=self.app)
                      for i in range(0, len(self.items), self.n)], app=self.app)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    flatten: bool = False, **options: Any) -> GroupResult:
        """Send the chunks; with ``flatten=True`` the result's ``get()`` is one flat list."""
        result = self.group().apply_async(args, kwargs, **options)
        if flatten:
            return FlatGroupResult(result.id, result.results, app=self.app)
        return result

    def delay(self) -> GroupResult:
        return self.apply_async()

    def __call__(self, flatten: bool = False) -> GroupResult:
        return self.apply_async(flatten=flatten)


class FlatGroupResult(GroupResult):
    """A chunks result whose ``get()`` joins the chunks' lists into one."""

    def get(self, timeout: float | None = None, propagate: bool = True) -> list[Any]:
        return [x for part in super().get(timeout, propagate) for x in part]

    join = get
