"""The SQLite transport: one file in WAL mode, through apsw. All SQL lives here and in sqlite.sql.

Writes start with ``BEGIN IMMEDIATE`` so that waiting for the write lock goes
through the busy handler (a deferred read that upgrades to a write skips it and
fails with "database is locked"). No transaction is held while task code runs.
A connection never crosses a fork: each process opens its own on first use.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import apsw

from .. import serializer
from ..exceptions import SerializationError, StoreError
from ..job import ChordSpec, Job, JobState, Outcome
from ._inotify import FileWatch
from .base import EVENTS_KEPT, BeatEntryState, Event, Lost, Transport, WorkerInfo, log_stale
from .sqlite_schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, Q, open_store
from .sqlite_writes import chord_member_finished, insert_chord, insert_jobs, job_row

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "Q", "SQLiteTransport"]

log = logging.getLogger("litejobs.store")

BUSY_TIMEOUT = 60.0  # seconds a write may wait for the lock before StoreError
WAKE_SETTLE_SECONDS = 0.01  # how long a wake-up waits for the commit it saw to appear
# Rate-limited starts are spaced 2% wider than 1/rate: a claimed job starts a few ms
# after its claim, and the margin (20 ms per second of starts) keeps any one-second
# window of actual starts within the rate.
RATE_SPACING = 1.02

JOB_COLUMNS = (
    "seq", "id", "task", "queue", "priority", "state", "eta", "expires", "attempts", "retries",
    "acks_late", "payload", "options", "result", "error_type", "error_message", "error_args",
    "traceback", "custom_state", "meta", "worker", "pid", "created_at", "started_at", "done_at",
    "purge_at", "crashes",
)
_SELECT_JOB = f"SELECT {', '.join(JOB_COLUMNS)} FROM job"
_EVENT_KINDS = {
    JobState.SUCCESS: "task-succeeded", JobState.FAILURE: "task-failed",
    JobState.SCHEDULED: "task-retried", JobState.REVOKED: "task-revoked",
    JobState.PENDING: "task-requeued",
}

# Every open transport in this process. Before any fork() they all close their
# connections: SQLite keeps per-process lock bookkeeping (per inode, and for the WAL
# index) that a child would inherit and trust, though the child holds none of the
# locks it records. Each side reopens on its next use.
_open_transports: weakref.WeakSet[SQLiteTransport] = weakref.WeakSet()


def _close_all_before_fork() -> None:
    for transport in list(_open_transports):
        transport._close_for_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_close_all_before_fork)


T = TypeVar("T")


def _store_call(method: Callable[..., T]) -> Callable[..., T]:
    """Run a verb under the connection lock, mapping apsw's errors to ours."""

    @functools.wraps(method)
    def wrapper(self: SQLiteTransport, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            if self._conn is None or self._pid != os.getpid():
                self._reopen()
            try:
                return method(self, *args, **kwargs)
            except apsw.BusyError:
                raise StoreError(
                    f"store {self.path} is locked by another process (waited "
                    f"{time.monotonic() - self._busy_started:.1f}s of at most "
                    f"{self.busy_timeout:.0f}s)"
                ) from None
            except apsw.FullError:
                raise StoreError(f"disk full: cannot write to store {self.path}") from None
            except apsw.ReadOnlyError:
                raise StoreError(f"store {self.path} is read-only") from None
            except (apsw.CorruptError, apsw.NotADBError) as exc:
                raise StoreError(f"store {self.path} is damaged: {exc}") from None
            except apsw.IOError as exc:
                raise StoreError(f"I/O error on store {self.path}: {exc}") from None

    return wrapper


class SQLiteTransport(Transport):
    """Jobs, results and heartbeats in one SQLite file."""

    def __init__(self, path: str, durability: str = "normal",
                 busy_timeout: float = BUSY_TIMEOUT, events: bool = True) -> None:
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
        self.busy_timeout = busy_timeout
        self.events = events  # record job events when claiming and settling
        self._lock = threading.RLock()
        self._watch: FileWatch | None = None
        self._data_version = -1
        self._busy_started = 0.0
        self._conn: apsw.Connection | None = self._open()
        self._pid = os.getpid()
        _open_transports.add(self)

    # -- opening -----------------------------------------------------------
    def _open(self) -> apsw.Connection:
        return open_store(self.path, self.durability, self._on_busy)

    @_store_call
    def pragma(self, name: str) -> Any:
        """Read a pragma (for tests and ``status``)."""
        return self._conn.execute(f"PRAGMA {name}").fetchall()[0][0]

    def _close_for_fork(self) -> None:
        with self._lock:  # waits for a verb in another thread to finish
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
                self._conn = None

    def _reopen(self) -> None:
        if self._pid != os.getpid():  # a forked child: the watch fd is the parent's
            if self._watch is not None:
                self._watch.close()
            self._watch = None
            self._data_version = -1
        elif self._conn is not None:
            return
        self._conn = self._open()
        self._pid = os.getpid()
        _open_transports.add(self)

    def _on_busy(self, prior_calls: int) -> bool:
        now = time.monotonic()
        if prior_calls == 0:
            self._busy_started = now
        if now - self._busy_started > self.busy_timeout:
            return False
        # Short sleeps first: the lock is usually held for well under a millisecond.
        time.sleep(min(0.00005 * (2 ** min(prior_calls, 8)), 0.01))
        return True

    @contextlib.contextmanager
    def _write(self) -> Iterator[apsw.Connection]:
        conn = self._conn
        self._busy_started = time.monotonic()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[apsw.Connection]:
        """Many reads in one read transaction: one consistent view, one lock."""
        conn = self._conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                if self._watch:
                    self._watch.close()
                    self._watch = None
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            _open_transports.discard(self)

    # -- producing ---------------------------------------------------------
    @_store_call
    def enqueue(self, jobs: Sequence[Job], now: float,
                chords: Sequence[ChordSpec] = ()) -> int:
        conn = self._conn
        before = conn.total_changes()
        if len(jobs) == 1 and not chords:
            # One statement in autocommit is its own write transaction.
            conn.execute(Q["insert_job"], job_row(jobs[0], now, {}))
        else:
            with self._write():
                insert_jobs(conn, jobs, now)
                for chord in chords:
                    insert_chord(conn, chord, now)
        return conn.total_changes() - before

    @_store_call
    def save_group(self, group_id: str, member_ids: Sequence[str], now: float) -> None:
        self._conn.execute(Q["save_group"], (group_id, serializer.dumps(list(member_ids)), now))

    @_store_call
    def restore_group(self, group_id: str) -> list[str] | None:
        rows = self._conn.execute(Q["restore_group"], (group_id,)).fetchall()
        return serializer.loads(rows[0][0]) if rows else None

    @_store_call
    def delete_group(self, group_id: str) -> None:
        self._conn.execute(Q["delete_group"], (group_id,))

    # -- consuming ---------------------------------------------------------
    @_store_call
    def claim(self, queues: Sequence[str], worker: str, pid: int, limit: int, now: float,
              settle: Sequence[Outcome] = (), rate_limits: dict[str, float] | None = None,
              queue_limits: dict[str, int] | None = None) -> list[Job]:
        with self._write() as conn:
            if settle:
                self._apply(conn, settle, now)
            conn.execute(Q["promote_due"], (now,))
            paused = {r[0] for r in conn.execute(Q["paused_queues"])}
            active = [q for q in queues if q not in paused]
            rows: list[tuple] = []
            if queue_limits and any(q in queue_limits for q in active):
                for queue in active:  # a limited queue takes only what it has room for
                    room = limit - len(rows)
                    if queue in queue_limits:
                        running = conn.execute(Q["running_in_queue"], (queue,)).fetchall()
                        room = min(room, queue_limits[queue] - running[0][0])
                    if room > 0:
                        rows += conn.execute(Q["claim_one_queue"],
                                             (worker, pid, now, queue, room)).fetchall()
            elif len(active) == 1:
                rows = conn.execute(Q["claim_one_queue"],
                                    (worker, pid, now, active[0], limit)).fetchall()
            elif active:
                rows = conn.execute(_claim_many_sql(len(active)),
                                    (worker, pid, now, limit, *active)).fetchall()
            jobs = [self._claimed(row, worker, pid, now) for row in rows]
            jobs.sort(key=lambda j: (-j.priority, j.eta, j._seq))  # type: ignore[attr-defined]
            if rate_limits and jobs:
                jobs = self._rate_limit(conn, jobs, rate_limits, now)
            if self.events and jobs:
                conn.executemany(Q["insert_event"], [
                    (now, "task-started", j.id, j.task, j.queue, worker, None, None)
                    for j in jobs])
        return jobs

    @staticmethod
    def _rate_limit(conn: apsw.Connection, jobs: list[Job], rate_limits: dict[str, float],
                    now: float) -> list[Job]:
        """Keep the jobs their task's rate allows now; put the rest back, due at their turn.

        GCRA: a task's row holds the earliest time its next job may start; each start
        moves it on by 1/rate. A deferred job waits as a scheduled job (no claim spins
        on it, and other tasks of its queue go on), with no attempt spent.
        """
        kept: list[Job] = []
        turns: dict[str, float] = {}
        for job in jobs:
            rate = rate_limits.get(job.task)
            if not rate:
                kept.append(job)
                continue
            if job.task not in turns:
                row = conn.execute(Q["rate_tat"], (job.task,)).fetchall()
                turns[job.task] = row[0][0] if row else now
            turn = turns[job.task]
            if turn <= now:
                turns[job.task] = max(turn, now) + RATE_SPACING / rate
                kept.append(job)
            else:
                conn.execute(Q["defer_claimed"], (job.id, turn, now))
        for task, turn in turns.items():
            conn.execute(Q["rate_set"], (task, turn))
        return kept

    @staticmethod
    def _claimed(row: tuple, worker: str, pid: int, now: float) -> Job:
        (seq, id_, task, queue, priority, eta, expires, attempts, retries, acks_late,
         payload, options, created_at) = row
        job = Job(id=id_, task=task, payload=payload, queue=queue, priority=priority,
                  state=JobState.RUNNING, eta=eta, expires=expires, attempts=attempts,
                  retries=retries, acks_late=bool(acks_late),
                  options=_decode_options(options), worker=worker, pid=pid,
                  created_at=created_at, started_at=now)
        job._seq = seq  # type: ignore[attr-defined]
        return job

    @_store_call
    def settle(self, outcomes: Sequence[Outcome], now: float) -> list[str]:
        with self._write() as conn:
            return self._apply(conn, outcomes, now)

    def _apply(self, conn: apsw.Connection, outcomes: Sequence[Outcome], now: float) -> list[str]:
        stale: list[str] = []
        for o in outcomes:
            state = o.state
            if state is JobState.SUCCESS:
                if o.forget:
                    conn.execute(Q["settle_forget"], (o.job_id, o.attempt))
                else:
                    conn.execute(Q["settle_success"],
                                 (o.job_id, o.attempt, o.result, now, o.purge_at))
            elif state is JobState.FAILURE or state is JobState.REVOKED:
                f = o.failure
                conn.execute(Q["settle_finished"], (
                    o.job_id, o.attempt, state.value,
                    f.error_type if f else None, f.message if f else None,
                    f.args if f else None, f.traceback if f else None, now, o.purge_at))
            elif state is JobState.SCHEDULED:
                f = o.failure
                conn.execute(Q["settle_retry"], (
                    o.job_id, o.attempt, o.eta if o.eta is not None else now, o.retries,
                    f.error_type if f else None, f.message if f else None,
                    f.traceback if f else None, now))
            elif state is JobState.PENDING:
                conn.execute(Q["settle_requeue"], (o.job_id, o.attempt, 1 if o.crashed else 0))
            else:
                raise ValueError(f"cannot settle a job into state {state}")
            if conn.changes() == 0:
                stale.append(o.job_id)
                continue
            if self.events and o.task:
                conn.execute(Q["insert_event"], (
                    now, _EVENT_KINDS[state], o.job_id, o.task, o.queue, None, o.runtime,
                    o.failure.error_type if o.failure else None))
            if o.follow_ups:
                insert_jobs(conn, o.follow_ups, now)
            for chord in o.chords:
                insert_chord(conn, chord, now)
            if o.chord_id and state.finished:
                chord_member_finished(conn, o.chord_id, o.chord_member or o.job_id,
                                      state is not JobState.SUCCESS, now)
        log_stale(stale)
        return stale

    @_store_call
    def set_custom_state(self, job_id: str, attempt: int, state: str, meta: bytes | None) -> bool:
        self._conn.execute(Q["set_custom_state"], (job_id, attempt, state, meta))
        return self._conn.changes() > 0

    @_store_call
    def has_work(self, queues: Sequence[str], now: float) -> bool:
        conn = self._conn
        paused = {r[0] for r in conn.execute(Q["paused_queues"])}
        for queue in queues:
            if queue in paused:
                continue
            if conn.execute(Q["has_pending_one_queue"], (queue,)).fetchall():
                return True
        eta = conn.execute(Q["next_eta"]).fetchall()[0][0]
        return eta is not None and eta <= now

    # -- queues ----------------------------------------------------------------
    @_store_call
    def set_queue_paused(self, queue: str, paused: bool) -> None:
        self._conn.execute(Q["set_paused"], (queue, 1 if paused else 0))

    @_store_call
    def list_paused_queues(self) -> list[str]:
        return sorted(r[0] for r in self._conn.execute(Q["paused_queues"]))

    # -- periodic tasks --------------------------------------------------------
    @_store_call
    def lead_beat(self, holder: str, now: float, lease: float) -> bool:
        self._conn.execute(Q["beat_lead"], (holder, now, now + lease))
        return self._conn.changes() > 0

    @_store_call
    def resign_beat(self, holder: str) -> None:
        self._conn.execute(Q["beat_resign"], (holder,))

    @_store_call
    def get_beat_leader(self, now: float) -> str | None:
        rows = self._conn.execute(Q["beat_leader"]).fetchall()
        return rows[0][0] if rows and rows[0][1] >= now else None

    @_store_call
    def list_schedules(self) -> list[BeatEntryState]:
        return [BeatEntryState(*r) for r in self._conn.execute(Q["beat_entries"])]

    @_store_call
    def sync_schedules(self, entries: Sequence[tuple[str, str, str]]) -> None:
        with self._write() as conn:
            names = {name for name, _task, _schedule in entries}
            for row in conn.execute(Q["beat_entries"]).fetchall():
                if row[0] not in names:
                    conn.execute(Q["beat_delete"], (row[0],))
            for entry in entries:
                conn.execute(Q["beat_upsert"], entry)

    @_store_call
    def fire_schedule(self, name: str, slot: float, job: Job | None, next_run: float,
                  now: float) -> bool:
        with self._write() as conn:
            conn.execute(Q["beat_mark"], (name, slot, next_run))
            if conn.changes() == 0:
                return False  # that slot (or a later one) already fired
            if job is not None:
                insert_jobs(conn, [job], now)
            return True

    @_store_call
    def set_schedule_next_run(self, name: str, next_run: float) -> None:
        self._conn.execute(Q["beat_set_next"], (name, next_run))

    @_store_call
    def get_next_eta(self) -> float | None:
        return self._conn.execute(Q["next_eta"]).fetchall()[0][0]

    def wait_for_change(self, timeout: float) -> bool:
        with self._lock:
            if self._conn is None or self._pid != os.getpid():
                self._reopen()
            if self._watch is None:
                # Watch before the first check, so a commit between the two is not missed.
                self._watch = FileWatch(os.path.dirname(self.path),
                                        {os.path.basename(self.path) + "-wal",
                                         os.path.basename(self.path)})
            watch = self._watch
            if self._changed():
                watch.reset_backoff()
                return True
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            woken = watch.wait(remaining)
            # A commit writes its WAL frames (the event we saw) a moment before it
            # publishes them in the WAL index, so a change may not be visible yet:
            # look again for a few milliseconds before going back to sleep.
            settle_until = time.monotonic() + (WAKE_SETTLE_SECONDS if woken else 0.0)
            while True:
                with self._lock:
                    if self._conn is None or self._pid != os.getpid():
                        self._reopen()
                    if self._changed():
                        watch.reset_backoff()
                        return True
                if time.monotonic() >= settle_until:
                    break
                time.sleep(0.00005)

    def _changed(self) -> bool:
        version = self._conn.execute("PRAGMA data_version").fetchall()[0][0]
        changed = version != self._data_version
        self._data_version = version
        return changed

    # -- reading -----------------------------------------------------------
    @_store_call
    def get(self, job_id: str) -> Job | None:
        rows = self._conn.execute(_SELECT_JOB + " WHERE id = ?", (job_id,)).fetchall()
        return _row_to_job(rows[0]) if rows else None

    @_store_call
    def get_state(self, job_id: str) -> tuple[JobState, str | None, int] | None:
        rows = self._conn.execute(Q["get_state"], (job_id,)).fetchall()
        if not rows:
            return None
        state, custom, retries = rows[0]
        return JobState(state), custom, retries

    @_store_call
    def get_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        with self._snapshot() as conn:
            out = []
            for job_id in job_ids:
                rows = conn.execute(_SELECT_JOB + " WHERE id = ?", (job_id,)).fetchall()
                out.append(_row_to_job(rows[0]) if rows else None)
            return out

    @_store_call
    def get_states(self, job_ids: Sequence[str]
                   ) -> list[tuple[JobState, str | None, int] | None]:
        with self._snapshot() as conn:
            out: list[tuple[JobState, str | None, int] | None] = []
            for job_id in job_ids:
                rows = conn.execute(Q["get_state"], (job_id,)).fetchall()
                out.append((JobState(rows[0][0]), rows[0][1], rows[0][2]) if rows else None)
            return out

    @_store_call
    def list_waiting_queues(self) -> list[str]:
        return [r[0] for r in self._conn.execute(Q["waiting_queues"])]

    @_store_call
    def count_jobs(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for queue, state, n in self._conn.execute(Q["counts"]):
            out.setdefault(queue, {})[state] = n
        return out

    @_store_call
    def list_jobs(self, state: JobState | None = None, queue: str | None = None,
                  task: str | None = None, limit: int = 100, offset: int = 0) -> list[Job]:
        where, params = [], []
        for column, value in (("state", state.value if state else None), ("queue", queue),
                              ("task", task)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = _SELECT_JOB + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY seq DESC LIMIT ? OFFSET ?"
        return [_row_to_job(r) for r in self._conn.execute(sql, (*params, limit, offset))]

    # -- acting on jobs ----------------------------------------------------
    @_store_call
    def revoke(self, job_id: str, now: float, purge_at: float | None,
               terminate: bool = False, follow_ups: Sequence[Job] = (),
               chord: tuple[str, str] | None = None) -> str:
        from ..exceptions import TaskRevokedError
        from ..failure import class_path

        error_type = class_path(TaskRevokedError)
        with self._write() as conn:
            row = conn.execute(Q["get_state"], (job_id,)).fetchall()
            if not row:
                return "unknown"
            state = row[0][0]
            if state in ("pending", "scheduled"):
                conn.execute(Q["revoke_waiting"],
                             (job_id, now, purge_at, error_type, f"job {job_id} was revoked"))
                answer = "revoked"
            elif state == "running":
                if not terminate:
                    return "running"
                conn.execute(Q["revoke_running"],
                             (job_id, now, purge_at, error_type,
                              f"job {job_id} was revoked and terminated"))
                answer = "terminating"
            else:
                return "finished"
            if follow_ups:
                insert_jobs(conn, follow_ups, now)
            if chord:
                chord_member_finished(conn, chord[0], chord[1], True, now)
            return answer

    @_store_call
    def list_terminated_jobs(self, worker: str) -> list[tuple[str, int]]:
        return [(r[0], r[1]) for r in self._conn.execute(Q["terminated_jobs"], (worker,))]

    @_store_call
    def clear_terminated(self, job_id: str) -> None:
        self._conn.execute(Q["clear_terminated"], (job_id,))

    @_store_call
    def forget(self, job_id: str) -> bool:
        self._conn.execute(Q["forget_job"], (job_id,))
        return self._conn.changes() > 0

    @_store_call
    def retry_failed(self, job_id: str | None = None, task: str | None = None,
                     now: float = 0.0) -> int:
        conn = self._conn
        if job_id is not None:
            conn.execute(Q["retry_failed_one"], (job_id, now))
        elif task is not None:
            conn.execute(Q["retry_failed_task"], (task, now))
        else:
            conn.execute(Q["retry_failed_all"], (now,))
        return conn.changes()

    @_store_call
    def purge(self, queue: str | None = None, states: Sequence[JobState] | None = None) -> int:
        if states is None:
            if queue is None:
                self._conn.execute(Q["purge_waiting"])
            else:
                self._conn.execute(Q["purge_waiting_queue"], (queue,))
            return self._conn.changes()
        names = [s.value for s in states]
        if not set(names) <= {"success", "failure", "revoked"}:
            raise ValueError(f"only finished jobs can be purged by state, not {names}")
        sql = f"DELETE FROM job WHERE state IN ({', '.join('?' * len(names))})"
        params: list[Any] = list(names)
        if queue is not None:
            sql += " AND queue = ?"
            params.append(queue)
        self._conn.execute(sql, params)
        return self._conn.changes()

    # -- workers and maintenance -------------------------------------------
    @_store_call
    def record_heartbeat(self, worker: WorkerInfo, now: float, lease: float) -> None:
        self._conn.execute(Q["upsert_worker"], (
            worker.id, worker.host, worker.pid, ",".join(worker.queues), worker.concurrency,
            worker.started_at, now, now + lease, worker.running, worker.processed))

    @_store_call
    def unregister_worker(self, worker_id: str) -> None:
        self._conn.execute(Q["delete_worker"], (worker_id,))

    @_store_call
    def list_workers(self, now: float) -> list[WorkerInfo]:
        return [
            WorkerInfo(id=r[0], host=r[1], pid=r[2], queues=r[3].split(","), concurrency=r[4],
                       started_at=r[5], heartbeat_at=r[6], lease_until=r[7], running=r[8],
                       processed=r[9])
            for r in self._conn.execute(Q["live_workers"], (now,))
        ]

    @_store_call
    def find_lost_jobs(self, now: float, worker: str | None = None,
                  pid: int | None = None) -> list[Lost]:
        if worker is not None and pid is not None:
            rows = self._conn.execute(Q["lost_child_jobs"], (worker, pid))
        elif worker is not None:
            rows = self._conn.execute(Q["worker_jobs"], (worker,))
        else:
            rows = self._conn.execute(Q["dead_worker_jobs"], (now,))
        return [Lost(job_id=r[0], attempt=r[1], acks_late=bool(r[2]), crashes=r[3], task=r[4],
                     max_retries=_decode_options(r[5]).get("max_retries", -1)) for r in rows]

    @_store_call
    def forget_dead_workers(self, now: float) -> int:
        self._conn.execute(Q["delete_dead_workers"], (now,))
        return self._conn.changes()

    @_store_call
    def prune(self, now: float, limit: int = 500) -> int:
        self._conn.execute(Q["prune"], (now, limit))
        pruned = self._conn.changes()
        self._conn.execute(Q["prune_events"], (EVENTS_KEPT,))
        return pruned

    @_store_call
    def list_events(self, seq: int, limit: int = 1000) -> list[Event]:
        return [Event(*row) for row in self._conn.execute(Q["events_since"], (seq, limit))]

    @_store_call
    def count_throughput(self, since: float, bucket: float) -> list[tuple[float, int]]:
        return [(b, n) for b, n in self._conn.execute(Q["finished_per_bucket"],
                                                       (bucket, since))]

    @_store_call
    def get_last_event_seq(self) -> int:
        return self._conn.execute(Q["last_event_seq"]).fetchall()[0][0]

    @_store_call
    def count_events(self) -> dict[tuple[str, str], tuple[int, float]]:
        return {(task, kind): (n, total)
                for task, kind, n, total in self._conn.execute(Q["event_stats"])}

    @_store_call
    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int] | None:
        """Checkpoint the WAL; (frames in WAL, frames checkpointed), or None if busy.

        Another process checkpointing, or readers on old snapshots, make a checkpoint
        give up (SQLITE_BUSY) without waiting; the next one catches up.
        """
        mode_value = {"PASSIVE": apsw.SQLITE_CHECKPOINT_PASSIVE,
                      "RESTART": apsw.SQLITE_CHECKPOINT_RESTART,
                      "TRUNCATE": apsw.SQLITE_CHECKPOINT_TRUNCATE}[mode]
        self._busy_started = time.monotonic()
        patience, self.busy_timeout = self.busy_timeout, 0.2  # never stall writers long
        try:
            return self._conn.wal_checkpoint(mode=mode_value)
        except apsw.BusyError:
            return None
        finally:
            self.busy_timeout = patience


@functools.lru_cache(maxsize=32)
def _claim_many_sql(n_queues: int) -> str:
    # One ordered, limited arm per queue, merged: each arm walks the pending index, so
    # the claim stays O(queues * log n) instead of sorting every pending job.
    arm = ("SELECT * FROM (SELECT seq, priority, eta FROM job WHERE state = 'pending' "
           "AND queue = ?{} ORDER BY priority DESC, eta, seq LIMIT ?4)")
    merged = " UNION ALL ".join(arm.format(5 + i) for i in range(n_queues))
    returning = Q["claim_columns"].rstrip(";")
    return (
        "UPDATE job SET state = 'running', attempts = attempts + 1, worker = ?1, pid = ?2, "
        f"started_at = ?3 WHERE seq IN (SELECT seq FROM ({merged}) "
        f"ORDER BY priority DESC, eta, seq LIMIT ?4) RETURNING {returning}"
    )


def _decode_options(blob: bytes | None) -> dict[str, Any]:
    if not blob:
        return {}
    try:
        return serializer.loads(blob)
    except SerializationError as exc:
        return {"_corrupt": str(exc)}


def _row_to_job(row: tuple) -> Job:
    d = dict(zip(JOB_COLUMNS, row, strict=True))
    seq = d.pop("seq")
    d["state"] = JobState(d["state"])
    d["acks_late"] = bool(d["acks_late"])
    d["options"] = _decode_options(d["options"])
    job = Job(**d)
    job._seq = seq  # type: ignore[attr-defined]
    return job
