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

from .app import App
from .child import child_main
from .exceptions import ConfigurationError
from .scoreboard import Scoreboard

LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(process)d] %(message)s"


class AppNotFound(ConfigurationError):
    """``-A`` names a module or attribute that holds no App."""


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format=LOG_FORMAT)


def load_app(spec: str | None, url: str | None) -> App:
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
            namespace = runpy.run_path(module_name, run_name="__mp_main__")
            candidates = [v for v in namespace.values() if isinstance(v, App)]
            found: Any = namespace.get(attr) if attr else None
        else:
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise AppNotFound(f"cannot import {module_name!r}: {exc}") from None
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
    elif url and app.url != url:
        app.close()
        app.url = url
    if spec:
        app.import_tasks_by_name = False
    return app


def spawned_child_main(config: dict[str, Any]) -> int:
    """A spawned pool child: import the app anew, then run as a forked child would."""
    setup_logging(config.get("loglevel", "WARNING"))
    sys.path.insert(0, os.getcwd())
    app = load_app(config["app"], config["url"])
    board = Scoreboard(config["slots"], path=config["scoreboard"])
    return child_main(app, config["worker"], config["queues"], config["slot"], board,
                      config["max_tasks"], config["parent"], config["hostname"],
                      config.get("queue_limits"))


if __name__ == "__main__":  # python -m litejobs.loading CONFIG: the spawn entry point
    sys.exit(spawned_child_main(json.loads(sys.argv[1])))
