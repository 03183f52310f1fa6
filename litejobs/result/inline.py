"""EagerResult: the outcome of a job run inline (eager mode), nothing stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import states
from ..core import Core
from ..transports import Attempt
from .one import AsyncResult, R


class EagerResult(AsyncResult[R]):
    """The outcome of a job run inline (eager mode): the same interface, nothing stored."""

    def __init__(self, id: str, app: Core, task_name: str, state: str, value: Any = None,
                 exception: BaseException | None = None, traceback: str | None = None,
                 retries: int = 0, args: tuple = (), kwargs: dict | None = None) -> None:
        super().__init__(id, app, task_name)
        self._state = state
        self._value = value
        self._exception_value = exception
        self._traceback = traceback
        self._retries = retries
        self._args = args
        self._kwargs = kwargs or {}
        self._done = dt.datetime.now(dt.timezone.utc)

    @property
    def state(self) -> str:
        return self._state

    status = state

    def get(self, timeout: float | None = None, propagate: bool = True,
            interval: float | None = None, disable_sync_subtasks: bool = True) -> R:
        if self._exception_value is not None:
            if propagate:
                if self._state == states.FAILURE:
                    raise self._parent_error() or self._exception_value
                raise self._exception_value
            return self._exception_value  # type: ignore[return-value]
        return self._value

    wait = get

    @property
    def result(self) -> Any:
        return self._exception_value if self._exception_value is not None else self._value

    @property
    def attempts(self) -> list[Attempt]:
        """Eager mode stores nothing: no attempts are kept."""
        return []

    @property
    def traceback(self) -> str | None:
        return self._traceback

    @property
    def date_done(self) -> dt.datetime | None:
        return self._done

    @property
    def name(self) -> str | None:
        return self.task_name

    @property
    def args(self) -> tuple | None:
        return self._args

    @property
    def kwargs(self) -> dict | None:
        return self._kwargs

    @property
    def retries(self) -> int:
        return self._retries

    @property
    def worker(self) -> str | None:
        return None  # ran inline, in this process

    @property
    def queue(self) -> str | None:
        return None

    @property
    def date_started(self) -> dt.datetime | None:
        return None

    def revoke(self, terminate: bool = False, signal: str = "SIGTERM") -> None:
        """An eager job has already run: nothing to revoke."""

    def forget(self) -> None:
        """Nothing is stored for an eager job."""

