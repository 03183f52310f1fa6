"""The store's files: opening one read-only, checking its pages, and what apsw's errors
on it mean (damaged or truncated pages, a full disk, a -wal deleted under a process)."""

from __future__ import annotations

import os
import struct
import urllib.parse

import apsw

from ...exceptions import StoreError


def damaged(path: str, detail: str) -> StoreError:
    """The one refusal for a store whose pages are damaged, or cut short."""
    return StoreError(f"store {path} is damaged or truncated ({detail}); nothing was "
                      "changed. Restore it from a backup, or salvage what is left with "
                      f"`sqlite3 {path} .recover`")


def _writable(path: str) -> bool:
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        pass
    return os.access(path, os.W_OK)


def connect(path: str, read_only: bool = False) -> apsw.Connection:
    """apsw's connection to ``path``, read-write; with ``read_only`` (for a reader that
    never writes), read-only where the file cannot be written."""
    if not read_only or _writable(path):
        return apsw.Connection(path, flags=apsw.SQLITE_OPEN_READWRITE)
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        return conn
    except (apsw.CantOpenError, apsw.ReadOnlyError, apsw.IOError):
        # A WAL store on a read-only mount, closed cleanly (so no -shm, and none can
        # be made): nothing can write the file, so read it as immutable. (Commits left
        # in a -wal without its -shm, after a crash, are not seen then.)
        conn.close()
    uri = "file:" + urllib.parse.quote(path) + "?immutable=1"
    return apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)


def verify_pages(conn: apsw.Connection, path: str) -> None:
    """StoreError if ``PRAGMA quick_check`` finds the file damaged."""
    try:
        rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    except apsw.Error as exc:
        mapped = store_error(path, exc)
        raise mapped or damaged(path, str(exc)) from None
    if rows != [("ok",)]:
        if _wal_cut_short(path):  # pages unreadable because the log they are in is gone
            raise _wal_lost(path)
        raise damaged(path, str(rows[0][0]).replace("\n", " ").strip())


_WAL_INDEX = struct.Struct("=IIIBBHI")  # the -shm's header: version ... szPage, mxFrame
_WAL_HEADER, _FRAME_HEADER = 32, 24


def _wal_cut_short(path: str) -> bool:
    """True if the -wal holds fewer frames than the -shm says it does (deleted or
    truncated under a process that still has the store open)."""
    try:
        with open(path + "-shm", "rb") as f:
            header = f.read(_WAL_INDEX.size)
        _, _, _, _, _, page_size, frames = _WAL_INDEX.unpack(header)
        wal_size = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
    except (OSError, struct.error):
        return False
    page_size = 65536 if page_size == 1 else page_size
    return frames > 0 and wal_size < _WAL_HEADER + frames * (_FRAME_HEADER + page_size)


def _wal_lost(path: str) -> StoreError:
    return StoreError(
        f"store {path} cannot be read: its write-ahead log {path}-wal was deleted (or cut "
        "short) while a process had the store open. Nothing is lost yet: the processes "
        "that still hold the log write it back when they stop cleanly (SIGTERM); stop "
        "them, then start again")


def store_error(path: str, exc: BaseException) -> StoreError | None:
    """apsw's ``exc`` on the store at ``path`` as a StoreError naming its cause."""
    if isinstance(exc, apsw.FullError):
        return StoreError(f"disk full: cannot write to store {path}")
    if isinstance(exc, apsw.ReadOnlyError):
        return StoreError(f"store {path} is read-only")
    if isinstance(exc, (apsw.CorruptError, apsw.NotADBError)) or (
            isinstance(exc, apsw.SQLError) and "malformed" in str(exc)):
        return damaged(path, str(exc))
    if isinstance(exc, apsw.IOError):
        if _wal_cut_short(path):
            return _wal_lost(path)
        return StoreError(f"I/O error on store {path}: {exc}")
    return None
