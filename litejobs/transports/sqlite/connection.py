"""One process's connection to a SQLite store: opening, pragmas, forks, busy waits, wake-ups.

A connection never crosses a fork: before any fork() every open store closes its
connection (SQLite keeps per-process lock bookkeeping that a child would inherit and
trust), and each side reopens on its next use. Writes start with ``BEGIN IMMEDIATE`` so
that waiting for the write lock goes through the busy handler (a deferred read that
upgrades to a write skips it and fails with "database is locked"); apsw's errors reach
callers as StoreError.

An idle worker blocks in ``wait_for_change`` instead of polling: a commit by any
process appends to the ``-wal`` file, which Linux inotify reports within microseconds.
Where inotify is missing (macOS, Windows) the wait is a short poll that backs off from
2 ms to 50 ms while nothing changes; either way ``PRAGMA data_version`` decides.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import struct
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import apsw

from ...exceptions import StoreError
from .files import connect, store_error, verify_pages
from .schema import check_schema

BUSY_TIMEOUT = 60.0  # seconds a write may wait for the lock before StoreError
WAKE_SETTLE_SECONDS = 0.01  # how long a wake-up waits for the commit it saw to appear
WAL_AUTOCHECKPOINT_PAGES = 8000
CHECKPOINT_PATIENCE = 0.2  # seconds a checkpoint waits for the lock: never stall writers long
_CHECKPOINT_MODES = {"PASSIVE": apsw.SQLITE_CHECKPOINT_PASSIVE,
                     "RESTART": apsw.SQLITE_CHECKPOINT_RESTART,
                     "TRUNCATE": apsw.SQLITE_CHECKPOINT_TRUNCATE}


# -- opening ---------------------------------------------------------------------
#: how a process opens a store: "create" (a producer or worker: made if missing),
#: "existing" (must exist; writes), "read" (must exist; never writes, and opens
#: read-only where the file cannot be written, as on a read-only mount)
OPEN_MODES = ("create", "existing", "read")


def open_store(path: str, durability: str, on_busy: Any, mode: str = "create",
               verify: bool = False) -> apsw.Connection:
    """A configured connection to the litejobs store at ``path``.

    ``verify`` also checks every page of the file (``PRAGMA quick_check``), so that a
    damaged store is refused before anything is written to it.
    """
    if mode not in OPEN_MODES:
        raise ValueError(f"mode must be one of {OPEN_MODES}, not {mode!r}")
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise StoreError(f"{'cannot open' if mode == 'create' else 'no such'} store "
                         f"{path}: directory {directory} does not exist")
    if not os.path.exists(path):
        if mode != "create":
            raise StoreError(f"no such store: {path} does not exist (nothing was created; "
                             "check the path)")
        # Create it ourselves so it is owner-only from the start; SQLite gives the
        # -wal and -shm files the same mode as the database file.
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create store {path}: {exc.strerror}") from None
    try:
        conn = connect(path, read_only=mode == "read")
    except apsw.CantOpenError:
        raise StoreError(f"cannot open store {path}: permission denied or "
                         "not a regular file") from None
    try:
        conn.setbusyhandler(on_busy)
        if conn.readonly("main") and mode != "read":
            raise StoreError(f"store {path} is read-only: a worker or producer "
                             "needs to write to it")
        check_schema(conn, path, create=mode != "read")
        if verify:
            verify_pages(conn, path)
        if not conn.readonly("main"):
            _configure(conn, durability)
    except apsw.Error as exc:
        conn.close()
        raise store_error(path, exc) or StoreError(f"cannot open store {path}: {exc}") \
            from None
    except BaseException:
        conn.close()
        raise
    return conn


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


# -- forks -------------------------------------------------------------------------
_open_databases: weakref.WeakSet[Database] = weakref.WeakSet()


def _close_all_before_fork() -> None:
    for db in list(_open_databases):
        db.close_for_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_close_all_before_fork)


class Database:
    """This process's connection to one store file, for the transport's verbs.

    ``with db as conn:`` holds the connection lock, (re)opens the connection if it is
    closed or was opened before a fork, and maps apsw's errors to StoreError.
    """

    def __init__(self, path: str, durability: str, busy_timeout: float,
                 mode: str = "create", verify: bool = False) -> None:
        self.path = path
        self.durability = durability
        self.mode = mode
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._watch: FileWatch | None = None
        self._data_version = -1
        self._busy_started = 0.0
        # Pages are verified once, on the first open (not again in each forked child).
        self._conn: apsw.Connection | None = open_store(path, durability, self._on_busy,
                                                        mode, verify)
        self._pid = os.getpid()
        _open_databases.add(self)

    @property
    def connected(self) -> bool:
        """True while this process holds an open connection."""
        return self._conn is not None and self._pid == os.getpid()

    def __enter__(self) -> apsw.Connection:
        self._lock.acquire()
        try:
            if not self.connected:
                self._reopen()
        except BaseException:
            self._lock.release()
            raise
        return self._conn  # type: ignore[return-value]

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._lock.release()
        if exc is not None:
            mapped = self._store_error(exc)
            if mapped is not None:
                raise mapped from None

    def _store_error(self, exc: BaseException) -> StoreError | None:
        path = self.path
        if isinstance(exc, apsw.BusyError):
            return StoreError(f"store {path} is locked by another process (waited "
                              f"{time.monotonic() - self._busy_started:.1f}s of at most "
                              f"{self.busy_timeout:.0f}s)")
        return store_error(path, exc)

    def _reopen(self) -> None:
        if self._pid != os.getpid():  # a forked child: the watch fd is the parent's
            if self._watch is not None:
                self._watch.close()
            self._watch = None
            self._data_version = -1
        elif self._conn is not None:
            return
        self._conn = open_store(self.path, self.durability, self._on_busy, self.mode)
        self._pid = os.getpid()
        _open_databases.add(self)

    def _on_busy(self, prior_calls: int) -> bool:
        now = time.monotonic()
        if prior_calls == 0:
            self._busy_started = now
        if now - self._busy_started > self.busy_timeout:
            return False
        # Short sleeps: the lock is usually held for well under a millisecond, and is
        # taken again a few milliseconds later by a worker draining a queue; a waiter
        # that slept longer would miss the gap between (two pool children then ran no
        # faster than one). Past a second of waiting, longer sleeps spare the CPU.
        waited = now - self._busy_started
        time.sleep(min(0.00005 * (2 ** min(prior_calls, 3)), 0.0004) if waited < 1.0
                   else 0.01)
        return True

    # -- transactions (inside ``with db``) ------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[apsw.Connection]:
        """One write transaction, ``BEGIN IMMEDIATE``; rolled back on any error."""
        conn = self._conn
        assert conn is not None
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
    def snapshot(self) -> Iterator[apsw.Connection]:
        """Many reads in one read transaction: one consistent view, one lock."""
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def checkpoint(self, mode: str) -> tuple[int, int] | None:
        """Checkpoint the WAL; (frames in WAL, frames checkpointed), or None if busy.

        Another process checkpointing, or readers on old snapshots, make a checkpoint
        give up (SQLITE_BUSY) without waiting long; the next one catches up.
        """
        mode_value = _CHECKPOINT_MODES[mode]
        with self as conn:
            self._busy_started = time.monotonic()
            patience, self.busy_timeout = self.busy_timeout, CHECKPOINT_PATIENCE
            try:
                return conn.wal_checkpoint(mode=mode_value)
            except apsw.BusyError:
                return None
            finally:
                self.busy_timeout = patience

    def backup(self, path: str) -> None:
        """An online copy to the new file ``path``: one read snapshot, writers keep going."""
        target = os.path.abspath(path)
        if os.path.exists(target):
            raise StoreError(f"{path} exists: back up to a new file")
        if os.path.realpath(target) == os.path.realpath(self.path):
            raise StoreError("the backup would overwrite the store itself")
        tmp = f"{target}.{os.getpid()}.partial"
        with self as conn:
            dest = apsw.Connection(tmp)
            try:
                with dest.backup("main", conn, "main") as copy:
                    copy.step(-1)  # all pages from one snapshot (WAL readers block no one)
            finally:
                dest.close()
        os.replace(tmp, target)

    # -- waiting for another connection's commit --------------------------------------
    def wait_for_change(self, timeout: float) -> bool:
        """Block until the store may have changed, or ``timeout`` seconds; True if woken."""
        with self:
            if self._watch is None:
                # Watch before the first check, so a commit between the two is not missed.
                precise_sleeps()
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
            # First looks come soon (the commit is usually microseconds from done), later
            # ones further apart (a checkpoint's write changes no data: stay cheap).
            settle_until = time.monotonic() + (WAKE_SETTLE_SECONDS if woken else 0.0)
            pause = 0.00001
            while True:
                with self:
                    if self._changed():
                        watch.reset_backoff()
                        return True
                if time.monotonic() >= settle_until:
                    break
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def _changed(self) -> bool:
        assert self._conn is not None
        version = self._conn.execute("PRAGMA data_version").fetchall()[0][0]
        changed = version != self._data_version
        self._data_version = version
        return changed

    # -- closing -----------------------------------------------------------------------
    def close_for_fork(self) -> None:
        with self._lock:  # waits for a verb in another thread to finish
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
                self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                if self._watch:
                    self._watch.close()
                    self._watch = None
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            _open_databases.discard(self)


# -- wake-ups: Linux inotify ---------------------------------------------------------
_IN_MODIFY = 0x00000002
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_PR_SET_TIMERSLACK = 29
_EVENT_HEADER = struct.Struct("iIII")

_libc = None
if hasattr(os, "uname") and os.uname().sysname == "Linux":  # pragma: no branch
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.inotify_init1.argtypes = [ctypes.c_int]
        _libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        _libc = None


def precise_sleeps() -> None:
    """Let this process's short sleeps end on time (Linux: 1 us timer slack, not 50 us),
    so the first looks after a wake-up are 10-20 us apart, not 60-100."""
    if _libc is not None:
        _libc.prctl(_PR_SET_TIMERSLACK, 1000, 0, 0, 0)


class FileWatch:
    """Reports writes to ``names`` inside ``directory``."""

    POLL_MIN = 0.002
    POLL_MAX = 0.05

    def __init__(self, directory: str, names: set[str]) -> None:
        self._names = {n.encode() for n in names}
        self._fd = -1
        self._poll = self.POLL_MIN
        if _libc is not None and not os.environ.get("LITEJOBS_NO_INOTIFY"):
            fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
            if fd >= 0:
                wd = _libc.inotify_add_watch(
                    fd, os.fsencode(directory or "."), _IN_MODIFY | _IN_CREATE | _IN_MOVED_TO
                )
                if wd >= 0:
                    self._fd = fd
                else:
                    os.close(fd)

    @property
    def native(self) -> bool:
        return self._fd >= 0

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a write; True if one was seen (or maybe seen)."""
        if self._fd < 0:
            delay = min(timeout, self._poll)
            if delay > 0:
                time.sleep(delay)
            self._poll = min(self._poll * 2, self.POLL_MAX)
            return True
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([self._fd], [], [], max(remaining, 0.0))
            if readable and self._drain():
                return True
            if remaining <= 0:
                return False

    def reset_backoff(self) -> None:
        self._poll = self.POLL_MIN

    def _drain(self) -> bool:
        relevant = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return relevant
            offset = 0
            while offset + _EVENT_HEADER.size <= len(data):
                _wd, _mask, _cookie, length = _EVENT_HEADER.unpack_from(data, offset)
                start = offset + _EVENT_HEADER.size
                name = data[start:start + length].rstrip(b"\0")
                offset = start + length
                if name in self._names:
                    relevant = True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
