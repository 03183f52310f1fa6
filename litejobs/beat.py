"""The beat: enqueue periodic jobs on schedule, one leader among any number of beats.

Last runs and the leader lease live in the store. Each run's job id is made of the
schedule's name and the slot's time, and the store records the slot in the same
transaction that enqueues the job, so no slot fires twice: not after a restart, not
with two beats, not when the clock steps back. A beat that was down fires a missed
schedule once on return, not once per missed slot.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from . import signals
from .core import Core
from .exceptions import ConfigurationError
from .schedules import BaseSchedule, as_schedule
from .timeutil import now as clock_now

log = logging.getLogger("litejobs.beat")

LEASE_SECONDS = 5.0  # a standby takes over this long after the leader stops renewing
TICK_SECONDS = 1.0  # the longest a beat sleeps between looks


@dataclasses.dataclass
class Entry:
    """One periodic schedule: run ``task`` with these arguments on ``schedule``."""

    name: str
    task: str
    schedule: BaseSchedule
    args: tuple = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


def entries_of(app: Core) -> list[Entry]:
    """Every schedule the app declares: ``conf.beat_schedule`` and ``add_periodic_task``."""
    found: dict[str, Entry] = {}
    for name, spec in app.conf.beat_schedule.items():
        if not isinstance(spec, dict) or "task" not in spec or "schedule" not in spec:
            raise ConfigurationError(
                f"beat_schedule[{name!r}] needs at least 'task' and 'schedule'")
        unknown = set(spec) - {"task", "schedule", "args", "kwargs", "options", "relative"}
        if unknown:
            raise ConfigurationError(
                f"beat_schedule[{name!r}] has unknown key(s) {', '.join(sorted(unknown))}")
        found[name] = Entry(name, spec["task"], as_schedule(spec["schedule"]),
                            tuple(spec.get("args") or ()), dict(spec.get("kwargs") or {}),
                            dict(spec.get("options") or {}))
    found.update(app.periodic)
    return list(found.values())


class Beat:
    """Run with ``run_once(now)`` in a loop (``litejobs beat``, or ``worker -B``)."""

    def __init__(self, app: Core, holder: str | None = None, lease: float = LEASE_SECONDS
                 ) -> None:
        self.app = app
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = lease
        self.entries = entries_of(app)
        self.leading = False
        self._synced = False

    def sync(self) -> None:
        """Store the schedules declared in code; forget those no longer there."""
        self.app.transport.sync_schedules(
            [(e.name, e.task, repr(e.schedule)) for e in self.entries])
        self._synced = True

    def run_once(self, now: float | None = None) -> float:
        """Lead (or stand by) and fire what is due; return seconds until the next look."""
        now = clock_now() if now is None else now
        transport = self.app.transport
        leading = transport.lead_beat(self.holder, now, self.lease)
        if leading != self.leading:
            log.warning("beat %s %s", self.holder,
                        "leads: firing schedules" if leading else "stands by")
            self.leading = leading
        if not leading:
            return min(TICK_SECONDS, self.lease / 3)
        if not self._synced:
            self.sync()  # the leader's schedules are the ones stored
        tz = ZoneInfo(self.app.conf.timezone)
        state = {e.name: e for e in transport.list_schedules()}
        nearest = now + TICK_SECONDS
        for entry in self.entries:
            stored = state.get(entry.name)
            last = stored.last_run if stored else None
            if last is None and not entry.schedule.fires_at_start:
                # a crontab seen for the first time waits for its next slot
                transport.fire_schedule(entry.name, now, None,
                                    entry.schedule.next_slot(now, now, tz), now)
                last = now
            slot = entry.schedule.due_slot(last, now, tz)
            if slot is not None:
                next_run = entry.schedule.next_slot(slot, now, tz)
                job = self._job(entry, slot)
                if transport.fire_schedule(entry.name, slot, job, next_run, now):
                    log.info("beat: sent %s (%s) for %s", entry.name, entry.task, slot)
                nearest = min(nearest, next_run)
            else:
                next_run = entry.schedule.next_slot(last, now, tz)
                if stored is None or stored.next_run != next_run:
                    transport.set_schedule_next_run(entry.name, next_run)
                nearest = min(nearest, next_run)
        return max(0.0, min(nearest - now, TICK_SECONDS))

    def _job(self, entry: Entry, slot: float) -> Any:
        options = {**entry.options, "task_id": f"beat:{entry.name}:{slot:.3f}"}
        return self.app.job_template(entry.task, options).make(entry.args, entry.kwargs)

    def stop(self) -> None:
        if self.leading:
            self.app.transport.resign_beat(self.holder)
            self.leading = False

    def run_forever(self, should_stop: Callable[[], bool]) -> None:
        signals.beat_init.send(sender=self)
        log.warning("beat %s: %d schedule(s): %s", self.holder, len(self.entries),
                    ", ".join(e.name for e in self.entries) or "none")
        try:
            while not should_stop():
                wait = self.run_once()
                deadline = time.monotonic() + wait
                while not should_stop() and time.monotonic() < deadline:
                    time.sleep(min(0.1, max(deadline - time.monotonic(), 0.0)))
        finally:
            self.stop()
