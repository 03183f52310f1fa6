"""Results: a handle on a job's outcome (``AsyncResult``), its eager twin, and groups.

    one.py     AsyncResult, and the guard against get() inside a job
    inline.py  EagerResult (eager mode: nothing stored)
    group.py   GroupResult, ResultSet
    data.py    results as task arguments and results (serializer extension types)
"""

from __future__ import annotations

from . import data as _data  # noqa: F401 - registers results with the serializer
from .group import GroupResult, ResultSet
from .inline import EagerResult
from .one import AsyncResult, R, assert_will_not_block, running_job

__all__ = ["AsyncResult", "EagerResult", "GroupResult", "R", "ResultSet",
           "assert_will_not_block", "running_job"]
