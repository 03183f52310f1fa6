"""What the SQLite transport reads: jobs, queues, workers, schedules and events.

Each function takes an open connection and writes nothing. The SQL is in queries.sql,
except ``list_jobs``' filters and ``SELECT_JOB``, which are built here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import apsw

from ... import serializer
from ...exceptions import SerializationError
from ...job import Job, JobState
from ..base import Attempt, BeatEntryState, Event, JobQuery, Lost, WorkerInfo
from ..common import final_outcome
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
    state = d["state"] = JobState(d["state"])
    if state is JobState.SUCCESS or state is JobState.FAILURE:
        d["pid"] = None  # the row keeps it for the last attempt's record (final_attempt)
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
              task: str | None, limit: int, offset: int,
              since: float | None = None) -> list[Job]:
    where: list[str] = []
    params: list[object] = []
    for column, value in (("state", state.value if state else None), ("queue", queue),
                          ("task", task)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    sql = SELECT_JOB + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY seq DESC LIMIT ? OFFSET ?"
    return [row_to_job(r) for r in conn.execute(sql, (*params, limit, offset))]


RUNTIME = "(done_at - started_at)"
# the WHERE of the partial index job_runtime (queries.sql, schema_8), written the same
HAS_RUNTIME = f"{RUNTIME} IS NOT NULL"
_SORT_SQL = {"created": "seq", "done": "done_at", "task": "task", "state": "state",
             "queue": "queue", "runtime": RUNTIME}


def search_jobs(conn: apsw.Connection, q: JobQuery) -> list[Job]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("state", q.state.value if q.state else None), ("queue", q.queue)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if q.task:
        where.append("instr(task, ?) > 0")
        params.append(q.task)
    if q.since is not None:
        where.append("created_at >= ?")
        params.append(q.since)
    if q.until is not None:
        where.append("created_at < ?")
        params.append(q.until)
    if q.text:
        # msgpack keeps strings as their UTF-8 bytes: a substring of a string argument
        # is a substring of the packed payload
        where.append("(instr(id, ?) > 0 OR instr(task, ?) > 0 OR instr(payload, ?) > 0)")
        params.extend([q.text, q.text, q.text.encode()])
    direction = "DESC" if q.descending else "ASC"
    # only a search of the text reads the arguments before the page is known
    source = "job JOIN job_args USING (seq)" if q.text else "job"
    if q.sort == "runtime" and not where:
        return _by_runtime(conn, direction, q.limit, q.offset)
    # (filtered, a runtime sort reads every match: walking the runtime index instead
    # would read the whole table in random order when few jobs match)
    order = [f"{_SORT_SQL[q.sort]} {direction}"] if q.sort != "created" else []
    return _page(conn, source, where, params, [*order, f"seq {direction}"], q.limit,
                 q.offset)


def _page(conn: apsw.Connection, source: str, where: list[str], params: list[Any],
          order: list[str], limit: int, offset: int) -> list[Job]:
    """One page: the jobs' seqs picked from ``source`` (sorting a million small keys,
    not a million joined rows: 3x faster), then those jobs read whole."""
    pick = f"SELECT seq FROM {source}" + (" WHERE " + " AND ".join(where) if where else "")
    pick += " ORDER BY " + ", ".join(order) + " LIMIT ? OFFSET ?"
    sql = f"{SELECT_JOB} WHERE seq IN ({pick}) ORDER BY {', '.join(order)}"
    return [row_to_job(r) for r in conn.execute(sql, (*params, limit, offset))]


def _by_runtime(conn: apsw.Connection, direction: str, limit: int, offset: int) -> list[Job]:
    """Every job by runtime: those with one through the index job_runtime, and those
    without (smallest) in enqueue order, before them ascending, after them descending."""
    timed = [HAS_RUNTIME], [f"{RUNTIME} {direction}", f"seq {direction}"]
    untimed = [f"{RUNTIME} IS NULL"], [f"seq {direction}"]
    (first, first_order), (second, second_order) = (
        (timed, untimed) if direction == "DESC" else (untimed, timed))
    jobs = _page(conn, "job", first, [], first_order, limit, offset)
    if len(jobs) == limit:
        return jobs
    # the first part ended on this page: it held offset + len(jobs) jobs (or, past its
    # end, as many as a count says; it is shorter than offset then)
    held = offset + len(jobs) if jobs else conn.execute(
        f"SELECT count(*) FROM job WHERE {first[0]}").fetchall()[0][0]
    return jobs + _page(conn, "job", second, [], second_order, limit - len(jobs),
                        max(0, offset - held))


def list_attempts(conn: apsw.Connection, job_id: str) -> list[Attempt]:
    """Every attempt of a job: those written out, then the one its row holds."""
    attempts = [Attempt(*row) for row in conn.execute(Q["list_attempts"], (job_id,))]
    for row in conn.execute(final_attempts_sql("id = ?"), (job_id,)):
        if not attempts or attempts[-1].attempt < row[1]:  # not written out already
            attempts.append(final_attempt(row))
    return attempts


def final_attempts_sql(where: str) -> str:
    """The rows of finished jobs matching ``where``, for ``final_attempt``."""
    return Q["final_attempts"].rstrip() + f" {where}"


def final_attempt(row: tuple) -> Attempt:
    """The attempt that finished a job, from its row (a ``final_attempts`` row)."""
    job_id, n, started_at, done_at, worker, pid, state, error_type, message, traceback = row
    ended = JobState(state)
    outcome = final_outcome(ended, error_type)
    if ended is JobState.SUCCESS:
        return Attempt(job_id, n, started_at, done_at, worker, pid, outcome)
    return Attempt(job_id, n, started_at, done_at, worker, pid, outcome, error_type, message,
                   traceback)


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
    return [BeatEntryState(name=r[0], task=r[1], schedule=r[2], last_run=r[3], next_run=r[4],
                           origin=r[5], enabled=bool(r[6]), spec=r[7], updated_at=r[8])
            for r in conn.execute(Q["beat_entries"])]


# -- events ---------------------------------------------------------------------------------
def list_events(conn: apsw.Connection, seq: int, limit: int) -> list[Event]:
    return [Event(*row) for row in conn.execute(Q["events_since"], (seq, limit))]


def count_throughput(conn: apsw.Connection, since: float, bucket: float,
                     kinds: Sequence[str]) -> list[tuple[float, int]]:
    return [(float(b), n) for b, n in conn.execute(Q["finished_per_bucket"],
                                                    (bucket, since, json.dumps(list(kinds))))]


def get_last_event_seq(conn: apsw.Connection) -> int:
    return conn.execute(Q["last_event_seq"]).fetchall()[0][0]


def count_events(conn: apsw.Connection) -> dict[tuple[str, str], tuple[int, float]]:
    return {(task, kind): (n, float(total))
            for task, kind, n, total in conn.execute(Q["event_stats"])}
