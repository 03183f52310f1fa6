"""RedisTransport: each verb of the interface, as one Lua script or a few plain commands.

The beat verbs are in beat.py, the event verbs in events.py; client.py connects.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ... import serializer
from ...exceptions import LiteJobsError
from ...job import ChordSpec, Job, JobState, Outcome
from .. import safe_url
from ..base import Attempt, JobQuery, Lost, Transport, WorkerInfo
from ..common import REVOKED_ERROR_TYPE, log_stale, revoke_message
from . import codec, search
from .beat import RedisBeat
from .client import mapped_errors
from .codec import pack
from .events import RedisEvents

# Jobs one script looks at when a command scans many (purge, retry --failed): Redis
# runs nothing else while a script runs, so a scan goes in batches of this many.
SCAN_BATCH = 500
WAITER_TTL = 60  # seconds a result waiter stays counted (it counts itself again on waking)
BLOCK_CAP = 1.0  # longest BLPOP of a result waiter, a bound on any wake-up it could miss


@mapped_errors
class RedisTransport(RedisBeat, RedisEvents, Transport):
    """Jobs, results and heartbeats in Redis, for workers on many machines."""

    claims_cheaply = True  # a claim script that finds nothing writes nothing
    search_scan_limit = search.SCAN_LIMIT

    def __repr__(self) -> str:
        return f"<RedisTransport {safe_url(self.url)}>"

    # -- jobs ------------------------------------------------------------------------
    def enqueue(self, jobs: Sequence[Job], now: float, chords: Sequence[ChordSpec] = ()) -> int:
        packed = pack([codec.job_dict(j) for j in jobs])
        packed_chords = pack([codec.chord_dict(c) for c in chords]) if chords else ""
        return int(self._scripts.run("enqueue", now, packed, packed_chords))

    def enqueue_unique(self, job: Job, now: float, key: str, unique_for: float) -> str:
        holder = self._scripts.run("enqueue_unique", now, key, unique_for,
                                   pack(codec.job_dict(job)))
        return holder.decode() if isinstance(holder, bytes) else str(holder)

    def claim(self, queues: Sequence[str], worker: str, pid: int, limit: int, now: float,
              settle: Sequence[Outcome] = (), rate_limits: dict[str, float] | None = None,
              queue_limits: dict[str, int] | None = None) -> list[Job]:
        request: dict[str, Any] = {"queues": list(queues), "worker": worker, "pid": pid,
                                   "limit": limit,
                                   "settle": [codec.outcome_dict(o) for o in settle]}
        if rate_limits:
            request["rates"] = rate_limits
        if queue_limits:
            request["limits"] = queue_limits
        stale, rows, version, inline = self._scripts.run("claim", now, pack(request))
        self._wakeups.own(version)
        log_stale([s.decode() for s in stale])
        if inline:
            return [codec.job_from_flat(flat) for flat in rows]  # served order (the script's)
        # a batch: the script leased the jobs and returned their ids; their fields come
        # in one pipeline (the leases are ours already: the fields are read, not raced)
        pipe = self.r.pipeline(transaction=False)
        for raw_id in rows:
            pipe.hgetall(self._key("job", raw_id.decode()))
        return [codec.job_from_hash(raw_id.decode(), raw)
                for raw_id, raw in zip(rows, pipe.execute(), strict=True) if raw]

    def settle(self, outcomes: Sequence[Outcome], now: float) -> list[str]:
        packed = pack([codec.outcome_dict(o) for o in outcomes])
        raw_stale, version = self._scripts.run("settle", now, packed)
        self._wakeups.own(version)
        stale = [s.decode() for s in raw_stale]
        log_stale(stale)
        return stale

    def set_custom_state(self, job_id: str, attempt: int, state: str, meta: bytes | None) -> bool:
        return bool(self._scripts.run("custom_state", 0, job_id, attempt, state, meta or b""))

    def get(self, job_id: str) -> Job | None:
        raw = self.r.hgetall(self._key("job", job_id))
        return codec.job_from_hash(job_id, raw) if raw else None

    def get_state(self, job_id: str) -> tuple[JobState, str | None, int] | None:
        return codec.state_triple(*self.r.hmget(self._key("job", job_id),
                                                "state", "custom_state", "retries"))

    def wait_finished(self, job_id: str, timeout: float) -> Job | None:
        # One script answers "finished?" (with the job) or counts us as a waiter; then
        # BLPOP on the token the job's settle pushes for each waiter: one wake-up for
        # this job alone, none for the store's other changes.
        deadline = time.monotonic() + timeout
        done = self._key("done", job_id)
        while True:
            blocking = deadline - time.monotonic() >= 0.001
            raw = self._scripts.run("watch", 0, job_id, WAITER_TTL if blocking else 0)
            if raw:
                return codec.job_from_hash(job_id, dict(zip(raw[::2], raw[1::2],
                                                            strict=True)))
            remaining = deadline - time.monotonic()
            if remaining < 0.001:  # BLPOP counts whole milliseconds, and 0 is forever
                return None
            self.r.blpop([done], timeout=min(remaining, BLOCK_CAP))

    def get_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        pipe = self.r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self._key("job", job_id))
        return [codec.job_from_hash(job_id, raw) if raw else None
                for job_id, raw in zip(job_ids, pipe.execute(), strict=True)]

    def get_states(self, job_ids: Sequence[str]
                   ) -> list[tuple[JobState, str | None, int] | None]:
        pipe = self.r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(self._key("job", job_id), "state", "custom_state", "retries")
        return [codec.state_triple(*reply) for reply in pipe.execute()]

    def list_jobs(self, state: JobState | None = None, queue: str | None = None,
                  task: str | None = None, limit: int = 100, offset: int = 0,
                  since: float | None = None) -> list[Job]:
        out: list[Job] = []
        skipped = 0
        start = 0
        while len(out) < limit:
            ids = self.r.zrevrange(self._key("all"), start, start + 499)
            if not ids:
                break
            start += len(ids)
            for raw_id in ids:
                job = self.get(raw_id.decode())
                if job is None or (state and job.state is not state) or (
                        queue and job.queue != queue) or (task and job.task != task) or (
                        since is not None and job.created_at < since):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                out.append(job)
                if len(out) >= limit:
                    break
        return out

    def search_jobs(self, query: JobQuery) -> list[Job]:
        return search.search_jobs(self.r, self._key("all"), self.get_many, query,
                                  self._running_ids)

    def _running_ids(self) -> list[str]:
        holders = [h.decode() for h in self.r.smembers(self._key("holders"))]
        pipe = self.r.pipeline(transaction=False)
        for holder in holders:
            pipe.smembers(self._key("run", holder))
        return sorted({raw.decode() for held in pipe.execute() for raw in held})

    def claim_job(self, job_id: str, worker: str, pid: int, now: float) -> Job | None:
        raw = self._scripts.run("claim_job", now, job_id, worker, pid)
        if not raw:
            return None
        fields = dict(zip(raw[::2], raw[1::2], strict=True))
        return codec.job_from_hash(job_id, fields)

    def list_attempts(self, job_id: str) -> list[Attempt]:
        return [codec.attempt_from_packed(job_id, raw)
                for raw in self.r.lrange(self._key("attempts", job_id), 0, -1)]

    def count_jobs(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for key, value in self.r.hgetall(self._key("counts")).items():
            queue, _, state = key.decode().partition("\0")
            if int(value) > 0:
                out.setdefault(queue, {})[state] = int(value)
        return out

    def revoke(self, job_id: str, now: float, purge_at: float | None,
               terminate: bool = False, follow_ups: Sequence[Job] = (),
               chord: tuple[str, str] | None = None) -> str:
        packed = pack([codec.job_dict(j) for j in follow_ups]) if follow_ups else ""
        answer = self._scripts.run(
            "revoke", now, job_id, "" if purge_at is None else purge_at,
            "1" if terminate else "0", revoke_message(job_id, terminate), packed,
            chord[0] if chord else "", chord[1] if chord else "", REVOKED_ERROR_TYPE)
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    def list_terminated_jobs(self, worker: str) -> list[tuple[str, int]]:
        out = []
        for job_id, holder in self.r.hgetall(self._key("terminate")).items():
            who, _, pid = holder.decode().rpartition("|")
            if who == worker:
                out.append((job_id.decode(), int(pid)))
        return out

    def clear_terminated(self, job_id: str) -> None:
        self.r.hdel(self._key("terminate"), job_id)

    def add_chord_members(self, chord_id: str, member_ids: Sequence[str], now: float,
                          jobs: Sequence[Job] = (), chords: Sequence[ChordSpec] = (),
                          close: bool = False) -> bool:
        packed = pack([codec.job_dict(j) for j in jobs]) if jobs else ""
        packed_chords = pack([codec.chord_dict(c) for c in chords]) if chords else ""
        return bool(self._scripts.run("add_chord_members", now, chord_id, "1" if close else "",
                                      packed, packed_chords, *member_ids))

    def forget(self, job_id: str) -> bool:
        return bool(self._scripts.run("forget", 0, job_id))

    def retry_failed(self, job_id: str | None = None, task: str | None = None, *,
                     now: float) -> int:
        if job_id:
            return int(self._scripts.run("retry_failed", now, job_id, "", 0, 0)[0])
        total = offset = 0
        while True:  # batches, so a large store never blocks Redis in one script
            n, seen = self._scripts.run("retry_failed", now, "", task or "", offset,
                                        SCAN_BATCH)
            total, offset = total + int(n), offset + int(seen)
            if int(seen) < SCAN_BATCH:
                return total

    def purge(self, queue: str | None = None, states: Sequence[JobState] | None = None) -> int:
        if states is not None and not {s.value for s in states} <= {
                "success", "failure", "revoked"}:
            raise ValueError("only finished jobs can be purged by state")
        if states is None:  # waiting jobs: their queues' sets and the schedule
            queues = [queue] if queue else sorted(self.count_jobs())
            sources = [f"q:{q}" for q in queues] + ["sched"]
            packed: bytes | str = ""
        else:  # finished jobs: the listing index
            sources = ["all"]
            packed = pack([s.value for s in states])
        total = 0
        for source in sources:
            offset = 0
            while True:
                n, kept, seen = self._scripts.run("purge", 0, queue or "", packed, source,
                                                  offset, SCAN_BATCH)
                total, offset = total + int(n), offset + int(kept)
                if int(seen) < SCAN_BATCH:
                    break
        return total

    # -- groups ------------------------------------------------------------------------
    def save_group(self, group_id: str, member_ids: Sequence[str], now: float) -> None:
        self.r.set(self._key("group", group_id), serializer.dumps(list(member_ids)))

    def restore_group(self, group_id: str) -> list[str] | None:
        blob = self.r.get(self._key("group", group_id))
        return serializer.loads(blob) if blob else None

    def delete_group(self, group_id: str) -> None:
        self.r.delete(self._key("group", group_id))

    # -- queues ------------------------------------------------------------------------
    def set_queue_paused(self, queue: str, paused: bool) -> None:
        if paused:
            self.r.sadd(self._key("paused"), queue)
        else:
            self.r.srem(self._key("paused"), queue)
        self.r.publish(self._key("wake"), self.r.incr(self._key("version")))

    def put_control(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.r.hdel(self._key("control"), key)
        else:
            self.r.hset(self._key("control"), key, value)

    def list_controls(self, prefix: str) -> dict[str, bytes]:
        raw: dict[bytes, bytes] = self.r.hgetall(self._key("control"))  # type: ignore[assignment]
        return {k.decode(): v for k, v in sorted(raw.items()) if k.decode().startswith(prefix)}

    def list_paused_queues(self) -> list[str]:
        return sorted(p.decode() for p in self.r.smembers(self._key("paused")))

    def list_waiting_queues(self) -> list[str]:
        out = set()
        for key, value in self.r.hgetall(self._key("counts")).items():
            queue, _, state = key.decode().partition("\0")
            if state in ("pending", "scheduled") and int(value) > 0:
                out.add(queue)
        return sorted(out)

    def has_work(self, queues: Sequence[str], now: float) -> bool:
        return bool(self._scripts.run("has_work", now, pack(list(queues))))

    def get_next_eta(self) -> float | None:
        first = self.r.zrange(self._key("sched"), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def wait_for_change(self, timeout: float) -> bool:
        return self._wakeups.wait(timeout)

    # -- workers -----------------------------------------------------------------------

    # -- workers -----------------------------------------------------------------------
    def record_heartbeat(self, worker: WorkerInfo, now: float, lease: float) -> None:
        pipe = self.r.pipeline()
        pipe.hset(self._key("w", worker.id), mapping=codec.worker_mapping(worker, now))
        pipe.zadd(self._key("workers"), {worker.id: self._lease_now(now) + lease})
        pipe.execute()

    def unregister_worker(self, worker_id: str) -> None:
        self.r.zrem(self._key("workers"), worker_id)
        self.r.delete(self._key("w", worker_id))

    def list_workers(self, now: float) -> list[WorkerInfo]:
        out = []
        lnow = self._lease_now(now)
        for raw_id, until in self.r.zrangebyscore(self._key("workers"), lnow, "+inf",
                                                  withscores=True):
            wid = raw_id.decode()
            raw = self.r.hgetall(self._key("w", wid))
            if raw:  # lease_until back on the caller's clock
                out.append(codec.worker_from_hash(wid, raw, until - lnow + now))
        return sorted(out, key=lambda w: w.started_at)

    def find_lost_jobs(self, now: float, worker: str | None = None,
                       pid: int | None = None) -> list[Lost]:
        if worker is not None:
            holders = [worker]
        else:
            # every worker that ever held a job is in P:holders until its set empties
            live = {w.decode() for w in self.r.zrangebyscore(
                self._key("workers"), self._lease_now(now), "+inf")}
            holders = [h.decode() for h in self.r.smembers(self._key("holders"))]
            holders = [h for h in holders if h not in live]
        out = []
        for holder in holders:
            held = self.r.smembers(self._key("run", holder))
            if not held and worker is None:
                self.r.srem(self._key("holders"), holder)
            for raw_id in held:
                job = self.get(raw_id.decode())
                if job is None or job.state is not JobState.RUNNING:
                    continue
                if pid is not None and job.pid != pid:
                    continue
                out.append(Lost(job.id, job.attempts, job.acks_late, job.crashes, job.task,
                                job.options.get("max_retries", -1)))
        return out

    def forget_dead_workers(self, now: float) -> int:
        dead = self.r.zrangebyscore(self._key("workers"), "-inf",
                                    f"({self._lease_now(now)!r}")
        for raw_id in dead:
            self.unregister_worker(raw_id.decode())
        return len(dead)

    # -- maintenance -------------------------------------------------------------------
    def prune(self, now: float, limit: int = 500) -> int:
        return int(self._scripts.run("prune", now, limit))

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int] | None:
        """Redis keeps no write-ahead log of ours to fold: always None."""
        return None

    def backup(self, path: str) -> None:
        raise LiteJobsError("a Redis store is backed up by Redis itself (BGSAVE and its "
                            "RDB/AOF files, or a replica), not by litejobs backup")

