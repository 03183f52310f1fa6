"""Task: a registered function with its options; call it inline, or send it as a job."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar

from . import djangofix, serializer
from .canvas import (
    MAP_TASK,
    STARMAP_TASK,
    Signature,
    as_member,
    chain,
    chord,
    chunks,
    counted_id,
    enroll,
    group,
)
from .core import Core, default_app
from .exceptions import ConfigurationError, MaxRetriesExceededError, Replaced, Retry
from .failure import ExceptionInfo
from .job import TASK_OPTION_DEFAULTS, validate_task_options
from .result import AsyncResult
from .retry import backoff
from .timeutil import now as clock_now
from .timeutil import to_seconds, to_timestamp
from .unique import UniqueSeen

P = ParamSpec("P")
R = TypeVar("R")

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
    #: eager mode: how ``add_to_chord`` grows the chord this job runs in, inline
    grow_chord: Callable[[str, Any], None] | None = None

    @property
    def stamps(self) -> dict[str, Any]:
        """The stamps of this job (``sig.stamp(...)``), by header."""
        return dict(self.options.get("stamps") or {})

    @property
    def stamped_headers(self) -> list[str]:
        return list(self.options.get("stamps") or {})

    @property
    def headers(self) -> dict[str, Any]:
        """The job's message headers (``apply_async(headers=...)`` and what
        ``before_task_publish`` receivers added); they travel through retries and
        workflows."""
        return self.options.get("headers") or {}

    @property
    def delivery_info(self) -> dict[str, Any]:
        return {"routing_key": self.queue, "priority": self.priority}


def _positional_counts(sig: inspect.Signature) -> tuple[int, int] | tuple[()]:
    """(required, total) for a signature of plain parameters only; () for any other."""
    params = sig.parameters.values()
    if any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in params):
        return ()
    return sum(p.default is p.empty for p in params), len(sig.parameters)


class _RequestStack(threading.local):
    def __init__(self) -> None:
        self.stack: list[Request] = []


_requests = _RequestStack()


def push_request(request: Request) -> None:
    _requests.stack.append(request)


def pop_request() -> None:
    _requests.stack.pop()


def current_request() -> Request | None:
    """The request of the task running in this thread, if any."""
    return _requests.stack[-1] if _requests.stack else None


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
    main = sys.modules.get(module)
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return spec.name.removesuffix(".__main__")
    path = getattr(main, "__file__", None)
    if path:
        return os.path.splitext(os.path.basename(path))[0]
    return None


class Task(Generic[P, R]):
    """A task, as in Celery: ``@app.task`` makes one from a function; subclass it for
    handlers shared by many tasks (``@app.task(base=Audited)``) or for a class-based
    task (``class Mul(app.Task): def run(self, x, y)``, then ``app.register_task(Mul())``).

    ``task(*args)`` runs it inline; ``task.delay(*args)`` sends it as a job and returns
    an :class:`~litejobs.result.AsyncResult`. The handlers (``before_start``,
    ``on_success``, ``on_retry``, ``on_failure``, ``after_return``) run on the worker and
    in eager mode, in Celery's order; one that raises is logged and changes nothing.
    """

    #: Options (Celery's names), as class attributes: a subclass or ``@app.task(...)``
    #: sets them; they are checked when the task is registered.
    name: str | None = None
    bind: bool = TASK_OPTION_DEFAULTS["bind"]
    max_retries: int | None = TASK_OPTION_DEFAULTS["max_retries"]
    default_retry_delay: float | None = TASK_OPTION_DEFAULTS["default_retry_delay"]
    autoretry_for: tuple[type[BaseException], ...] = TASK_OPTION_DEFAULTS["autoretry_for"]
    dont_autoretry_for: tuple[type[BaseException], ...] = \
        TASK_OPTION_DEFAULTS["dont_autoretry_for"]
    retry_kwargs: dict[str, Any] | None = TASK_OPTION_DEFAULTS["retry_kwargs"]
    retry_backoff: bool | float = TASK_OPTION_DEFAULTS["retry_backoff"]
    retry_backoff_max: float | None = TASK_OPTION_DEFAULTS["retry_backoff_max"]
    retry_jitter: bool = TASK_OPTION_DEFAULTS["retry_jitter"]
    time_limit: float | None = TASK_OPTION_DEFAULTS["time_limit"]
    soft_time_limit: float | None = TASK_OPTION_DEFAULTS["soft_time_limit"]
    rate_limit: str | None = TASK_OPTION_DEFAULTS["rate_limit"]
    queue: str | None = TASK_OPTION_DEFAULTS["queue"]
    priority: int | None = TASK_OPTION_DEFAULTS["priority"]
    ignore_result: bool | None = TASK_OPTION_DEFAULTS["ignore_result"]
    acks_late: bool | None = TASK_OPTION_DEFAULTS["acks_late"]
    expires: float | dt.datetime | None = TASK_OPTION_DEFAULTS["expires"]
    typing: bool = TASK_OPTION_DEFAULTS["typing"]
    unique_for: float | None = TASK_OPTION_DEFAULTS["unique_for"]

    _app: Core | None = None

    @property
    def app(self) -> Core:
        return self._app if self._app is not None else default_app()

    def bind_to(self, app: Core) -> None:
        """Check this task's options, name it if it has no name, and tie it to ``app``."""
        where = self.name or type(self).__qualname__
        values = validate_task_options(
            where, {key: getattr(self, key) for key in TASK_OPTION_DEFAULTS})
        for key, value in values.items():
            if getattr(self, key) != value:
                setattr(self, key, value)  # normalised (e.g. one class -> a tuple)
        if not self.name:
            self.name = default_name(type(self), getattr(app, "main", None))
        if self.unique_for is not None:
            UniqueSeen.seen = True
        self._app = app

    def __repr__(self) -> str:
        return f"<@task: {self.name}>"

    # -- running inline ------------------------------------------------------
    def run(self, *args: Any, **kwargs: Any) -> Any:
        """The task's body: the decorated function, or a class-based task's method."""
        raise NotImplementedError(f"{type(self).__name__} defines no run()")

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.run(*args, **kwargs)  # type: ignore[no-any-return]

    @property
    def request(self) -> Request:
        """The job being run (in a bound task); outside a job, an empty request."""
        stack = _requests.stack
        if stack and stack[-1].task == self.name:
            return stack[-1]
        return Request(id="", task=self.name or "", args=(), kwargs={})

    # -- handlers (override in a subclass) --------------------------------------
    def before_start(self, task_id: str, args: tuple, kwargs: dict) -> None:
        """Called before the task runs."""

    def on_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict) -> None:
        """Called when the task returned ``retval``."""

    def on_retry(self, exc: BaseException | None, task_id: str, args: tuple, kwargs: dict,
                 einfo: ExceptionInfo | None) -> None:
        """Called when the job will run again later (``self.retry``, autoretry)."""

    def on_failure(self, exc: BaseException | None, task_id: str, args: tuple, kwargs: dict,
                   einfo: ExceptionInfo | None) -> None:
        """Called when the job failed for good; ``einfo.traceback`` is the traceback."""

    def after_return(self, status: str, retval: Any, task_id: str, args: tuple, kwargs: dict,
                     einfo: ExceptionInfo | None) -> None:
        """Called after every run, with the state (SUCCESS, RETRY, FAILURE) and the
        return value or exception."""

    # -- sending -------------------------------------------------------------
    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[R]:
        """Send a job with these arguments: ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def delay_many(self, calls: Iterable[Sequence[Any] | dict[str, Any]], **options: Any
                   ) -> list[AsyncResult[R]]:
        """Send a job per call in one transaction: ``add.delay_many([(1, 2), (3, 4)])``.

        A call is a tuple or list of positional arguments, or a dict of keyword
        arguments; ``options`` (``queue``, ``countdown``, ``priority``, ...) apply to
        every job. Much faster than a ``delay()`` per call, and faster than a ``group``
        (no signatures, one template). Beyond Celery.
        """
        return self.app.send_many(self.name or "", calls, options, self)

    def delay_on_commit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """``delay`` once the surrounding Django transaction commits (nothing if it rolls
        back); at once outside a transaction. As Celery's, it returns None."""
        djangofix.on_commit(lambda: self.apply_async(args, kwargs))

    def apply_async_on_commit(self, args: Iterable[Any] | None = None,
                              kwargs: dict[str, Any] | None = None, **options: Any) -> None:
        """``apply_async`` once the surrounding Django transaction commits."""
        djangofix.on_commit(lambda: self.apply_async(args, kwargs, **options))

    def delay_in_transaction(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[R]:
        """``delay`` inside the current Django transaction (SQLite databases): the job is
        stored if and only if the transaction commits, atomically with its rows."""
        return self.apply_async_in_transaction(args, kwargs)

    def apply_async_in_transaction(self, args: Iterable[Any] | None = None,
                                   kwargs: dict[str, Any] | None = None,
                                   using: str | None = None, **options: Any
                                   ) -> AsyncResult[R]:
        """``apply_async`` inside the current transaction of Django database ``using``."""
        if self.typing:
            self.check_arguments(args, kwargs)
        return self.app.send_in_transaction(self.name or "", args, kwargs, options, self,
                                            using)

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
        if self.typing:
            self.check_arguments(args, kwargs)
        return self.app.send_task(
            self.name or "", args, kwargs, countdown=countdown, eta=eta, expires=expires,
            queue=queue, priority=priority, task_id=task_id, _task=self, **options,
        )

    def check_arguments(self, args: Iterable[Any] | None, kwargs: dict[str, Any] | None
                        ) -> None:
        """As Celery's ``typing``: arguments that do not fit the task's signature raise
        TypeError at ``delay()``, before a job is stored."""
        if not isinstance(args, (list, tuple, type(None))) or not isinstance(
                kwargs, (dict, type(None))) or (
                kwargs and not all(isinstance(key, str) for key in kwargs)):
            return  # refused, with its own error, when the job is made
        sig = self.__dict__.get("_call_signature")
        if sig is None:
            try:
                sig = inspect.signature(self.run)
            except (TypeError, ValueError):  # a callable with no signature to read
                sig = False
            self.__dict__["_call_signature"] = sig
        if sig is False:
            return
        if not kwargs:  # the common case: positional arguments of a plain signature
            counts = self.__dict__.get("_positional_counts")
            if counts is None:
                counts = self.__dict__["_positional_counts"] = _positional_counts(sig)
            if counts and counts[0] <= len(args or ()) <= counts[1]:
                return
        try:
            sig.bind(*(args or ()), **(kwargs or {}))
        except TypeError as exc:
            raise TypeError(f"{self.name}() called with arguments that do not fit its "
                            f"signature{sig}: {exc}") from None

    def apply(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
              **options: Any) -> AsyncResult[R]:
        """Run inline now, as eager mode does, and return an EagerResult."""
        return self.app.apply_task(self, args, kwargs, options)

    def AsyncResult(self, task_id: str) -> AsyncResult[R]:  # noqa: N802 - Celery's name
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
        if self.retries_exhausted(request.retries, request.options, max_retries):
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(
                f"{self.name}[{request.id}] can't be retried: max_retries="
                f"{self.retry_limit(request.options, max_retries)} reached")
        if eta is not None:
            when = max(to_timestamp(eta, "eta") - clock_now(), 0.0)
        elif countdown is not None:
            when = to_seconds(countdown, "countdown")
        else:
            when = self.retry_delay(request.retries)
        retry = Retry(exc=exc, when=when)
        if throw:
            raise retry
        return retry

    def replace(self, sig: Signature | chain | group | chord) -> Replaced:
        """Replace this job with ``sig`` (a signature, chain, group or chord), as Celery's
        ``Task.replace``: the job ends here (``raise``/``return self.replace(sig)``), and
        the replacement's last job takes its id, so ``AsyncResult(id).get()`` returns the
        replacement's result; its callbacks, errbacks, the rest of its chain and its
        chord membership move to the replacement (a group is joined: its list of
        results is the result). Nothing of the job itself is kept, as with ``Ignore``."""
        if not isinstance(sig, (Signature, chain, group, chord)):
            raise ConfigurationError(
                f"self.replace() takes a signature, chain, group or chord, not {sig!r}")
        if isinstance(sig, Signature) and "chord" in sig.options:
            raise ConfigurationError(
                "a signature replacing a task must not be part of a chord")
        if not self.request.id:
            raise ConfigurationError("self.replace() was called outside a running job")
        return self.on_replace(sig)

    def on_replace(self, sig: Signature | chain | group | chord) -> Replaced:
        """Called by ``replace()`` with the replacement (override to change it, e.g. stamp
        it, then call ``super().on_replace(sig)``): ends the job, handing it to ``sig``.
        The replacement keeps the job's stamps besides its own."""
        raise Replaced(sig)

    def add_to_chord(self, sig: Signature | chain | group | chord, lazy: bool = False) -> Any:
        """Add ``sig`` to the chord this job is a header member of, as Celery's
        ``Task.add_to_chord``: the chord's join grows in the store at once (its body
        waits for the new member too, whose result comes after the others' in the body's
        input); ``sig`` is sent now, or with ``lazy=True`` returned for you to send."""
        if not isinstance(sig, (Signature, chain, group, chord)):
            raise ConfigurationError(
                f"add_to_chord() takes a signature, chain, group or chord, not {sig!r}")
        request = self.request
        options = request.options
        chord_id = options.get("chord") or (options.get("chord_tail") or [None])[0]
        if not chord_id:
            raise ValueError("Current task is not member of any chord")
        if request.is_eager and (lazy or request.grow_chord is None):
            raise ConfigurationError("add_to_chord(lazy=True) needs a store: in eager mode "
                                     "the chord runs inline, and grows only with members "
                                     "it runs itself")
        member = as_member(sig)
        member.freeze()
        enroll(member, chord_id, request.group_id)
        if request.is_eager:
            assert request.grow_chord is not None
            request.grow_chord(chord_id, member)
            return member
        if not self.app.transport.add_chord_members(chord_id, [counted_id(member)],
                                                    clock_now()):
            raise ConfigurationError(f"chord {chord_id} has fired already: it cannot grow")
        return member if lazy else member.apply_async()

    def retry_limit(self, job_options: dict[str, Any], override: int | None = None
                    ) -> int | None:
        """How many retries a job may take: the call's, the job's, then the task's."""
        if override is not None:
            return override
        if "max_retries" in job_options:
            return job_options["max_retries"]  # type: ignore[no-any-return]
        return self.max_retries

    def retries_exhausted(self, retries: int, job_options: dict[str, Any],
                          override: int | None = None) -> bool:
        limit = self.retry_limit(job_options, override)
        return limit is not None and retries >= limit

    def retry_delay(self, retries: int, automatic: bool = False) -> float:
        """Seconds before retry number ``retries + 1`` (backoff applies to autoretries)."""
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
        packed = serializer.dumps(meta, f"meta of update_state({state!r})")
        if request.is_eager:
            request.custom_state, request.custom_meta = state, serializer.loads(packed,
                                                                               self.app)
            return
        self.app.transport.set_custom_state(request.id, request.attempt, state, packed)

    # -- workflows --------------------------------------------------------------
    def s(self, *args: Any, **kwargs: Any) -> Any:
        """A signature of this task with partial arguments."""
        return Signature(self.name, args, kwargs, app=self.app)

    def si(self, *args: Any, **kwargs: Any) -> Any:
        """An immutable signature: it ignores the result of a parent in a chain."""
        return Signature(self.name, args, kwargs, immutable=True, app=self.app)

    def signature(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
                  **options: Any) -> Any:
        return Signature(self.name, tuple(args or ()), kwargs or {}, options=options, app=self.app)

    def map(self, it: Iterable[Any]) -> Any:
        """One job applying this task to each item: ``add.map([(1,), (2,)])`` -> list."""
        return Signature(MAP_TASK, (self.name, list(it)), app=self.app)

    def starmap(self, it: Iterable[Iterable[Any]]) -> Any:
        """One job applying this task to each argument tuple: ``add.starmap([(1, 2)])``."""
        return Signature(STARMAP_TASK, (self.name, [tuple(x) for x in it]), app=self.app)

    def chunks(self, it: Iterable[Iterable[Any]], n: int) -> Any:
        """A group of jobs, each applying this task to ``n`` argument tuples."""
        return chunks(self.name, [tuple(x) for x in it], n, self.app)

