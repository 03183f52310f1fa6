"""The tasks behind ``task.map``, ``task.starmap`` and ``task.chunks``, on every App."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core import Core
from ..exceptions import ConfigurationError
from ..result import GroupResult
from .steps import MAP_TASK, PASS_TASK, STARMAP_TASK
from .workflows import Signature, group


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
