"""``--autoscale MAX,MIN``: how many pool children to run, decided from what they do.

Pure: the supervisor asks ``decide`` once a second and starts or retires a child. As
Celery's autoscaler: grow at once while every child is busy and jobs wait (one child a
step, up to MAX); shrink by one after the pool has had an idle child for
``keepalive`` seconds (``$LITEJOBS_AUTOSCALE_KEEPALIVE``, default 30), down to MIN.
"""

from __future__ import annotations

import os


def parse(spec: str) -> tuple[int, int]:
    """``"10,3"`` -> (10, 3); ``"10"`` -> (10, 0). Celery's order: MAX first."""
    parts = [p.strip() for p in spec.split(",")]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"{spec!r}: expected MAX,MIN (two whole numbers)") from None
    if len(numbers) == 1:
        numbers.append(0)
    if len(numbers) != 2:
        raise ValueError(f"{spec!r}: expected MAX,MIN")
    high, low = max(numbers), min(numbers)
    if high < 1 or low < 0:
        raise ValueError(f"{spec!r}: MAX must be at least 1 and MIN at least 0")
    return high, low


class Autoscaler:
    def __init__(self, high: int, low: int, keepalive: float | None = None) -> None:
        self.high, self.low = high, low
        if keepalive is None:
            keepalive = float(os.environ.get("LITEJOBS_AUTOSCALE_KEEPALIVE", "30"))
        self.keepalive = keepalive
        self._idle_since: float | None = None

    def decide(self, alive: int, busy: int, waiting: bool, now: float) -> int:
        """+1 to start a child, -1 to retire an idle one, 0 to leave the pool as it is."""
        if alive < self.low:
            return 1
        if busy >= alive and waiting:
            self._idle_since = None
            return 1 if alive < self.high else 0
        if busy < alive:
            if self._idle_since is None:
                self._idle_since = now
            elif now - self._idle_since >= self.keepalive and alive > self.low:
                self._idle_since = now  # one step per keepalive
                return -1
        else:
            self._idle_since = None
        return 0
