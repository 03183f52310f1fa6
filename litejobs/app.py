"""App: the registry of tasks, the settings, the store, and sending jobs."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar, overload

from . import serializer
from .config import Conf
from .exceptions import ConfigurationError, NotRegistered
from .job import PRIORITY_MAX, PRIORITY_MIN, Job, is_priority, new_id, validate_task_options
from .result import AsyncResult
from .task import SEND_OPTIONS, Task
from .timeutil import now as clock_now
from .timeutil import to_seconds, to_timestamp

if TYPE_CHECKING:
    from .embedded import EmbeddedWorker
    from .result import GroupResult
    from .transports.base import Transport

P = ParamSpec("P")
R = TypeVar("R")

_default_app: App | None = None
# Per-job options kept with the job (the rest become columns).
_JOB_OPTIONS = ("time_limit", "soft_time_limit", "ignore_result", "max_retries", "root_id",
                "parent_id", "group_id", "link", "link_error", "chord", "chord_tail")
# Every task any App in this process declared, by name: a worker started without -A
# finds tasks that a module registered on its own App instance.
_all_tasks: dict[str, Task] = {}


def default_app() -> App:
    """The App created last in this process (for ``AsyncResult(id)`` without an app)."""
    if _default_app is None:
        raise ConfigurationError("no litejobs.App has been created in this process yet")
    return _default_app


class App:
    """A litejobs application: ``App("jobs.sqlite")`` or ``App("redis://host:6379/0")``."""

    def __init__(self, url: str | None = None, *, eager: bool = False, main: str | None = None,
                 **settings: Any) -> None:
        global _default_app
        self.url = url or os.environ.get("LITEJOBS_URL") or "litejobs.sqlite"
        if not isinstance(self.url, str):
            raise ConfigurationError(f"the store URL must be a string, not {self.url!r}")
        self.main = main
        self.conf = Conf(**settings)
        if eager:
            self.conf.task_always_eager = True
        self.tasks: dict[str, Task] = {}
        self._periodic: dict[str, Any] = {}  # name -> beat.Entry (add_periodic_task)
        self._transport: Transport | None = None
        self._transport_lock = threading.Lock()
        _default_app = self
        from .canvas import register_builtins

        register_builtins(self)

    def __repr__(self) -> str:
        return f"<litejobs.App {self.url!r}>"

    # -- settings ------------------------------------------------------------
    def config_from_object(self, obj: Any) -> None:
        """Load settings from a module (object or dotted name), a class or a dict."""
        self.conf.from_object(obj)

    # -- the store -----------------------------------------------------------
    @property
    def transport(self) -> Transport:
        """The store, opened on first use (so eager-only tests never create a file)."""
        transport = self._transport
        if transport is None:
            with self._transport_lock:
                if self._transport is None:
                    from .transports import open_transport

                    self._transport = open_transport(
                        self.url, durability=self.conf.durability,
                        events=self.conf.worker_send_task_events,
                        prefix=self.conf.redis_key_prefix,
                        username=self.conf.redis_username
                        or os.environ.get("LITEJOBS_REDIS_USERNAME"),
                        password=self.conf.redis_password
                        or os.environ.get("LITEJOBS_REDIS_PASSWORD"))
                transport = self._transport
        return transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- declaring tasks -------------------------------------------------------
    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self, *, bind: Literal[True], **options: Any
    ) -> Callable[[Callable[Concatenate[Any, P], R]], Task[P, R]]: ...

    @overload
    def task(
        self, *, bind: Literal[False] = False, **options: Any
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(self, fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        """Register a function as a task: ``@app.task`` or ``@app.task(**options)``."""
        if fn is not None:
            if not callable(fn):
                raise ConfigurationError(f"@app.task needs a function, not {fn!r}")
            return self._register(fn, {})

        def decorate(func: Callable[..., Any]) -> Task:
            return self._register(func, options)

        return decorate

    def _register(self, fn: Callable[..., Any], options: dict[str, Any]) -> Task:
        name = getattr(fn, "__qualname__", repr(fn))
        task: Task = Task(self, fn, validate_task_options(name, options))
        self.tasks[task.name] = task
        _all_tasks[task.name] = task
        return task

    def resolve_task(self, name: str) -> Task:
        """The task called ``name``: registered here, elsewhere in this process, or imported.

        A name not yet seen imports its module (``tasks.add`` imports ``tasks``), as
        ``litejobs worker`` does without ``-A``.
        """
        task = self.tasks.get(name) or _all_tasks.get(name)
        if task is not None:
            return task
        module = name
        while "." in module:
            module = module.rpartition(".")[0]
            try:
                importlib.import_module(module)
            except ImportError:
                continue
            except Exception as exc:  # the module exists but fails to import
                raise NotRegistered(
                    f"task {name!r} is not registered: importing {module} failed: "
                    f"{type(exc).__name__}: {exc}") from None
            task = self.tasks.get(name) or _all_tasks.get(name)
            if task is not None:
                return task
            break
        raise NotRegistered(
            f"task {name!r} is not registered in this worker (start it with -A MODULE, or "
            "check the name)"
        )

    # -- sending jobs ----------------------------------------------------------
    @property
    def eager(self) -> bool:
        return bool(self.conf.task_always_eager)

    def send_task(
        self,
        name: str,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        _task: Task | None = None,
        **options: Any,
    ) -> AsyncResult[Any]:
        """Send a job by task name, without importing the task's code."""
        unknown = set(options) - SEND_OPTIONS
        if unknown:
            raise ConfigurationError(
                f"unknown option(s) {', '.join(sorted(unknown))} for {name}; valid options: "
                + ", ".join(sorted(SEND_OPTIONS)))
        if options.get("link") is not None or options.get("link_error") is not None:
            from .canvas import Signature

            sig_options = {k: v for k, v in options.items()
                           if v is not None and k not in ("link", "link_error")}
            return Signature(name, args or (), kwargs, sig_options, app=self).apply_async(
                link=options.get("link"), link_error=options.get("link_error"))
        if self.eager:
            task = _task or self.resolve_task(name)
            return task.apply(args, kwargs, **{k: v for k, v in options.items() if v is not None})
        job = self.make_job(name, args, kwargs, options, _task)
        self.transport.enqueue([job], clock_now())
        return AsyncResult(job.id, app=self, task_name=name)

    def make_job(self, name: str, args: Iterable[Any] | None, kwargs: dict[str, Any] | None,
                 options: dict[str, Any], task: Task | None = None) -> Job:
        """Build (and check) the job ``send_task`` would store, without storing it."""
        return self.job_template(name, options, task).make(args, kwargs)

    def job_template(self, name: str, options: dict[str, Any],
                     task: Task | None = None) -> JobTemplate:
        """Everything about a job but its arguments and id, checked once (bulk sends)."""
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"task name must be a non-empty string, not {name!r}")
        if task is None:
            task = self.tasks.get(name) or _all_tasks.get(name)
        now = clock_now()
        conf = self.conf._values  # plain dict reads: this is the enqueue hot path
        opts = {k: v for k, v in options.items() if v is not None}

        when = now
        if opts:
            if "countdown" in opts:
                if "eta" in opts:
                    raise ConfigurationError(f"give countdown or eta for {name}, not both")
                when = now + to_seconds(opts["countdown"], "countdown")
            elif "eta" in opts:
                when = to_timestamp(opts["eta"], "eta")

        expires = opts.get("expires")
        if expires is None and task is not None:
            expires = task.expires
        expires_at = None
        if expires is not None:
            if isinstance(expires, dt.datetime):
                expires_at = to_timestamp(expires, "expires")
            else:
                expires_at = now + to_seconds(expires, "expires")

        queue = opts.get("queue") or (task.queue if task else None) \
            or conf["task_default_queue"]
        if not isinstance(queue, str):
            raise ConfigurationError(f"queue for {name} must be a string, not {queue!r}")
        priority = opts.get("priority")
        if priority is None:
            priority = task.priority if task and task.priority is not None \
                else conf["task_default_priority"]
        elif not is_priority(priority):
            raise ConfigurationError(f"priority for {name} must be an int from {PRIORITY_MIN} "
                                     f"to {PRIORITY_MAX} (higher runs first), not {priority!r}")
        acks_late = opts.get("acks_late")
        if acks_late is None:
            acks_late = task.acks_late if task and task.acks_late is not None \
                else conf["task_acks_late"]
        task_id = opts.get("task_id")
        if task_id is not None and not isinstance(task_id, str):
            raise ConfigurationError(f"task_id must be a string, not {task_id!r}")
        job_options = {key: opts[key] for key in _JOB_OPTIONS if key in opts} if opts else {}
        return JobTemplate(name, queue, priority, when, expires_at, opts.get("retries", 0),
                           bool(acks_late), job_options, now, task_id)

    # -- periodic tasks and queues -------------------------------------------------
    def add_periodic_task(self, schedule: Any, sig: Any, name: str | None = None,
                          **options: Any) -> str:
        """Run ``sig`` (``task.s(...)``) on ``schedule`` (seconds, timedelta, crontab).

        Returns the entry's name (by default, the signature's repr, as Celery does).
        """
        from .beat import Entry
        from .canvas import Signature
        from .schedules import as_schedule

        if not isinstance(sig, Signature):
            raise ConfigurationError(f"add_periodic_task needs a signature (task.s(...)), "
                                     f"not {sig!r}")
        entry_name = name or repr(sig)
        self._periodic[entry_name] = Entry(entry_name, sig.task, as_schedule(schedule),
                                           sig.args, sig.kwargs, {**sig.options, **options})
        return entry_name

    def periodic_task(self, schedule: Any, name: str | None = None, args: Iterable[Any] = (),
                      kwargs: dict[str, Any] | None = None, **task_options: Any
                      ) -> Callable[[Callable[..., Any]], Task]:
        """Declare a task and run it on ``schedule``: ``@app.periodic_task(crontab(...))``."""
        def decorate(fn: Callable[..., Any]) -> Task:
            task = self._register(fn, task_options)
            self.add_periodic_task(schedule, task.s(*args, **(kwargs or {})),
                                   name=name or task.name)
            return task

        return decorate

    def pause_queue(self, queue: str) -> None:
        """Stop every worker claiming from ``queue``; its jobs stay queued."""
        self.transport.set_queue_paused(queue, True)

    def resume_queue(self, queue: str) -> None:
        self.transport.set_queue_paused(queue, False)

    def metrics(self) -> dict[str, Any]:
        """Queue depth by state, live workers, per-task outcomes and runtimes."""
        from .metrics import collect

        return collect(self)

    def rate_limits(self) -> dict[str, float]:
        """Jobs per second allowed for each task with a rate limit (for claiming)."""
        from .timeutil import parse_rate

        default = self.conf.task_default_rate_limit
        limits: dict[str, float] = {}
        for name, task in {**_all_tasks, **self.tasks}.items():
            rate = task.rate_limit or default
            if rate and not name.startswith("litejobs."):
                limits[name] = parse_rate(rate)
        return limits

    # -- results and control -----------------------------------------------------
    def AsyncResult(self, id: str) -> AsyncResult[Any]:  # noqa: N802 - Celery's name
        return AsyncResult(id, app=self)

    @property
    def GroupResult(self) -> _GroupResults:  # noqa: N802 - Celery's name
        """``app.GroupResult.restore(id)``: a saved group's results."""
        return _GroupResults(self)

    @property
    def control(self) -> Control:
        return Control(self)

    # -- running jobs -------------------------------------------------------------
    def run_until_idle(self, queues: Iterable[str] | None = None,
                       timeout: float | None = 60.0) -> int:
        """Run every due job in this process through the real store; return how many ran.

        Returns when no job in ``queues`` (default: every queue of a registered task and
        the default queue) is due. For tests that want the worker's path without a
        subprocess.
        """
        from .worker import InProcessWorker

        return InProcessWorker(self, queues=queues).run_until_idle(timeout=timeout)

    def start_worker(self, concurrency: int | None = None,
                     queues: Iterable[str] | None = None, **options: Any) -> EmbeddedWorker:
        """Start the supervisor and pool in the background; returns at once."""
        from .embedded import EmbeddedWorker

        return EmbeddedWorker.start(self, concurrency=concurrency, queues=queues, **options)

    def known_queues(self) -> list[str]:
        queues = {self.conf.task_default_queue}
        queues.update(t.queue for t in self.tasks.values() if t.queue)
        return sorted(queues)


class JobTemplate:
    """A checked job description awaiting arguments: ``make(args, kwargs)`` is cheap."""

    __slots__ = ("name", "queue", "priority", "eta", "expires", "retries", "acks_late",
                 "options", "created_at", "task_id")

    def __init__(self, name: str, queue: str, priority: int, eta: float,
                 expires: float | None, retries: int, acks_late: bool,
                 options: dict[str, Any], created_at: float, task_id: str | None) -> None:
        self.name, self.queue, self.priority, self.eta = name, queue, priority, eta
        self.expires, self.retries, self.acks_late = expires, retries, acks_late
        self.options, self.created_at, self.task_id = options, created_at, task_id

    def make(self, args: Iterable[Any] | None, kwargs: dict[str, Any] | None,
             task_id: str | None = None) -> Job:
        name = self.name
        if args is None:
            args = ()
        elif isinstance(args, (str, bytes, dict)):
            raise ConfigurationError(
                f"args of {name} must be a list or tuple, not {type(args).__name__} "
                "(did you mean args=(value,)?)")
        if kwargs is None:
            kwargs = {}
        elif not isinstance(kwargs, dict):
            raise ConfigurationError(f"kwargs of {name} must be a dict, not "
                                     f"{type(kwargs).__name__}")
        payload = serializer.dumps_call(name, tuple(args), kwargs)
        return Job(id=task_id or self.task_id or new_id(), task=name, payload=payload,
                   queue=self.queue, priority=self.priority, eta=self.eta, expires=self.expires,
                   retries=self.retries, acks_late=self.acks_late, options=self.options,
                   created_at=self.created_at)


class _GroupResults:
    def __init__(self, app: App) -> None:
        self.app = app

    def restore(self, group_id: str) -> GroupResult | None:
        from .result import GroupResult

        return GroupResult.restore(group_id, app=self.app)

    def __call__(self, id: str, results: list[AsyncResult[Any]]) -> GroupResult:
        from .result import GroupResult

        return GroupResult(id, results, app=self.app)


class Control:
    """``app.control``: act on jobs by id, as Celery's remote control does."""

    def __init__(self, app: App) -> None:
        self.app = app

    def revoke(self, task_id: str | Iterable[str], terminate: bool = False) -> None:
        for id_ in [task_id] if isinstance(task_id, str) else list(task_id):
            self.revoke_job(id_, terminate)

    def revoke_job(self, job_id: str, terminate: bool = False) -> str:
        """Revoke one job; returns what the store did (see ``Transport.revoke``).

        A revoked workflow step ends its workflow as a failure would: errbacks run, later
        chain steps are stored FAILED, and a chord member counts as failed, so nothing
        waits forever on a job that will never run.
        """
        from .exceptions import TaskRevokedError
        from .failure import class_path
        from .links import fail_links, failed_chord_member

        transport = self.app.transport
        now = clock_now()
        expires = self.app.conf.result_expires
        purge_at = now + expires if expires else None
        job = transport.get(job_id)
        follow_ups: list[Job] = []
        chord = None
        if job is not None and not job.state.finished:
            if job.options.get("link") or job.options.get("link_error"):
                follow_ups = fail_links(self.app, job, class_path(TaskRevokedError),
                                        f"job {job_id} was revoked", purge_at)
            chord_id, member = failed_chord_member(job.options)
            chord = (chord_id, member or job_id) if chord_id else None
        return transport.revoke(job_id, now, purge_at, terminate=terminate,
                                follow_ups=follow_ups, chord=chord)

    def purge(self, queue: str | None = None) -> int:
        return self.app.transport.purge(queue)
