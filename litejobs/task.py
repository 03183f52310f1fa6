"""Task: a registered function with its options; call it inline, or send it as a job."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from .exceptions import ConfigurationError, MaxRetriesExceededError, Retry
from .retry import backoff
from .timeutil import to_seconds, to_timestamp

if TYPE_CHECKING:
    from .app import App
    from .result import AsyncResult

P = ParamSpec("P")
R = TypeVar("R")

# Options apply_async() takes besides args and kwargs (Celery's names).
SEND_OPTIONS = frozenset({
    "countdown", "eta", "expires", "queue", "priority", "task_id", "link", "link_error",
    "time_limit", "soft_time_limit", "ignore_result", "acks_late", "max_retries",
    "retries", "root_id", "parent_id", "group_id",
})


@dataclasses.dataclass
class Request:
    """What a running task knows about its job: ``self.request`` in a bound task."""

    id: str
    task: str
    args: tuple
    kwargs: dict
    retries: int = 0
    attempt: int = 0
    eta: dt.datetime | None = None
    expires: dt.datetime | None = None
    queue: str | None = None
    priority: int | None = None
    is_eager: bool = False
    hostname: str | None = None
    root_id: str | None = None
    parent_id: str | None = None
    group_id: str | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    custom_state: str | None = None  # eager mode keeps update_state here
    custom_meta: Any = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  #: per-job overrides

    @property
    def delivery_info(self) -> dict[str, Any]:
        return {"routing_key": self.queue, "priority": self.priority}


class _RequestStack(threading.local):
    def __init__(self) -> None:
        self.stack: list[Request] = []


_requests = _RequestStack()


def push_request(request: Request) -> None:
    _requests.stack.append(request)


def pop_request() -> None:
    _requests.stack.pop()


def default_name(fn: Callable[..., Any], main: str | None = None) -> str:
    """``module.qualname``; for a script run as ``python tasks.py``, ``tasks.qualname``.

    Naming a script's tasks after its file (or ``App(main=...)``) lets a worker started
    with ``-A tasks`` find them, where Celery would call them ``__main__.add``.
    """
    module = fn.__module__
    if module in ("__main__", "__mp_main__"):
        module = main or _main_module_name(module) or "__main__"
    return f"{module}.{fn.__qualname__}"


def _main_module_name(module: str) -> str | None:
    import os
    import sys

    main = sys.modules.get(module)
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return spec.name.removesuffix(".__main__")
    path = getattr(main, "__file__", None)
    if path:
        return os.path.splitext(os.path.basename(path))[0]
    return None


class Task(Generic[P, R]):
    """A function registered with ``@app.task``.

    ``task(*args)`` runs it inline; ``task.delay(*args)`` sends it as a job and returns
    an :class:`~litejobs.result.AsyncResult`.
    """

    def __init__(self, app: App, fn: Callable[..., R], options: dict[str, Any]) -> None:
        self.app = app
        self.run = fn
        self.name: str = options["name"] or default_name(fn, app.main)
        self.bind: bool = options["bind"]
        self.max_retries: int | None = options["max_retries"]
        self.default_retry_delay: float | None = options["default_retry_delay"]
        self.autoretry_for: tuple[type[BaseException], ...] = options["autoretry_for"]
        self.dont_autoretry_for: tuple[type[BaseException], ...] = options["dont_autoretry_for"]
        self.retry_kwargs: dict[str, Any] = options["retry_kwargs"] or {}
        self.retry_backoff: bool | float = options["retry_backoff"]
        self.retry_backoff_max: float | None = options["retry_backoff_max"]
        self.retry_jitter: bool = options["retry_jitter"]
        self.time_limit: float | None = options["time_limit"]
        self.soft_time_limit: float | None = options["soft_time_limit"]
        self.rate_limit: str | None = options["rate_limit"]
        self.queue: str | None = options["queue"]
        self.priority: int | None = options["priority"]
        self.ignore_result: bool | None = options["ignore_result"]
        self.acks_late: bool | None = options["acks_late"]
        self.expires: float | dt.datetime | None = options["expires"]
        self.typing: bool = options["typing"]
        self.__name__ = getattr(fn, "__name__", self.name)
        self.__qualname__ = getattr(fn, "__qualname__", self.name)
        self.__module__ = getattr(fn, "__module__", "")
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<@task: {self.name}>"

    # -- running inline ------------------------------------------------------
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if self.bind:
            return self.run(self, *args, **kwargs)
        return self.run(*args, **kwargs)

    @property
    def request(self) -> Request:
        """The job being run (in a bound task); outside a job, an empty request."""
        stack = _requests.stack
        if stack and stack[-1].task == self.name:
            return stack[-1]
        return Request(id="", task=self.name, args=(), kwargs={})

    # -- sending -------------------------------------------------------------
    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[R]:
        """Send a job with these arguments: ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        countdown: float | dt.timedelta | None = None,
        eta: dt.datetime | None = None,
        expires: float | dt.timedelta | dt.datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        task_id: str | None = None,
        **options: Any,
    ) -> AsyncResult[R]:
        """Send a job. ``eta`` is a datetime (naive = UTC); ``expires`` seconds or a datetime."""
        return self.app.send_task(
            self.name, args, kwargs, countdown=countdown, eta=eta, expires=expires, queue=queue,
            priority=priority, task_id=task_id, _task=self, **options,
        )

    def apply(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
              **options: Any) -> AsyncResult[R]:
        """Run inline now, as eager mode does, and return an EagerResult."""
        from .eager import apply_eagerly

        return apply_eagerly(self.app, self, tuple(args or ()), dict(kwargs or {}), options)

    def AsyncResult(self, task_id: str) -> AsyncResult[R]:  # noqa: N802 - Celery's name
        from .result import AsyncResult

        return AsyncResult(task_id, app=self.app, task_name=self.name)

    # -- inside a job ----------------------------------------------------------
    def retry(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: dt.datetime | None = None,
        countdown: float | dt.timedelta | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """Ask for this job to run again later; raise the result (``raise self.retry(...)``).

        When no retries are left, raises ``exc`` (or MaxRetriesExceededError) instead.
        """
        request = self.request
        if max_retries is not None:
            limit = max_retries
        elif "max_retries" in request.options:
            limit = request.options["max_retries"]
        else:
            limit = self.max_retries
        if limit is not None and request.retries >= limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(
                f"{self.name}[{request.id}] can't be retried: max_retries={limit} reached"
            )
        if eta is not None:
            when = max(to_timestamp(eta, "eta") - _now(), 0.0)
        elif countdown is not None:
            when = to_seconds(countdown, "countdown")
        else:
            when = self._retry_delay(request.retries)
        retry = Retry(exc=exc, when=when)
        if throw:
            raise retry
        return retry

    def _retry_delay(self, retries: int, automatic: bool = False) -> float:
        if automatic and self.retry_backoff:
            base = 1.0 if self.retry_backoff is True else float(self.retry_backoff)
            return backoff(retries, base, self.retry_backoff_max, self.retry_jitter)
        if self.default_retry_delay is not None:
            return float(self.default_retry_delay)
        return float(self.app.conf.task_default_retry_delay)

    def update_state(self, task_id: str | None = None, state: str | None = None,
                     meta: Any = None) -> None:
        """Set a custom state (e.g. ``"PROGRESS"``) and its meta on the running job."""
        if not state or not isinstance(state, str):
            raise ConfigurationError("update_state needs a state name, e.g. state='PROGRESS'")
        request = self.request
        if task_id not in (None, request.id):
            raise ConfigurationError("update_state can only change the running job's own state")
        if not request.id:
            raise ConfigurationError("update_state was called outside a running job")
        from . import serializer

        packed = serializer.dumps(meta, f"meta of update_state({state!r})")
        if request.is_eager:
            request.custom_state, request.custom_meta = state, serializer.loads(packed)
            return
        self.app.transport.set_custom_state(request.id, request.attempt, state, packed)

    # -- workflows --------------------------------------------------------------
    def s(self, *args: Any, **kwargs: Any) -> Any:
        """A signature of this task with partial arguments."""
        from .canvas import Signature

        return Signature(self.name, args, kwargs, app=self.app)

    def si(self, *args: Any, **kwargs: Any) -> Any:
        """An immutable signature: it ignores the result of a parent in a chain."""
        from .canvas import Signature

        return Signature(self.name, args, kwargs, immutable=True, app=self.app)

    def signature(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
                  **options: Any) -> Any:
        from .canvas import Signature

        return Signature(self.name, tuple(args or ()), kwargs or {}, options=options, app=self.app)

    def map(self, it: Iterable[Any]) -> Any:
        """One job applying this task to each item: ``add.map([(1,), (2,)])`` -> list."""
        from .canvas import MAP_TASK, Signature

        return Signature(MAP_TASK, (self.name, list(it)), app=self.app)

    def starmap(self, it: Iterable[Iterable[Any]]) -> Any:
        """One job applying this task to each argument tuple: ``add.starmap([(1, 2)])``."""
        from .canvas import STARMAP_TASK, Signature

        return Signature(STARMAP_TASK, (self.name, [tuple(x) for x in it]), app=self.app)

    def chunks(self, it: Iterable[Iterable[Any]], n: int) -> Any:
        """A group of jobs, each applying this task to ``n`` argument tuples."""
        from .canvas import chunks

        return chunks(self.name, [tuple(x) for x in it], n, self.app)


def _now() -> float:
    from .timeutil import now

    return now()
