"""Logging as Celery's worker does it: formats, process names, task loggers, outcome lines.

``get_task_logger(__name__)`` (as ``celery.utils.log.get_task_logger``) gives a logger
whose records carry the running task's name and id (``worker_task_log_format``).
"""

from __future__ import annotations

import logging
import os
import reprlib
import sys
from typing import Any

from .execution import Execution
from .failure import message_of
from .job import Job, JobState
from .task import current_request
from .timeutil import now as clock_now

LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
TASK_LOG_FORMAT = ("[%(asctime)s: %(levelname)s/%(processName)s] "
                   "%(task_name)s[%(task_id)s]: %(message)s")
TASK_LOGGER = "litejobs.task"  #: the parent of every task logger

log = logging.getLogger("litejobs.worker")

#: the name this process shows in log lines: MainProcess, ForkPoolWorker-N, ...
process_name = "MainProcess"

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 120
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 10


def set_process_name(name: str) -> None:
    global process_name
    process_name = name


def short_repr(value: Any) -> str:
    """A repr cut to a line (results and arguments in logs and listings)."""
    try:
        return _repr.repr(value)
    except Exception:  # a value whose repr raises must not cost the worker
        return f"<{type(value).__name__}: repr() failed>"


class _ProcessName(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        thread = record.threadName or ""
        record.processName = thread if thread.startswith("ThreadPoolWorker") else process_name
        return True


class WatchedFileHandler(logging.FileHandler):
    """A log file reopened when logrotate moves it away (as logging.handlers' one, which
    would import pickle)."""

    def __init__(self, filename: str) -> None:
        super().__init__(filename, delay=False)
        self._id = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.baseFilename)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def emit(self, record: logging.LogRecord) -> None:
        current = self._stat()
        if current != self._id:
            if self.stream is not None:
                self.stream.close()
            self.stream = self._open()
            self._id = self._stat()
        super().emit(record)


class TaskFormatter(logging.Formatter):
    """Fills ``task_name`` and ``task_id`` from the task running in this thread."""

    def format(self, record: logging.LogRecord) -> str:
        request = current_request()
        record.task_name = request.task if request is not None else "???"
        record.task_id = request.id if request is not None else "???"
        return super().format(record)


def get_task_logger(name: str) -> logging.Logger:
    """A logger for task modules: its lines name the running task (as in Celery)."""
    logger = logging.getLogger(name)
    if name != TASK_LOGGER:
        logger.parent = logging.getLogger(TASK_LOGGER)
    return logger


def setup_logging(level: str, logfile: str | None = None, fmt: str | None = None,
                  task_fmt: str | None = None) -> None:
    """Handlers for a worker or beat process: stderr or ``logfile``, Celery's formats.

    A log file is reopened when it is moved away (``WatchedFileHandler``), so logrotate
    needs no copytruncate.
    """
    def handler(formatter: logging.Formatter) -> logging.Handler:
        made: logging.Handler = (WatchedFileHandler(logfile) if logfile
                                 else logging.StreamHandler(sys.stderr))
        made.setFormatter(formatter)
        made.addFilter(_ProcessName())
        return made

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler(logging.Formatter(fmt or LOG_FORMAT)))
    root.setLevel(level.upper())
    task_logger = logging.getLogger(TASK_LOGGER)
    for old in list(task_logger.handlers):
        task_logger.removeHandler(old)
        old.close()
    task_logger.addHandler(handler(TaskFormatter(task_fmt or TASK_LOG_FORMAT)))
    task_logger.propagate = False


def worker_banner(worker_id: str, app: str, store: str, concurrency: int, pool: str,
                  autoscale: tuple[int, int] | None, hostname: str, queues: list[str],
                  queue_limits: dict[str, int], tasks: list[str]) -> str:
    """The worker's start-up banner, laid out as Celery's: [config], [queues], [tasks]."""
    scale = f", autoscale {autoscale[0]},{autoscale[1]}" if autoscale else ""
    lines = [
        f"litejobs worker {worker_id}",
        "[config]",
        f".> app:         {app}",
        f".> store:       {store}",
        f".> concurrency: {concurrency} ({pool}){scale}",
        f".> hostname:    {hostname}",
        "",
        "[queues]",
        *(f".> {q}" + (f"  (at most {queue_limits[q]} at once)" if q in queue_limits else "")
          for q in queues),
        "",
        "[tasks]",
        *(f"  . {name}" for name in tasks),
        *([] if tasks else ["  (none registered: imported by name when first seen)"]),
        "",
    ]
    return "\n".join(lines)


def log_received(job: Job) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info("Task %s[%s] received", job.task, job.id)


def log_outcome(job: Job, execution: Execution) -> None:
    """Celery's lines: succeeded (INFO), retry with its delay (INFO), raised (ERROR)."""
    outcome = execution.outcome
    state = outcome.state
    if state is JobState.SUCCESS:
        if log.isEnabledFor(logging.INFO):
            log.info("Task %s[%s] succeeded in %ss: %s", job.task, job.id,
                     f"{execution.runtime:.6g}", short_repr(execution.value))
    elif state is JobState.SCHEDULED:
        if log.isEnabledFor(logging.INFO):
            now = clock_now()
            delay = max(0.0, (outcome.eta or now) - now)
            log.info("Task %s[%s] retry: Retry in %ss: %s", job.task, job.id,
                     f"{delay:.0f}" if delay >= 1 else f"{delay:.2g}",
                     short_repr(execution.exc))
    elif state is JobState.REVOKED:
        log.info("Task %s[%s] revoked: %s", job.task, job.id, _short(execution.exc))
    elif state is JobState.FAILURE:
        failure = outcome.failure
        trace = failure.traceback if failure is not None and failure.traceback else ""
        log.error("Task %s[%s] raised %s%s", job.task, job.id, _short(execution.exc),
                  "\n" + trace.rstrip() if trace else "")


def _short(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {message_of(exc)}" if exc is not None else "-"
