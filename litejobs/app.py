"""App: the Celery facade. Declaring tasks, settings, sending, results and control,
over the core (core.py) that every lower layer is handed."""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Iterable
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, overload

from . import djangofix, eager, sending
from .canvas import Signature, register_builtins
from .config import Conf
from .control import Control
from .core import Core, JobTemplate, default_app, import_object
from .embedded import EmbeddedWorker
from .exceptions import ConfigurationError
from .job import TASK_OPTION_DEFAULTS, validate_task_options
from .metrics import collect
from .periodic import Entry, Schedules
from .result import AsyncResult, EagerResult, GroupResult
from .schedules import as_schedule
from .task import Task, default_name
from .worker import InProcessWorker

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["App", "Conf", "Control", "JobTemplate", "default_app", "shared_task"]

# Tasks declared with @shared_task, registered on every App (those made later too).
_shared: list[SharedTask] = []


class App(Core):
    """A litejobs application: ``App("jobs.sqlite")`` or ``App("redis://host:6379/0")``.

    ``task_cls`` is the base class of every task this app declares (a Task subclass, or
    ``"module:Class"``), as in Celery. Celery's form works too:
    ``App("proj", broker="jobs.sqlite", include=["proj.tasks"])`` — when ``broker=`` is
    given without ``main=``, the first argument is the app's main name, as in Celery.
    """

    def __init__(self, url: str | None = None, *, eager: bool = False, main: str | None = None,
                 task_cls: type[Task] | str | None = None, broker: str | None = None,
                 backend: str | None = None, include: Iterable[str] | None = None,
                 **settings: Any) -> None:
        if broker is not None:
            if main is None and url is not None:
                main, url = url, None
            settings["broker_url"] = broker
        if backend is not None:
            settings["result_backend"] = backend
        if include is not None:
            settings["include"] = list(include)
        super().__init__(url, main, settings)
        if eager:
            self.conf.task_always_eager = True
        self.task_cls = _task_class(task_cls) if task_cls is not None else Task
        self._bound_task_cls: type[Task] | None = None
        self._discover: list[tuple[Any, str]] = []  # autodiscover_tasks: (packages, name)
        register_builtins(self)
        for shared in _shared:
            shared.register(self)

    def __repr__(self) -> str:
        return f"<litejobs.App {self.url!r}>"

    # -- settings ------------------------------------------------------------
    def config_from_object(self, obj: Any, namespace: str | None = None) -> None:
        """Load settings from a module (object, ``"module"`` or ``"module:attr"``), a class
        or a dict; ``namespace="CELERY"`` reads ``CELERY_BROKER_URL`` as ``broker_url``."""
        self.conf.from_object(obj, namespace=namespace)

    def config_from_envvar(self, variable_name: str, silent: bool = False,
                           namespace: str | None = None) -> bool:
        """``config_from_object`` of the module the environment variable names."""
        module = os.environ.get(variable_name)
        if not module:
            if silent:
                return False
            raise ConfigurationError(f"the environment variable {variable_name} is not set; "
                                     "set it to the name of your settings module")
        self.config_from_object(module, namespace=namespace)
        return True

    def autodiscover_tasks(self, packages: Iterable[str] | Callable[[], Iterable[str]]
                           | None = None, related_name: str = "tasks",
                           force: bool = False) -> None:
        """Import each package's ``tasks`` module (``related_name``), as Celery does:
        when the worker or beat loads the app, or at once with ``force=True``.

        ``packages`` is a list or a callable returning one; without it, Django's installed
        apps when Django is configured. A package without that module is skipped.
        """
        self._discover.append((packages, related_name))
        if force:
            self.import_default_modules()

    def import_default_modules(self) -> None:
        super().import_default_modules()
        for packages, related_name in self._discover:
            if packages is None:
                packages = djangofix.installed_apps()
            elif callable(packages):
                packages = packages()
            for package in packages:
                name = f"{package}.{related_name}"
                try:
                    importlib.import_module(name)
                except ModuleNotFoundError as exc:
                    if exc.name not in (name, package):
                        raise

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
        """Register a function as a task: ``@app.task`` or ``@app.task(**options)``;
        ``base=`` names the Task subclass to build it from (default: ``task_cls``)."""
        if fn is not None:
            if not callable(fn):
                raise ConfigurationError(f"@app.task needs a function, not {fn!r}")
            return self._task_from_function(fn, {})

        def decorate(func: Callable[..., Any]) -> Task:
            return self._task_from_function(func, options)

        return decorate

    @property
    def Task(self) -> type[Task]:  # noqa: N802 - Celery's name
        """The base of this app's tasks, tied to it: ``class Mul(app.Task): ...``."""
        if self._bound_task_cls is None:
            base = self.task_cls
            self._bound_task_cls = type(base.__name__, (base,), {
                "_app": self, "__module__": base.__module__, "__qualname__": base.__qualname__})
        return self._bound_task_cls

    def register_task(self, task: Task | type[Task]) -> Task:
        """Register a class-based task (an instance, or a class to instantiate)."""
        if isinstance(task, type):
            if not issubclass(task, Task):
                raise ConfigurationError(f"register_task needs a litejobs.Task, not {task!r}")
            task = task()
        if not isinstance(task, Task):
            raise ConfigurationError(f"register_task needs a litejobs.Task, not {task!r}")
        if type(task).run is Task.run:
            raise ConfigurationError(f"{type(task).__qualname__} defines no run() method")
        task.bind_to(self)
        self.add_task(task)
        return task

    def _task_from_function(self, fn: Callable[..., Any], options: dict[str, Any]) -> Task:
        options = dict(options)
        base = options.pop("base", None) or self.task_cls
        if isinstance(base, str):
            base = _task_class(base)
        if not (isinstance(base, type) and issubclass(base, Task)):
            raise ConfigurationError(f"base= must be a litejobs.Task subclass, not {base!r}")
        where = getattr(fn, "__qualname__", repr(fn))
        unknown = sorted(set(options) - set(TASK_OPTION_DEFAULTS))
        if unknown:
            validate_task_options(where, options)  # raises, naming the valid options
        bind = options.get("bind", base.bind)
        attrs: dict[str, Any] = {
            **options,
            "run": fn if bind else staticmethod(fn),
            "__module__": getattr(fn, "__module__", base.__module__),
            "__qualname__": where,
            "__doc__": fn.__doc__,
            "__wrapped__": fn,
        }
        if not options.get("name"):
            attrs["name"] = default_name(fn, self.main)
        cls = type(getattr(fn, "__name__", "task"), (base,), attrs)
        task: Task = cls()
        task.__name__ = getattr(fn, "__name__", task.name)  # type: ignore[attr-defined]
        task.bind_to(self)
        self.add_task(task)
        return task

    # -- sending jobs ----------------------------------------------------------
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
        return sending.send_task(self, name, args, kwargs, options, _task)

    def send_in_transaction(self, name: str, args: Iterable[Any] | None,
                            kwargs: dict[str, Any] | None, options: dict[str, Any],
                            task: Task | None = None, using: str | None = None
                            ) -> AsyncResult[Any]:
        return sending.send_in_transaction(self, name, args, kwargs, options, task, using)

    def send_many(self, name: str, calls: Iterable[Any], options: dict[str, Any],
                  task: Task | None = None) -> list[AsyncResult[Any]]:
        return sending.send_many(self, name, calls, options, task)

    def send_workflow(self, workflow: Any, args: tuple, kwargs: dict[str, Any],
                      options: dict[str, Any], inline: bool = False) -> Any:
        return sending.send_workflow(self, workflow, args, kwargs, options, inline)

    def apply_task(self, task: Task, args: Iterable[Any] | None, kwargs: dict[str, Any] | None,
                   options: dict[str, Any]) -> EagerResult[Any]:
        return eager.apply(self, task, args, kwargs, options)

    # -- periodic tasks and queues -------------------------------------------------
    def add_periodic_task(self, schedule: Any, sig: Any, name: str | None = None,
                          **options: Any) -> str:
        """Run ``sig`` (``task.s(...)``) on ``schedule`` (seconds, timedelta, crontab).

        Returns the entry's name (by default, the signature's repr, as Celery does).
        """
        if not isinstance(sig, Signature):
            raise ConfigurationError(f"add_periodic_task needs a signature (task.s(...)), "
                                     f"not {sig!r}")
        entry_name = name or repr(sig)
        self.periodic[entry_name] = Entry(entry_name, sig.task, as_schedule(schedule),
                                           sig.args, sig.kwargs, {**sig.options, **options})
        return entry_name

    def periodic_task(self, schedule: Any, name: str | None = None, args: Iterable[Any] = (),
                      kwargs: dict[str, Any] | None = None, **task_options: Any
                      ) -> Callable[[Callable[..., Any]], Task]:
        """Declare a task and run it on ``schedule``: ``@app.periodic_task(crontab(...))``."""
        def decorate(fn: Callable[..., Any]) -> Task:
            task = self._task_from_function(fn, task_options)
            self.add_periodic_task(schedule, task.s(*args, **(kwargs or {})),
                                   name=name or task.name)
            return task

        return decorate

    @functools.cached_property
    def schedules(self) -> Schedules:
        """Periodic tasks kept in the store, changed at runtime (``add``, ``update``,
        ``remove``, ``enable``, ``disable``, ``list``, ``run_now``)."""
        return Schedules(self)

    def pause_queue(self, queue: str) -> None:
        """Stop every worker claiming from ``queue``; its jobs stay queued."""
        self.transport.set_queue_paused(queue, True)

    def resume_queue(self, queue: str) -> None:
        self.transport.set_queue_paused(queue, False)

    def metrics(self) -> dict[str, Any]:
        """Queue depth by state, live workers, per-task outcomes and runtimes."""
        return collect(self)

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
        return InProcessWorker(self, queues=queues).run_until_idle(timeout=timeout)

    def start_worker(self, concurrency: int | None = None,
                     queues: Iterable[str] | None = None, **options: Any) -> EmbeddedWorker:
        """Start the supervisor and pool in the background; returns at once."""
        return EmbeddedWorker.start(self, concurrency=concurrency, queues=queues, **options)

class SharedTask:
    """``@shared_task``: a task declared without an App; it stands for that task on the
    current App (the one created last), so a library needs no import of the project."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.fn, self.options = fn, options
        self.__wrapped__ = fn
        self.__name__ = getattr(fn, "__name__", "task")
        self.__doc__ = fn.__doc__
        self.__module__ = getattr(fn, "__module__", __name__)

    def register(self, app: App) -> Task:
        name = self.options.get("name") or default_name(self.fn, app.main)
        task = app.tasks.get(name)
        if task is None or getattr(task, "__wrapped__", None) is not self.fn:
            task = app._task_from_function(self.fn, self.options)
        return task

    def _task(self) -> Task:
        app = default_app()
        assert isinstance(app, App)
        return self.register(app)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self._task(), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._task()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<@shared_task {default_name(self.fn)}>"


def shared_task(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """``@shared_task`` / ``@shared_task(**options)``: as ``@app.task``, on every App."""
    def decorate(func: Callable[..., Any]) -> Any:
        if not callable(func):
            raise ConfigurationError(f"@shared_task needs a function, not {func!r}")
        unknown = set(options) - set(TASK_OPTION_DEFAULTS) - {"base"}
        if unknown:
            validate_task_options(getattr(func, "__qualname__", repr(func)), options)
        shared = SharedTask(func, options)
        _shared.append(shared)
        for app in _live_apps():
            shared.register(app)
        return shared

    return decorate(fn) if fn is not None else decorate


def _live_apps() -> list[App]:
    try:
        app = default_app()
    except ConfigurationError:
        return []
    return [app] if isinstance(app, App) else []


class _GroupResults:
    def __init__(self, app: App) -> None:
        self.app = app

    def restore(self, group_id: str) -> GroupResult | None:
        return GroupResult.restore(group_id, app=self.app)

    def __call__(self, id: str, results: list[AsyncResult[Any]]) -> GroupResult:
        return GroupResult(id, results, app=self.app)


def _task_class(spec: type[Task] | str) -> type[Task]:
    """``task_cls``/``base``: a Task subclass, or ``"module:Class"`` naming one."""
    cls = import_object(spec, "task_cls") if isinstance(spec, str) else spec
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ConfigurationError(f"task_cls must be a litejobs.Task subclass, not {spec!r}")
    return cls
