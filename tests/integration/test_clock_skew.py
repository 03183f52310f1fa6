"""Leases do not trust the workers' clocks: a skewed worker never takes a live job."""

from __future__ import annotations

import pytest

import jobs
from helpers import wait_until
from integration.conftest import read_ledger


@pytest.mark.parametrize("shift", [60.0, -60.0])
def test_a_worker_with_a_skewed_clock_never_runs_a_live_job_twice(
        shift, app, start_worker, ledger, monkeypatch):
    # Given a normal worker and one whose wall clock is off by a minute, short leases
    start_worker("-A", "jobs", "-c", "1", lease=2)
    monkeypatch.setenv("LITEJOBS_TEST_CLOCK_SHIFT", str(shift))
    start_worker("-A", "jobs", "-c", "1", lease=2)
    monkeypatch.delenv("LITEJOBS_TEST_CLOCK_SHIFT")
    # When two long jobs run (one on each worker, or both on one) past several leases
    results = [jobs.record.delay(f"long{i}", 7) for i in range(2)]
    # Then each ran once: neither worker took the other's live jobs for a dead worker's
    assert [r.get(timeout=60) for r in results] == ["long0", "long1"]
    starts = [row for row in read_ledger(ledger) if row[0] == "start"]
    assert sorted(tag for _kind, tag, _pid, _ts in starts) == ["long0", "long1"], starts
    wait_until(lambda: len(app.transport.list_workers(jobs.time.time())) == 2, 10,
               message="both workers still live")
