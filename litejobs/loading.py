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

from .app import App
from .child import child_main
from .exceptions import ConfigurationError
from .log import set_process_name, setup_logging
from .scoreboard import Scoreboard
from .transports import safe_url

log = logging.getLogger("litejobs.worker")

__all__ = ["AppNotFound", "load_app", "setup_logging", "spawned_child_main"]


class AppNotFound(ConfigurationError):
    """``-A`` names a module or attribute that holds no App."""


def load_app(spec: str | None, url: str | None, warn: bool = True) -> App:
    """The App named by ``-A`` (``module``, ``module:attr`` or ``path/to/file.py``), on ``url``.

    Without ``-A``, a bare App on ``url``: tasks are imported by name when first seen.
    With ``-A``, only the tasks the app module (and what it imports) registers: a job's
    task name never makes this process import a module.
    The store given on the command line wins over the one the module's App names.
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    app: App | None = None
    if spec:
        module_name, _, attr = spec.partition(":")
        if module_name.endswith(".py"):
            try:
                namespace = runpy.run_path(module_name, run_name="__mp_main__")
            except Exception as exc:
                raise AppNotFound(f"cannot load {module_name!r}: {_cause(exc)}") from None
            candidates = [v for v in namespace.values() if isinstance(v, App)]
            found: Any = namespace.get(attr) if attr else None
        else:
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                raise AppNotFound(f"cannot import {module_name!r}: {_cause(exc)}") from None
            found = getattr(module, attr, None) if attr else getattr(module, "app", None)
            candidates = [v for v in vars(module).values() if isinstance(v, App)]
        if isinstance(found, App):
            app = found
        elif attr:
            raise AppNotFound(f"{spec!r}: no App named {attr!r}")
        elif len(candidates) == 1:
            app = candidates[0]
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
