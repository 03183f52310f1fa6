"""How long to wait before retry number ``attempt``: pure."""

from __future__ import annotations

import random


def backoff(
    attempt: int,
    base: float,
    cap: float | None = None,
    jitter: bool = False,
    rng: random.Random | None = None,
) -> float:
    """Seconds before retry ``attempt`` (0-based): ``base * 2**attempt``, capped, maybe jittered.

    Jitter is "full jitter" as in Celery: a uniform draw from [0, delay], which
    spreads retries of many failing jobs apart.
    """
    delay = float(base) * (2 ** max(attempt, 0))
    if cap is not None:
        delay = min(delay, float(cap))
    if jitter:
        delay = (rng or random).uniform(0, delay)
    return delay
