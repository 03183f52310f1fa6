"""Signatures and groups: descriptions of calls, turned into jobs; no I/O of their own.

A group's members are enqueued in one transaction. (chain and chord are not built yet.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigurationError
from .result import AsyncResult, GroupResult

if TYPE_CHECKING:
    from .app import App


class Signature:
    """A task name with (partial) arguments and options: ``add.s(2, 2)``."""

    def __init__(self, task: str, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                 options: dict[str, Any] | None = None, immutable: bool = False,
                 app: App | None = None) -> None:
        if app is None:
            from .app import default_app

            app = default_app()
        self.task = task
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.options = dict(options or {})
        self.immutable = immutable
        self.app = app

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.task}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and (
            self.task, self.args, self.kwargs, self.options, self.immutable) == (
            other.task, other.args, other.kwargs, other.options, other.immutable)

    def clone(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
              **options: Any) -> Signature:
        """A copy with ``args`` appended, ``kwargs`` and options merged."""
        return Signature(self.task, self.args + tuple(args), {**self.kwargs, **(kwargs or {})},
                         {**self.options, **options}, self.immutable, self.app)

    def set(self, **options: Any) -> Signature:
        self.options.update(options)
        return self

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> AsyncResult[Any]:
        sig = self.clone(args, kwargs, **options)
        return self.app.send_task(sig.task, sig.args, sig.kwargs, **sig.options)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult[Any]:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task = self.app.resolve_task(self.task)
        return task(*(self.args + args), **{**self.kwargs, **kwargs})


def signature(task: str | Signature, args: Iterable[Any] = (),
              kwargs: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
              app: App | None = None, **extra: Any) -> Signature:
    """``signature("tasks.add", args=(2, 2))``: a signature by task name."""
    if isinstance(task, Signature):
        return task.clone()
    return Signature(task, args, kwargs, {**(options or {}), **extra}, app=app)


class group:  # noqa: N801 - Celery's name
    """Run signatures in parallel: ``group(add.s(i, i) for i in range(10))()``."""

    def __init__(self, *tasks: Signature | Iterable[Signature]) -> None:
        if len(tasks) == 1 and not isinstance(tasks[0], Signature):
            tasks = tuple(tasks[0])  # type: ignore[assignment]
        for t in tasks:
            if not isinstance(t, Signature):
                raise ConfigurationError(f"group members must be signatures, not {t!r}")
        self.tasks: list[Signature] = list(tasks)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"group({self.tasks!r})"

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> GroupResult:
        from .job import new_id

        if not self.tasks:
            raise ConfigurationError("a group needs at least one member")
        app = self.tasks[0].app
        group_id = options.pop("group_id", None) or new_id()
        if app.eager:
            return GroupResult(group_id, [
                s.apply_async(args, kwargs, **options) for s in self.tasks], app=app)
        made = []
        template = None
        last: tuple[str, dict[str, Any]] | None = None
        for s in self.tasks:
            sig = s.clone(args, kwargs, **options)
            # members of one task with the same options share one checked template
            if last is None or last != (sig.task, sig.options) or "task_id" in sig.options:
                template = app.job_template(sig.task, {**sig.options, "group_id": group_id})
                last = (sig.task, sig.options)
            made.append(template.make(sig.args, sig.kwargs))
        from .timeutil import now

        app.transport.enqueue(made, now())  # every member in one transaction
        return GroupResult(group_id, [AsyncResult(j.id, app=app, task_name=j.task)
                                      for j in made], app=app)

    def delay(self, *args: Any, **kwargs: Any) -> GroupResult:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> GroupResult:
        return self.apply_async(args, kwargs)
