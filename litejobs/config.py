"""``app.conf``: settings under Celery's names, checked when set."""

from __future__ import annotations

import copy
import datetime as dt
import importlib
import types
from collections.abc import Iterator, MutableMapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .exceptions import ConfigurationError
from .job import PRIORITY_MAX, PRIORITY_MIN, is_priority
from .timeutil import parse_rate

DEFAULTS: dict[str, Any] = {
    "task_always_eager": False,
    "task_eager_propagates": False,
    "task_allow_error_cb_on_chord_header": False,
    "result_expires": 86400.0,
    "task_default_queue": "default",
    "task_default_priority": 0,
    "task_time_limit": None,
    "task_soft_time_limit": None,
    "task_acks_late": True,
    "task_ignore_result": False,
    "task_default_retry_delay": 180.0,
    "task_default_rate_limit": None,
    "beat_schedule": {},
    "timezone": "UTC",
    "worker_concurrency": None,
    "worker_lease_timeout": 30.0,
    "worker_max_tasks_per_child": None,
    "durability": "normal",
    "worker_send_task_events": True,
    "worker_log_format": None,
    "worker_task_log_format": None,
    "redis_key_prefix": "litejobs",
    "redis_username": None,
    "redis_password": None,
}

# Prefixes that mark a name as meant for litejobs, so that a typo in a settings
# module fails loudly instead of being ignored as Celery would.
_SETTING_PREFIXES = ("task_", "result_", "worker_", "beat_")


def _check(key: str, value: Any) -> Any:
    def bad(what: str) -> ConfigurationError:
        return ConfigurationError(f"setting {key}={value!r}: expected {what}")

    def is_number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if key in ("task_always_eager", "task_eager_propagates", "task_acks_late",
               "task_allow_error_cb_on_chord_header",
               "task_ignore_result", "worker_send_task_events"):
        if not isinstance(value, bool):
            raise bad("True or False")
    elif key in ("worker_log_format", "worker_task_log_format"):
        if value is not None and not isinstance(value, str):
            raise bad("a logging format string (or None for Celery's)")
    elif key in ("result_expires", "worker_lease_timeout", "task_default_retry_delay"):
        if isinstance(value, dt.timedelta):
            value = value.total_seconds()
        if key == "result_expires" and value is None:
            return None
        if not is_number(value) or value < 0:
            raise bad("seconds >= 0 or a timedelta")
        if key == "worker_lease_timeout" and value < 1:
            raise bad("at least 1 second")
        value = float(value)
    elif key in ("task_time_limit", "task_soft_time_limit"):
        if isinstance(value, dt.timedelta):
            value = value.total_seconds()
        if value is not None and (not is_number(value) or value <= 0):
            raise bad("seconds > 0 or None")
    elif key in ("task_default_queue", "timezone", "redis_key_prefix"):
        if not isinstance(value, str) or not value:
            raise bad("a non-empty string")
        if key == "timezone":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise bad("an IANA time zone name such as 'Europe/Paris'") from None
    elif key == "task_default_priority":
        if not is_priority(value):
            raise bad(f"an int from {PRIORITY_MIN} to {PRIORITY_MAX}")
    elif key == "task_default_rate_limit":
        if value is not None:
            try:
                parse_rate(value)
            except ValueError as exc:
                raise ConfigurationError(f"setting {key}: {exc}") from None
    elif key == "beat_schedule":
        if not isinstance(value, dict):
            raise bad("a dict of name -> entry")
    elif key in ("worker_concurrency", "worker_max_tasks_per_child"):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 1):
            raise bad("an int >= 1 or None")
    elif key in ("redis_username", "redis_password"):
        if value is not None and not isinstance(value, str):
            raise bad("a string or None")
    elif key == "durability":
        if value not in ("normal", "full"):
            raise bad("'normal' or 'full'")
    return value


class Conf(MutableMapping[str, Any]):
    """Settings; read and set as attributes or keys. Unknown names raise at once."""

    def __init__(self, **settings: Any) -> None:
        object.__setattr__(self, "_values", copy.deepcopy(DEFAULTS))
        self.update(settings)

    def _key(self, key: str) -> str:
        if key not in DEFAULTS:
            raise ConfigurationError(
                f"unknown setting {key!r}; valid settings: {', '.join(sorted(DEFAULTS))}"
            )
        return key

    def __getitem__(self, key: str) -> Any:
        return self._values[self._key(key)]

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[self._key(key)] = _check(key, value)

    def __delitem__(self, key: str) -> None:
        self._values[self._key(key)] = copy.deepcopy(DEFAULTS[key])

    def __delattr__(self, key: str) -> None:
        del self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except ConfigurationError as exc:
            raise AttributeError(str(exc)) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __repr__(self) -> str:
        return f"Conf({self._values!r})"

    def from_object(self, obj: Any) -> None:
        """Load settings from an object, a dict, or a module given by dotted name."""
        if isinstance(obj, str):
            obj = importlib.import_module(obj)
        items = obj.items() if isinstance(obj, dict) else (
            (name, getattr(obj, name)) for name in dir(obj))
        for name, value in list(items):
            if name in DEFAULTS or (isinstance(obj, dict) and not name.startswith("_")):
                self[name] = value
            elif (name.startswith(_SETTING_PREFIXES) and name.islower()
                  and not callable(value) and not isinstance(value, types.ModuleType)):
                self._key(name)  # a misspelt setting: raises with the valid names
