"""Jobs enqueued inside another SQLite database's transaction (a Django project's): the
outbox table in that database, and the relay that moves committed rows into the store.

``write`` puts jobs into ``litejobs_outbox`` through the caller's own DB-API cursor, so
they commit or roll back with the caller's rows: one atomic commit. ``relay`` moves
what is committed there into the store: under that database's write lock (``BEGIN
IMMEDIATE``), it reads a batch, enqueues it (a known id is left alone) and deletes it,
so two relays never hand on the same rows. A relay that dies after the store took the
jobs and before its delete committed leaves the rows, and the next relay enqueues them
again, which the store ignores by id (at least once, as everywhere here).

Why an outbox and not the store's tables in the same file: apsw bundles its own SQLite,
and Django talks to the file through Python's ``sqlite3`` (another copy of SQLite). Two
copies in one process on one file break each other's POSIX locks: when one closes a
descriptor, the process loses every lock the other holds on that file
(https://sqlite.org/howtocorrupt.html, 2.2.1), and Django closes its connection after
every request and every job. The outbox is written and read only through ``sqlite3``;
the store only through apsw.

The outbox needs none of the store's SQL functions or pragmas: it is one plain table,
and works in whatever journal mode the database is in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...exceptions import StoreError
from ...job import Job
from ..base import Transport
from .reads import decode_options
from .schema import Q
from .writes import job_row

if TYPE_CHECKING:  # annotations only: sqlite3 is imported where a Django database is read
    import sqlite3

RELAY_BATCH = 1000  # rows moved per transaction
BUSY_TIMEOUT = 60.0  # seconds the relay waits for the database's write lock


def write(cursor: Any, jobs: Sequence[Job], now: float) -> None:
    """Add ``jobs`` to the outbox through ``cursor`` (a DB-API cursor of the database,
    inside the caller's transaction); nothing is committed here."""
    cursor.execute(Q["outbox_create"])  # a no-op once the table exists
    packed: dict[int, bytes] = {}
    # job_row's columns, less the state (decided when relayed, against the store's clock)
    rows = [row[:4] + row[5:] for row in (job_row(j, now, packed) for j in jobs)]
    cursor.executemany(Q["outbox_insert"], rows)


def relay_file(path: str, transport: Transport, now: float) -> int:
    """``relay`` from the database at ``path`` (a worker's look): a database without an
    outbox, or with an empty one, is only read."""
    # Only a Django project's database is read with the stdlib sqlite3 (a second SQLite
    # library in the process); a process that never relays never loads it.
    import sqlite3  # noqa: PLC0415 - Django projects only
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the outbox database {path}: {exc}") from None
    try:
        if not conn.execute(Q["outbox_exists"]).fetchone()[0] or \
                not conn.execute(Q["outbox_waiting"]).fetchone()[0]:
            return 0
        return relay(conn, transport, now)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot relay the outbox of {path}: {exc}") from None
    finally:
        conn.close()


def relay(conn: sqlite3.Connection, transport: Transport, now: float) -> int:
    """Move the committed outbox rows of ``conn``'s database (a ``sqlite3`` connection in
    autocommit) into ``transport``; how many were moved.

    Inside a transaction of ``conn`` (only a test harness runs commit hooks there, as
    Django's ``captureOnCommitCallbacks`` does) the rows this transaction sees are moved,
    in a savepoint of it.
    """
    import sqlite3  # noqa: PLC0415 - Django projects only (conn is one: already loaded)
    if conn.in_transaction:
        try:
            return _relay(conn, transport, now, savepoint=True)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot relay the outbox: {exc}") from None
    # The relay's commit only deletes rows the store has taken: in WAL it need not wait
    # for the disk (synchronous=NORMAL: no fsync, and WAL stays safe from corruption).
    # Were it lost to a power cut, the rows come back and are relayed again, which the
    # store ignores by id. (In a rollback journal, NORMAL is not corruption-safe on every
    # filesystem, so the database's own setting stays.)
    try:
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
        lower = synchronous > 1 and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        if lower:
            conn.execute("PRAGMA synchronous = NORMAL")
        try:
            return _relay(conn, transport, now)
        finally:
            if lower:
                conn.execute(f"PRAGMA synchronous = {int(synchronous)}")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot relay the outbox: {exc}") from None


def _relay(conn: sqlite3.Connection, transport: Transport, now: float,
           savepoint: bool = False) -> int:
    begin, commit, rollback = (
        ("SAVEPOINT litejobs_relay", "RELEASE litejobs_relay",
         "ROLLBACK TO litejobs_relay") if savepoint else ("BEGIN IMMEDIATE", "COMMIT",
                                                           "ROLLBACK"))
    moved = 0
    while True:
        conn.execute(begin)
        try:
            rows = conn.execute(Q["outbox_take"], (RELAY_BATCH,)).fetchall()
            if rows:
                transport.enqueue([_job(row) for row in rows], now)
                conn.execute(Q["outbox_delete"], (rows[-1][0],))
            conn.execute(commit)
        except BaseException:
            conn.execute(rollback)
            if savepoint:
                conn.execute(commit)  # the savepoint goes; the caller's transaction stays
            raise
        moved += len(rows)
        if len(rows) < RELAY_BATCH:
            return moved


def _job(row: tuple) -> Job:
    (_seq, job_id, task, queue, priority, eta, expires, retries, acks_late, payload,
     options, created_at) = row
    return Job(id=job_id, task=task, payload=payload, queue=queue, priority=priority,
               eta=eta, expires=expires, retries=retries, acks_late=bool(acks_late),
               options=decode_options(options), created_at=created_at)
