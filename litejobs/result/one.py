"""AsyncResult: a handle on a job's state and outcome, read from the store; and the
guard against waiting on one inside a job (``disable_sync_subtasks``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .. import serializer, states
from ..core import Core, default_app
from ..exceptions import TaskRevokedError, TimeoutError
from ..failure import rebuild
from ..job import Job, JobState
from ..timeutil import from_timestamp
from ..transports import Attempt

if TYPE_CHECKING:  # annotations only: a group's results hold AsyncResults
    from .group import GroupResult


R = TypeVar("R")

# A wake-up may be consumed by another thread sharing the connection; waiting in
# slices bounds the cost of that to one slice.
WAIT_SLICE = 0.1
# With no timeout, get() asks the store's wait_finished again this often.
GET_SLICE = 1.0
# How many members of a group one read looks at while waiting for them.
GROUP_WINDOW = 256


_running = threading.local()  # depth: jobs this thread runs on a worker now


@contextlib.contextmanager
def running_job(on_worker: bool) -> Iterator[None]:
    """Mark this thread as running a job (on a worker: ``get()`` inside it raises)."""
    if not on_worker:
        yield
        return
    _running.depth = getattr(_running, "depth", 0) + 1
    try:
        yield
    finally:
        _running.depth -= 1


def assert_will_not_block(disable_sync_subtasks: bool) -> None:
    """As Celery: waiting for another job inside a job can deadlock the pool."""
    if disable_sync_subtasks and getattr(_running, "depth", 0):
        raise RuntimeError(
            "Never call result.get() within a task: it can deadlock a worker whose pool "
            "is busy; link a callback instead (or pass disable_sync_subtasks=False)")


class AsyncResult(Generic[R]):
    """The result of a job, by id. Reading its state asks the store each time."""

    def __init__(self, id: str, app: Core | None = None, task_name: str | None = None) -> None:
        if app is None:
            app = default_app()
        self.id = id
        self.app = app
        self.task_name = task_name
        self._parent: AsyncResult[Any] | GroupResult | None = None
        #: the job keeps no result (``ignore_result``): ``get()`` returns None at once
        self.ignored = False

    # -- identity ----------------------------------------------------------
    @property
    def task_id(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.id}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AsyncResult):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def parent(self) -> AsyncResult[Any] | GroupResult | None:
        """The result of the step before this one in a chain (None for the first)."""
        if self._parent is not None:
            return self._parent
        job = self.app.transport.get(self.id)
        parent_id = job.options.get("parent_id") if job is not None else None
        return AsyncResult(parent_id, app=self.app) if parent_id else None

    @parent.setter
    def parent(self, value: AsyncResult[Any] | GroupResult | None) -> None:
        self._parent = value

    @property
    def children(self) -> list[AsyncResult[Any]]:
        """Results of the jobs this job's success started (its chain links), once stored."""
        job = self.app.transport.get(self.id)
        if job is None:
            return []
        ids = []
        for desc in job.options.get("link") or ():
            if "sig" in desc:
                ids.append(desc["sig"]["options"].get("task_id"))
        return [AsyncResult(i, app=self.app) for i in ids if i]

    # -- state -------------------------------------------------------------
    # Nothing is cached: a finished job can be retried by hand and run again.
    def _finished_job(self) -> Job | None:
        return self.app.transport.get(self.id)

    @property
    def state(self) -> str:
        found = self.app.transport.get_state(self.id)
        if found is None:
            return states.PENDING
        state, custom, retries = found
        return states.celery_state(state, custom, retries)

    status = state

    def ready(self) -> bool:
        return self.state in states.READY_STATES

    def successful(self) -> bool:
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        return self.state == states.FAILURE

    # -- outcome -----------------------------------------------------------
    def get(self, timeout: float | None = None, propagate: bool = True,
            interval: float | None = None, disable_sync_subtasks: bool = True) -> R:
        """Wait for the job to finish; return its result or raise its exception.

        ``timeout`` seconds (None: forever), then ``litejobs.exceptions.TimeoutError``.
        Waiting blocks on the store's change notification rather than polling it.
        """
        assert_will_not_block(disable_sync_subtasks)
        if self.ignored:
            warnings.warn(f"job {self.id} ({self.task_name}) keeps no result "
                          "(ignore_result=True): get() returns None", RuntimeWarning,
                          stacklevel=2)
            return None  # type: ignore[return-value]
        transport = self.app.transport
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = GET_SLICE if deadline is None else deadline - time.monotonic()
            if interval:  # poll every ``interval`` seconds instead of waiting to be woken
                job = transport.wait_finished(self.id, 0)
                if job is None and wait > 0:
                    time.sleep(min(interval, wait))
            else:
                job = transport.wait_finished(self.id, max(wait, 0.0))
            if job is not None:
                return self._outcome(job, propagate)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id} did not finish within {timeout}s")

    wait = get

    def _outcome(self, job: Job, propagate: bool) -> Any:
        if job.state is JobState.SUCCESS:
            return serializer.loads(job.result, self.app) if job.result is not None else None
        exc = self._exception(job)
        if propagate:
            if job.state is JobState.FAILURE:
                raise self._parent_error() or exc
            raise exc
        return exc

    def _parent_error(self) -> BaseException | None:
        """The exception of the earliest failed step before this one in its workflow (as
        sent: the parents frozen with it). As in Celery, ``get()`` of a failed workflow
        raises that, not the ``ChordError`` or the copy a later step was stored with."""
        nodes: list[Any] = []
        node = self._parent
        while node is not None:
            nodes.append(node)
            node = node._parent if isinstance(node, AsyncResult) else node.parent
        for node in reversed(nodes):
            for member in [node] if isinstance(node, AsyncResult) else node.results:
                if isinstance(member, AsyncResult) and member.state == states.FAILURE:
                    error = member.get(propagate=False, disable_sync_subtasks=False)
                    if isinstance(error, BaseException):
                        return error
        return None

    @staticmethod
    def _exception(job: Job) -> BaseException:
        if job.state is JobState.REVOKED and job.error_type is None:
            return TaskRevokedError(f"job {job.id} was revoked")
        return rebuild(job.error_type, job.error_message, job.error_args, job.traceback)

    @property
    def result(self) -> Any:
        """The return value, the exception of a failure, or the meta of a custom state."""
        job = self._finished_job()
        if job is None:
            return None
        if job.state is JobState.SUCCESS:
            return serializer.loads(job.result, self.app) if job.result is not None else None
        if job.state.finished:
            return self._exception(job)
        if job.state is JobState.RUNNING and job.custom_state and job.meta is not None:
            return serializer.loads(job.meta, self.app)
        if job.retries and job.error_type:
            return rebuild(job.error_type, job.error_message, None, job.traceback)
        return None

    @property
    def info(self) -> Any:
        return self.result

    @property
    def attempts(self) -> list[Attempt]:
        """Every run of this job so far, first first: when, where, and how it ended."""
        return self.app.transport.list_attempts(self.id)

    @property
    def traceback(self) -> str | None:
        job = self._finished_job()
        return job.traceback if job is not None else None

    @property
    def date_done(self) -> dt.datetime | None:
        job = self._finished_job()
        return from_timestamp(job.done_at) if job is not None else None

    @property
    def name(self) -> str | None:
        job = self.app.transport.get(self.id)
        return job.task if job is not None else self.task_name

    @property
    def args(self) -> tuple | None:
        job = self.app.transport.get(self.id)
        return serializer.loads_call(job.payload, self.app)[0] if job is not None else None

    @property
    def kwargs(self) -> dict | None:
        job = self.app.transport.get(self.id)
        return serializer.loads_call(job.payload, self.app)[1] if job is not None else None

    @property
    def retries(self) -> int:
        job = self.app.transport.get(self.id)
        return job.retries if job is not None else 0

    @property
    def worker(self) -> str | None:
        """The worker that ran (or runs) it (``result_extended`` is always on here)."""
        job = self.app.transport.get(self.id)
        return job.worker if job is not None else None

    @property
    def queue(self) -> str | None:
        job = self.app.transport.get(self.id)
        return job.queue if job is not None else None

    @property
    def date_started(self) -> dt.datetime | None:
        job = self.app.transport.get(self.id)
        return from_timestamp(job.started_at) if job is not None else None

    def collect(self, intermediate: bool = False, **get_options: Any
                ) -> Iterator[tuple[AsyncResult[Any], Any]]:
        """``(result, value)`` for this job, then its children's, depth first, as Celery
        does: each is waited for (``get_options`` go to ``get()``)."""
        yield self, self.get(**get_options)
        for child in self.children:
            yield from child.collect(intermediate, **get_options)

    def then(self, callback: Callable[[AsyncResult[R]], Any],
             on_error: Callable[[AsyncResult[R]], Any] | None = None,
             weak: bool = False) -> AsyncResult[R]:
        """Call ``callback(self)`` once the job has finished (in a background thread);
        ``on_error(self)`` instead if waiting itself failed."""
        def wait() -> None:
            try:
                self.get(propagate=False)
            except Exception:
                if on_error is not None:
                    on_error(self)
                return
            callback(self)

        threading.Thread(target=wait, name=f"then {self.id}", daemon=True).start()
        return self

    # -- acting ------------------------------------------------------------
    def revoke(self, terminate: bool = False, signal: str = "SIGTERM") -> None:
        """Revoke the job: if it has not started it never runs; ``terminate`` stops it too."""
        self.app.control.revoke(self.id, terminate=terminate)

    def forget(self) -> None:
        """Remove the stored result (and the job record) of a finished job."""
        self.app.transport.forget(self.id)

