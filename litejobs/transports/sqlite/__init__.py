"""The SQLite store: one file in WAL mode, through apsw.

    connection.py   opening, pragmas, forks, busy waits, wake-ups (inotify)
    files.py        read-only opening, page checks, apsw's errors as StoreError
    schema.py       the file's marker and version, numbered migrations
    reads.py        queries that write nothing
    writes.py       enqueue, claim, settle, revoke, chord joins
    transport.py    SQLiteTransport: each verb of the interface wired to the above
    outbox.py       jobs written in a Django SQLite transaction, relayed into a store
    queries.sql     every named statement

All of litejobs' SQL lives in this package.
"""

from __future__ import annotations

from ..base import EVENTS_KEPT
from .schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, Q
from .transport import SQLiteTransport

__all__ = ["APPLICATION_ID", "EVENTS_KEPT", "MIGRATIONS", "SCHEMA_VERSION", "Q",
           "SQLiteTransport"]
