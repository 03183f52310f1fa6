"""When periodic jobs are due: intervals and crontab. Pure: no I/O, times in epoch seconds.

Each schedule answers two questions for the beat: which slot (if any) is due now,
given the last slot that fired, and when the next one is. A missed stretch (the beat
was down) yields only the latest missed slot, so it fires once, not once per slot.
crontab is evaluated in a time zone with cronsim, which follows cron's rules across
DST changes: a slot in a skipped hour runs once at the end of the gap, and a slot in a
repeated hour runs once.
"""

from __future__ import annotations

import abc
import datetime as dt
import math
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from .exceptions import ConfigurationError
from .timeutil import to_seconds, to_timestamp


class BaseSchedule(abc.ABC):
    @abc.abstractmethod
    def due_slot(self, last: float | None, now: float, tz: ZoneInfo) -> float | None:
        """The latest slot in ``(last, now]`` to fire now, or None."""

    @abc.abstractmethod
    def next_slot(self, last: float | None, now: float, tz: ZoneInfo) -> float:
        """The first slot after both ``last`` and ``now``."""

    @property
    def fires_at_start(self) -> bool:
        """Whether a schedule never run before is due at once (intervals are, as in Celery)."""
        return False


class schedule(BaseSchedule):  # noqa: N801 - Celery's name
    """Every ``run_every`` seconds (a number or timedelta), counted from the last run."""

    def __init__(self, run_every: float | dt.timedelta) -> None:
        self.seconds = to_seconds(run_every, "run_every")
        if self.seconds <= 0:
            raise ConfigurationError(f"run_every must be positive, not {run_every!r}")

    def __repr__(self) -> str:
        return f"<every {self.seconds:g}s>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, schedule) and other.seconds == self.seconds

    @property
    def fires_at_start(self) -> bool:
        return True

    def due_slot(self, last: float | None, now: float, tz: ZoneInfo) -> float | None:
        if last is None:
            return now
        if now < last + self.seconds:
            return None
        return last + ((now - last) // self.seconds) * self.seconds

    def next_slot(self, last: float | None, now: float, tz: ZoneInfo) -> float:
        if last is None or last > now:
            return (last if last is not None else now) + self.seconds
        return last + ((now - last) // self.seconds + 1) * self.seconds


def _field(value: str | int | Iterable[int | str], name: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.replace(" ", "") or "*"
    try:
        return ",".join(str(v) for v in value)
    except TypeError:
        raise ConfigurationError(f"crontab {name}={value!r}: expected a cron field") from None


class crontab(BaseSchedule):  # noqa: N801 - Celery's name
    """``crontab(minute="*/15")``, ``crontab(hour=6, minute=0, day_of_week="mon-fri")``.

    Fields take what cron takes: ``*``, numbers, ranges ``1-5``, steps ``*/15``, lists
    ``1,15`` and names (``mon``, ``jan``); ``day_of_week`` 0 or ``sun`` is Sunday.
    """

    def __init__(self, minute: str | int | Iterable[int] = "*",
                 hour: str | int | Iterable[int] = "*",
                 day_of_week: str | int | Iterable[int | str] = "*",
                 day_of_month: str | int | Iterable[int] = "*",
                 month_of_year: str | int | Iterable[int | str] = "*") -> None:
        self.expr = " ".join([
            _field(minute, "minute"), _field(hour, "hour"),
            _field(day_of_month, "day_of_month"), _field(month_of_year, "month_of_year"),
            _field(day_of_week, "day_of_week"),
        ])
        try:
            CronSim(self.expr, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
        except CronSimError as exc:
            raise ConfigurationError(f"invalid crontab {self.expr!r}: {exc}") from None

    @classmethod
    def from_string(cls, expr: str) -> crontab:
        """``crontab.from_string("*/15 9-17 * * mon-fri")`` (minute hour dom month dow)."""
        parts = expr.split()
        if len(parts) != 5:
            raise ConfigurationError(f"a cron expression has 5 fields, not {expr!r}")
        m, h, dom, mon, dow = parts
        return cls(minute=m, hour=h, day_of_month=dom, month_of_year=mon, day_of_week=dow)

    def __repr__(self) -> str:
        return f"<crontab: {self.expr}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, crontab) and other.expr == self.expr

    def due_slot(self, last: float | None, now: float, tz: ZoneInfo) -> float | None:
        # cron's resolution is a minute: the latest slot at or before now
        at = dt.datetime.fromtimestamp(now, tz) + dt.timedelta(microseconds=1)
        slot = next(CronSim(self.expr, at, reverse=True)).timestamp()
        if slot > now or (last is not None and slot <= last):
            return None
        if last is None:
            return None  # a crontab first waits for its next slot
        return slot

    def next_slot(self, last: float | None, now: float, tz: ZoneInfo) -> float:
        start = max(now, last) if last is not None else now
        return next(CronSim(self.expr, dt.datetime.fromtimestamp(start, tz))).timestamp()


class clocked(BaseSchedule):  # noqa: N801 - django-celery-beat's name
    """Once, at ``at`` (a datetime; naive is UTC): a one-off schedule."""

    def __init__(self, at: dt.datetime | float) -> None:
        if isinstance(at, (int, float)) and not isinstance(at, bool):
            self.at = float(at)
        else:
            self.at = to_timestamp(at, "a one-off schedule's time")  # type: ignore[arg-type]

    def __repr__(self) -> str:
        when = dt.datetime.fromtimestamp(self.at, dt.timezone.utc)
        return f"<once at {when:%Y-%m-%d %H:%M:%S} UTC>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, clocked) and other.at == self.at

    @property
    def fires_at_start(self) -> bool:
        return True

    def due_slot(self, last: float | None, now: float, tz: ZoneInfo) -> float | None:
        if (last is not None and last >= self.at) or now < self.at:
            return None
        return self.at

    def next_slot(self, last: float | None, now: float, tz: ZoneInfo) -> float:
        return math.inf if last is not None and last >= self.at else self.at


def as_schedule(value: float | int | dt.timedelta | dt.datetime | BaseSchedule
                ) -> BaseSchedule:
    """A schedule from seconds, a timedelta, a schedule, or a datetime (a one-off)."""
    if isinstance(value, BaseSchedule):
        return value
    if isinstance(value, (int, float, dt.timedelta)) and not isinstance(value, bool):
        return schedule(value)
    if isinstance(value, dt.datetime):
        return clocked(value)
    raise ConfigurationError(
        "a schedule must be seconds, a timedelta, schedule(...), crontab(...) or a "
        f"datetime (once), not {value!r}")


def to_spec(value: BaseSchedule) -> dict[str, Any]:
    """A schedule as plain data for the store: ``{"every": s}``, ``{"cron": ..}``, ``{"at": t}``."""
    if isinstance(value, schedule):
        return {"every": value.seconds}
    if isinstance(value, crontab):
        return {"cron": value.expr}
    if isinstance(value, clocked):
        return {"at": value.at}
    raise ConfigurationError(f"{value!r} cannot be stored; store seconds, a timedelta, "
                             "a crontab or a datetime")


def from_spec(spec: dict[str, Any]) -> BaseSchedule:
    """The schedule ``to_spec`` described."""
    if "every" in spec:
        return schedule(spec["every"])
    if "cron" in spec:
        return crontab.from_string(spec["cron"])
    if "at" in spec:
        return clocked(spec["at"])
    raise ConfigurationError(f"not a stored schedule: {spec!r}")


def parse_schedule(text: str) -> BaseSchedule:
    """A schedule from text (the CLI, the dashboard): ``30``/``30s``/``5m``/``2h``, a
    5-field cron expression, or an ISO datetime (once; naive is UTC)."""
    text = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number = text[:-1] if text[-1:] in units else text
    try:
        return schedule(float(number) * units.get(text[-1:], 1))
    except ValueError:
        pass
    if len(text.split()) == 5:
        return crontab.from_string(text)
    try:
        return clocked(dt.datetime.fromisoformat(text))
    except ValueError:
        raise ConfigurationError(
            f"schedule {text!r}: give seconds (30, 30s, 5m, 2h), a cron expression "
            "('*/15 * * * *') or an ISO datetime ('2030-01-01T09:00')") from None
