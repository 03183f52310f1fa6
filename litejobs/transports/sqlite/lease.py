"""The lease clock of a SQLite store: one clock for every process of the host.

Worker leases are compared across processes, so they must not trust any process's wall
clock (a clock step, or a process whose ``time.time`` is off, would make live workers
look dead and their jobs run twice). A SQLite store lives on one host, so leases use
``CLOCK_BOOTTIME``: shared by every process of the host, never stepped, counting through
suspend. Its values mean nothing after a reboot, so each lease carries the boot id and
a lease of another boot has ended (every process of that boot is gone). Where there is
no boot id (not Linux), leases fall back to the wall clock.

``now`` keeps its meaning as the caller's clock: the lease clock moves with it (tests
step it), and only the process's own wall clock, its skew, cancels out.
"""

from __future__ import annotations

import time

from ..common import LeaseClock

try:
    with open("/proc/sys/kernel/random/boot_id") as _f:
        BOOT_ID = _f.read().strip()
    _CLOCK = LeaseClock(lambda: time.clock_gettime(time.CLOCK_BOOTTIME), 0.001)
except (OSError, AttributeError):
    BOOT_ID, _CLOCK = "", None


def lease_now(now: float) -> float:
    """``now`` on the host's lease clock."""
    return now if _CLOCK is None else _CLOCK.now(now)
