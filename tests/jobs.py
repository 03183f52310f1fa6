"""Tasks that the tests and the worker subprocesses they start both import (`-A jobs`)."""

from __future__ import annotations

import os
import signal
import threading
import time

import litejobs
from litejobs.exceptions import Reject, TimeLimitExceeded
from litejobs.log import get_task_logger

if os.environ.get("LITEJOBS_TEST_CLOCK_SHIFT"):
    # A host whose wall clock is off by this many seconds (tests of lease arithmetic).
    _shift = float(os.environ["LITEJOBS_TEST_CLOCK_SHIFT"])
    _real_time = time.time
    time.time = lambda: _real_time() + _shift

app = litejobs.App(os.environ.get("LITEJOBS_TEST_DB", "jobs-unused.sqlite"))
app.conf.worker_lease_timeout = float(os.environ.get("LITEJOBS_TEST_LEASE", "30"))
if os.environ.get("LITEJOBS_TEST_RESULT_EXPIRES"):
    app.conf.result_expires = float(os.environ["LITEJOBS_TEST_RESULT_EXPIRES"])


class AppError(Exception):
    """An exception class a producer can import, so .get() re-raises it as itself."""


def _ledger(line: str) -> None:
    path = os.environ.get("LITEJOBS_LEDGER")
    if path:
        # One write() per line with O_APPEND: lines from many processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


@app.task
def add(x, y):
    return x + y


@app.task
def echo(*args, **kwargs):
    return [list(args), kwargs]


@app.task
def identity(value):
    return value


@app.task
def size(blob):
    """A job with large arguments and a small result."""
    return len(blob)


@app.task(queue="emails")
def send_email(to):
    return f"sent to {to}"


@app.task
def fail(message="boom"):
    raise AppError(message)


@app.task
def reject():
    raise Reject("not for me")


@app.task
def unserializable_result():
    return object()


@app.task(bind=True)
def whoami(self):
    r = self.request
    return {"id": r.id, "retries": r.retries, "args": list(r.args), "queue": r.queue,
            "priority": r.priority, "task": r.task, "is_eager": r.is_eager}


@app.task(bind=True, max_retries=3, default_retry_delay=0)
def flaky(self, succeed_after):
    if self.request.retries < succeed_after:
        raise self.retry(exc=AppError(f"attempt {self.request.retries}"))
    return self.request.retries


@app.task(bind=True, max_retries=2, default_retry_delay=0)
def fails_every_attempt(self, tag):
    """Raises an error of its own on each attempt (``<tag>: attempt N``): retried twice,
    then failed."""
    try:
        raise AppError(f"{tag}: attempt {self.request.retries + 1}")
    except AppError as exc:
        raise self.retry(exc=exc) from exc


@app.task(autoretry_for=(AppError,), max_retries=2, retry_backoff=0.01, retry_jitter=False)
def always_fails():
    raise AppError("still broken")


@app.task(bind=True)
def progress(self, steps):
    for i in range(steps):
        self.update_state(state="PROGRESS", meta={"current": i + 1, "total": steps})
    return steps


@app.task
def record(tag, seconds=0.0):
    """Append to the ledger (outside the store) when it starts and ends."""
    start = time.time()
    _ledger(f"start {tag} {os.getpid()} {start:.6f}")
    if seconds:
        time.sleep(seconds)
    _ledger(f"end {tag} {os.getpid()} {time.time():.6f}")
    return tag


@app.task(unique_for=3600)
def unique_record(tag):
    """A unique job (docs/unique.md) that notes each run in the ledger."""
    _ledger(f"unique {tag} {os.getpid()} {time.time():.6f}")
    return tag


@app.task
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(acks_late=False)
def sleep_at_most_once(seconds):
    time.sleep(seconds)
    return seconds


@app.task
def pid():
    return os.getpid()


@app.task
def kill_own_process():
    os.kill(os.getpid(), signal.SIGKILL)


def not_a_task():
    return "never registered"


@app.task
def fail_once(tag):
    """Fails the first time it runs for ``tag`` (remembered in the ledger), then succeeds."""
    path = os.environ["LITEJOBS_LEDGER"]
    seen = os.path.exists(path) and f"failed {tag} " in open(path).read()
    if not seen:
        _ledger(f"failed {tag} {os.getpid()} {time.time():.6f}")
        raise AppError(f"first run of {tag}")
    return f"{tag} ok"


@app.task(soft_time_limit=0.5)
def spin_until_soft_limit():
    while True:
        pass


@app.task(soft_time_limit=0.5)
def clean_up_at_soft_limit():
    from litejobs.exceptions import SoftTimeLimitExceeded

    try:
        time.sleep(30)
    except SoftTimeLimitExceeded:
        return "cleaned up"


@app.task(time_limit=1.0)
def sleep_past_hard_limit():
    time.sleep(60)


@app.task(soft_time_limit=0.3, time_limit=1.0)
def swallow_soft_limit():
    from litejobs.exceptions import SoftTimeLimitExceeded

    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            time.sleep(0.05)
        except SoftTimeLimitExceeded:
            pass


@app.task
def tsum(numbers):
    return sum(numbers)


@app.task
def collect(results, tag=None):
    return {"results": results, "tag": tag}


@app.task
def on_error(failed_id):
    _ledger(f"errback {failed_id} {os.getpid()} {time.time():.6f}")
    return failed_id


@app.task
def download(url):
    return {"url": url, "size": len(url)}


@app.task
def combine(pages):
    return {"urls": [p["url"] for p in pages], "total": sum(p["size"] for p in pages)}


@app.task
def chord_member(chord_no, i, seconds=0.0):
    if seconds:
        time.sleep(seconds)
    return [chord_no, i]


@app.task
def chord_body(results, chord_no):
    _ledger(f"body {chord_no} {os.getpid()} {time.time():.6f}")
    return len(results)


@app.task(max_retries=1)
def poison():
    """Kills its own process every time: a poison pill."""
    _ledger(f"start poison {os.getpid()} {time.time():.6f}")
    os.kill(os.getpid(), signal.SIGKILL)


@app.task
def chaos_job(tag, seconds):
    _ledger(f"start {tag} {os.getpid()} {time.time():.6f}")
    time.sleep(seconds)
    _ledger(f"end {tag} {os.getpid()} {time.time():.6f}")
    return tag


@app.task(time_limit=0.5, autoretry_for=(TimeLimitExceeded,), max_retries=1,
          default_retry_delay=0)
def slow_then_fast(tag):
    """Too slow the first time (killed at the hard limit, then retried), fast after."""
    path = os.environ["LITEJOBS_LEDGER"]
    first = not (os.path.exists(path) and f"slow {tag} " in open(path).read())
    if first:
        _ledger(f"slow {tag} {os.getpid()} {time.time():.6f}")
        time.sleep(30)
    return "fast"


@app.task(bind=True, max_retries=1, default_retry_delay=0)
def signal_probe(self, mode):
    if mode == "fail":
        raise AppError("probe failed")
    if mode == "retry" and self.request.retries == 0:
        raise self.retry(exc=AppError("probe retry"))
    return mode


def _signal_to_ledger(name):
    def receiver(sender=None, **kwargs):
        if getattr(sender, "name", None) == "jobs.signal_probe":
            task_id = kwargs.get("task_id") or sender.request.id  # as Celery receivers do
            _ledger(f"signal-{name} {task_id} {os.getpid()} {time.time():.6f}")
    return receiver


for _name in ("task_prerun", "task_postrun", "task_success", "task_failure", "task_retry"):
    getattr(__import__("litejobs.signals").signals, _name).connect(_signal_to_ledger(_name))


def _worker_signal_to_ledger(name):
    def receiver(sender=None, **kwargs):
        if os.environ.get("LITEJOBS_TEST_WORKER_SIGNALS"):  # only for the test of them
            _ledger(f"signal-{name} {getattr(sender, 'id', '-')} {os.getpid()} "
                    f"{time.time():.6f}")
    return receiver


for _name in ("worker_ready", "worker_shutdown"):
    getattr(__import__("litejobs.signals").signals, _name).connect(_worker_signal_to_ledger(_name))


@app.task(rate_limit="10/s")
def rate_limited(tag):
    _ledger(f"start {tag} {os.getpid()} {time.time():.6f}")
    return tag


@app.task(queue="slowq")
def one_at_a_time(tag, seconds=0.2):
    _ledger(f"start {tag} {os.getpid()} {time.time():.6f}")
    time.sleep(seconds)
    _ledger(f"end {tag} {os.getpid()} {time.time():.6f}")
    return tag


@app.task
def beat_tick():
    return time.time()


if os.environ.get("LITEJOBS_TEST_BEAT"):
    app.conf.beat_schedule = {"tick": {"task": "jobs.beat_tick", "schedule": 1.0}}


# -- Task classes: handlers and class-based tasks -------------------------------------
class Audited(litejobs.Task):
    """Writes each handler call to the ledger as ``handler HOOK:TASK_ID:DETAIL``."""

    def _note(self, hook: str, task_id: str, detail: object = "-") -> None:
        _ledger(f"handler {hook}:{task_id}:{detail} {os.getpid()} {time.time()}")

    def before_start(self, task_id, args, kwargs):
        self._note("before_start", task_id, len(args))

    def on_success(self, retval, task_id, args, kwargs):
        self._note("on_success", task_id, retval)

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        self._note("on_retry", task_id, type(exc).__name__)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        traced = "traced" if f"{type(exc).__name__}: " in einfo.traceback else "untraced"
        self._note("on_failure", task_id, f"{type(exc).__name__},{traced}")

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        self._note("after_return", task_id, status)


@app.task(base=Audited, bind=True, max_retries=3, default_retry_delay=0)
def audited_flaky(self, fail_times):
    if self.request.retries < fail_times:
        raise self.retry(exc=ValueError("again"))
    return "done"


@app.task(base=Audited)
def audited_boom():
    raise AppError("boom")


class Multiply(app.Task):
    """A class-based task, registered with app.register_task as Celery's are."""

    name = "jobs.multiply"
    queue = "default"

    def run(self, x, y):
        return x * y


multiply = app.register_task(Multiply())


@app.task(bind=True)
def slow_progress(self, steps, seconds):
    """PROGRESS meta every ``seconds``: a job whose page's bar should move."""
    for i in range(steps):
        self.update_state(state="PROGRESS", meta={"current": i + 1, "total": steps})
        time.sleep(seconds)
    return steps
# -- the worker in production (logs, memory, threads) --------------------------------
logger = get_task_logger(__name__)
_kept: list[bytes] = []


@app.task(bind=True, max_retries=1)
def retry_later(self):
    raise self.retry(exc=OSError("disk busy"), countdown=10)


@app.task
def say(word):
    logger.warning("saying %s", word)
    return word


@app.task
def hog(megabytes):
    """Keep ``megabytes`` of memory touched in this process; return its pid."""
    _kept.append(b"x" * (megabytes * 1024 * 1024))
    return os.getpid()


@app.task
def sleep_where(seconds):
    """Sleep, then say which process and thread ran it."""
    time.sleep(seconds)
    return [os.getpid(), threading.current_thread().name]


@app.task
def fails_until(path):
    """Fails until the file ``path`` exists (a bug fixed after the fact)."""
    if not os.path.exists(path):
        raise AppError(f"{path} is missing")
    return "fixed"
