"""The job record, its states and a task's options: pure data, no I/O."""

from __future__ import annotations

import dataclasses
import enum
import os
import time
from typing import Any

from .exceptions import ConfigurationError
from .timeutil import parse_rate


class JobState(str, enum.Enum):
    """Where a job is in its life, as the store keeps it (see docs/lifecycle.md)."""

    #: Waiting for its eta (countdown, eta or a retry delay); not yet claimable.
    SCHEDULED = "scheduled"
    #: Claimable now.
    PENDING = "pending"
    #: Claimed by a worker (leased through the worker's heartbeat).
    RUNNING = "running"
    #: Finished; the result is stored until it expires.
    SUCCESS = "success"
    #: Failed for good (exception, retries exhausted, worker lost); kept, can be retried.
    FAILURE = "failure"
    #: Revoked or expired before it finished; never runs (again).
    REVOKED = "revoked"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({JobState.SUCCESS, JobState.FAILURE, JobState.REVOKED})


@dataclasses.dataclass
class Job:
    """One job as stored. ``payload`` is the packed ``[args, kwargs]``."""

    id: str
    task: str
    payload: bytes
    queue: str = "default"
    priority: int = 0
    state: JobState = JobState.PENDING
    eta: float = 0.0
    expires: float | None = None
    attempts: int = 0  #: how many times it was claimed; the claim's fencing token
    retries: int = 0  #: how many times it asked to be retried (self.request.retries)
    acks_late: bool = True
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    result: bytes | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_args: bytes | None = None
    traceback: str | None = None
    custom_state: str | None = None
    meta: bytes | None = None
    worker: str | None = None
    pid: int | None = None
    created_at: float = 0.0
    started_at: float | None = None
    done_at: float | None = None
    purge_at: float | None = None
    crashes: int = 0  #: how many times it lost its process (counted against max_retries)


@dataclasses.dataclass(frozen=True)
class Failure:
    """How a job failed, as stored and shown."""

    error_type: str  #: "module.QualName" of the exception class
    message: str
    traceback: str | None = None
    args: bytes | None = None  #: the exception's packed args, when msgpack can carry them


@dataclasses.dataclass
class Outcome:
    """What became of one claimed job; the store applies it only if ``attempt`` still holds.

    ``state`` is the job's next state: SUCCESS, FAILURE, REVOKED, SCHEDULED (a retry
    at ``eta``) or PENDING (handed back to the queue unrun).
    """

    job_id: str
    attempt: int
    state: JobState
    result: bytes | None = None
    failure: Failure | None = None
    eta: float | None = None
    retries: int | None = None
    purge_at: float | None = None
    forget: bool = False  #: drop the row instead of keeping a result (ignore_result)
    crashed: bool = False  #: a PENDING outcome because its process died (counts a crash)
    task: str = ""  #: for the event the store records (``litejobs events``)
    queue: str = ""
    runtime: float | None = None
    #: jobs to store with the outcome, in its transaction: the next links of a chain,
    #: errbacks, and (as FAILURE rows) chain members that will now never run
    follow_ups: list[Job] = dataclasses.field(default_factory=list)
    #: chords to start with the outcome (a chain link that is a chord)
    chords: list[ChordSpec] = dataclasses.field(default_factory=list)
    #: the chord this job is a header member of: a final outcome counts toward its join
    chord_id: str | None = None
    #: the header member counted, when not this job: a failing early step of a chain
    #: that is a chord member counts as its chain's last step, which will never run
    chord_member: str | None = None


@dataclasses.dataclass
class ChordSpec:
    """A chord to store: its header jobs, and the body to run once they all finished.

    The body is a Job whose payload holds the body's own partial arguments; the store
    prepends the list of header results (in ``member_ids`` order) when it fires.
    """

    id: str
    member_ids: list[str]
    body: Job
    result_expires: float | None = None  #: (kept for stored chords; no longer read)
    #: the error a body fired after a member failed ends with: its class path, and a
    #: template of its message ({member}: the failed member's id, {type}: its exception
    #: class name without module, {message}: its message)
    failure_type: str = "litejobs.exceptions.ChordError"
    failure_message: str = "Dependency {member} raised {type}: {message}"


# Options a task accepts at declaration (Celery's names), with their defaults.
# Priorities are bounded so that every transport orders them alike (Redis packs priority
# and eta into one float score); Celery's own range is 0-255 on RabbitMQ, 0-9 on Redis.
PRIORITY_MIN, PRIORITY_MAX = -255, 255


def is_priority(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and PRIORITY_MIN <= value <= PRIORITY_MAX)


TASK_OPTION_DEFAULTS: dict[str, Any] = {
    "name": None,
    "bind": False,
    "max_retries": 3,
    "default_retry_delay": None,  # None: app.conf.task_default_retry_delay
    "autoretry_for": (),
    "dont_autoretry_for": (),
    "retry_kwargs": None,
    "retry_backoff": False,
    "retry_backoff_max": 600.0,
    "retry_jitter": True,
    "time_limit": None,
    "soft_time_limit": None,
    "rate_limit": None,
    "queue": None,
    "priority": None,
    "ignore_result": None,
    "acks_late": None,
    "expires": None,
    "typing": True,
    "unique_for": None,  # None: not unique; seconds a finished job still holds its key
}


def validate_task_options(func_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Check option names and value types; return the options merged over the defaults."""
    unknown = sorted(set(options) - set(TASK_OPTION_DEFAULTS))
    if unknown:
        raise ConfigurationError(
            f"unknown task option(s) {', '.join(unknown)} on {func_name}; valid options: "
            + ", ".join(sorted(TASK_OPTION_DEFAULTS))
        )
    merged = {**TASK_OPTION_DEFAULTS, **options}

    def need(key: str, ok: bool, what: str) -> None:
        if not ok:
            raise ConfigurationError(
                f"task option {key}={merged[key]!r} on {func_name}: expected {what}"
            )

    def number_or_none(key: str, positive: bool = True) -> None:
        value = merged[key]
        need(
            key,
            value is None
            or (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and (value > 0 if positive else value >= 0)
            ),
            "a positive number of seconds or None" if positive else "a number >= 0 or None",
        )

    need("name", merged["name"] is None or (isinstance(merged["name"], str) and merged["name"]),
         "a non-empty str")
    need("bind", isinstance(merged["bind"], bool), "True or False")
    mr = merged["max_retries"]
    need("max_retries", mr is None or (isinstance(mr, int) and not isinstance(mr, bool)
                                        and mr >= 0), "an int >= 0, or None for no limit")
    number_or_none("default_retry_delay", positive=False)
    for key in ("autoretry_for", "dont_autoretry_for"):
        value = merged[key]
        if isinstance(value, type):
            value = (value,)
        need(key, isinstance(value, (tuple, list)) and all(
            isinstance(c, type) and issubclass(c, BaseException) for c in value),
            "a tuple of exception classes")
        merged[key] = tuple(value)
    need("retry_kwargs", merged["retry_kwargs"] is None or isinstance(merged["retry_kwargs"], dict),
         "a dict")
    rb = merged["retry_backoff"]
    need("retry_backoff", isinstance(rb, (bool, int, float)) and rb >= 0,
         "True, False or a base delay in seconds")
    number_or_none("retry_backoff_max")
    need("retry_jitter", isinstance(merged["retry_jitter"], bool), "True or False")
    number_or_none("time_limit")
    number_or_none("soft_time_limit")
    check_time_limits(func_name, merged["soft_time_limit"], merged["time_limit"])
    if merged["rate_limit"] is not None:
        try:
            parse_rate(merged["rate_limit"])
        except ValueError as exc:
            raise ConfigurationError(f"task option rate_limit on {func_name}: {exc}") from None
    need("queue", merged["queue"] is None or (isinstance(merged["queue"], str) and merged["queue"]),
         "a non-empty queue name")
    pr = merged["priority"]
    need("priority", pr is None or is_priority(pr),
         f"an int from {PRIORITY_MIN} to {PRIORITY_MAX} (higher runs first)")
    for key in ("ignore_result", "acks_late"):
        need(key, merged[key] is None or isinstance(merged[key], bool), "True, False or None")
    need("typing", isinstance(merged["typing"], bool), "True or False")
    need("unique_for", is_unique_for(merged["unique_for"]),
         "a number of seconds >= 0 (see docs/unique.md), or None for not unique")
    return merged


def is_unique_for(value: object) -> bool:
    """A valid ``unique_for``: None (not unique) or seconds >= 0."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and value >= 0)


def check_time_limits(where: str, soft: Any, hard: Any) -> None:
    """Refuse a soft time limit above the hard one (it could never fire)."""
    if soft and hard and soft > hard:
        raise ConfigurationError(
            f"soft_time_limit ({soft}s) of {where} is above its time_limit ({hard}s): the "
            "soft limit must come first")


class _IdState:
    pid = 0  # 0: draw new random bits on the next call (set after fork)
    ms = 0
    counter = 0
    head = ""  # "tttttttt-tttt-7" for the current millisecond
    tail = ""  # "-vrrr-rrrrrrrrrrrr": variant and 62 random bits, fresh each millisecond


def new_id() -> str:
    """A UUIDv7 string: time-ordered, so new jobs append to the end of the id index.

    Random ids (uuid4) land on a random index page, which SQLite then writes to the
    WAL on every enqueue; ordered ids keep that to the page just written. Within a
    millisecond the 12-bit ``rand_a`` field is a counter (RFC 9562, method 1) and the
    62 random bits are shared, which keeps this cheap for bulk sends.
    """
    s = _IdState
    ms = time.time_ns() // 1_000_000
    if ms > s.ms or not s.pid:
        s.ms, s.pid, s.counter = max(ms, s.ms), 1, 0
        rand = int.from_bytes(os.urandom(8), "big") >> 2 | (0b10 << 62)
        t = f"{s.ms:012x}"
        r = f"{rand:016x}"
        s.head, s.tail = f"{t[:8]}-{t[8:]}-7", f"-{r[:4]}-{r[4:]}"
    else:
        s.counter += 1
        if s.counter > 0xFFF:  # over 4096 ids in a millisecond: borrow the next one
            s.ms = s.ms + 1
            s.pid = 0
            return new_id()
    return f"{s.head}{s.counter:03x}{s.tail}"


def _new_ids_after_fork() -> None:
    _IdState.pid = 0  # a child must not share its parent's random bits


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_ids_after_fork)
