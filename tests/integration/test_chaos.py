"""The short chaos run (the long one is benchmarks/chaos.py)."""

from __future__ import annotations

import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "benchmarks")


@pytest.mark.timeout(240)
def test_chaos_short(tmp_path):
    sys.path.insert(0, BENCHMARKS)
    try:
        from chaos import run_chaos
    finally:
        sys.path.remove(BENCHMARKS)
    # Given 4 producers, 2 workers of 4 processes, a pool child SIGKILLed every 0.5 s
    stats = run_chaos(str(tmp_path), n_jobs=1200, timeout=150)
    # Then no job was lost, every one finished, re-runs came only from kills, and no
    # job ever ran twice at the same time
    assert stats["kills"] > 10, stats
    assert stats["lost"] == 0, stats
    assert stats["succeeded"] == 1200, stats
    assert stats["duplicates"] <= stats["kills"], stats
    assert stats["overlaps"] == 0, stats
    assert stats["integrity"] == "ok", stats
