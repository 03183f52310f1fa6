"""Wake up when a file in a directory is written (Linux inotify), else a backed-off poll.

An idle worker blocks here instead of polling the store: a commit by any process
appends to the ``-wal`` file, which inotify reports within microseconds. Where
inotify is missing (macOS, Windows) ``wait()`` returns after a short poll interval
that backs off from 2 ms to 50 ms while nothing changes, and the caller checks
the store's change counter.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import time

_IN_MODIFY = 0x00000002
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_EVENT_HEADER = struct.Struct("iIII")

_libc = None
if hasattr(os, "uname") and os.uname().sysname == "Linux":  # pragma: no branch
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.inotify_init1.argtypes = [ctypes.c_int]
        _libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        _libc = None


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
