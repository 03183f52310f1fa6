"""The beat: enqueue periodic jobs on schedule, one leader among any number of beats.

Last runs and the leader lease live in the store. Each run's job id is made of the
schedule's name and the slot's time, and the store records the slot in the same
transaction that enqueues the job, so no slot fires twice: not after a restart, not
with two beats, not when the clock steps back. A beat that was down fires a missed
schedule once on return, not once per missed slot.

Each look merges the schedules from code with those kept in the store (``app.schedules``),
so a schedule added, changed, disabled or removed while a beat runs takes effect on its
next look, within a second; a disabled schedule's slots are refused by the store itself.
"""

from __future__ import annotations

import datetime as dt
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
from .periodic import Entry, decode, entries_of, read_only_entries, seed_editable
from .timeutil import now as clock_now
from .transports.base import BeatEntryState

__all__ = ["Beat", "Entry", "entries_of"]

log = logging.getLogger("litejobs.beat")

LEASE_SECONDS = 5.0  # a standby takes over this long after the leader stops renewing
TICK_SECONDS = 1.0  # the longest a beat sleeps between looks


class Beat:
    """Run with ``run_once(now)`` in a loop (``litejobs beat``, or ``worker -B``)."""

    def __init__(self, app: Core, holder: str | None = None, lease: float = LEASE_SECONDS
                 ) -> None:
        self.app = app
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = lease
        self.entries = read_only_entries(app)
        self.leading = False
        self._synced = False

    def sync(self) -> None:
        """Store the schedules declared in code; forget those no longer there."""
        self.app.transport.sync_schedules(
            [(e.name, e.task, repr(e.schedule)) for e in self.entries])
        seed_editable(self.app)
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
        code = {e.name for e in self.entries}
        for entry in self.entries:
            nearest = min(nearest, self._look(entry, state.get(entry.name), now, tz))
        for st in state.values():
            if st.origin != "store" or not st.enabled or st.name in code:
                continue
            try:  # a stored schedule gone bad must not stop the others
                nearest = min(nearest, self._look(decode(st), st, now, tz))
            except Exception as exc:
                log.error("beat: stored schedule %s skipped: %s", st.name, exc)
        return max(0.0, min(nearest - now, TICK_SECONDS))

    def _look(self, entry: Entry, stored: BeatEntryState | None, now: float, tz: ZoneInfo
              ) -> float:
        """Fire ``entry`` if a slot is due; return when it runs next."""
        transport = self.app.transport
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
                log.info("beat: sent %s (%s) for %s", entry.name, entry.task,
                         dt.datetime.fromtimestamp(slot, dt.timezone.utc).isoformat(
                             timespec="seconds"))
            return next_run
        next_run = entry.schedule.next_slot(last, now, tz)
        if stored is None or stored.next_run != next_run:
            transport.set_schedule_next_run(entry.name, next_run)
        return next_run

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
