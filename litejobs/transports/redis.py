"""The Redis transport: the same verbs as SQLite, atomic through Lua scripts (redis.lua).

Keys live under one prefix (``conf.redis_key_prefix``, default ``litejobs``):

    P:job:<id>        hash: every field of the job
    P:q:<queue>       sorted set of pending ids; score orders by priority, eta, then id
    P:sched           sorted set of scheduled ids by eta
    P:run:<worker>    set of ids a worker holds (its lease is its heartbeat); P:holders
                      the workers with such a set
    P:workers         sorted set of worker ids by lease end; P:w:<id> their hashes
    P:all             sorted set of every id by enqueue order (listing, newest first)
    P:purge           sorted set of finished ids by result expiry
    P:counts          hash "queue\\0state" -> n
    P:paused, P:rate, P:group:<id>, P:beat:*, P:events (a capped stream)
    P:version, P:wake a change counter, and the channel idle workers listen on

Every multi-key change is one Lua script, so the guarantees are SQLite's: a job is
claimed by one worker, outcomes are fenced by the attempt number, a follow-up step is
stored with its outcome, a chord member is counted once and the last one's script
enqueues the body, and a beat slot fires once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import msgpack
import redis

from .. import serializer
from ..exceptions import StoreError
from ..job import ChordSpec, Job, JobState, Outcome
from .base import (
    EVENTS_KEPT,
    BeatEntryState,
    Event,
    Lost,
    Transport,
    WorkerInfo,
    load_named_sections,
    log_stale,
)


def _load_scripts() -> dict[str, str]:
    """The scripts in redis.lua, each with the shared prelude in front."""
    scripts = load_named_sections("redis.lua")
    prelude = scripts.pop("prelude")
    return {name: prelude + body for name, body in scripts.items()}


SCRIPTS = _load_scripts()
_FIELDS = ("task", "queue", "priority", "state", "eta", "expires", "attempts", "retries",
           "acks_late", "payload", "options", "result", "error_type", "error_message",
           "error_args", "traceback", "custom_state", "meta", "worker", "pid", "created_at",
           "started_at", "done_at", "purge_at", "crashes", "seq")
_BYTES = {"payload", "options", "result", "error_args", "meta"}
_INTS = {"priority", "attempts", "retries", "pid", "crashes", "seq", "acks_late"}
_FLOATS = {"eta", "expires", "created_at", "started_at", "done_at", "purge_at"}

# Shared Lua: ARGV[1] is always the key prefix. Numbers go in and out as strings














def _job_dict(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id, "task": job.task, "queue": job.queue, "priority": job.priority,
        "eta": job.eta, "retries": job.retries, "acks_late": job.acks_late,
        "payload": job.payload,
    }
    if job.expires is not None:
        data["expires"] = job.expires
    if job.options:
        data["options"] = serializer.dumps(job.options, "job options")
    if job.state.finished:
        data.update(state=job.state.value, error_type=job.error_type,
                    error_message=job.error_message, purge_at=job.purge_at)
    return data


def _chord_dict(chord: ChordSpec) -> dict[str, Any]:
    """A chord for the Lua join: the body's own arguments as packed pieces, so that the
    script can put the header's results (raw msgpack) in front without decoding them."""
    body = chord.body
    args, kwargs = serializer.loads_call(body.payload)
    spec: dict[str, Any] = {
        "id": body.id, "task": body.task, "queue": body.queue, "priority": body.priority,
        "eta": body.eta, "acks_late": body.acks_late, "payload": body.payload,
        "args_raw": b"".join(serializer.dumps(a) for a in args), "n_args": len(args),
        "kwargs_raw": serializer.dumps(kwargs),
        "immutable": bool(body.options.get("_immutable")),
    }
    if body.expires is not None:
        spec["expires"] = body.expires
    if body.options:
        spec["options"] = serializer.dumps(body.options, "job options")
    if chord.result_expires:
        spec["result_expires"] = chord.result_expires
    return {"id": chord.id, "members": list(chord.member_ids), "body": spec}


def _outcome_dict(o: Outcome) -> dict[str, Any]:
    data: dict[str, Any] = {"id": o.job_id, "attempt": o.attempt, "state": o.state.value}
    if o.chords:
        data["chords"] = [_chord_dict(c) for c in o.chords]
    if o.chord_id:
        data["chord_id"] = o.chord_id
    if o.chord_member:
        data["chord_member"] = o.chord_member
    for name in ("result", "eta", "retries", "purge_at", "runtime"):
        value = getattr(o, name)
        if value is not None:
            data[name] = value
    if o.forget:
        data["forget"] = True
    if o.crashed:
        data["crashed"] = True
    if o.task:
        data["task"], data["queue"] = o.task, o.queue
    if o.failure is not None:
        failure = {"error_type": o.failure.error_type, "message": o.failure.message,
                   "traceback": o.failure.traceback or ""}
        if o.failure.args is not None:
            failure["args"] = o.failure.args
        data["failure"] = failure
    if o.follow_ups:
        data["follow_ups"] = [_job_dict(j) for j in o.follow_ups]
    return data


def _decode_options(blob: bytes | None) -> dict[str, Any]:
    if not blob:
        return {}
    try:
        return serializer.loads(blob)
    except Exception as exc:  # a damaged options blob fails the job, clearly, when run
        return {"_corrupt": str(exc)}


def _job_from_hash(job_id: str, raw: dict[bytes, bytes]) -> Job:
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode()
        if name not in _FIELDS or name == "seq":
            continue
        if name in _BYTES:
            fields[name] = value or None
        elif name in _INTS:
            fields[name] = int(value) if value not in (b"", None) else None
        elif name in _FLOATS:
            fields[name] = float(value) if value not in (b"", None) else None
        else:
            fields[name] = value.decode() if value else None
    fields["state"] = JobState(fields["state"])
    fields["acks_late"] = bool(fields.get("acks_late"))
    fields["options"] = _decode_options(fields.get("options"))
    fields.setdefault("payload", b"")
    for name in ("attempts", "retries", "crashes"):
        fields[name] = fields.get(name) or 0
    fields.setdefault("eta", 0.0)
    fields.setdefault("created_at", 0.0)
    job = Job(id=job_id, **fields)
    job._seq = int(raw.get(b"seq", 0))  # type: ignore[attr-defined]
    return job


def _mapped_errors(cls: type) -> type:
    """Wrap every public verb so that Redis' errors reach callers as StoreError."""
    import functools

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def verb(self: RedisTransport, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except redis.RedisError as exc:
                raise StoreError(f"Redis at {_safe(self.url)}: {exc}") from None

        return verb

    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and name != "close":
            setattr(cls, name, wrap(value))
    return cls


# Jobs one script looks at when a command scans many (purge, retry --failed): Redis
# runs nothing else while a script runs, so a scan goes in batches of this many.
SCAN_BATCH = 500


@_mapped_errors
class RedisTransport(Transport):
    """Jobs, results and heartbeats in Redis, for workers on many machines."""

    def __init__(self, url: str, prefix: str = "litejobs", events: bool = True,
                 username: str | None = None, password: str | None = None,
                 **_options: Any) -> None:
        self.url = url
        self.prefix = prefix
        self.events = events
        try:
            credentials = {k: v for k, v in (("username", username), ("password", password))
                           if v is not None}  # given as options, they win over the URL's
            self.r = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30,
                                          health_check_interval=30, retry_on_timeout=True,
                                          **credentials)
            self.r.ping()
        except redis.RedisError as exc:
            raise StoreError(f"cannot reach Redis at {_safe(url)}: {exc}") from None
        self.r.set(f"{prefix}:events_on", "1" if events else "0")
        self._scripts = {name: self.r.register_script(code) for name, code in SCRIPTS.items()}
        self._lock = threading.Lock()
        self._pubsub: Any = None
        self._pubsub_pid = 0

    def __repr__(self) -> str:
        return f"<RedisTransport {_safe(self.url)}>"

    def _run(self, name: str, *args: Any) -> Any:
        return self._scripts[name](args=[self.prefix, EVENTS_KEPT, *args])

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def close(self) -> None:
        if self._pubsub is not None and self._pubsub_pid == os.getpid():
            self._pubsub.close()
        self._pubsub = None
        self.r.close()

    # -- producing -------------------------------------------------------------
    def enqueue(self, jobs: Sequence[Job], now: float, chords: Sequence[ChordSpec] = ()) -> int:
        packed = msgpack.packb([_job_dict(j) for j in jobs], use_bin_type=False)
        packed_chords = msgpack.packb([_chord_dict(c) for c in chords],
                                      use_bin_type=False) if chords else ""
        return int(self._run("enqueue", now, packed, packed_chords))

    def save_group(self, group_id: str, member_ids: Sequence[str], now: float) -> None:
        self.r.set(self._key("group", group_id), serializer.dumps(list(member_ids)))

    def restore_group(self, group_id: str) -> list[str] | None:
        blob = self.r.get(self._key("group", group_id))
        return serializer.loads(blob) if blob else None

    def delete_group(self, group_id: str) -> None:
        self.r.delete(self._key("group", group_id))

    # -- consuming ---------------------------------------------------------------
    def claim(self, queues: Sequence[str], worker: str, pid: int, limit: int, now: float,
              settle: Sequence[Outcome] = (), rate_limits: dict[str, float] | None = None,
              queue_limits: dict[str, int] | None = None) -> list[Job]:
        request = {"queues": list(queues), "worker": worker, "pid": pid, "limit": limit,
                   "settle": [_outcome_dict(o) for o in settle]}
        if rate_limits:
            request["rates"] = rate_limits
        if queue_limits:
            request["limits"] = queue_limits
        stale, rows = self._run("claim", now, msgpack.packb(request, use_bin_type=False))
        log_stale([s.decode() for s in stale])
        jobs = []
        for flat in rows:
            raw = dict(zip(flat[0::2], flat[1::2], strict=True))
            job_id = raw.pop(b"id").decode()
            jobs.append(_job_from_hash(job_id, raw))
        jobs.sort(key=lambda j: (-j.priority, j.eta, j.id))
        return jobs

    def settle(self, outcomes: Sequence[Outcome], now: float) -> list[str]:
        packed = msgpack.packb([_outcome_dict(o) for o in outcomes], use_bin_type=False)
        stale = [s.decode() for s in self._run("settle", now, packed)]
        log_stale(stale)
        return stale

    def set_custom_state(self, job_id: str, attempt: int, state: str, meta: bytes | None) -> bool:
        return bool(self._run("custom_state", time.time(), job_id, attempt, state, meta or b""))

    def has_work(self, queues: Sequence[str], now: float) -> bool:
        return bool(self._run("has_work", now, msgpack.packb(list(queues),
                                                             use_bin_type=False)))

    def get_next_eta(self) -> float | None:
        first = self.r.zrange(self._key("sched"), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def wait_for_change(self, timeout: float) -> bool:
        """Every change publishes on P:wake; messages wait in our socket until read."""
        if self._pubsub is None or self._pubsub_pid != os.getpid():
            self._pubsub = self.r.pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(self._key("wake"))
            self._pubsub_pid = os.getpid()
            return True  # anything before the subscription may have been missed
        try:
            if self._drain_wakeups():
                return True
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._pubsub.get_message(timeout=remaining) is not None:
                    self._drain_wakeups()
                    return True
        except redis.ConnectionError:
            # Redis restarted, or dropped a subscriber that read too slowly: subscribe
            # again on the next call, and let the caller look at the store meanwhile.
            self._pubsub = None
            return True

    def _drain_wakeups(self) -> bool:
        seen = False
        while self._pubsub.get_message(timeout=0) is not None:
            seen = True
        return seen

    # -- reading -------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        raw = self.r.hgetall(self._key("job", job_id))
        return _job_from_hash(job_id, raw) if raw else None

    def get_state(self, job_id: str) -> tuple[JobState, str | None, int] | None:
        state, custom, retries = self.r.hmget(self._key("job", job_id),
                                              "state", "custom_state", "retries")
        if state is None:
            return None
        return JobState(state.decode()), custom.decode() if custom else None, int(retries or 0)

    def get_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        pipe = self.r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self._key("job", job_id))
        return [_job_from_hash(job_id, raw) if raw else None
                for job_id, raw in zip(job_ids, pipe.execute(), strict=True)]

    def get_states(self, job_ids: Sequence[str]
                   ) -> list[tuple[JobState, str | None, int] | None]:
        pipe = self.r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(self._key("job", job_id), "state", "custom_state", "retries")
        return [None if state is None else
                (JobState(state.decode()), custom.decode() if custom else None,
                 int(retries or 0))
                for state, custom, retries in pipe.execute()]

    def list_waiting_queues(self) -> list[str]:
        out = set()
        for key, value in self.r.hgetall(self._key("counts")).items():
            queue, _, state = key.decode().partition("\0")
            if state in ("pending", "scheduled") and int(value) > 0:
                out.add(queue)
        return sorted(out)

    def count_jobs(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for key, value in self.r.hgetall(self._key("counts")).items():
            queue, _, state = key.decode().partition("\0")
            if int(value) > 0:
                out.setdefault(queue, {})[state] = int(value)
        return out

    def list_jobs(self, state: JobState | None = None, queue: str | None = None,
                  task: str | None = None, limit: int = 100, offset: int = 0) -> list[Job]:
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
                        queue and job.queue != queue) or (task and job.task != task):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                out.append(job)
                if len(out) >= limit:
                    break
        return out

    # -- acting on jobs --------------------------------------------------------------
    def revoke(self, job_id: str, now: float, purge_at: float | None,
               terminate: bool = False, follow_ups: Sequence[Job] = (),
               chord: tuple[str, str] | None = None) -> str:
        packed = msgpack.packb([_job_dict(j) for j in follow_ups],
                               use_bin_type=False) if follow_ups else ""
        answer = self._run("revoke", now, job_id, "" if purge_at is None else purge_at,
                           "1" if terminate else "0",
                           f"job {job_id} was revoked" + (" and terminated" if terminate
                                                          else ""),
                           packed, chord[0] if chord else "", chord[1] if chord else "")
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

    def forget(self, job_id: str) -> bool:
        return bool(self._run("forget", time.time(), job_id))

    def retry_failed(self, job_id: str | None = None, task: str | None = None,
                     now: float = 0.0) -> int:
        if job_id:
            return int(self._run("retry_failed", now, job_id, "", 0, 0)[0])
        total = offset = 0
        while True:  # batches, so a large store never blocks Redis in one script
            n, seen = self._run("retry_failed", now, "", task or "", offset, SCAN_BATCH)
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
            packed = ""
        else:  # finished jobs: the listing index
            sources = ["all"]
            packed = msgpack.packb([s.value for s in states], use_bin_type=False)
        total = 0
        for source in sources:
            offset = 0
            while True:
                n, kept, seen = self._run("purge", time.time(), queue or "", packed, source,
                                          offset, SCAN_BATCH)
                total, offset = total + int(n), offset + int(kept)
                if int(seen) < SCAN_BATCH:
                    break
        return total

    # -- queues ------------------------------------------------------------------------
    def set_queue_paused(self, queue: str, paused: bool) -> None:
        if paused:
            self.r.sadd(self._key("paused"), queue)
        else:
            self.r.srem(self._key("paused"), queue)
        self.r.publish(self._key("wake"), self.r.incr(self._key("version")))

    def list_paused_queues(self) -> list[str]:
        return sorted(p.decode() for p in self.r.smembers(self._key("paused")))

    # -- workers and maintenance ---------------------------------------------------------
    def record_heartbeat(self, worker: WorkerInfo, now: float, lease: float) -> None:
        pipe = self.r.pipeline()
        pipe.hset(self._key("w", worker.id), mapping={
            "host": worker.host, "pid": worker.pid, "queues": ",".join(worker.queues),
            "concurrency": worker.concurrency, "started_at": repr(worker.started_at),
            "heartbeat_at": repr(now), "running": worker.running,
            "processed": worker.processed})
        pipe.zadd(self._key("workers"), {worker.id: now + lease})
        pipe.execute()

    def unregister_worker(self, worker_id: str) -> None:
        self.r.zrem(self._key("workers"), worker_id)
        self.r.delete(self._key("w", worker_id))

    def list_workers(self, now: float) -> list[WorkerInfo]:
        out = []
        for raw_id, until in self.r.zrangebyscore(self._key("workers"), now, "+inf",
                                                  withscores=True):
            wid = raw_id.decode()
            h = {k.decode(): v.decode() for k, v in self.r.hgetall(self._key("w", wid)).items()}
            if not h:
                continue
            out.append(WorkerInfo(
                id=wid, host=h["host"], pid=int(h["pid"]), queues=h["queues"].split(","),
                concurrency=int(h["concurrency"]), started_at=float(h["started_at"]),
                heartbeat_at=float(h["heartbeat_at"]), lease_until=until,
                running=int(h["running"]), processed=int(h["processed"])))
        return sorted(out, key=lambda w: w.started_at)

    def find_lost_jobs(self, now: float, worker: str | None = None,
                  pid: int | None = None) -> list[Lost]:
        if worker is not None:
            holders = [worker]
        else:
            # every worker that ever held a job is in P:holders until its set empties
            live = {w.decode() for w in self.r.zrangebyscore(self._key("workers"), now, "+inf")}
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
        dead = self.r.zrangebyscore(self._key("workers"), "-inf", now)
        for raw_id in dead:
            self.unregister_worker(raw_id.decode())
        return len(dead)

    def prune(self, now: float, limit: int = 500) -> int:
        return int(self._run("prune", now, limit))

    # -- events --------------------------------------------------------------------------
    def list_events(self, seq: int, limit: int = 1000) -> list[Event]:
        start = f"({seq // 1000}-{seq % 1000}" if seq else "-"
        out = []
        for stream_id, fields in self.r.xrange(self._key("events"), start, "+", count=limit):
            ms, _, n = stream_id.decode().partition("-")
            f = {k.decode(): v.decode() for k, v in fields.items()}
            out.append(Event(seq=int(ms) * 1000 + int(n), ts=float(f["ts"]), kind=f["kind"],
                             job_id=f["job_id"], task=f["task"], queue=f["queue"],
                             worker=f["worker"] or None,
                             runtime=float(f["runtime"]) if f["runtime"] else None,
                             detail=f["detail"] or None))
        return out

    def get_last_event_seq(self) -> int:
        last = self.r.xrevrange(self._key("events"), count=1)
        if not last:
            return 0
        ms, _, n = last[0][0].decode().partition("-")
        return int(ms) * 1000 + int(n)

    def count_events(self) -> dict[tuple[str, str], tuple[int, float]]:
        counts = self.r.hgetall(self._key("event_counts"))
        runtimes = self.r.hgetall(self._key("event_runtime"))
        out = {}
        for key, value in counts.items():
            task, _, kind = key.decode().partition("\0")
            out[(task, kind)] = (int(value), float(runtimes.get(key, 0.0)))
        return out

    def count_throughput(self, since: float, bucket: float) -> list[tuple[float, int]]:
        per: dict[float, int] = {}
        for event in self.list_events(int(since * 1000) * 1000, limit=EVENTS_KEPT):
            if event.kind in ("task-succeeded", "task-failed"):
                b = (event.ts // bucket) * bucket
                per[b] = per.get(b, 0) + 1
        return sorted(per.items())

    # -- periodic tasks ------------------------------------------------------------------
    def lead_beat(self, holder: str, now: float, lease: float) -> bool:
        return bool(self._run("beat_lead", now, holder, now + lease))

    def resign_beat(self, holder: str) -> None:
        key = self._key("beat", "lock")
        if self.r.hget(key, "holder") == holder.encode():
            self.r.delete(key)

    def get_beat_leader(self, now: float) -> str | None:
        holder, until = self.r.hmget(self._key("beat", "lock"), "holder", "until")
        return holder.decode() if holder and float(until or 0) >= now else None

    def list_schedules(self) -> list[BeatEntryState]:
        out = []
        for name in sorted(n.decode() for n in self.r.smembers(self._key("beat", "names"))):
            h = {k.decode(): v.decode()
                 for k, v in self.r.hgetall(self._key("beat", "entry", name)).items()}
            out.append(BeatEntryState(name, h.get("task", ""), h.get("schedule", ""),
                                      float(h["last_run"]) if h.get("last_run") else None,
                                      float(h["next_run"]) if h.get("next_run") else None))
        return out

    def sync_schedules(self, entries: Sequence[tuple[str, str, str]]) -> None:
        names = {name for name, _task, _schedule in entries}
        for old in self.r.smembers(self._key("beat", "names")):
            if old.decode() not in names:
                self.r.srem(self._key("beat", "names"), old)
                self.r.delete(self._key("beat", "entry", old.decode()))
        for name, task, schedule in entries:
            self.r.sadd(self._key("beat", "names"), name)
            self.r.hset(self._key("beat", "entry", name),
                        mapping={"task": task, "schedule": schedule})

    def fire_schedule(self, name: str, slot: float, job: Job | None, next_run: float,
                  now: float) -> bool:
        packed = msgpack.packb(_job_dict(job), use_bin_type=False) if job is not None else ""
        return bool(self._run("beat_fire", now, name, repr(slot), repr(next_run), packed))

    def set_schedule_next_run(self, name: str, next_run: float) -> None:
        self.r.hset(self._key("beat", "entry", name), "next_run", repr(next_run))


def _safe(url: str) -> str:
    from . import safe_url

    return safe_url(url)
