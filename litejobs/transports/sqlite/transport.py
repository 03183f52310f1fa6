"""The SQLite transport: one file in WAL mode, through apsw; each verb wired to its SQL.

Every verb runs under ``with self._db as conn`` (connection.py: the lock, reopening
after a fork, apsw's errors as StoreError); multi-statement changes are one
``BEGIN IMMEDIATE`` transaction. No transaction is held while task code runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from ... import serializer
from ...exceptions import StoreError
from ...job import ChordSpec, Job, JobState, Outcome
from ..base import (
    FINISHED_KINDS,
    Attempt,
    BeatEntryState,
    Event,
    JobQuery,
    Lost,
    Transport,
    WorkerInfo,
)
from ..common import log_stale
from . import reads, writes
from .connection import BUSY_TIMEOUT, Database
from .lease import BOOT_ID, lease_now
from .schema import Q


class SQLiteTransport(Transport):
    """Jobs, results and heartbeats in one SQLite file."""

    def __init__(self, path: str, durability: str = "normal",
                 busy_timeout: float = BUSY_TIMEOUT, events: bool = True,
                 mode: str = "create", verify: bool = False) -> None:
        if path.startswith("sqlite:///"):
            path = path[len("sqlite:///"):]
        elif path.startswith("sqlite://"):
            path = path[len("sqlite://"):]
        if not path or path == ":memory:":
            raise StoreError("a SQLite store needs a file path (':memory:' cannot be shared "
                             "between processes)")
        self.url = path
        self.path = os.path.abspath(path)
        self.durability = durability
        self.events = events  # record job events when claiming and settling
        self._db = Database(self.path, durability, busy_timeout, mode, verify)

    def __repr__(self) -> str:
        return f"<SQLiteTransport {self.path}>"

    # -- diagnostics (not part of the interface) ------------------------------------
    @property
    def connected(self) -> bool:
        """True while this process holds an open connection to the file.

        Every connection is closed before a fork (in parent and child alike) and
        reopened by the next verb, so right after a fork this is False.
        """
        return self._db.connected

    def pragma(self, name: str) -> Any:
        """Read a pragma (for tests and ``status``): ``pragma("journal_mode")``."""
        with self._db as conn:
            return conn.execute(f"PRAGMA {name}").fetchall()[0][0]

    def explain(self, query: str, params: Sequence[Any] = ()) -> str:
        """How SQLite runs one of this store's statements: its query plan, steps joined by " | ".

        ``query`` names a statement of queries.sql, or is ``get_job`` (a job by id) or
        ``claim_queues`` (the claim over several queues; parameters worker, pid, now,
        limit, then one per queue). For tests that check a statement uses its index.
        """
        if query == "get_job":
            sql = reads.GET_JOB
        elif query == "claim_queues":
            sql = writes.claim_many_sql(len(params) - 4)
        else:
            sql = Q[query]
        with self._db as conn:
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql, tuple(params)).fetchall()
        return " | ".join(r[-1] for r in rows)

    # -- jobs ------------------------------------------------------------------------
    def enqueue(self, jobs: Sequence[Job], now: float,
                chords: Sequence[ChordSpec] = ()) -> int:
        with self._db as conn:
            if len(jobs) == 1 and not chords and not jobs[0].state.finished:
                # One statement in autocommit is its own write transaction (the job_new
                # view's trigger writes the job and its arguments).
                before = conn.total_changes()
                conn.execute(Q["insert_job"], writes.job_row(jobs[0], now, {}))
                return (conn.total_changes() - before) // 2
            with self._db.write():
                new = writes.insert_jobs(conn, jobs, now)
                for chord in chords:
                    writes.insert_chord(conn, chord, now)
            return new

    def enqueue_unique(self, job: Job, now: float, key: str, unique_for: float) -> str:
        with self._db as conn, self._db.write():
            held = conn.execute(Q["unique_holder"], (key, now - unique_for)).fetchall()
            if held:
                return str(held[0][0])
            before = conn.total_changes()
            conn.execute(Q["insert_job"], writes.job_row(job, now, {}))
            if conn.total_changes() > before:  # a new job (not an id already stored)
                conn.execute(Q["unique_take"], (key, job.id))
        return job.id

    def claim(self, queues: Sequence[str], worker: str, pid: int, limit: int, now: float,
              settle: Sequence[Outcome] = (), rate_limits: dict[str, float] | None = None,
              queue_limits: dict[str, int] | None = None) -> list[Job]:
        stale: list[str] = []
        with self._db as conn, self._db.write():
            if settle:
                stale = writes.apply_outcomes(conn, settle, now, self.events)
            jobs = writes.claim(conn, queues, worker, pid, limit, now, rate_limits,
                                queue_limits, self.events)
        log_stale(stale)
        return jobs

    def settle(self, outcomes: Sequence[Outcome], now: float) -> list[str]:
        with self._db as conn, self._db.write():
            stale = writes.apply_outcomes(conn, outcomes, now, self.events)
        log_stale(stale)
        return stale

    def set_custom_state(self, job_id: str, attempt: int, state: str, meta: bytes | None) -> bool:
        with self._db as conn:
            conn.execute(Q["set_custom_state"], (job_id, attempt, state, meta))
            return conn.changes() > 0

    def get(self, job_id: str) -> Job | None:
        with self._db as conn:
            return reads.get_job(conn, job_id)

    def get_state(self, job_id: str) -> tuple[JobState, str | None, int] | None:
        with self._db as conn:
            return reads.get_state(conn, job_id)

    def get_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        with self._db as conn, self._db.snapshot():
            return [reads.get_job(conn, job_id) for job_id in job_ids]

    def get_states(self, job_ids: Sequence[str]
                   ) -> list[tuple[JobState, str | None, int] | None]:
        with self._db as conn, self._db.snapshot():
            return [reads.get_state(conn, job_id) for job_id in job_ids]

    def list_jobs(self, state: JobState | None = None, queue: str | None = None,
                  task: str | None = None, limit: int = 100, offset: int = 0,
                  since: float | None = None) -> list[Job]:
        with self._db as conn:
            return reads.list_jobs(conn, state, queue, task, limit, offset, since)

    def claim_job(self, job_id: str, worker: str, pid: int, now: float) -> Job | None:
        with self._db as conn, self._db.write():
            return writes.claim_job(conn, job_id, worker, pid, now)

    def list_attempts(self, job_id: str) -> list[Attempt]:
        with self._db as conn, self._db.snapshot():
            return reads.list_attempts(conn, job_id)

    def search_jobs(self, query: JobQuery) -> list[Job]:
        with self._db as conn:
            return reads.search_jobs(conn, query)

    def count_jobs(self) -> dict[str, dict[str, int]]:
        with self._db as conn:
            return reads.count_jobs(conn)

    def add_chord_members(self, chord_id: str, member_ids: Sequence[str], now: float,
                          jobs: Sequence[Job] = (), chords: Sequence[ChordSpec] = (),
                          close: bool = False) -> bool:
        with self._db as conn, self._db.write():
            return writes.add_chord_members(conn, chord_id, list(member_ids), jobs, chords,
                                            close, now)

    def revoke(self, job_id: str, now: float, purge_at: float | None,
               terminate: bool = False, follow_ups: Sequence[Job] = (),
               chord: tuple[str, str] | None = None) -> str:
        with self._db as conn, self._db.write():
            return writes.revoke(conn, job_id, now, purge_at, terminate, follow_ups, chord)

    def list_terminated_jobs(self, worker: str) -> list[tuple[str, int]]:
        with self._db as conn:
            return [(r[0], r[1]) for r in conn.execute(Q["terminated_jobs"], (worker,))]

    def clear_terminated(self, job_id: str) -> None:
        with self._db as conn:
            conn.execute(Q["clear_terminated"], (job_id,))

    def forget(self, job_id: str) -> bool:
        with self._db as conn:
            conn.execute(Q["forget_job"], (job_id,))
            return conn.changes() > 0

    def retry_failed(self, job_id: str | None = None, task: str | None = None, *,
                     now: float) -> int:
        with self._db as conn, self._db.write():
            if job_id is not None:
                writes.keep_final_attempts(conn, "id = ? AND state != 'success'", (job_id,))
                conn.execute(Q["retry_failed_one"], (job_id, now))
            elif task is not None:
                writes.keep_final_attempts(conn, "state = 'failure' AND task = ?", (task,))
                conn.execute(Q["retry_failed_task"], (task, now))
            else:
                writes.keep_final_attempts(conn, "state = 'failure'", ())
                conn.execute(Q["retry_failed_all"], (now,))
            return conn.changes()

    def purge(self, queue: str | None = None, states: Sequence[JobState] | None = None) -> int:
        if states is None:
            sql, params = ((Q["purge_waiting"], []) if queue is None
                           else (Q["purge_waiting_queue"], [queue]))
        else:
            names = [s.value for s in states]
            if not set(names) <= {"success", "failure", "revoked"}:
                raise ValueError(f"only finished jobs can be purged by state, not {names}")
            sql = f"DELETE FROM job WHERE state IN ({', '.join('?' * len(names))})"
            params = list(names)
            if queue is not None:
                sql += " AND queue = ?"
                params.append(queue)
        with self._db as conn:
            conn.execute(sql, params)
            return conn.changes()

    # -- groups ------------------------------------------------------------------------
    def save_group(self, group_id: str, member_ids: Sequence[str], now: float) -> None:
        with self._db as conn:
            conn.execute(Q["save_group"], (group_id, serializer.dumps(list(member_ids)), now))

    def restore_group(self, group_id: str) -> list[str] | None:
        with self._db as conn:
            rows = conn.execute(Q["restore_group"], (group_id,)).fetchall()
        return serializer.loads(rows[0][0]) if rows else None

    def delete_group(self, group_id: str) -> None:
        with self._db as conn:
            conn.execute(Q["delete_group"], (group_id,))

    # -- queues ------------------------------------------------------------------------
    def set_queue_paused(self, queue: str, paused: bool) -> None:
        with self._db as conn:
            conn.execute(Q["set_paused"], (queue, 1 if paused else 0))

    def list_paused_queues(self) -> list[str]:
        with self._db as conn:
            return reads.list_paused_queues(conn)

    def put_control(self, key: str, value: bytes | None) -> None:
        with self._db as conn:
            if value is None:
                conn.execute(Q["control_delete"], (key,))
            else:
                conn.execute(Q["control_put"], (key, value))

    def list_controls(self, prefix: str) -> dict[str, bytes]:
        with self._db as conn:
            return {k: bytes(v) for k, v in conn.execute(Q["control_list"], (prefix,))}

    def list_waiting_queues(self) -> list[str]:
        with self._db as conn:
            return [r[0] for r in conn.execute(Q["waiting_queues"])]

    def has_work(self, queues: Sequence[str], now: float) -> bool:
        with self._db as conn:
            return reads.has_work(conn, queues, now)

    def get_next_eta(self) -> float | None:
        with self._db as conn:
            return reads.get_next_eta(conn)

    def wait_for_change(self, timeout: float) -> bool:
        return self._db.wait_for_change(timeout)

    # -- workers -----------------------------------------------------------------------
    def record_heartbeat(self, worker: WorkerInfo, now: float, lease: float) -> None:
        with self._db as conn:
            conn.execute(Q["upsert_worker"], (
                worker.id, worker.host, worker.pid, ",".join(worker.queues),
                worker.concurrency, worker.started_at, now, lease_now(now) + lease,
                worker.running, worker.processed, BOOT_ID))

    def unregister_worker(self, worker_id: str) -> None:
        with self._db as conn:
            conn.execute(Q["delete_worker"], (worker_id,))

    def list_workers(self, now: float) -> list[WorkerInfo]:
        with self._db as conn:
            return reads.list_workers(conn, now)

    def find_lost_jobs(self, now: float, worker: str | None = None,
                       pid: int | None = None) -> list[Lost]:
        with self._db as conn:
            return reads.find_lost_jobs(conn, now, worker, pid)

    def forget_dead_workers(self, now: float) -> int:
        with self._db as conn:
            conn.execute(Q["delete_dead_workers"], (lease_now(now), BOOT_ID))
            return conn.changes()

    # -- beat --------------------------------------------------------------------------
    def lead_beat(self, holder: str, now: float, lease: float) -> bool:
        with self._db as conn:
            conn.execute(Q["beat_lead"], (holder, now, now + lease))
            return conn.changes() > 0

    def resign_beat(self, holder: str) -> None:
        with self._db as conn:
            conn.execute(Q["beat_resign"], (holder,))

    def get_beat_leader(self, now: float) -> str | None:
        with self._db as conn:
            return reads.get_beat_leader(conn, now)

    def list_schedules(self) -> list[BeatEntryState]:
        with self._db as conn:
            return reads.list_schedules(conn)

    def sync_schedules(self, entries: Sequence[tuple[str, str, str]]) -> None:
        with self._db as conn, self._db.write():
            names = {name for name, _task, _schedule in entries}
            for row in conn.execute(Q["beat_code_names"]).fetchall():
                if row[0] not in names:
                    conn.execute(Q["beat_delete"], (row[0],))
            for entry in entries:
                conn.execute(Q["beat_upsert"], entry)

    def save_schedule(self, name: str, task: str, schedule: str, spec: str, now: float,
                      create: bool) -> bool:
        with self._db as conn, self._db.write():
            conn.execute(Q["schedule_create" if create else "schedule_update"],
                         (name, task, schedule, spec, now))
            return conn.changes() > 0

    def delete_schedule(self, name: str) -> bool:
        with self._db as conn, self._db.write():
            conn.execute(Q["schedule_delete"], (name,))
            return conn.changes() > 0

    def set_schedule_enabled(self, name: str, enabled: bool, now: float) -> bool:
        with self._db as conn, self._db.write():
            conn.execute(Q["schedule_enable"], (name, int(enabled), now))
            return conn.changes() > 0

    def fire_schedule(self, name: str, slot: float, job: Job | None, next_run: float,
                      now: float) -> bool:
        with self._db as conn, self._db.write():
            conn.execute(Q["beat_mark"], (name, slot, next_run))
            if conn.changes() == 0:
                return False  # that slot (or a later one) already fired, or no such schedule
            if job is not None:
                writes.insert_jobs(conn, [job], now)
            return True

    def set_schedule_next_run(self, name: str, next_run: float) -> None:
        with self._db as conn:
            conn.execute(Q["beat_set_next"], (name, next_run))

    # -- events ------------------------------------------------------------------------
    def list_events(self, seq: int, limit: int = 1000) -> list[Event]:
        with self._db as conn:
            return reads.list_events(conn, seq, limit)

    def get_last_event_seq(self) -> int:
        with self._db as conn:
            return reads.get_last_event_seq(conn)

    def count_events(self) -> dict[tuple[str, str], tuple[int, float]]:
        with self._db as conn:
            return reads.count_events(conn)

    def count_throughput(self, since: float, bucket: float,
                         kinds: Sequence[str] = FINISHED_KINDS) -> list[tuple[float, int]]:
        with self._db as conn:
            return reads.count_throughput(conn, since, bucket, kinds)

    # -- maintenance -------------------------------------------------------------------
    def prune(self, now: float, limit: int = 500) -> int:
        # the package's EVENTS_KEPT, read at each call: the knob a test may turn down
        events_kept = sys.modules[__package__].EVENTS_KEPT
        with self._db as conn:
            conn.execute(Q["prune"], (now, limit))
            pruned = conn.changes()
            conn.execute(Q["prune_events"], (events_kept,))
            return pruned

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int] | None:
        """Checkpoint the WAL; (frames in WAL, frames checkpointed), or None if busy.

        Another process checkpointing, or readers on old snapshots, make a checkpoint
        give up (SQLITE_BUSY) after a moment; the next one catches up.
        """
        return self._db.checkpoint(mode)

    def backup(self, path: str) -> None:
        """SQLite's online backup API, a step at a time so that writers keep going."""
        self._db.backup(path)

    def close(self) -> None:
        self._db.close()
