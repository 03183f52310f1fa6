"""The canvas types as users write them: Signature, group, chord and chain.

``steps.py`` holds what they share (copies, freezing, chord membership, descriptions),
reached as ``st.X`` when called (it reaches these types the same way);
``links.py`` turns them into jobs; ``sending.py`` stores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..core import Core, default_app
from ..exceptions import ConfigurationError
from ..job import new_id
from ..result import AsyncResult, GroupResult
from ..unique import UniqueSeen
from . import steps as st
from .stamping import StampingVisitor, add_stamps, stamp_parts


def app_of(app: Core | None) -> Core:
    return app if app is not None else default_app()


def _add_link(options: dict[str, Any], key: str, sig: Any) -> Any:
    """Keep ``sig`` in the ``link``/``link_error`` list of ``options``; return it."""
    options.setdefault(key, []).append(sig)
    return sig


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
        self.app = app_of(app)

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
        return _add_link(self.options, "link", callback)

    def link_error(self, errback: Any) -> Any:
        return _add_link(self.options, "link_error", errback)

    on_error = link_error

    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> None:
        """Stamp this signature (and its callbacks) with ``headers`` and what ``visitor``
        adds; a job sees them as ``self.request.stamps``."""
        stamps = dict(headers)
        if visitor is not None:
            stamps.update(visitor.on_signature(self, **headers) or {})
        add_stamps(self, stamps, append_stamps)
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
                options[key] = [st.describe(x) for x in options[key]]
        return {"task": self.task, "args": self.args, "kwargs": self.kwargs,
                "options": options, "immutable": self.immutable}

    @classmethod
    def from_dict(cls, data: dict[str, Any], app: Core | None = None) -> Any:
        """The signature ``to_dict()`` described (plain data: msgpack packs it), or the
        chain, group or chord a dict in Celery's form (``subtask_type``) describes."""
        if isinstance(data, (Signature, chain, group, chord)):
            return data  # already rebuilt (a task argument arrives as the object)
        if not isinstance(data, dict) or not isinstance(data.get("task"), str):
            raise ConfigurationError(f"a signature's dict needs a 'task' name, not {data!r}")
        if data.get("subtask_type"):
            return st.from_data(data, app)
        return cls(data["task"], data.get("args", ()), data.get("kwargs"), data.get("options"),
                   data.get("immutable", False), app)


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
        return self.tasks[0].app if self.tasks else app_of(self._app)

    def __repr__(self) -> str:
        return f"group({self.tasks!r})"

    def __len__(self) -> int:
        return len(self.tasks)

    def __or__(self, other: Any) -> chain:
        return chain(self, other)

    def link(self, callback: Any) -> Any:
        """Call ``callback`` once every member succeeded, with the list of their results."""
        return _add_link(self.options, "link", callback)

    def link_error(self, errback: Any) -> Any:
        """Call ``errback`` for each member that fails (Celery's rule)."""
        for t in self.tasks:
            t.link_error(errback)
        return errback

    on_error = link_error

    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> None:
        """Stamp every member (``visitor.on_group_start`` may add headers)."""
        stamp_parts(self, self.tasks, visitor, append_stamps, headers, "on_group_start",
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
        self._lazy: Iterator[Any] | None = None
        self._header: group | None = None
        if isinstance(header, Iterator) and not isinstance(header, (Signature, chain, chord)):
            self._lazy = header  # a generator: read member by member when sent
        else:
            self._header = header if isinstance(header, group) else group(header, app=app)
        self.body: Any = body
        self.options: dict[str, Any] = {}
        self._app = app

    @property
    def header(self) -> group:
        """The header's members (a generator header is read to its end here)."""
        if self._header is None:
            self._header = group(list(self._lazy or ()), app=self._app)
            self._lazy = None
        return self._header

    @header.setter
    def header(self, value: group) -> None:
        self._header, self._lazy = value, None

    def take_lazy_header(self) -> Iterator[Any] | None:
        """A generator header, not read yet, taken to be read as its members are sent
        (the chord is left with an empty header); None for any other header."""
        lazy, self._lazy = self._lazy, None
        if lazy is not None:
            self._header = group(app=self._app)
        return lazy

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
        self.header.tasks = [st.countable(t) for t in self.header.tasks]
        header = self.header.freeze()
        chord_id = self.header.options["group_id"]
        for t in self.header.tasks:
            st.enroll(t, chord_id)
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
        """The app of the first step that has one: an empty group has none of its own
        (it would be the App made last), so ``group([]) | sig`` is ``sig``'s."""
        for step in self.tasks:
            if not (isinstance(step, group) and not step.tasks and step._app is None):
                return step.app
        return self.tasks[0].app

    def __repr__(self) -> str:
        return " | ".join(repr(t) for t in self.tasks)

    def clone(self) -> chain:
        """A copy, "a group followed by a step" made a chord at every level (Celery's)."""
        c = chain(*[st.copy_step(t) for t in self.steps()])
        c.options = dict(self.options)
        return c

    def link(self, callback: Any) -> Any:
        """Call ``callback`` with the chain's last result."""
        return _add_link(self.options, "link", callback)

    def link_error(self, errback: Any) -> Any:
        """Call ``errback`` (once) if any step fails."""
        return _add_link(self.options, "link_error", errback)

    on_error = link_error

    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> None:
        """Stamp every step."""
        stamp_parts(self, self.tasks, visitor, append_stamps, headers, "on_chain_start",
                     "on_chain_end")

    def freeze(self, id: str | None = None) -> Any:
        """Fix every step's id now; returns the last step's result (parents linked)."""
        if id is not None and isinstance(self.tasks[-1], Signature):
            self.tasks[-1].options["task_id"] = id
        return st.freeze_steps(self.tasks)[-1]

    def __or__(self, other: Any) -> chain:
        return chain(self, other)

    def steps(self) -> list[Any]:
        """Steps with "a group followed by a signature" turned into a chord, as Celery does."""
        steps: list[Any] = []
        for step in self.tasks:
            if isinstance(step, group) and step.options.get("link"):
                step = st.group_with_links(step)
            if isinstance(step, (Signature, group, chord)) and steps \
                    and isinstance(steps[-1], group):
                steps[-1] = chord(steps[-1], step)
            elif isinstance(step, (Signature, group, chord)) and steps \
                    and st.ends_in_group(steps[-1]):
                steps[-1] = st.joined(steps[-1], step)  # chord(h, group) | s: s joins the group
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

