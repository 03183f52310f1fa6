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
from typing import Any

from . import djangofix, signals
from .app import App
from .child import child_main
from .exceptions import ConfigurationError
from .scoreboard import Scoreboard

LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(process)d] %(message)s"


class AppNotFound(ConfigurationError):
    """``-A`` names a module or attribute that holds no App."""


def setup_logging(level: str, logfile: str | None = None) -> None:
    """Log to stderr at ``level``, unless a ``setup_logging`` receiver does it (Celery's
    rule); then ``after_setup_logger`` and ``after_setup_task_logger``."""
    level = level.upper()
    args = {"loglevel": level, "logfile": logfile, "format": LOG_FORMAT, "colorize": False}
    if not signals.setup_logging.receivers:
        logging.basicConfig(level=level, stream=sys.stderr, format=LOG_FORMAT)
    else:
        signals.setup_logging.send(sender=None, **args)
    signals.after_setup_logger.send(sender=None, logger=logging.getLogger(), **args)
    signals.after_setup_task_logger.send(sender=None, logger=logging.getLogger("litejobs.task"),
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


def load_app(spec: str | None, url: str | None) -> App:
    """The App named by ``-A`` (see ``find_app``), on ``url``; its ``imports`` and
    ``include`` modules imported, as a Celery worker does.

    Without ``-A``, a bare App on ``url``: tasks are imported by name when first seen.
    The store given on the command line wins over the one the module's App names;
    without one, the App's own (its URL or ``broker_url``) is used.
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    app = find_app(spec) if spec else None
    if djangofix.configured():  # Celery's Django fix-up: set up before tasks import
        djangofix.setup()
        djangofix.install()
    if app is None:
        app = App(url)
    elif url and app.url != url:
        app.close()
        app.url = url
    app.import_default_modules()
    return app


def spawned_child_main(config: dict[str, Any]) -> int:
    """A spawned pool child: import the app anew, then run as a forked child would."""
    sys.path.insert(0, os.getcwd())
    app = load_app(config["app"], config["url"])
    setup_logging(config.get("loglevel", "WARNING"))
    board = Scoreboard(config["slots"], path=config["scoreboard"])
    return child_main(app, config["worker"], config["queues"], config["slot"], board,
                      config["max_tasks"], config["parent"], config["hostname"],
                      config.get("queue_limits"))


if __name__ == "__main__":  # python -m litejobs.loading CONFIG: the spawn entry point
    sys.exit(spawned_child_main(json.loads(sys.argv[1])))
