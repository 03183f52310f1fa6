"""Loading an app for a process: ``-A`` specs, logging set-up, and the entry point of a
spawned pool child. Shared by the CLI, spawned children and the embedded worker, so
none of them imports the CLI."""

from __future__ import annotations

import importlib
import json
import logging
import os
import runpy
import sys
import traceback
from typing import Any

from . import djangofix, signals
from .app import App
from .child import child_main
from .exceptions import ConfigurationError
from .log import LOG_FORMAT, TASK_LOGGER, set_process_name
from .log import setup_logging as _setup_handlers
from .scoreboard import Scoreboard
from .transports import safe_url

log = logging.getLogger("litejobs.worker")

__all__ = ["AppNotFound", "find_app", "load_app", "setup_logging", "spawned_child_main"]


class AppNotFound(ConfigurationError):
    """``-A`` names a module or attribute that holds no App."""


def setup_logging(level: str, logfile: str | None = None, fmt: str | None = None,
                  task_fmt: str | None = None) -> None:
    """Log to stderr (or ``logfile``) at ``level`` in Celery's formats, unless a
    ``setup_logging`` receiver does it (Celery's rule); then ``after_setup_logger`` and
    ``after_setup_task_logger``."""
    level = level.upper()
    args = {"loglevel": level, "logfile": logfile, "format": fmt or LOG_FORMAT,
            "colorize": False}
    if not signals.setup_logging.receivers:
        _setup_handlers(level, logfile, fmt, task_fmt)
    else:
        signals.setup_logging.send(sender=None, **args)
    signals.after_setup_logger.send(sender=None, logger=logging.getLogger(), **args)
    signals.after_setup_task_logger.send(sender=None, logger=logging.getLogger(TASK_LOGGER),
                                         **args)


def find_app(spec: str) -> App | None:
    """The App ``-A`` names, found the way Celery finds one.

    ``module:attr`` is that attribute. ``proj`` is ``proj.app`` or ``proj.celery`` if
    either is an App; else, for a package, what ``proj.celery`` holds (Celery's
    ``proj/celery.py``); else the module's one App. ``path/to/file.py`` runs the file.
    ``proj.app`` names the attribute ``app`` of ``proj``, or the module ``proj.app``.
    ``None``: a module that holds no App (its tasks are still registered).
    """
    module_name, _, attr = spec.partition(":")
    if module_name.endswith(".py"):
        namespace = runpy.run_path(module_name, run_name="__mp_main__")
        if attr:
            if not isinstance(namespace.get(attr), App):
                raise AppNotFound(f"{spec!r}: no App named {attr!r}")
            return namespace[attr]
        return _only_app(namespace.values())
    try:
        module: Any = importlib.import_module(module_name)
    except ImportError as exc:
        parent, _, last = module_name.rpartition(".")
        found = _attribute(parent, last) if parent and not attr else None
        if found is None:
            raise AppNotFound(f"cannot import {module_name!r}: {exc}") from None
        return found
    if attr:
        found = module
        for part in attr.split("."):
            found = getattr(found, part, None)
        if not isinstance(found, App):
            raise AppNotFound(f"{spec!r}: no App named {attr!r}")
        return found
    for name in ("app", "celery"):
        if isinstance(getattr(module, name, None), App):
            return getattr(module, name)
    if hasattr(module, "__path__"):
        try:
            importlib.import_module(f"{module_name}.celery")
        except ModuleNotFoundError as exc:
            if exc.name != f"{module_name}.celery":
                raise
        else:
            return find_app(f"{module_name}.celery")
    return _only_app(vars(module).values())


def _attribute(module_name: str, attr: str) -> App | None:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    found = getattr(module, attr, None)
    return found if isinstance(found, App) else None


def _only_app(values: Any) -> App | None:
    apps = [v for v in values if isinstance(v, App)]
    return apps[0] if len(apps) == 1 else None


def load_app(spec: str | None, url: str | None, warn: bool = True) -> App:
    """The App named by ``-A`` (see ``find_app``), on ``url``; its ``imports`` and
    ``include`` modules imported, as a Celery worker does.

    Without ``-A``, a bare App on ``url``: tasks are imported by name when first seen.
    With ``-A``, only the tasks the app's modules register: a job's task name never
    makes this process import a module. The store given on the command line wins over
    the one the module's App names (with a warning when they differ); without one, the
    App's own (its URL or ``broker_url``) is used. A module that fails to import is one
    line naming the cause (``AppNotFound``).
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        app = find_app(spec) if spec else None
    except AppNotFound:
        raise
    except Exception as exc:
        raise AppNotFound(f"cannot import {spec!r}: {_cause(exc)}") from None
    if djangofix.configured():  # Celery's Django fix-up: set up before tasks import
        djangofix.setup()
        djangofix.install()
    if app is None:
        app = App(url)
    elif url and not same_store(app.url, url):
        if warn:
            log.warning("the app %s names the store %s, but %s was given: using %s",
                        spec, safe_url(app.url), safe_url(url), safe_url(url))
        app.close()
        app.url = url
    if spec:
        app.import_tasks_by_name = False
    try:
        app.import_default_modules()
    except Exception as exc:
        raise AppNotFound(f"cannot import the app's modules: {_cause(exc)}") from None
    return app


def same_store(a: str, b: str) -> bool:
    """Whether two store URLs or paths name the same store."""
    def norm(url: str) -> str:
        url = url.removeprefix("sqlite:///")
        return url if "://" in url else os.path.realpath(url)
    return norm(a) == norm(b)


def _cause(exc: BaseException) -> str:
    """One line: the exception, and where it happened (file and line for a syntax error)."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({exc.filename}, line {exc.lineno})"
    where = ""
    # the user's frame where it happened, not importlib's machinery
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<frozen ") and "/importlib/" not in f.filename
              and f.filename != __file__ and "/runpy.py" not in f.filename]
    if frames:
        last = frames[-1]
        where = f" ({last.filename}, line {last.lineno})"
    return f"{type(exc).__name__}: {exc}{where}"


def spawned_child_main(config: dict[str, Any]) -> int:
    """A spawned pool child: import the app anew, then run as a forked child would."""
    sys.path.insert(0, os.getcwd())
    app = load_app(config["app"], config["url"], warn=False)  # the supervisor warned
    setup_logging(config.get("loglevel", "WARNING"), config.get("logfile"),
                  app.conf.worker_log_format, app.conf.worker_task_log_format)
    set_process_name(config.get("process_name", "SpawnPoolWorker"))
    board = Scoreboard(config["slots"], path=config["scoreboard"])
    return child_main(app, config["worker"], config["queues"], config["slot"], board,
                      config["max_tasks"], config["parent"], config["hostname"],
                      config.get("queue_limits"), config.get("max_memory"))


if __name__ == "__main__":  # python -m litejobs.loading CONFIG: the spawn entry point
    sys.exit(spawned_child_main(json.loads(sys.argv[1])))
