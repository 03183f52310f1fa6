"""What the Redis transport sends to its scripts and reads back from hashes and streams.

Arguments to a Lua script are plain msgpack (``serializer.dumps_plain``), which the
script's ``cmsgpack`` reads; a job's own blobs (payload, options, result) ride inside
as bytes packed by ``serializer.dumps``. Nothing here talks to Redis.
"""

from __future__ import annotations

from typing import Any

from ... import serializer
from ...job import ChordSpec, Job, JobState, Outcome
from ..base import Attempt, BeatEntryState, Event, WorkerInfo
from ..common import attempt_outcome

FIELDS = ("task", "queue", "priority", "state", "eta", "expires", "attempts", "retries",
          "acks_late", "payload", "options", "result", "error_type", "error_message",
          "error_args", "traceback", "custom_state", "meta", "worker", "pid", "created_at",
          "started_at", "done_at", "purge_at", "crashes", "seq")
_BYTES = {"payload", "options", "result", "error_args", "meta"}
_INTS = {"priority", "attempts", "retries", "pid", "crashes", "seq", "acks_late"}
_FLOATS = {"eta", "expires", "created_at", "started_at", "done_at", "purge_at"}


def pack(obj: Any) -> bytes:
    """One script argument."""
    return serializer.dumps_plain(obj)


# -- to the scripts -------------------------------------------------------------------
def job_dict(job: Job) -> dict[str, Any]:
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
        data["state"] = job.state.value
        for name in ("result", "error_type", "error_message", "error_args", "traceback",
                     "purge_at"):
            value = getattr(job, name)
            if value is not None:
                data[name] = value
    return data


def chord_dict(chord: ChordSpec) -> dict[str, Any]:
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
        "failure_type": chord.failure_type, "failure_message": chord.failure_message,
    }
    if body.expires is not None:
        spec["expires"] = body.expires
    if body.options:
        spec["options"] = serializer.dumps(body.options, "job options")
    spec["failed_options"] = serializer.dumps({**body.options, "chord_failed": True},
                                              "job options")
    if chord.result_expires:
        spec["result_expires"] = chord.result_expires
    return {"id": chord.id, "members": list(chord.member_ids), "body": spec,
            "open": chord.open}


def outcome_dict(o: Outcome) -> dict[str, Any]:
    data: dict[str, Any] = {"id": o.job_id, "attempt": o.attempt, "state": o.state.value}
    if o.chords:
        data["chords"] = [chord_dict(c) for c in o.chords]
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
    ended = attempt_outcome(o)
    if ended is not None:
        data["ended"] = ended
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
        data["follow_ups"] = [job_dict(j) for j in o.follow_ups]
    return data


# -- from the store -----------------------------------------------------------------------
def decode_options(blob: bytes | None) -> dict[str, Any]:
    if not blob:
        return {}
    try:
        return serializer.loads(blob)
    except Exception as exc:  # a damaged options blob fails the job, clearly, when run
        return {"_corrupt": str(exc)}


def job_from_hash(job_id: str, raw: dict[bytes, bytes]) -> Job:
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode()
        if name not in FIELDS or name == "seq":
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
    fields["options"] = decode_options(fields.get("options"))
    fields.setdefault("payload", b"")
    for name in ("attempts", "retries", "crashes"):
        fields[name] = fields.get(name) or 0
    fields.setdefault("eta", 0.0)
    fields.setdefault("created_at", 0.0)
    return Job(id=job_id, **fields)


def job_from_flat(flat: list[bytes]) -> Job:
    """A job from a script's ``HGETALL`` reply with ``id`` appended."""
    raw = dict(zip(flat[0::2], flat[1::2], strict=True))
    return job_from_hash(raw.pop(b"id").decode(), raw)


def state_triple(state: bytes | None, custom: bytes | None,
                 retries: bytes | None) -> tuple[JobState, str | None, int] | None:
    if state is None:
        return None
    return JobState(state.decode()), custom.decode() if custom else None, int(retries or 0)


def worker_from_hash(worker_id: str, raw: dict[bytes, bytes], until: float) -> WorkerInfo:
    h = {k.decode(): v.decode() for k, v in raw.items()}
    return WorkerInfo(
        id=worker_id, host=h["host"], pid=int(h["pid"]), queues=h["queues"].split(","),
        concurrency=int(h["concurrency"]), started_at=float(h["started_at"]),
        heartbeat_at=float(h["heartbeat_at"]), lease_until=until,
        running=int(h["running"]), processed=int(h["processed"]))


def worker_mapping(worker: WorkerInfo, now: float) -> dict[str, Any]:
    return {"host": worker.host, "pid": worker.pid, "queues": ",".join(worker.queues),
            "concurrency": worker.concurrency, "started_at": repr(worker.started_at),
            "heartbeat_at": repr(now), "running": worker.running,
            "processed": worker.processed}


def schedule_from_hash(name: str, raw: dict[bytes, bytes]) -> BeatEntryState:
    h = {k.decode(): v.decode() for k, v in raw.items()}
    return BeatEntryState(name, h.get("task", ""), h.get("schedule", ""),
                          float(h["last_run"]) if h.get("last_run") else None,
                          float(h["next_run"]) if h.get("next_run") else None,
                          h.get("origin", "code"), h.get("enabled", "1") != "0",
                          h.get("spec"),
                          float(h["updated_at"]) if h.get("updated_at") else None)


# Stream ids are "<ms>-<n>"; an event's seq is ms * 1000 + n, so seqs order as ids do.
def stream_id_to_seq(stream_id: bytes) -> int:
    ms, _, n = stream_id.decode().partition("-")
    return int(ms) * 1000 + int(n)


def seq_to_stream_start(seq: int) -> str:
    """The XRANGE start that excludes ``seq`` itself."""
    return f"({seq // 1000}-{seq % 1000}" if seq else "-"


def event_from_stream(stream_id: bytes, fields: dict[bytes, bytes]) -> Event:
    f = {k.decode(): v.decode() for k, v in fields.items()}
    return Event(seq=stream_id_to_seq(stream_id), ts=float(f["ts"]), kind=f["kind"],
                 job_id=f["job_id"], task=f["task"], queue=f["queue"],
                 worker=f["worker"] or None,
                 runtime=float(f["runtime"]) if f["runtime"] else None,
                 detail=f["detail"] or None)


def attempt_from_packed(job_id: str, raw: bytes | str) -> Attempt:
    """An attempt record as the settle script packed it (absent fields are None)."""
    d = serializer.loads_plain(raw.encode() if isinstance(raw, str) else raw)
    return Attempt(job_id=job_id, attempt=int(d["n"]), started_at=d.get("started_at"),
                   finished_at=float(d["finished_at"]), worker=d.get("worker"),
                   pid=d.get("pid"), outcome=d["outcome"], exc_type=d.get("exc_type"),
                   exc_message=d.get("exc_message"), traceback=d.get("traceback"),
                   retry_in=d.get("retry_in"))
