"""litejobs: an embedded background job runner on SQLite (or Redis), with Celery's API."""

from __future__ import annotations

from . import exceptions
from .app import App, shared_task
from .canvas import Signature, chain, chord, chunks, group, signature
from .result import AsyncResult, EagerResult, GroupResult
from .task import Task

__version__ = "0.1.0.dev0"

__all__ = [
    "App",
    "AsyncResult",
    "EagerResult",
    "GroupResult",
    "Signature",
    "Task",
    "__version__",
    "chain",
    "chord",
    "chunks",
    "exceptions",
    "group",
    "shared_task",
    "signature",
]
