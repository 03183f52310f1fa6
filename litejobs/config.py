"""``app.conf``: settings under Celery's names, checked when set."""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import importlib
import os
import types
import warnings
from collections.abc import Iterator, MutableMapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .celery_settings import NO_EFFECT, REFUSED
from .exceptions import ConfigurationError
from .job import PRIORITY_MAX, PRIORITY_MIN, is_priority, validate_task_options
from .routing import Router, compile_routes
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
    # Celery's names with their meaning here.
    "broker_url": None,          # the store URL (the App's own URL, when given, must match)
    "result_backend": None,      # results live in the store: another backend warns
    "task_serializer": "msgpack",
    "result_serializer": "msgpack",
    "accept_content": ["json", "msgpack"],
    "result_accept_content": None,
    "imports": (),
    "include": (),
    "task_routes": None,
    "task_annotations": None,
}

SERIALIZER_SETTINGS = ("task_serializer", "result_serializer", "event_serializer",
                       "accept_content", "result_accept_content")
_SERIALIZERS = {"json": "json", "application/json": "json", "msgpack": "msgpack",
                "application/x-msgpack": "msgpack", "application/msgpack": "msgpack"}
_REFUSED_SERIALIZERS = {
    "pickle": "unpickling runs any code whoever can write to the store puts in a job",
    "yaml": "YAML loaders can build arbitrary objects from a job",
}

# Prefixes that mark a name as meant for litejobs, so that a typo in a settings
# module fails loudly instead of being ignored as Celery would.
_SETTING_PREFIXES = ("task_", "result_", "worker_", "beat_", "broker_", "redis_")
KNOWN = frozenset(DEFAULTS) | frozenset(NO_EFFECT) | frozenset(REFUSED)
_READABLE = KNOWN - frozenset(REFUSED)  # names read without a check


def same_store(a: str, b: str) -> bool:
    """Whether two store URLs name the same store (``sqlite:///x`` is the path ``x``)."""
    def norm(url: str) -> str:
        if url.startswith("sqlite:///"):
            url = url[len("sqlite:///"):]
        if "://" not in url:
            url = os.path.abspath(url)
        return url.rstrip("/")
    return norm(a) == norm(b)


def _check_serializer(key: str, value: Any) -> Any:
    names = [value] if key.endswith("_serializer") else value
    if key == "result_accept_content" and value is None:
        return None
    if isinstance(names, str) or not isinstance(names, (list, tuple, set, frozenset)):
        raise ConfigurationError(f"setting {key}={value!r}: expected a list of "
                                 "content types such as ['json']")
    for name in names:
        short = str(name).lower().rpartition("/")[2].removeprefix("x-")
        if short in _REFUSED_SERIALIZERS:
            raise ConfigurationError(
                f"setting {key}={value!r}: {short} is refused: "
                f"{_REFUSED_SERIALIZERS[short]}. Use 'json' or 'msgpack' (litejobs "
                "always stores msgpack, which carries everything JSON does, and more)")
        if str(name).lower() not in _SERIALIZERS:
            raise ConfigurationError(f"setting {key}={value!r}: {name!r} is not "
                                     "supported; use 'json' or 'msgpack'")
    return list(value) if key.endswith("_content") else value


def _check(key: str, value: Any) -> Any:
    def bad(what: str) -> ConfigurationError:
        return ConfigurationError(f"setting {key}={value!r}: expected {what}")

    def is_number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if key in SERIALIZER_SETTINGS:
        return _check_serializer(key, value)
    if key in ("broker_url", "result_backend"):
        if value is not None and (not isinstance(value, str) or not value):
            raise bad("a store URL string or None")
        if key == "broker_url" and value and value.split("://")[0] in (
                "amqp", "pyamqp", "amqps", "sqs", "memory", "filesystem", "librabbitmq"):
            raise ConfigurationError(
                f"setting broker_url={value!r}: litejobs stores jobs in SQLite or Redis; "
                "give a file path (jobs.sqlite), sqlite:///path or redis://host:port/db")
    elif key == "task_annotations":
        if value is not None:
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, dict):
                    for name, options in item.items():
                        if not isinstance(options, dict):
                            raise bad("{task name or '*': {option: value}} (or a list)")
                        validate_task_options(f"task_annotations[{name!r}]", options)
                elif not callable(getattr(item, "annotate", None)):
                    raise bad("a dict of task name -> options, an object with "
                              "annotate(task), or a list of these")
    elif key in ("imports", "include"):
        if isinstance(value, str):
            value = (value,)
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, str) and v for v in value):
            raise bad("a list of module names")
        value = tuple(value)
    elif key in ("task_always_eager", "task_eager_propagates", "task_acks_late",
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

    explicit_url: str | None
    routers: list[Router]
    listeners: list[Any]

    def __init__(self, **settings: Any) -> None:
        object.__setattr__(self, "_values", copy.deepcopy(DEFAULTS))
        # The URL the App was given explicitly: broker_url must then name the same store.
        object.__setattr__(self, "explicit_url", None)
        object.__setattr__(self, "routers", [])  # task_routes, compiled when set
        object.__setattr__(self, "listeners", [])  # called with (key, value) when set
        self.update(settings)

    def _key(self, key: str) -> str:
        if key not in KNOWN:
            close = difflib.get_close_matches(key, sorted(KNOWN), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else \
                "; see docs/coming-from-celery.md for every setting"
            raise ConfigurationError(f"unknown setting {key!r}{hint}")
        if key in REFUSED:
            raise ConfigurationError(f"setting {key!r} is refused: {REFUSED[key]}")
        return key

    def __getitem__(self, key: str) -> Any:
        if key in _READABLE:  # the fast path: settings are read per job
            return self._values.get(key)
        return self._values.get(self._key(key))

    def __setitem__(self, key: str, value: Any) -> None:
        value = _check(self._key(key), value)
        if key == "broker_url" and value and self.explicit_url \
                and not same_store(value, self.explicit_url):
            raise ConfigurationError(
                f"two different stores: the App was given {self.explicit_url!r} and "
                f"broker_url is {value!r}; name the store once (drop one of them)")
        if key == "result_backend" and value:
            store = self.explicit_url or self._values.get("broker_url")
            if not (store and same_store(value, store)):
                warnings.warn(
                    f"result_backend={value!r} is not used: litejobs keeps results in the "
                    f"store ({store or 'the App URL'}) beside the jobs", stacklevel=3)
        if key == "task_routes":
            object.__setattr__(self, "routers", compile_routes(value))
        self._values[key] = value
        for listener in self.listeners:
            listener(key, value)

    def __delitem__(self, key: str) -> None:
        if key == "task_routes":
            object.__setattr__(self, "routers", [])
        if key in DEFAULTS:
            self._values[self._key(key)] = copy.deepcopy(DEFAULTS[key])
        else:
            self._values.pop(self._key(key), None)

    def update(self, *args: Any, **settings: Any) -> None:  # type: ignore[override]
        """Set many settings (the store URL first, so later checks compare against it)."""
        items = dict(*args, **settings)
        for key in sorted(items, key=lambda k: k != "broker_url"):
            self[key] = items[key]

    def __delattr__(self, key: str) -> None:
        del self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, key: str) -> Any:
        if key in _READABLE:
            return self._values.get(key)
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except ConfigurationError as exc:
            raise AttributeError(str(exc)) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "explicit_url":  # set by the App, not a setting
            object.__setattr__(self, key, value)
        else:
            self[key] = value

    def __repr__(self) -> str:
        return f"Conf({self._values!r})"

    def from_object(self, obj: Any, namespace: str | None = None) -> None:
        """Load settings from an object, a dict, or a module given by name.

        A string is ``"module"`` or ``"module:attr"`` (``"django.conf:settings"``).
        With ``namespace="CELERY"``, only ``CELERY_*`` names are read, as lower case
        without the prefix (``CELERY_BROKER_URL`` is ``broker_url``), as in Celery.
        """
        if isinstance(obj, str):
            module_name, _, attr = obj.partition(":")
            try:
                obj = importlib.import_module(module_name)
            except ImportError as exc:
                raise ConfigurationError(f"cannot import settings {module_name!r}: {exc}") \
                    from None
            for part in attr.split(".") if attr else ():
                obj = getattr(obj, part)
        items = obj.items() if isinstance(obj, dict) else (
            (name, getattr(obj, name)) for name in dir(obj) if not name.startswith("_"))
        found: dict[str, Any] = {}
        for name, value in list(items):
            if not isinstance(name, str):
                continue
            if namespace:
                if not name.startswith(namespace + "_"):
                    continue
                found[name[len(namespace) + 1:].lower()] = value
            elif name in KNOWN or (isinstance(obj, dict) and not name.startswith("_")):
                found[name] = value
            elif (name.startswith(_SETTING_PREFIXES) and name.islower()
                  and not callable(value) and not isinstance(value, types.ModuleType)):
                self._key(name)  # a misspelt setting: raises naming the closest
        self.update(found)
