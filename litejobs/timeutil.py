"""Durations, rates and the clock: pure helpers."""

from __future__ import annotations

import datetime as dt
import math
import re
import time

from .exceptions import ConfigurationError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def now() -> float:
    """Seconds since the epoch, UTC: the one clock the store's times use."""
    return time.time()


def to_seconds(value: float | int | dt.timedelta, what: str = "duration") -> float:
    """Seconds as a float, from a number of seconds or a timedelta."""
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int past any float
            seconds = math.inf
        if not math.isfinite(seconds):
            raise ConfigurationError(f"{what} must be a finite number of seconds, "
                                     f"not {value!r}")
        return seconds
    raise ConfigurationError(f"{what} must be seconds (int or float) or a timedelta, "
                             f"not {type(value).__name__}")


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """Seconds from ``"90"``, ``"30s"``, ``"10m"``, ``"2h"``, ``"1d"`` or ``"1w"``."""
    value = text.strip().lower()
    factor = _UNITS.get(value[-1:], None)
    number = value[:-1] if factor is not None else value
    try:
        seconds = float(number) * (factor or 1.0)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (like 30s, 10m, 2h, 1d)") from None
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"{text!r}: a duration is zero or more")
    return seconds


def to_timestamp(value: dt.datetime, what: str = "datetime") -> float:
    """Epoch seconds from a datetime; a naive datetime is taken as UTC."""
    if not isinstance(value, dt.datetime):
        raise ConfigurationError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return check_timestamp(value.timestamp(), what)


def check_timestamp(value: float, what: str = "time") -> float:
    """``value`` (epoch seconds) if this platform can represent it as a date, else a
    ConfigurationError naming ``what``."""
    try:
        from_timestamp(value)
    except (OverflowError, OSError, ValueError):
        raise ConfigurationError(f"{what} lies beyond the dates this platform can "
                                 f"represent ({value!r} seconds since the epoch)") from None
    return value


def from_timestamp(value: float | None) -> dt.datetime | None:
    """An aware UTC datetime from epoch seconds (None stays None)."""
    if value is None:
        return None
    return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)


def parse_rate(rate: str | float | int) -> float:
    """Jobs per second from ``"10/s"``, ``"100/m"``, ``"1000/h"``, ``"0.5/s"`` or a number."""
    if isinstance(rate, (int, float)) and not isinstance(rate, bool):
        if rate <= 0:
            raise ValueError(f"rate {rate!r} must be positive")
        return float(rate)
    if not isinstance(rate, str):
        raise ValueError(f"rate must be a string like '10/s', not {type(rate).__name__}")
    match = _RATE.match(rate)
    if not match:
        raise ValueError(f"rate {rate!r} is not of the form N/s, N/m, N/h or N/d")
    count, multiple, unit = match.groups()
    period = float(multiple or 1) * _UNIT_SECONDS[unit]
    if float(count) <= 0 or period <= 0:
        raise ValueError(f"rate {rate!r} must be positive")
    return float(count) / period
