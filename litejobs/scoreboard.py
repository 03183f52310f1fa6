"""What each pool child is running, in shared memory the supervisor reads without asking.

One fixed-size slot per child, in a small file mapped by the supervisor and every
child (a file, not anonymous memory, so that spawned children can map it too).
The supervisor uses it for hard time limits, ``revoke(terminate=True)`` and the
"jobs running" count of the heartbeat, with no message per job.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
import time

from .core import Core
from .job import Job

# started (epoch s), hard deadline (epoch s, 0 = none), attempt, pid, processed, job id
_SLOT = struct.Struct("<ddqqq40s")


class Scoreboard:
    def __init__(self, slots: int, path: str | None = None) -> None:
        self.slots = slots
        self.size = max(_SLOT.size * slots, 1)
        if path is None:
            fd, path = tempfile.mkstemp(prefix="litejobs-scoreboard-")
            os.ftruncate(fd, self.size)
            self.owner = True
        else:
            fd = os.open(path, os.O_RDWR)
            self.owner = False
        self.path = path
        self._map = mmap.mmap(fd, self.size)
        os.close(fd)

    def start(self, slot: int, job: Job, app: Core) -> None:
        task = app.find_task(job.task)
        limit = job.options.get("time_limit") or (task.time_limit if task else None) \
            or app.conf.task_time_limit
        now = time.time()
        _SLOT.pack_into(self._map, slot * _SLOT.size, now, now + limit if limit else 0.0,
                        job.attempts, os.getpid(), self.processed(slot), job.id.encode()[:40])

    def finish(self, slot: int) -> None:
        _SLOT.pack_into(self._map, slot * _SLOT.size, 0.0, 0.0, 0, os.getpid(),
                        self.processed(slot) + 1, b"")

    def clear(self, slot: int) -> None:
        _SLOT.pack_into(self._map, slot * _SLOT.size, 0.0, 0.0, 0, 0, self.processed(slot), b"")

    def processed(self, slot: int) -> int:
        return _SLOT.unpack_from(self._map, slot * _SLOT.size)[4]

    def read(self, slot: int) -> tuple[str | None, int, float, float, int]:
        """``(job_id or None, attempt, started, deadline, pid)`` of a slot."""
        started, deadline, attempt, pid, _processed, raw = _SLOT.unpack_from(
            self._map, slot * _SLOT.size)
        job_id = raw.rstrip(b"\0").decode() or None
        return job_id, attempt, started, deadline, pid

    def total_processed(self) -> int:
        return sum(self.processed(i) for i in range(self.slots))

    def close(self) -> None:
        self._map.close()
        if self.owner:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

