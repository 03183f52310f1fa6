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
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from typing import Any, TypeVar

import apsw
import filelock

from .. import serializer
from ..exceptions import SchemaError, SerializationError, StoreError
from ..job import ChordSpec, Job, JobState, Outcome
from ._inotify import FileWatch
from .base import Lost, Transport, WorkerInfo

log = logging.getLogger("litejobs.store")

SCHEMA_VERSION = 2
APPLICATION_ID = 0x4C4A4F42  # "LJOB" in the header marks a litejobs store
# version -> the query that brings a store from version - 1 to it
MIGRATIONS = {1: "schema_1", 2: "schema_2"}
BUSY_TIMEOUT = 60.0  # seconds a write may wait for the lock before StoreError
WAL_AUTOCHECKPOINT_PAGES = 8000
WAKE_SETTLE_SECONDS = 0.01  # how long a wake-up waits for the commit it saw to appear

JOB_COLUMNS = (
    "seq", "id", "task", "queue", "priority", "state", "eta", "expires", "attempts", "retries",
    "acks_late", "payload", "options", "result", "error_type", "error_message", "error_args",
    "traceback", "custom_state", "meta", "worker", "pid", "created_at", "started_at", "done_at",
    "purge_at",
)
_SELECT_JOB = f"SELECT {', '.join(JOB_COLUMNS)} FROM job"

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


def _load_queries() -> dict[str, str]:
    text = resources.files(__package__).joinpath("sqlite.sql").read_text()
    queries: dict[str, str] = {}
    for chunk in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, body = chunk.partition("\n")
        queries[name.strip()] = body.strip()
    return queries


Q = _load_queries()

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
                 busy_timeout: float = BUSY_TIMEOUT) -> None:
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
        self._lock = threading.RLock()
        self._watch: FileWatch | None = None
        self._data_version = -1
        self._busy_started = 0.0
        self._conn: apsw.Connection | None = self._open()
        self._pid = os.getpid()
        _open_transports.add(self)

    # -- opening -----------------------------------------------------------
    def _open(self) -> apsw.Connection:
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            raise StoreError(f"cannot open store {self.path}: directory {directory} does not exist")
        if not os.path.exists(self.path):
            # Create it ourselves so it is owner-only from the start; SQLite gives the
            # -wal and -shm files the same mode as the database file.
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                pass
            except OSError as exc:
                raise StoreError(f"cannot create store {self.path}: {exc.strerror}") from None
        try:
            conn = apsw.Connection(self.path, flags=apsw.SQLITE_OPEN_READWRITE)
        except apsw.CantOpenError:
            raise StoreError(f"cannot open store {self.path}: permission denied or "
                             "not a regular file") from None
        try:
            conn.setbusyhandler(self._on_busy)
            if conn.readonly("main"):
                raise StoreError(f"store {self.path} is read-only: a worker or producer "
                                 "needs to write to it")
            self._check_schema(conn)
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _read_header(self, conn: apsw.Connection) -> tuple[int, int, int]:
        try:
            app_id = conn.execute("PRAGMA application_id").fetchall()[0][0]
            version = conn.execute("PRAGMA user_version").fetchall()[0][0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchall()[0][0]
        except (apsw.NotADBError, apsw.CorruptError):
            raise SchemaError(f"{self.path} is not a SQLite database, so not a litejobs "
                              "store; nothing was changed") from None
        return app_id, version, tables

    def _check_schema(self, conn: apsw.Connection) -> None:
        """Refuse foreign or newer files before writing a byte; create or migrate ours."""
        app_id, version, tables = self._read_header(conn)
        if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
            return
        self._refuse_foreign(app_id, version, tables)
        lock = filelock.FileLock(self.path + ".lock", mode=0o600)
        with lock:
            app_id, version, tables = self._read_header(conn)
            self._refuse_foreign(app_id, version, tables)
            self._pragma(conn, "journal_mode", "wal", expect="wal")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for _ in conn.execute(Q[MIGRATIONS[target]]):
                        pass
                    conn.execute(f"PRAGMA user_version = {target}")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _refuse_foreign(self, app_id: int, version: int, tables: int) -> None:
        if app_id == APPLICATION_ID:
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"store {self.path} has schema version {version}, written by a newer "
                    f"litejobs; this one knows up to {SCHEMA_VERSION}. Upgrade litejobs. "
                    "Nothing was changed."
                )
            return
        if app_id != 0 or tables:
            raise SchemaError(
                f"{self.path} is a SQLite database but not a litejobs store "
                f"(application_id={app_id:#x}, {tables} schema objects); nothing was changed"
            )

    def _configure(self, conn: apsw.Connection) -> None:
        # One pragma per execute(): apsw runs a multi-statement string lazily.
        self._pragma(conn, "journal_mode", "wal", expect="wal")
        sync = {"normal": 1, "full": 2}[self.durability]
        self._pragma(conn, "synchronous", str(sync), expect=sync)
        self._pragma(conn, "journal_size_limit", str(64 * 1024 * 1024))
        # A checkpoint costs fsyncs; leave it to the worker's supervisor (which runs one
        # when the WAL grows) and checkpoint from here only as a bound on WAL size.
        self._pragma(conn, "wal_autocheckpoint", str(WAL_AUTOCHECKPOINT_PAGES))
        self._pragma(conn, "cache_size", "-16000")
        self._pragma(conn, "temp_store", "memory")

    @staticmethod
    def _pragma(conn: apsw.Connection, name: str, value: str, expect: Any = None) -> None:
        conn.execute(f"PRAGMA {name} = {value}").fetchall()
        if expect is not None:
            got = conn.execute(f"PRAGMA {name}").fetchall()[0][0]
            if got != expect:
                raise StoreError(f"could not set PRAGMA {name}={value} (got {got!r}); "
                                 "WAL needs a local filesystem, not a network share")

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
            conn.execute(Q["insert_job"], self._job_row(jobs[0], now, {}))
        else:
            with self._write():
                self._insert(conn, jobs, now)
                for chord in chords:
                    self._insert_chord(conn, chord, now)
        return conn.total_changes() - before

    @staticmethod
    def _job_row(j: Job, now: float, packed: dict[int, bytes]) -> tuple:
        options = None
        if j.options:
            # jobs of one bulk send share one options dict: pack it once
            options = packed.get(id(j.options))
            if options is None:
                options = packed[id(j.options)] = serializer.dumps(j.options, "job options")
        return (j.id, j.task, j.queue, j.priority, "scheduled" if j.eta > now else "pending",
                j.eta, j.expires, j.retries, 1 if j.acks_late else 0, j.payload, options, now)

    def _insert(self, conn: apsw.Connection, jobs: Sequence[Job], now: float) -> None:
        packed: dict[int, bytes] = {}
        waiting = [self._job_row(j, now, packed) for j in jobs if not j.state.finished]
        if waiting:
            conn.executemany(Q["insert_job"], waiting)
        for j in jobs:
            if j.state.finished:  # a chain member that will never run, stored as failed
                conn.execute(Q["insert_finished_job"], (
                    j.id, j.task, j.queue, j.priority, j.state.value, j.eta, j.payload,
                    serializer.dumps(j.options) if j.options else None, j.error_type,
                    j.error_message, now, now, j.purge_at))

    def _insert_chord(self, conn: apsw.Connection, chord: ChordSpec, now: float) -> None:
        body = chord.body
        conn.execute(Q["insert_chord"], (chord.id, len(chord.member_ids), now))
        conn.execute(Q["insert_chord_spec"], (
            chord.id, serializer.dumps(chord.member_ids),
            serializer.dumps({
                "id": body.id, "task": body.task, "payload": body.payload,
                "queue": body.queue, "priority": body.priority, "eta": body.eta,
                "expires": body.expires, "acks_late": body.acks_late,
                "options": body.options, "result_expires": chord.result_expires})))

    def _chord_member_finished(self, conn: apsw.Connection, chord_id: str, job_id: str,
                               failed: bool, now: float) -> None:
        """Count a header member once; in the transaction of the last one, fire the body."""
        conn.execute(Q["chord_member_done"], (chord_id, job_id))
        if conn.changes() == 0:
            return  # counted before (a member that ran twice)
        rows = conn.execute(Q["chord_count"], (chord_id, job_id if failed else None)).fetchall()
        if not rows or rows[0][0] < rows[0][1]:
            return
        members_blob, body_blob, failed_member = conn.execute(
            Q["chord_get"], (chord_id,)).fetchall()[0]
        members = serializer.loads(members_blob)
        spec = serializer.loads(body_blob)
        args, kwargs = serializer.loads_call(spec["payload"])
        body = Job(id=spec["id"], task=spec["task"], payload=b"", queue=spec["queue"],
                   priority=spec["priority"], eta=max(spec["eta"], now),
                   expires=spec["expires"], acks_late=spec["acks_late"],
                   options=spec["options"], created_at=now)
        if failed_member is not None:
            error = conn.execute(Q["job_error"], (failed_member,)).fetchall()
            kind, message = error[0] if error else ("unknown", "")
            from ..exceptions import ChordError

            body.state = JobState.FAILURE
            body.error_type = f"{ChordError.__module__}.{ChordError.__qualname__}"
            body.error_message = (f"Dependency {failed_member} raised "
                                  f"{(kind or 'an error').rpartition('.')[2]}: {message}")
            body.payload = serializer.dumps_call(body.task, args, kwargs)
            keep = spec.get("result_expires")
            body.purge_at = now + keep if keep else None
        else:
            results = []
            for member in members:
                row = conn.execute(Q["job_result"], (member,)).fetchall()
                blob = row[0][0] if row else None
                results.append(serializer.loads(blob) if blob is not None else None)
            if spec["options"].get("_immutable"):
                body.payload = spec["payload"]
            else:
                body.payload = serializer.dumps_call(body.task, (results, *args), kwargs)
        self._insert(conn, [body], now)
        conn.execute(Q["chord_done_delete"], (chord_id,))
        conn.execute(Q["chord_delete"], (chord_id,))
        conn.execute(Q["chord_spec_delete"], (chord_id,))

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
              settle: Sequence[Outcome] = ()) -> list[Job]:
        with self._write() as conn:
            if settle:
                self._apply(conn, settle, now)
            conn.execute(Q["promote_due"], (now,))
            if len(queues) == 1:
                rows = conn.execute(Q["claim_one_queue"],
                                    (worker, pid, now, queues[0], limit)).fetchall()
            else:
                rows = conn.execute(_claim_many_sql(len(queues)),
                                    (worker, pid, now, limit, *queues)).fetchall()
        jobs = [self._claimed(row, worker, pid, now) for row in rows]
        jobs.sort(key=lambda j: (-j.priority, j.eta, j._seq))  # type: ignore[attr-defined]
        return jobs

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
                conn.execute(Q["settle_requeue"], (o.job_id, o.attempt))
            else:
                raise ValueError(f"cannot settle a job into state {state}")
            if conn.changes() == 0:
                stale.append(o.job_id)
                continue
            if o.follow_ups:
                self._insert(conn, o.follow_ups, now)
            for chord in o.chords:
                self._insert_chord(conn, chord, now)
            if o.chord_id and state.finished:
                self._chord_member_finished(conn, o.chord_id, o.job_id,
                                            state is not JobState.SUCCESS, now)
        if stale:
            log.warning("dropped %d stale outcome(s) (job re-claimed or revoked since): %s",
                        len(stale), ", ".join(stale[:10]))
        return stale

    @_store_call
    def set_custom_state(self, job_id: str, attempt: int, state: str, meta: bytes | None) -> bool:
        self._conn.execute(Q["set_custom_state"], (job_id, attempt, state, meta))
        return self._conn.changes() > 0

    @_store_call
    def has_work(self, queues: Sequence[str], now: float) -> bool:
        conn = self._conn
        for queue in queues:
            if conn.execute(Q["has_pending_one_queue"], (queue,)).fetchall():
                return True
        eta = conn.execute(Q["next_eta"]).fetchall()[0][0]
        return eta is not None and eta <= now

    @_store_call
    def next_eta(self) -> float | None:
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
    def waiting_queues(self) -> list[str]:
        return [r[0] for r in self._conn.execute(Q["waiting_queues"])]

    @_store_call
    def counts(self) -> dict[str, dict[str, int]]:
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
               terminate: bool = False) -> str:
        from ..exceptions import TaskRevokedError

        error_type = f"{TaskRevokedError.__module__}.{TaskRevokedError.__qualname__}"
        with self._write() as conn:
            row = conn.execute(Q["get_state"], (job_id,)).fetchall()
            if not row:
                return "unknown"
            state = row[0][0]
            if state in ("pending", "scheduled"):
                conn.execute(Q["revoke_waiting"],
                             (job_id, now, purge_at, error_type, f"job {job_id} was revoked"))
                return "revoked"
            if state == "running":
                if not terminate:
                    return "running"
                conn.execute(Q["revoke_running"],
                             (job_id, now, purge_at, error_type,
                              f"job {job_id} was revoked and terminated"))
                return "terminating"
            return "finished"

    @_store_call
    def terminated_jobs(self, worker: str) -> list[tuple[str, int]]:
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
    def purge(self, queue: str | None = None) -> int:
        if queue is None:
            self._conn.execute(Q["purge_waiting"])
        else:
            self._conn.execute(Q["purge_waiting_queue"], (queue,))
        return self._conn.changes()

    # -- workers and maintenance -------------------------------------------
    @_store_call
    def heartbeat(self, worker: WorkerInfo, now: float, lease: float) -> None:
        self._conn.execute(Q["upsert_worker"], (
            worker.id, worker.host, worker.pid, ",".join(worker.queues), worker.concurrency,
            worker.started_at, now, now + lease, worker.running, worker.processed))

    @_store_call
    def unregister_worker(self, worker_id: str) -> None:
        self._conn.execute(Q["delete_worker"], (worker_id,))

    @_store_call
    def workers(self, now: float) -> list[WorkerInfo]:
        return [
            WorkerInfo(id=r[0], host=r[1], pid=r[2], queues=r[3].split(","), concurrency=r[4],
                       started_at=r[5], heartbeat_at=r[6], lease_until=r[7], running=r[8],
                       processed=r[9])
            for r in self._conn.execute(Q["live_workers"], (now,))
        ]

    @_store_call
    def lost_jobs(self, now: float, worker: str | None = None,
                  pid: int | None = None) -> list[Lost]:
        if worker is not None and pid is not None:
            rows = self._conn.execute(Q["lost_child_jobs"], (worker, pid))
        elif worker is not None:
            rows = self._conn.execute(Q["worker_jobs"], (worker,))
        else:
            rows = self._conn.execute(Q["dead_worker_jobs"], (now,))
        return [Lost(job_id=r[0], attempt=r[1], acks_late=bool(r[2])) for r in rows]

    @_store_call
    def forget_dead_workers(self, now: float) -> int:
        self._conn.execute(Q["delete_dead_workers"], (now,))
        return self._conn.changes()

    @_store_call
    def prune(self, now: float, limit: int = 500) -> int:
        self._conn.execute(Q["prune"], (now, limit))
        return self._conn.changes()

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
