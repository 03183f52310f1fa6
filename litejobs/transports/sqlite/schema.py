"""The schema of a SQLite store: its marker, version and numbered migrations.

``check_schema`` refuses foreign or newer files before writing a byte, and creates or
migrates ours. Nothing is written to a file until it is known to be a litejobs store (or
empty), and creation and migration run under a file lock, so many processes may open a
new file at once. The statements live in queries.sql (``schema_1``, ``schema_2``, ...).
"""

from __future__ import annotations

import logging
import os

import apsw
import filelock

from ...exceptions import SchemaError, StoreError
from ..common import load_named_sections
from .files import damaged

SCHEMA_VERSION = 8
APPLICATION_ID = 0x4C4A4F42  # "LJOB" in the header marks a litejobs store
# version -> the query that brings a store from version - 1 to it
MIGRATIONS = {n: f"schema_{n}" for n in range(1, SCHEMA_VERSION + 1)}

SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite file
log = logging.getLogger("litejobs.store")

#: every statement in queries.sql, by name
# Without the last ";": apsw prepares whatever follows a statement, even nothing, on
# every execution (0.5 us a statement, and once per row of an executemany).
Q = {name: body.strip().removesuffix(";")
     for name, body in load_named_sections(__package__, "queries.sql").items()}


def _read_header(conn: apsw.Connection, path: str) -> tuple[int, int, int]:
    # One statement, so one snapshot: read piecemeal, another process's creation could
    # commit in between and leave tables without the marker.
    try:
        rows = conn.execute(
            "SELECT (SELECT application_id FROM pragma_application_id), "
            "(SELECT user_version FROM pragma_user_version), "
            "(SELECT count(*) FROM sqlite_master)").fetchall()
    except (apsw.NotADBError, apsw.CorruptError) as exc:
        if _starts_like_sqlite(path):
            raise damaged(path, str(exc)) from None
        raise SchemaError(f"{path} is not a SQLite database, so not a litejobs "
                          "store; nothing was changed") from None
    app_id, version, tables = rows[0]
    return app_id, version, tables


def _starts_like_sqlite(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def check_schema(conn: apsw.Connection, path: str, create: bool = True) -> None:
    """Refuse foreign or newer files before writing a byte; create or migrate ours
    (with ``create=False``, refuse a file that is not a current store yet)."""
    app_id, version, tables = _read_header(conn, path)
    if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
        return
    _refuse_foreign(path, app_id, version, tables)
    if not create:
        if app_id == 0:
            raise StoreError(f"no such store: {path} is an empty file (nothing was "
                             "changed); a producer or worker creates the store")
        raise SchemaError(f"store {path} has schema version {version}; a producer or "
                          f"worker of this litejobs migrates it to {SCHEMA_VERSION}. "
                          "Nothing was changed.")
    with filelock.FileLock(path + ".lock", mode=0o600):
        app_id, version, tables = _read_header(conn, path)
        _refuse_foreign(path, app_id, version, tables)
        if app_id == 0:
            _make_private(path)
        # WAL before the first table: a file where it cannot be set is never written to
        mode = conn.execute("PRAGMA journal_mode = wal").fetchall()[0][0]
        if mode != "wal":
            raise StoreError(f"could not set PRAGMA journal_mode=wal on {path} (got "
                             f"{mode!r}); WAL needs a local filesystem, not a network share")
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


def _make_private(path: str) -> None:
    """A new store (and its -wal/-shm, which SQLite creates with the file's mode) 0600."""
    for name in (path, path + "-wal", path + "-shm"):
        try:
            if os.path.exists(name) and os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except OSError as exc:
            log.warning("could not make %s private (mode 0600): %s; other users of this "
                        "machine may read its jobs", name, exc.strerror)


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
