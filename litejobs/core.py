"""The core every layer is handed: settings, the lazily opened store, the task registry,
and job templates (a job's options checked once, the one home of option precedence).

``App`` (app.py) is the Celery facade built on this class. Modules below app.py type
against ``Core`` and call its methods; none imports app.py. The few services only the
facade can give (sending a job or a workflow, running one inline) are declared here
and provided by ``App``, so a lower module reaches them through the object it holds.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import serializer
from .config import Conf
from .exceptions import ConfigurationError, NotRegistered
from .job import PRIORITY_MAX, PRIORITY_MIN, Job, check_time_limits, is_priority, new_id
from .routing import route, route_queues
from .timeutil import check_timestamp, parse_rate, to_seconds, to_timestamp
from .timeutil import now as clock_now
from .transports import Transport, open_transport
from .unique import UniqueSeen, check_unique

if TYPE_CHECKING:  # annotations only: these modules sit above the core
    from .result import AsyncResult, EagerResult
    from .task import Task

_default: Core | None = None
RATE_KEY = "rate:"  # control records of app.control.rate_limit
# Every task any App in this process declared, by name: a worker started without -A
# finds tasks that a module registered on its own App instance.
_all_tasks: dict[str, Task] = {}
# Per-job options kept with the job (the rest become columns).
JOB_OPTIONS = ("stamps", "time_limit", "soft_time_limit", "ignore_result", "max_retries",
               "root_id", "parent_id", "group_id", "link", "link_error", "chord",
               "chord_tail", "headers")


def import_object(spec: str, what: str) -> Any:
    """The object ``"module:attr"`` (or ``"module.attr"``) names, for a setting ``what``."""
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise ConfigurationError(f"{what}={spec!r}: expected 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"{what}={spec!r}: {exc}") from None
    return obj


def default_app() -> Core:
    """The App created last in this process (for ``AsyncResult(id)`` without an app)."""
    if _default is None:
        raise ConfigurationError("no litejobs.App has been created in this process yet")
    return _default


class Core:
    """Settings, store, registry and templates: what lower layers need of an App."""

    #: Whether ``resolve_task`` may import the module a task name mentions. True for a
    #: bare App (``litejobs worker`` without ``-A``); ``loading.load_app`` turns it off
    #: when ``-A`` names the app module, so a job's name never drives an import.
    import_tasks_by_name = True
    #: How the store is opened (the CLI sets these): "create" it if missing, or only an
    #: "existing" one, or "read" it without writing; ``verify_store`` checks its pages
    #: first, so that a damaged file is refused before anything is written.
    store_mode = "create"
    verify_store = False

    def __init__(self, url: str | None, main: str | None, settings: dict[str, Any]) -> None:
        global _default
        if url is not None and (not isinstance(url, str) or not url):
            raise ConfigurationError(f"the store URL must be a string, not {url!r}")
        self.main = main
        self.conf = Conf()
        # Celery's ``Celery("proj")``: a bare name is the store only if no broker_url
        # names one (so a Django project's CELERY_BROKER_URL is no conflict).
        self._weak_url = url if url and url.isidentifier() else None
        self.conf.explicit_url = None if self._weak_url else url
        self.conf.listeners.append(self._setting_changed)
        self.conf.update(settings)
        self.tasks: dict[str, Task] = {}
        self.periodic: dict[str, Any] = {}  # name -> beat.Entry, from add_periodic_task
        self._transport: Transport | None = None
        self._transport_lock = threading.Lock()
        _default = self

    # -- the store -----------------------------------------------------------
    @property
    def url(self) -> str:
        """The store: the App's own URL, else ``broker_url``, else ``$LITEJOBS_URL``."""
        return (self.conf.explicit_url or self.conf._values["broker_url"] or self._weak_url
                or os.environ.get("LITEJOBS_URL") or "litejobs.sqlite")

    @url.setter
    def url(self, value: str) -> None:
        self.conf.explicit_url = value

    def import_default_modules(self) -> None:
        """Import the ``imports`` and ``include`` modules (as a Celery worker does)."""
        for module in (*self.conf.imports, *self.conf.include):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ConfigurationError(f"cannot import {module!r} (from the imports/include "
                                         f"settings): {exc}") from None

    @property
    def transport(self) -> Transport:
        """The store, opened on first use (so eager-only tests never create a file)."""
        transport = self._transport
        if transport is None:
            with self._transport_lock:
                if self._transport is None:
                    self._transport = self.open_transport()
                transport = self._transport
        return transport

    def open_transport(self) -> Transport:
        """A new connection to the store, with this app's settings (a pool thread's own)."""
        conf = self.conf
        return open_transport(
            self.url, durability=conf.durability,
            events=conf.worker_send_task_events, prefix=conf.redis_key_prefix,
            mode=self.store_mode, verify=self.verify_store,
            username=conf.redis_username or os.environ.get("LITEJOBS_REDIS_USERNAME"),
            password=conf.redis_password or os.environ.get("LITEJOBS_REDIS_PASSWORD"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def eager(self) -> bool:
        return bool(self.conf.task_always_eager)

    # -- the task registry -----------------------------------------------------
    def add_task(self, task: Task) -> None:
        self.tasks[task.name] = task
        _all_tasks[task.name] = task
        if self.conf.task_annotations:
            self._annotate(task)

    def _setting_changed(self, key: str, value: Any) -> None:
        if key == "task_annotations" and value:
            for task in self.tasks.values():
                self._annotate(task)

    def _annotate(self, task: Task) -> None:
        """``task_annotations``: options set on tasks by name (or ``"*"``), as in Celery."""
        value = self.conf.task_annotations
        for item in value if isinstance(value, (list, tuple)) else [value]:
            options = item.get(task.name) or item.get("*") if isinstance(item, dict) \
                else item.annotate(task)
            for option, setting in (options or {}).items():
                setattr(task, option, setting)
            UniqueSeen.note(options or {})

    def find_task(self, name: str) -> Task | None:
        """The task called ``name``, registered here or on another App of this process."""
        return self.tasks.get(name) or _all_tasks.get(name)

    def resolve_task(self, name: str) -> Task:
        """``find_task``, else import the name's module (``tasks.add`` imports ``tasks``),
        as ``litejobs worker`` does without ``-A`` (``import_tasks_by_name``);
        NotRegistered if still unknown."""
        task = self.find_task(name)
        if task is not None:
            return task
        module = name if self.import_tasks_by_name else ""
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
            task = self.find_task(name)
            if task is not None:
                return task
            break
        if not self.import_tasks_by_name:
            raise NotRegistered(f"task {name!r} is not registered by the app module this "
                                "worker was started with (-A); check the name, or import "
                                "the module that defines it from the app module")
        raise NotRegistered(
            f"task {name!r} is not registered in this worker (start it with -A MODULE, or "
            "check the name)")

    def known_task_count(self) -> int:
        """Grows whenever this process learns a task (a cheap "refresh?" check)."""
        return len(_all_tasks) + len(self.tasks)

    def all_task_names(self) -> list[str]:
        """Every task this process knows, on any App."""
        return sorted({*_all_tasks, *self.tasks})

    def rate_limits(self, stored: dict[str, float | None] | None = None) -> dict[str, float]:
        """Jobs per second allowed for each task with a rate limit (for claiming).

        ``stored`` (``stored_rate_limits()``: set by ``app.control.rate_limit``) wins over
        the task's own; ``None`` there lifts the limit.
        """
        default = self.conf.task_default_rate_limit
        limits: dict[str, float] = {}
        for name, task in {**_all_tasks, **self.tasks}.items():
            rate = task.rate_limit or default
            if rate and not name.startswith("litejobs."):
                limits[name] = parse_rate(rate)
        for name, per_second in (stored or {}).items():
            if per_second is None:
                limits.pop(name, None)
            else:
                limits[name] = per_second
        return limits

    def stored_rate_limits(self) -> dict[str, float | None]:
        """Rate limits set at run time for the whole store (``None``: lifted)."""
        return {key[len(RATE_KEY):]: serializer.loads(value)
                for key, value in self.transport.list_controls(RATE_KEY).items()}

    def set_stored_rate_limit(self, task: str, rate: str | float | None) -> None:
        per_second = None if rate in (None, 0, "0") else parse_rate(rate)
        self.transport.put_control(RATE_KEY + task, serializer.dumps(per_second, "rate"))

    def known_queues(self) -> list[str]:
        """The default queue, every task's ``queue=`` and every queue a route map names."""
        queues = {self.conf.task_default_queue}
        queues.update(t.queue for t in self.tasks.values() if t.queue)
        queues.update(route_queues(self.conf.routers))
        return sorted(queues)

    # -- jobs ------------------------------------------------------------------
    def make_job(self, name: str, args: Iterable[Any] | None, kwargs: dict[str, Any] | None,
                 options: dict[str, Any], task: Task | None = None) -> Job:
        """Build (and check) the job ``send_task`` would store, without storing it."""
        return self.job_template(name, options, task, args, kwargs).make(args, kwargs)

    def job_template(self, name: str, options: dict[str, Any], task: Task | None = None,
                     args: Any = None, kwargs: Any = None) -> JobTemplate:
        """Everything about a job but its arguments and id, checked once (bulk sends).

        Precedence, for every option: the call's value, then the route ``task_routes``
        gives (a router is shown ``args``/``kwargs`` when given), then the task's, then
        the app's setting.
        """
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"task name must be a non-empty string, not {name!r}")
        if "\0" in name or not _storable(name):
            raise ConfigurationError(f"task name {name!r} cannot be stored: it holds a NUL "
                                     "character or a lone surrogate")
        if task is None:
            task = self.find_task(name)
        now = clock_now()
        conf = self.conf._values  # plain dict reads: this is the enqueue hot path
        opts = {k: v for k, v in options.items() if v is not None}

        when = now
        if opts:
            if "countdown" in opts:
                if "eta" in opts:
                    raise ConfigurationError(f"give countdown or eta for {name}, not both")
                when = check_timestamp(now + to_seconds(opts["countdown"], "countdown"),
                                       "countdown")
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
                expires_at = check_timestamp(now + to_seconds(expires, "expires"), "expires")

        routed = route(self.conf.routers, name, args or (), kwargs or {}, opts, task) \
            if self.conf.routers else None
        if routed:
            opts = {**{k: v for k, v in routed.items() if k in ("queue", "priority")}, **opts}
        queue = opts["queue"] if "queue" in opts else \
            (task.queue if task else None) or conf["task_default_queue"]
        if not isinstance(queue, str) or not queue:
            raise ConfigurationError(f"queue for {name} must be a non-empty string, "
                                     f"not {queue!r}")
        priority = opts.get("priority")
        if priority is None:
            priority = _declared(task, "priority", conf["task_default_priority"])
        elif not is_priority(priority):
            raise ConfigurationError(f"priority for {name} must be an int from {PRIORITY_MIN} "
                                     f"to {PRIORITY_MAX} (higher runs first), not {priority!r}")
        acks_late = opts.get("acks_late")
        if acks_late is None:
            acks_late = _declared(task, "acks_late", conf["task_acks_late"])
        if "soft_time_limit" in opts or "time_limit" in opts:
            check_time_limits(name, opts.get("soft_time_limit") or (
                task.soft_time_limit if task else None) or conf["task_soft_time_limit"],
                opts.get("time_limit") or (task.time_limit if task else None)
                or conf["task_time_limit"])
        task_id = opts.get("task_id")
        if task_id is not None and not isinstance(task_id, str):
            raise ConfigurationError(f"task_id must be a string, not {task_id!r}")
        headers = opts.get("headers")
        if headers is not None and not (isinstance(headers, dict)
                                        and all(isinstance(k, str) for k in headers)):
            raise ConfigurationError(f"headers for {name} must be a dict with string keys, "
                                     f"not {headers!r}")
        job_options = {key: opts[key] for key in JOB_OPTIONS if key in opts} if opts else {}
        if not headers:
            job_options.pop("headers", None)
        template = JobTemplate(name, queue, priority, when, expires_at, opts.get("retries", 0),
                               bool(acks_late), job_options, now, task_id)
        if "unique_for" in opts or "unique_key" in opts or (
                task is not None and task.unique_for is not None):
            template.unique_for, template.unique_key = self.unique_options(name, opts, task)
        return template

    def unique_options(self, name: str, options: dict[str, Any], task: Task | None = None
                       ) -> tuple[float | None, str | None]:
        """``(unique_for, unique_key)`` of a job (docs/unique.md), checked: the call's
        ``unique_for``, then the task's; ``(None, None)`` for a job that is not unique."""
        if task is None:
            task = self.find_task(name)
        unique_for = options.get("unique_for")
        if unique_for is None and task is not None:
            unique_for = task.unique_for
        if unique_for is None and options.get("unique_key") is None:
            return None, None
        UniqueSeen.seen = True
        return check_unique(name, unique_for, options)

    def ignores_result(self, task: Task | None, options: dict[str, Any]) -> bool:
        """Whether a job keeps no result: the call's ``ignore_result``, then the task's,
        then ``task_ignore_result``."""
        ignore = options.get("ignore_result")
        if ignore is None and task is not None:
            ignore = task.ignore_result
        if ignore is None:
            ignore = self.conf.task_ignore_result
        return bool(ignore)

    # -- services the facade provides (App implements them) --------------------------
    @property
    def control(self) -> Any:
        """``app.control`` (revoke, purge, ...)."""
        raise NotImplementedError("control needs a litejobs.App")

    def send_task(self, name: str, args: Iterable[Any] | None = None,
                  kwargs: dict[str, Any] | None = None, **options: Any) -> AsyncResult[Any]:
        raise NotImplementedError("sending needs a litejobs.App")

    def send_in_transaction(self, name: str, args: Iterable[Any] | None,
                            kwargs: dict[str, Any] | None, options: dict[str, Any],
                            task: Task | None = None, using: str | None = None
                            ) -> AsyncResult[Any]:
        """Send a job inside the current SQLite Django transaction (``using``)."""
        raise NotImplementedError("sending needs a litejobs.App")

    def send_many(self, name: str, calls: Iterable[Any], options: dict[str, Any],
                  task: Task | None = None) -> list[AsyncResult[Any]]:
        """Send one job per call in one transaction (``Task.delay_many``)."""
        raise NotImplementedError("sending needs a litejobs.App")

    def send_workflow(self, workflow: Any, args: tuple, kwargs: dict[str, Any],
                      options: dict[str, Any], inline: bool = False) -> Any:
        """Send ``workflow`` (``inline``: run it here now, as ``apply()`` and eager mode)."""
        raise NotImplementedError("sending needs a litejobs.App")

    def apply_task(self, task: Task, args: Iterable[Any] | None, kwargs: dict[str, Any] | None,
                   options: dict[str, Any]) -> EagerResult[Any]:
        raise NotImplementedError("running inline needs a litejobs.App")


def _storable(text: str) -> bool:
    """True if ``text`` is valid Unicode (no lone surrogates) and so can be stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _declared(task: Task | None, option: str, setting: Any) -> Any:
    """The task's own value of ``option`` if it declared one, else the app's setting."""
    value = getattr(task, option, None) if task is not None else None
    return setting if value is None else value


class JobTemplate:
    """A checked job description awaiting arguments: ``make(args, kwargs)`` is cheap."""

    __slots__ = ("name", "queue", "priority", "eta", "expires", "retries", "acks_late",
                 "options", "created_at", "task_id", "unique_for", "unique_key")
    #: a unique job (docs/unique.md): seconds a finished job still holds its key, and the
    #: key the call gave (None: its arguments); both None for every other job
    unique_for: float | None
    unique_key: str | None

    def __init__(self, name: str, queue: str, priority: int, eta: float,
                 expires: float | None, retries: int, acks_late: bool,
                 options: dict[str, Any], created_at: float, task_id: str | None) -> None:
        self.name, self.queue, self.priority, self.eta = name, queue, priority, eta
        self.expires, self.retries, self.acks_late = expires, retries, acks_late
        self.options, self.created_at, self.task_id = options, created_at, task_id
        self.unique_for = self.unique_key = None

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
        for key in kwargs:
            if type(key) is not str:
                raise ConfigurationError(f"kwargs of {name}: keyword names must be strings, "
                                         f"not {key!r}")
        payload = serializer.dumps_call(name, tuple(args), kwargs)
        return Job(id=task_id or self.task_id or new_id(), task=name, payload=payload,
                   queue=self.queue, priority=self.priority, eta=self.eta, expires=self.expires,
                   retries=self.retries, acks_late=self.acks_late, options=self.options,
                   created_at=self.created_at)
