"""GroupResult and ResultSet: the results of several jobs, waited on together."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from .. import states
from ..core import Core, default_app
from ..exceptions import TimeoutError
from ..job import JobState
from ..timeutil import now as clock_now
from .inline import EagerResult
from .one import GROUP_WINDOW, WAIT_SLICE, AsyncResult, assert_will_not_block


class GroupResult:
    """The results of a group's members, in member order."""

    def __init__(self, id: str, results: list[AsyncResult[Any]], app: Core | None = None) -> None:
        self.id = id
        self.results = results
        self.app = app
        self.parent: AsyncResult[Any] | GroupResult | None = None

    def save(self) -> GroupResult:
        """Store the member ids, so ``app.GroupResult.restore(id)`` finds them later."""
        assert self.app is not None
        self.app.transport.save_group(self.id, [r.id for r in self.results], clock_now())
        return self

    def delete(self) -> None:
        assert self.app is not None
        self.app.transport.delete_group(self.id)

    @classmethod
    def restore(cls, id: str, app: Core | None = None) -> GroupResult | None:
        if app is None:
            app = default_app()
        members = app.transport.restore_group(id)
        if members is None:
            return None
        return cls(id, [AsyncResult(m, app=app) for m in members], app=app)

    def __repr__(self) -> str:
        return f"<GroupResult: {self.id} [{', '.join(r.id for r in self.results)}]>"

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Any:
        return iter(self.results)

    def get(self, timeout: float | None = None, propagate: bool = True,
            disable_sync_subtasks: bool = True) -> list[Any]:
        """Every member's result, in order; raises the first failure (if ``propagate``).

        As in Celery, members are awaited in order, so a failure is raised once every
        member before it has finished. The store is read a batch at a time.
        """
        assert_will_not_block(disable_sync_subtasks)
        if not self._stored():
            return [r.get(timeout=timeout, propagate=propagate, disable_sync_subtasks=False)
                    for r in self.results]
        transport = self.app.transport  # type: ignore[union-attr]
        deadline = None if timeout is None else time.monotonic() + timeout
        ids = [r.id for r in self.results]
        finished: list[JobState | None] = [None] * len(ids)
        first_open = 0  # every member before it has finished
        while True:
            first_open = self._look_ahead(ids, finished, first_open, propagate)
            if first_open == len(ids):
                break
            wait = WAIT_SLICE if deadline is None else min(deadline - time.monotonic(),
                                                            WAIT_SLICE)
            if wait <= 0:
                raise TimeoutError(f"group {self.id}: member {ids[first_open]} did not "
                                   f"finish within {timeout}s")
            transport.wait_for_change(wait)
        jobs = transport.get_many(ids)
        return [r.get(timeout=0, propagate=propagate, disable_sync_subtasks=False)
                if job is None or not job.state.finished
                else r._outcome(job, propagate) for r, job in zip(self.results, jobs,
                                                                   strict=True)]

    def join(self, timeout: float | None = None, propagate: bool = True,
             interval: float = 0.5, callback: Callable[[str, Any], Any] | None = None,
             **_: Any) -> list[Any]:
        """As Celery's: every member's result in order (``get``); with ``callback``, it is
        called as ``callback(task_id, value)`` for each instead, and None is returned."""
        values = self.get(timeout=timeout, propagate=propagate)
        if callback is None:
            return values
        for result, value in zip(self.results, values, strict=True):
            callback(result.id, value)
        return None  # type: ignore[return-value]

    join_native = join

    def _look_ahead(self, ids: list[str], finished: list[JobState | None], first_open: int,
                    propagate: bool) -> int:
        """Note which members finished, a window at a time from ``first_open``; return
        the new first open member. Workers finish members roughly in order, so this
        reads about one window per wake-up, not every member."""
        transport = self.app.transport  # type: ignore[union-attr]
        while first_open < len(ids):
            window = [i for i in range(first_open, min(first_open + GROUP_WINDOW, len(ids)))
                      if finished[i] is None]
            for i, found in zip(window, transport.get_states([ids[i] for i in window]),
                                strict=True):
                if found is not None and found[0].finished:
                    finished[i] = found[0]
            before = first_open
            while first_open < len(ids) and finished[first_open] is not None:
                if propagate and finished[first_open] is not JobState.SUCCESS:
                    self.results[first_open].get(  # raises its exception
                        propagate=True, disable_sync_subtasks=False)
                first_open += 1
            if first_open - before < GROUP_WINDOW:  # an open member in this window
                break
        return first_open

    def _stored(self) -> bool:
        """Whether every member's outcome is in the store (not an eager run's)."""
        return self.app is not None and all(
            isinstance(r, AsyncResult) and not isinstance(r, EagerResult)
            for r in self.results)

    def _states(self) -> list[str]:
        if not self._stored():
            return [r.state for r in self.results]
        found = self.app.transport.get_states(  # type: ignore[union-attr]
            [r.id for r in self.results])
        return [states.PENDING if f is None else states.celery_state(*f) for f in found]

    def ready(self) -> bool:
        return all(state in states.READY_STATES for state in self._states())

    def successful(self) -> bool:
        return all(state == states.SUCCESS for state in self._states())

    def failed(self) -> bool:
        return any(state == states.FAILURE for state in self._states())

    def completed_count(self) -> int:
        return sum(1 for state in self._states() if state == states.SUCCESS)

    def forget(self) -> None:
        for r in self.results:
            r.forget()

    def waiting(self) -> bool:
        return not self.ready()

    def revoke(self, terminate: bool = False) -> None:
        for r in self.results:
            r.revoke(terminate=terminate)


class ResultSet(GroupResult):
    """Results of any jobs, waited on together (Celery's): ``ResultSet([a, b]).get()``."""

    def __init__(self, results: Iterable[AsyncResult[Any]], app: Core | None = None) -> None:
        results = list(results)
        super().__init__("", results, app if app is not None else (
            results[0].app if results else None))

    def add(self, result: AsyncResult[Any]) -> None:
        """Add a result to the set (once)."""
        if result not in self.results:
            self.results.append(result)
        if self.app is None:
            self.app = result.app

    def __repr__(self) -> str:
        return f"<ResultSet: [{', '.join(r.id for r in self.results)}]>"


