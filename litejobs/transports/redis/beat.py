"""The beat verbs of the Redis store: the leader's lock, and the stored schedules."""

from __future__ import annotations

from collections.abc import Sequence

from ...job import Job
from ..base import BeatEntryState
from . import codec
from .client import RedisClient, mapped_errors
from .codec import pack


@mapped_errors
class RedisBeat(RedisClient):
    """Beat: one leader at a time (a lock with a lease), schedules in hashes."""

    def lead_beat(self, holder: str, now: float, lease: float) -> bool:
        return bool(self._scripts.run("beat_lead", now, holder, now + lease))

    def resign_beat(self, holder: str) -> None:
        key = self._key("beat", "lock")
        if self.r.hget(key, "holder") == holder.encode():
            self.r.delete(key)

    def get_beat_leader(self, now: float) -> str | None:
        holder, until = self.r.hmget(self._key("beat", "lock"), "holder", "until")
        return holder.decode() if holder and float(until or 0) >= now else None

    def list_schedules(self) -> list[BeatEntryState]:
        names = sorted(n.decode() for n in self.r.smembers(self._key("beat", "names")))
        return [codec.schedule_from_hash(name, self.r.hgetall(self._key("beat", "entry", name)))
                for name in names]

    def sync_schedules(self, entries: Sequence[tuple[str, str, str]]) -> None:
        names = {name for name, _task, _schedule in entries}
        for old in self.r.smembers(self._key("beat", "names")):
            key = self._key("beat", "entry", old.decode())
            if old.decode() not in names and self.r.hget(key, "origin") in (None, b"code"):
                self.r.srem(self._key("beat", "names"), old)
                self.r.delete(key)
        for name, task, schedule in entries:
            self.r.sadd(self._key("beat", "names"), name)
            key = self._key("beat", "entry", name)
            self.r.hset(key, mapping={"task": task, "schedule": schedule, "origin": "code",
                                      "enabled": "1"})
            self.r.hdel(key, "spec")

    def save_schedule(self, name: str, task: str, schedule: str, spec: str, now: float,
                      create: bool) -> bool:
        return bool(self._scripts.run("schedule_save", now, name, task, schedule, spec,
                                      "1" if create else "0"))

    def delete_schedule(self, name: str) -> bool:
        return bool(self._scripts.run("schedule_edit", 0, name, "delete"))

    def set_schedule_enabled(self, name: str, enabled: bool, now: float) -> bool:
        return bool(self._scripts.run("schedule_edit", now, name,
                                      "enable" if enabled else "disable"))

    def fire_schedule(self, name: str, slot: float, job: Job | None, next_run: float,
                      now: float) -> bool:
        packed = pack(codec.job_dict(job)) if job is not None else ""
        return bool(self._scripts.run("beat_fire", now, name, repr(slot), repr(next_run),
                                      packed))

    def set_schedule_next_run(self, name: str, next_run: float) -> None:
        self.r.hset(self._key("beat", "entry", name), "next_run", repr(next_run))
