"""Turning an exception into a stored Failure and back: the one place both directions live."""

from __future__ import annotations

import builtins
import importlib
import traceback as tb
from typing import Any

from . import serializer
from .exceptions import SerializationError, TaskError
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


def describe(exc: BaseException, with_traceback: bool = True) -> Failure:
    """A Failure for ``exc``: its class path, message, traceback and (if packable) args."""
    try:
        args = serializer.dumps(list(exc.args), "exception args")
    except SerializationError:
        args = None
    text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__)) if with_traceback \
        else None
    return Failure(error_type=class_path(type(exc)), message=str(exc), traceback=text, args=args)


def _find_class(path: str) -> type | None:
    if "." not in path:
        found = getattr(builtins, path, None)
        return found if isinstance(found, type) else None
    module_name, _, qualname = path.rpartition(".")
    # Walk back for nested classes: "pkg.mod.Outer.Inner".
    parts = qualname.split(".")
    while module_name:
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception:
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
    """The task's own exception where its class can be imported, else TaskError."""
    error_type = error_type or "Exception"
    message = message or ""
    cls = _find_class(error_type)
    if cls is not None and issubclass(cls, BaseException):
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
