"""Tasks for the canvas tests, on the tests' app (`-A canvas_jobs` loads jobs.app too)."""

from __future__ import annotations

import asyncio
import os

from litejobs import Task, chain, chord, group, signature
from litejobs.canvas import Signature, StampingVisitor
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


# -- Task.replace (Celery's t/integration/tasks.py) ------------------------------------
def echoed() -> list[str]:
    """The messages ``echo`` wrote to the ledger, in order (Celery's redis-echo list)."""
    path = os.environ.get("LITEJOBS_LEDGER", "")
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [line[5:].rstrip("\n") for line in f if line.startswith("echo ")]


@app.task
def echo(message, *_):
    """Append ``message`` to the ledger (Celery's ``redis_echo``)."""
    _ledger(f"echo {message}")


@app.task(bind=True)
def add_replaced(self, x, y):
    raise self.replace(add.s(x, y))


@app.task(bind=True)
def replace_with_chain(self, *args, link_msg=None):
    c = chain(identity.s(*args), identity.s())
    c.link(echo.si(link_msg) if link_msg is not None else echo.s())
    return self.replace(c)


@app.task(bind=True)
def replace_with_chain_which_raises(self, *args, link_msg=None):
    c = chain(identity.s(*args), fail.s())
    c.link_error(echo.si(link_msg) if link_msg is not None else echo.s())
    return self.replace(c)


@app.task(bind=True)
def replace_with_empty_chain(self, *_):
    return self.replace(chain())


@app.task(bind=True)
def add_to_all_replaced(self, nums, val):
    """Celery's ``add_to_all``: replaced by a group."""
    raise self.replace(group(*[add.s(num, val) for num in nums]))


@app.task(bind=True)
def fail_replaced(self, *args):
    raise self.replace(fail.si(*args))


@app.task(bind=True)
def second_order_replace1(self, state=False):
    if not state:
        _ledger("echo In A")
        raise self.replace(chain(second_order_replace2.s(), second_order_replace1.si(state=True)))
    _ledger("echo Out A")


@app.task(bind=True)
def second_order_replace2(self, state=False):
    if not state:
        _ledger("echo In B")
        raise self.replace(chain(echo.s("In/Out C"), second_order_replace2.si(state=True)))
    _ledger("echo Out B")


@app.task(bind=True)
def replaced_by_chord(self, x):
    raise self.replace(chord([add.si(x, 1), add.si(x, 2)], tsum.s()))


# -- Task.add_to_chord -------------------------------------------------------------------
@app.task(bind=True)
def add_to_all_to_chord(self, nums, val):
    for num in nums:
        self.add_to_chord(add.s(num, val))
    return 0


@app.task(bind=True)
def add_chord_to_chord(self, nums, val):
    self.add_to_chord(group([add.s(num, val) for num in nums]) | tsum.s())
    return 0


@app.task(bind=True)
def add_to_chord_lazily(self, x):
    sig = self.add_to_chord(add.s(x, 1), lazy=True)
    sig.delay()
    return x


@app.task(bind=True)
def add_to_chord_outside_a_chord(self):
    self.add_to_chord(add.s(1, 1))


@app.task
def write_to_file_and_return_int(file_name, i):
    """Celery's: append ``i`` to the file, return it."""
    with open(file_name, mode="a", buffering=1) as f:
        f.write(f"{i}\n")
    return i


# -- canvas objects and results as arguments and results -------------------------------
@app.task
def make_signature(x):
    return add.s(x, 1)


@app.task
def make_workflow(kind):
    if kind == "chain":
        return add.s(1, 1) | add.s(2)
    if kind == "group":
        return group(add.s(1, 1), add.s(2, 2))
    return chord([add.s(1, 1), add.s(2, 2)], tsum.s())


@app.task
def apply_given(sig, *args):
    """Take a signature (or workflow) and send it; return its result object."""
    return sig.apply_async(args)


@app.task
def wait_for_given(result):
    """Take an AsyncResult (or GroupResult) and wait for it, as allowed explicitly."""
    return result.get(timeout=20, disable_sync_subtasks=False)


@app.task
def wait_for_given_strictly(result):
    return result.get(timeout=20)


@app.task
def describe_given(value):
    """What arrived: its class name and id (or task name)."""
    return type(value).__name__, getattr(value, "id", None) or getattr(value, "task", None)


# -- stamps kept on replace (Celery's StampedTaskOnReplace) -------------------------------
class StampOnReplace(StampingVisitor):
    stamp = {"StampOnReplace": "This is the replaced task"}

    def on_signature(self, sig, **headers):
        return self.stamp


class StampedTaskOnReplace(Task):
    """Stamps its replacement (Celery's ``on_replace`` hook)."""

    def on_replace(self, sig):
        sig.stamp(StampOnReplace())
        return super().on_replace(sig)


@app.task(bind=True)
def replaced_with_me(self):
    return self.request.stamps


@app.task(bind=True, base=StampedTaskOnReplace)
def replace_with_stamped_task(self, replace_with=None):
    if replace_with is None:
        replace_with = replaced_with_me.s()
    self.replace(signature(replace_with))


# -- signature serialization (Celery's test_signature_serialization) -------------------
@app.task(bind=True)
def build_chain_inside_task(self):
    """Build a chain and return its AsyncResult (parents included)."""
    test_chain = add.s(1, 1) | add.s(2) | group(add.s(3), add.s(4)) | add.s(5)
    return test_chain()


NESTED = {
    "chain_chain": lambda: chain(chain([add.s()])),
    "chain_group": lambda: chain(group([add.s()])),
    "chain_chord": lambda: chain(chord([add.s()], add.s())),
    "group_chain": lambda: group(chain([add.s()])),
    "group_group": lambda: group(group([add.s()])),
    "group_chord": lambda: group(chord([add.s()], add.s())),
    "chord_chain": lambda: chord(chain([add.s()]), add.s()),
    "chord_group": lambda: chord(group([add.s()]), add.s()),
    "chord_chord": lambda: chord(chord([add.s()], add.s()), add.s()),
}


@app.task
def return_nested_signature(kind):
    return NESTED[kind]()


@app.task
def rebuild_signature(sig_dict):
    """Celery's: every part of the rebuilt object is a canvas object (here chain, group
    and chord are not Signature subclasses: each is checked for its own kind)."""
    sig_obj = Signature.from_dict(sig_dict)

    def _recurse(sig):
        if isinstance(sig, Signature):
            return
        if isinstance(sig, (chain, group)):
            for task in sig.tasks:
                _recurse(task)
        elif isinstance(sig, chord):
            for task in sig.header.tasks:
                _recurse(task)
            _recurse(sig.body)
        else:
            raise TypeError(f"{sig!r} is not a signature object")

    _recurse(sig_obj)
