"""Unique jobs (docs/unique.md): what a job's unique key is, and its options checked.

The option precedence (the call's ``unique_for``, then the task's) is in
``core.job_template``; which jobs hold a key is each store's ``enqueue_unique`` (and
eager mode's, in eager.py). This module is the one home of the key itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

from . import serializer
from .exceptions import ConfigurationError
from .job import is_unique_for


class UniqueSeen:
    """Whether this process has met a unique job (docs/unique.md): a task declaring
    ``unique_for``, a call or a signature given it. Until then, sending a workflow skips
    looking for unique steps, so workflows pay nothing for the feature."""

    seen = False

    @classmethod
    def note(cls, options: dict[str, Any]) -> None:
        if "unique_for" in options or "unique_key" in options:
            cls.seen = True



def check_unique(name: str, unique_for: Any, opts: dict[str, Any]) -> tuple[float | None, Any]:
    """``unique_for`` and ``unique_key`` of a job, checked (``unique_for=False``: off)."""
    key = opts.get("unique_key")
    if isinstance(unique_for, dt.timedelta):
        unique_for = unique_for.total_seconds()
    if unique_for is False:
        return None, None
    if unique_for is True or not is_unique_for(unique_for):
        raise ConfigurationError(f"unique_for for {name} must be seconds >= 0 (how long a "
                                 f"finished job still holds its key), None or False, not "
                                 f"{unique_for!r}")
    if key is not None and not (isinstance(key, str) and key):
        raise ConfigurationError(f"unique_key for {name} must be a non-empty string, not "
                                 f"{key!r}")
    if unique_for is None:
        raise ConfigurationError(f"unique_key for {name} needs unique_for (on the call or "
                                 "the task): how long a finished job keeps its key")
    return float(unique_for), key


def unique_key(name: str, args: Iterable[Any] | None, kwargs: dict[str, Any] | None,
               key: str | None = None) -> str:
    """The key a unique job holds in the store: its task and ``key``, else its arguments
    (args, and kwargs in name order, so their order does not matter), as a digest."""
    if key is not None:
        text = b"k" + key.encode("utf-8")
    else:
        text = b"a" + serializer.dumps(
            [list(args or ()), sorted((kwargs or {}).items())], f"the arguments of {name}")
    return name + ":" + hashlib.blake2b(text, digest_size=16).hexdigest()
