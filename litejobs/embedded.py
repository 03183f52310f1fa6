"""``app.start_worker()``: the same supervisor and pool as ``litejobs worker``, in the background.

With fork (Linux, the default where available) the supervisor is a fork of the
calling program, so tasks defined anywhere in it, ``__main__`` included, are known.
With spawn it runs ``python -m litejobs worker`` on the module that holds the app.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

from .child import STOP_SIGNALS, die_with_parent
from .core import Core
from .exceptions import LiteJobsError
from .supervisor import Supervisor

log = logging.getLogger("litejobs.worker")


def app_spec(app: Core) -> str:
    """``module:attr`` (or ``path.py:attr`` for a script) naming ``app`` for a new process."""
    for module in list(sys.modules.values()):
        if module is None or module.__name__.split(".")[0] == "litejobs":
            continue
        for name, value in list(vars(module).items()):
            if value is app and not name.startswith("_"):
                if module.__name__ in ("__main__", "__mp_main__"):
                    path = getattr(module, "__file__", None)
                    if path:
                        return f"{os.path.abspath(path)}:{name}"
                    continue
                return f"{module.__name__}:{name}"
    raise LiteJobsError("start_worker(start_method='spawn') needs the App to be a module "
                        "attribute, so that the new process can import it")


class EmbeddedWorker:
    """A running background worker; ``stop()`` (or leaving ``with``) shuts it down warm."""

    def __init__(self, pid: int, process: subprocess.Popen | None = None) -> None:
        self.pid = pid
        self._process = process
        self.exitcode: int | None = None

    @classmethod
    def start(cls, app: Core, concurrency: int | None = None,
              queues: Iterable[str] | None = None, pool: str = "prefork",
              start_method: str | None = None, loglevel: str = "WARNING",
              max_tasks_per_child: int | None = None, **options: Any) -> EmbeddedWorker:
        if options:
            raise LiteJobsError(f"unknown start_worker option(s): {', '.join(sorted(options))}")
        method = start_method or ("fork" if hasattr(os, "fork") else "spawn")
        queue_list = list(queues) if queues is not None else None
        if method == "spawn":
            argv = [sys.executable, "-m", "litejobs", "worker", app.url, "-A", app_spec(app),
                    "-l", loglevel, "--pool", pool, "--start-method", "spawn"]
            if concurrency:
                argv += ["-c", str(concurrency)]
            if queue_list:
                argv += ["-Q", ",".join(queue_list)]
            if max_tasks_per_child:
                argv += ["--max-tasks-per-child", str(max_tasks_per_child)]
            # The new process sees this one's import path, so it finds the app's module.
            paths = [p for p in sys.path if p and os.path.isdir(p)]
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                [*paths, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
            process = subprocess.Popen(argv, start_new_session=True, env=env)
            return cls(process.pid, process)
        if method != "fork":
            raise LiteJobsError(f"start_method must be 'fork' or 'spawn', not {method!r}")
        parent = os.getpid()
        # The worker starts with stop signals blocked and unblocks them once its handlers
        # are in place, so a stop() at any moment of its start-up is seen, not lost.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.setpgid(0, 0)  # the program's Ctrl-C is the program's: it calls stop()
                    die_with_parent(parent)
                    code = Supervisor(app, queues=queue_list, concurrency=concurrency,
                                      pool=pool, max_tasks_per_child=max_tasks_per_child).run()
                except BaseException:
                    log.exception("embedded worker crashed")
                finally:
                    os._exit(code)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return cls(pid)

    @property
    def alive(self) -> bool:
        if self.exitcode is not None:
            return False
        self._poll(block=False)
        return self.exitcode is None

    def _poll(self, block: bool) -> None:
        if self._process is not None:
            code = self._process.wait() if block else self._process.poll()
            if code is not None:
                self.exitcode = code
            return
        try:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self.exitcode = self.exitcode if self.exitcode is not None else 0
            return
        if pid:
            self.exitcode = os.waitstatus_to_exitcode(status)

    def stop(self, timeout: float | None = None) -> int | None:
        """Warm shutdown: finish running jobs, then return the worker's exit code."""
        return self._stop(signal.SIGTERM, timeout)

    def terminate(self, timeout: float | None = 10.0) -> int | None:
        """Cold shutdown: hand running jobs back to the queue and exit at once."""
        return self._stop(signal.SIGQUIT, timeout)

    def _stop(self, sig: int, timeout: float | None) -> int | None:
        if self.exitcode is not None:
            return self.exitcode
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        if timeout is None:
            self._poll(block=True)
            return self.exitcode
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                return self.exitcode
            time.sleep(0.02)
        raise LiteJobsError(f"worker {self.pid} did not stop within {timeout}s")

    def __enter__(self) -> EmbeddedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
