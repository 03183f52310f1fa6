"""Tasks for the canvas tests, on the tests' app (`-A canvas_jobs` loads jobs.app too)."""

from __future__ import annotations

import asyncio
import os

from litejobs.exceptions import Ignore, Reject

from jobs import _ledger, app

__all__ = ["app"]


class ExpectedError(Exception):
    """Raised by ``fail``; importable by the producer, so get() re-raises it as itself."""


@app.task
def add(x, y, z=None):
    return x + y if z is None else x + y + z


@app.task
def add_to_all(nums, val):
    return [n + val for n in nums]


@app.task(bind=True)
def ids(self, i):
    """What this job knows of its place in the workflow, and ``i``."""
    return self.request.root_id, self.request.parent_id, i


@app.task(bind=True)
def collect_ids(self, res, i):
    return res, (self.request.root_id, self.request.parent_id, i)


@app.task
def identity(value):
    return value


@app.task
def fail(*args):
    raise ExpectedError("expected failure")


@app.task
def mark(tag, *args):
    """Write ``tag`` to the ledger (once per call) and return it."""
    _ledger(f"call {tag} {os.getpid()} 0")
    return tag


@app.task(ignore_result=True)
def ignored(x):
    return x


@app.task
async def async_add(x, y):
    await asyncio.sleep(0.01)
    return x + y


@app.task
async def async_fail():
    await asyncio.sleep(0)
    raise ExpectedError("async failure")


@app.task(soft_time_limit=0.3)
async def async_past_soft_limit():
    await asyncio.sleep(30)


@app.task
async def async_loop_id():
    return id(asyncio.get_running_loop())


@app.task
def tsum(numbers):
    return sum(numbers)


@app.task
def waits_for_another(x):
    return add.delay(x, 1).get(timeout=20)


@app.task
def waits_for_another_allowed(x):
    return add.delay(x, 1).get(timeout=20, disable_sync_subtasks=False)


@app.task(bind=True)
def reject_once(self, tag):
    """Rejected back to the queue the first time (remembered in the ledger)."""
    path = os.environ.get("LITEJOBS_LEDGER", "")
    seen = bool(path) and os.path.exists(path) and f"rejected {tag} " in open(path).read()
    if not seen:
        _ledger(f"rejected {tag} {os.getpid()} 0")
        raise Reject("not now", requeue=True)
    return tag


@app.task
def ignore_me():
    raise Ignore()


@app.task(bind=True)
def stamps_of(self, *args):
    return self.request.stamps
