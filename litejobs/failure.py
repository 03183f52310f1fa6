"""Turning an exception into a stored Failure and back: the one place both directions live."""

from __future__ import annotations

import builtins
import sys
import traceback as tb
from typing import Any

from . import serializer
from .exceptions import TaskError
from .job import Failure


def class_path(cls: type) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class ExceptionInfo:
    """A failure as task handlers see it (Celery's ``einfo``): the exception and its
    traceback text; ``str(einfo)`` is the traceback."""

    def __init__(self, exception: BaseException | None, traceback: str | None) -> None:
        self.exception = exception
        self.type = type(exception) if exception is not None else None
        self.tb = exception.__traceback__ if exception is not None else None
        self.traceback = traceback or ""

    def __str__(self) -> str:
        return self.traceback

    def __repr__(self) -> str:
        return f"<ExceptionInfo: {self.exception!r}>"


def message_of(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder where that raises; ``sys.exit()`` said as such."""
    if isinstance(exc, SystemExit):
        return f"sys.exit({exc.code!r}) called inside the task"
    try:
        return str(exc)
    except Exception:
        return f"<{class_path(type(exc))}: str() failed>"


def describe(exc: BaseException, with_traceback: bool = True) -> Failure:
    """A Failure for ``exc``: its class path, message, traceback and (if packable) args.

    Never raises: an exception whose ``str()`` raises gets a placeholder message, and
    ``sys.exit()`` inside a task is described as such (the pool child lives on)."""
    error_type = class_path(type(exc))
    try:
        args = serializer.dumps(list(exc.args), "exception args")
    except Exception:
        args = None
    message = message_of(exc)
    text = None
    if with_traceback:
        try:
            text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        except Exception:
            text = f"{error_type}: {message}\n(the traceback could not be formatted)\n"
    return Failure(error_type=error_type, message=message, traceback=text, args=args)


def _find_class(path: str) -> type | None:
    """The class ``path`` names, from builtins or a module this process already imported.

    Never imports: the path comes from the store, and importing a module a stored
    value names would let whoever can write the store run code here (Celery's
    CVE-2021-23727)."""
    if "." not in path:
        found = getattr(builtins, path, None)
        return found if isinstance(found, type) else None
    module_name, _, qualname = path.rpartition(".")
    # Walk back for nested classes: "pkg.mod.Outer.Inner".
    parts = qualname.split(".")
    while module_name:
        obj: Any = sys.modules.get(module_name)
        if obj is None:
            module_name, _, head = module_name.rpartition(".")
            parts.insert(0, head)
            continue
        for part in parts:
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj if isinstance(obj, type) else None
    return None


def rebuild(error_type: str | None, message: str | None, args: bytes | None,
            traceback: str | None) -> BaseException:
    """The task's own exception where its class is already imported here (or a builtin),
    else TaskError carrying the type's name."""
    error_type = error_type or "Exception"
    message = message or ""
    cls = _find_class(error_type)
    # Only Exception subclasses: a stored SystemExit or KeyboardInterrupt must not end
    # the process that reads the result.
    if cls is not None and issubclass(cls, Exception):
        exc: BaseException | None = None
        if args is not None:
            try:
                exc = cls(*serializer.loads(args))
            except Exception:
                exc = None
        if exc is None:
            try:
                exc = cls(message)
            except Exception:
                exc = None
        if exc is not None:
            exc.__litejobs_traceback__ = traceback  # type: ignore[attr-defined]
            return exc
    return TaskError(error_type, message, traceback)
