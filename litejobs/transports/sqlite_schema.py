"""Opening a SQLite store: refuse foreign or newer files, create or migrate ours, set pragmas.

Nothing is written to a file until it is known to be a litejobs store (or empty), and
creation and migration run under a file lock, so many processes may open a new file at
once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import apsw
import filelock

from ..exceptions import SchemaError, StoreError
from .base import load_named_sections

SCHEMA_VERSION = 2
APPLICATION_ID = 0x4C4A4F42  # "LJOB" in the header marks a litejobs store
# version -> the query that brings a store from version - 1 to it
MIGRATIONS = {1: "schema_1", 2: "schema_2"}
WAL_AUTOCHECKPOINT_PAGES = 8000


Q = {name: body.strip() for name, body in load_named_sections("sqlite.sql").items()}


def open_store(path: str, durability: str, on_busy: Callable[[int], bool]) -> apsw.Connection:
    """A configured connection to the litejobs store at ``path`` (created if missing)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise StoreError(f"cannot open store {path}: directory {directory} does not exist")
    if not os.path.exists(path):
        # Create it ourselves so it is owner-only from the start; SQLite gives the
        # -wal and -shm files the same mode as the database file.
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create store {path}: {exc.strerror}") from None
    try:
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READWRITE)
    except apsw.CantOpenError:
        raise StoreError(f"cannot open store {path}: permission denied or "
                         "not a regular file") from None
    try:
        conn.setbusyhandler(on_busy)
        if conn.readonly("main"):
            raise StoreError(f"store {path} is read-only: a worker or producer "
                             "needs to write to it")
        _check_schema(conn, path)
        _configure(conn, durability)
    except BaseException:
        conn.close()
        raise
    return conn


def _read_header(conn: apsw.Connection, path: str) -> tuple[int, int, int]:
    # One statement, so one snapshot: read piecemeal, another process's creation could
    # commit in between and leave tables without the marker.
    try:
        rows = conn.execute(
            "SELECT (SELECT application_id FROM pragma_application_id), "
            "(SELECT user_version FROM pragma_user_version), "
            "(SELECT count(*) FROM sqlite_master)").fetchall()
    except (apsw.NotADBError, apsw.CorruptError):
        raise SchemaError(f"{path} is not a SQLite database, so not a litejobs "
                          "store; nothing was changed") from None
    app_id, version, tables = rows[0]
    return app_id, version, tables


def _check_schema(conn: apsw.Connection, path: str) -> None:
    """Refuse foreign or newer files before writing a byte; create or migrate ours."""
    app_id, version, tables = _read_header(conn, path)
    if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
        return
    _refuse_foreign(path, app_id, version, tables)
    with filelock.FileLock(path + ".lock", mode=0o600):
        app_id, version, tables = _read_header(conn, path)
        _refuse_foreign(path, app_id, version, tables)
        pragma(conn, "journal_mode", "wal", expect="wal")
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


def _refuse_foreign(path: str, app_id: int, version: int, tables: int) -> None:
    if app_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"store {path} has schema version {version}, written by a newer "
                f"litejobs; this one knows up to {SCHEMA_VERSION}. Upgrade litejobs. "
                "Nothing was changed."
            )
        return
    if app_id != 0 or tables:
        raise SchemaError(
            f"{path} is a SQLite database but not a litejobs store "
            f"(application_id={app_id:#x}, {tables} schema objects); nothing was changed"
        )


def _configure(conn: apsw.Connection, durability: str) -> None:
    # One pragma per execute(): apsw runs a multi-statement string lazily.
    pragma(conn, "journal_mode", "wal", expect="wal")
    sync = {"normal": 1, "full": 2}[durability]
    pragma(conn, "synchronous", str(sync), expect=sync)
    pragma(conn, "journal_size_limit", str(64 * 1024 * 1024))
    # A checkpoint costs fsyncs; leave it to the worker's supervisor (which runs one
    # when the WAL grows) and checkpoint from here only as a bound on WAL size.
    pragma(conn, "wal_autocheckpoint", str(WAL_AUTOCHECKPOINT_PAGES))
    pragma(conn, "cache_size", "-16000")
    pragma(conn, "temp_store", "memory")


def pragma(conn: apsw.Connection, name: str, value: str, expect: Any = None) -> None:
    """Set a pragma and, with ``expect``, read it back."""
    conn.execute(f"PRAGMA {name} = {value}").fetchall()
    if expect is not None:
        got = conn.execute(f"PRAGMA {name}").fetchall()[0][0]
        if got != expect:
            raise StoreError(f"could not set PRAGMA {name}={value} (got {got!r}); "
                             "WAL needs a local filesystem, not a network share")
