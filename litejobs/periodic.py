"""Periodic schedules as entries, from code and from the store: ``app.schedules``.

A beat fires ``Entry`` objects. Those declared in code (``beat_schedule``,
``add_periodic_task``) are read-only in the store's view (``origin`` "code"); those kept
in the store are added, changed, enabled, disabled and removed at runtime (this
module's ``Schedules``, ``litejobs schedule``, the dashboard) and a running beat picks up
each change on its next look (within a second). A stored schedule's definition is JSON
text, so arguments must be plain JSON data (as in django-celery-beat).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
from typing import Any

from .core import Core
from .exceptions import ConfigurationError
from .schedules import BaseSchedule, as_schedule, from_spec, to_spec
from .timeutil import now as clock_now
from .transports.base import BeatEntryState

Schedule = float | int | dt.timedelta | dt.datetime | BaseSchedule


@dataclasses.dataclass
class Entry:
    """One periodic schedule: run ``task`` with these arguments on ``schedule``."""

    name: str
    task: str
    schedule: BaseSchedule
    args: tuple = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    origin: str = "code"  #: "code" or "store"
    enabled: bool = True
    editable: bool = False  #: from code, but stored once and then edited at runtime


def read_only_entries(app: Core) -> list[Entry]:
    """The schedules from code that stay read-only (all but those marked editable)."""
    return [e for e in entries_of(app) if not e.editable]


def seed_editable(app: Core) -> None:
    """Store each schedule from code marked ``"editable": True`` that is not stored yet;
    from then on the stored one rules (edits made at runtime are kept)."""
    stored = {s.name for s in app.transport.list_schedules()}
    for e in entries_of(app):
        if e.editable and e.name not in stored:
            app.transport.save_schedule(e.name, e.task, repr(e.schedule),
                                        encode(e.task, e.schedule, e.args, e.kwargs,
                                               e.options), clock_now(), create=True)


def entries_of(app: Core) -> list[Entry]:
    """Every schedule the app declares: ``conf.beat_schedule`` and ``add_periodic_task``.

    A ``beat_schedule`` entry with ``"editable": True`` is stored on first sight and
    from then on edited at runtime like any stored schedule.
    """
    found: dict[str, Entry] = {}
    for name, spec in app.conf.beat_schedule.items():
        if not isinstance(spec, dict) or "task" not in spec or "schedule" not in spec:
            raise ConfigurationError(
                f"beat_schedule[{name!r}] needs at least 'task' and 'schedule'")
        unknown = set(spec) - {"task", "schedule", "args", "kwargs", "options", "relative",
                               "editable"}
        if unknown:
            raise ConfigurationError(
                f"beat_schedule[{name!r}] has unknown key(s) {', '.join(sorted(unknown))}")
        found[name] = Entry(name, spec["task"], as_schedule(spec["schedule"]),
                            tuple(spec.get("args") or ()), dict(spec.get("kwargs") or {}),
                            dict(spec.get("options") or {}),
                            editable=bool(spec.get("editable", False)))
    found.update(app.periodic)
    return list(found.values())


def encode(task: str, schedule: BaseSchedule, args: Any, kwargs: Any, options: Any) -> str:
    """A stored schedule's definition as JSON text; refuses what JSON cannot hold."""
    if not isinstance(task, str) or not task:
        raise ConfigurationError(f"a schedule needs a task name, not {task!r}")
    spec = {"task": task, "schedule": to_spec(schedule), "args": list(args or ()),
            "kwargs": dict(kwargs or {}), "options": dict(options or {})}
    try:
        return json.dumps(spec, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"a stored schedule's args, kwargs and options must be "
                                 f"plain JSON data: {exc}") from None


def decode(state: BeatEntryState) -> Entry:
    """The entry a stored schedule defines."""
    spec = json.loads(state.spec or "{}")
    return Entry(state.name, spec["task"], from_spec(spec["schedule"]),
                 tuple(spec.get("args", ())), dict(spec.get("kwargs", {})),
                 dict(spec.get("options", {})), "store", state.enabled)


@dataclasses.dataclass
class ScheduleInfo:
    """A schedule as ``app.schedules.list()`` shows it."""

    name: str
    task: str
    schedule: str
    origin: str  #: "code" (read-only here) or "store"
    enabled: bool
    last_run: float | None
    next_run: float | None
    args: tuple = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def editable(self) -> bool:
        return self.origin == "store"


class Schedules:
    """``app.schedules``: periodic tasks kept in the store, changed while beats run."""

    def __init__(self, app: Core) -> None:
        self.app = app

    def add(self, name: str, task: str, schedule: Schedule, args: Any = (),
            kwargs: dict[str, Any] | None = None, options: dict[str, Any] | None = None
            ) -> None:
        """Store a new schedule (enabled). ``schedule``: seconds, a timedelta, a crontab,
        or a datetime (once)."""
        self._check_name(name)
        if name in self._code_names():
            raise ConfigurationError(f"schedule {name!r} is declared in code (read-only); "
                                     "pick another name")
        sched = as_schedule(schedule)
        spec = encode(task, sched, args, kwargs, options)
        if not self.app.transport.save_schedule(name, task, repr(sched), spec, clock_now(),
                                                create=True):
            raise ConfigurationError(f"a schedule named {name!r} already exists")

    def update(self, name: str, task: str | None = None, schedule: Schedule | None = None,
               args: Any = None, kwargs: dict[str, Any] | None = None,
               options: dict[str, Any] | None = None) -> None:
        """Change a stored schedule; what is not given stays as it was."""
        entry = self._stored(name)
        sched = as_schedule(schedule) if schedule is not None else entry.schedule
        task = task if task is not None else entry.task
        spec = encode(task, sched, entry.args if args is None else args,
                      entry.kwargs if kwargs is None else kwargs,
                      entry.options if options is None else options)
        if not self.app.transport.save_schedule(name, task, repr(sched), spec, clock_now(),
                                                create=False):
            raise ConfigurationError(f"no stored schedule named {name!r}")

    def remove(self, name: str) -> None:
        """Forget a stored schedule."""
        self._stored(name)
        if not self.app.transport.delete_schedule(name):
            raise ConfigurationError(f"no stored schedule named {name!r}")

    def enable(self, name: str) -> None:
        self._set_enabled(name, True)

    def disable(self, name: str) -> None:
        """Stop a stored schedule firing (it stays stored; ``enable`` resumes it)."""
        self._set_enabled(name, False)

    def list(self) -> list[ScheduleInfo]:
        """Every schedule: stored ones, and those from code (as the leading beat stored
        them, and as this app declares them)."""
        out: dict[str, ScheduleInfo] = {}
        for e in entries_of(self.app):  # reads only: an editable one is stored on a change
            out[e.name] = ScheduleInfo(e.name, e.task, repr(e.schedule),
                                       "store" if e.editable else "code", True, None,
                                       None, e.args, e.kwargs, e.options)
        for state in self.app.transport.list_schedules():
            if state.origin == "store":
                e = decode(state)
                out[state.name] = ScheduleInfo(state.name, e.task, state.schedule, "store",
                                               state.enabled, state.last_run,
                                               state.next_run, e.args, e.kwargs, e.options)
            else:
                info = out.get(state.name) or ScheduleInfo(
                    state.name, state.task, state.schedule, "code", True, None, None)
                info.last_run, info.next_run = state.last_run, state.next_run
                out[state.name] = info
        return sorted(out.values(), key=lambda i: i.name)

    def run_now(self, name: str) -> Any:
        """Send a schedule's job now, outside its slots; returns its AsyncResult."""
        entry = next((e for e in read_only_entries(self.app) if e.name == name), None)
        if entry is None:
            entry = self._stored(name)
        options = {**entry.options,
                   "task_id": f"beat:{name}:now:{secrets.token_hex(6)}"}
        return self.app.send_task(entry.task, entry.args, entry.kwargs, **options)

    # -- helpers ---------------------------------------------------------------------
    @staticmethod
    def _check_name(name: str) -> None:
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ConfigurationError(f"a schedule's name must be 1 to 200 characters, "
                                     f"not {name!r}")

    def _code_names(self) -> set[str]:
        return {e.name for e in read_only_entries(self.app)}

    def _stored(self, name: str) -> Entry:
        seed_editable(self.app)
        read_only = ConfigurationError(f"schedule {name!r} is declared in code and "
                                       "read-only here; change it in the code")
        if name in self._code_names():
            raise read_only
        for state in self.app.transport.list_schedules():
            if state.name == name:
                if state.origin != "store":
                    raise read_only
                return decode(state)
        raise ConfigurationError(f"no stored schedule named {name!r}")

    def _set_enabled(self, name: str, enabled: bool) -> None:
        self._stored(name)
        if not self.app.transport.set_schedule_enabled(name, enabled, clock_now()):
            raise ConfigurationError(f"no stored schedule named {name!r}")
