"""What the SQLite transport reads: jobs, queues, workers, schedules and events.

Each function takes an open connection and writes nothing. The SQL is in queries.sql,
except ``list_jobs``' filters and ``SELECT_JOB``, which are built here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apsw

from ... import serializer
from ...exceptions import SerializationError
from ...job import Job, JobState
from ..base import BeatEntryState, Event, Lost, WorkerInfo
from .lease import BOOT_ID, lease_now
from .schema import Q

JOB_COLUMNS = tuple(c.strip() for c in " ".join(
    line for line in Q["job_columns"].splitlines() if not line.startswith("--")
).rstrip(";").split(","))
SELECT_JOB = f"SELECT {', '.join(JOB_COLUMNS)} FROM job JOIN job_args USING (seq)"
GET_JOB = SELECT_JOB + " WHERE id = ?"


def decode_options(blob: bytes | None) -> dict[str, Any]:
    """A job's options; a damaged blob becomes ``{"_corrupt": why}`` (the job fails when run)."""
    if not blob:
        return {}
    try:
        return serializer.loads(blob)
    except SerializationError as exc:
        return {"_corrupt": str(exc)}


def row_to_job(row: tuple) -> Job:
    d = dict(zip(JOB_COLUMNS, row, strict=True))
    del d["seq"]
    d["state"] = JobState(d["state"])
    d["acks_late"] = bool(d["acks_late"])
    d["options"] = decode_options(d["options"])
    return Job(**d)


# -- jobs -------------------------------------------------------------------------
def get_job(conn: apsw.Connection, job_id: str) -> Job | None:
    rows = conn.execute(GET_JOB, (job_id,)).fetchall()
    return row_to_job(rows[0]) if rows else None


def get_state(conn: apsw.Connection, job_id: str) -> tuple[JobState, str | None, int] | None:
    rows = conn.execute(Q["get_state"], (job_id,)).fetchall()
    if not rows:
        return None
    state, custom, retries = rows[0]
    return JobState(state), custom, retries


def list_jobs(conn: apsw.Connection, state: JobState | None, queue: str | None,
              task: str | None, limit: int, offset: int) -> list[Job]:
    where, params = [], []
    for column, value in (("state", state.value if state else None), ("queue", queue),
                          ("task", task)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = SELECT_JOB + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY seq DESC LIMIT ? OFFSET ?"
    return [row_to_job(r) for r in conn.execute(sql, (*params, limit, offset))]


def count_jobs(conn: apsw.Connection) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for queue, state, n in conn.execute(Q["counts"]):
        out.setdefault(queue, {})[state] = n
    return out


# -- queues ---------------------------------------------------------------------------
def list_paused_queues(conn: apsw.Connection) -> list[str]:
    return sorted(r[0] for r in conn.execute(Q["paused_queues"]))


def has_work(conn: apsw.Connection, queues: Sequence[str], now: float) -> bool:
    paused = set(list_paused_queues(conn))
    for queue in queues:
        if queue not in paused and conn.execute(Q["has_pending_one_queue"], (queue,)).fetchall():
            return True
    eta = get_next_eta(conn)
    return eta is not None and eta <= now


def get_next_eta(conn: apsw.Connection) -> float | None:
    return conn.execute(Q["next_eta"]).fetchall()[0][0]


# -- workers ----------------------------------------------------------------------------
def list_workers(conn: apsw.Connection, now: float) -> list[WorkerInfo]:
    lnow = lease_now(now)
    return [  # lease_until back on the caller's clock
        WorkerInfo(id=r[0], host=r[1], pid=r[2], queues=r[3].split(","), concurrency=r[4],
                   started_at=r[5], heartbeat_at=r[6], lease_until=r[7] - lnow + now,
                   running=r[8], processed=r[9])
        for r in conn.execute(Q["live_workers"], (lnow, BOOT_ID))
    ]


def find_lost_jobs(conn: apsw.Connection, now: float, worker: str | None,
                   pid: int | None) -> list[Lost]:
    if worker is not None and pid is not None:
        rows = conn.execute(Q["lost_child_jobs"], (worker, pid))
    elif worker is not None:
        rows = conn.execute(Q["worker_jobs"], (worker,))
    else:
        rows = conn.execute(Q["dead_worker_jobs"], (lease_now(now), BOOT_ID))
    return [Lost(job_id=r[0], attempt=r[1], acks_late=bool(r[2]), crashes=r[3], task=r[4],
                 max_retries=decode_options(r[5]).get("max_retries", -1)) for r in rows]


# -- beat ---------------------------------------------------------------------------------
def get_beat_leader(conn: apsw.Connection, now: float) -> str | None:
    rows = conn.execute(Q["beat_leader"]).fetchall()
    return rows[0][0] if rows and rows[0][1] >= now else None


def list_schedules(conn: apsw.Connection) -> list[BeatEntryState]:
    return [BeatEntryState(*r) for r in conn.execute(Q["beat_entries"])]


# -- events ---------------------------------------------------------------------------------
def list_events(conn: apsw.Connection, seq: int, limit: int) -> list[Event]:
    return [Event(*row) for row in conn.execute(Q["events_since"], (seq, limit))]


def count_throughput(conn: apsw.Connection, since: float,
                     bucket: float) -> list[tuple[float, int]]:
    return [(float(b), n) for b, n in conn.execute(Q["finished_per_bucket"], (bucket, since))]


def get_last_event_seq(conn: apsw.Connection) -> int:
    return conn.execute(Q["last_event_seq"]).fetchall()[0][0]


def count_events(conn: apsw.Connection) -> dict[tuple[str, str], tuple[int, float]]:
    return {(task, kind): (n, float(total))
            for task, kind, n, total in conn.execute(Q["event_stats"])}
