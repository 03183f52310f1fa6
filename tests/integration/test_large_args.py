"""Large arguments are written once: claiming and settling rewrite only small state."""

from __future__ import annotations

import os
import shutil

import pytest

from litejobs.exceptions import StoreError
from litejobs.job import JobState
from litejobs.testing import use_store

import jobs
from helpers import wait_until
from integration.test_failures import small_disk  # noqa: F401 - the fixture

pytestmark = pytest.mark.one_store


def wal_bytes_per_drained_job(store: str, arg_size: int, n: int = 200) -> float:
    with use_store(jobs.app, store) as app:
        for _ in range(n):
            jobs.size.delay("x" * arg_size)
        app.transport.checkpoint("TRUNCATE")  # an empty log: measure only the drain
        assert os.path.getsize(store + "-wal") == 0
        assert app.run_until_idle() == n
        assert app.transport.count_jobs()["default"] == {"success": n}
        return os.path.getsize(store + "-wal") / n


def test_draining_large_jobs_writes_about_as_much_log_as_small_ones(tmp_path):
    small = wal_bytes_per_drained_job(str(tmp_path / "small.sqlite"), 100)
    large = wal_bytes_per_drained_job(str(tmp_path / "large.sqlite"), 20_000)
    # a 20 KB argument is written at enqueue, never again by claim or settle
    assert large <= 3 * small, (small, large)


def test_a_store_that_filled_its_disk_runs_every_acknowledged_job_once_space_returns(
        small_disk, start_worker):  # noqa: F811 - the fixture
    # Given a store on a 4 MiB disk filled with 20 KB jobs (checkpointed as a worker's
    # supervisor would), and 1 MiB held back by another file
    store = str(small_disk / "jobs.sqlite")
    reserve = small_disk / "reserve"
    reserve.write_bytes(b"\0" * (1024 * 1024))
    acknowledged = []
    with use_store(jobs.app, store) as app:
        with pytest.raises(StoreError, match="disk full"):
            for i in range(10_000):
                acknowledged.append(jobs.size.delay("x" * 20_000))
                if i % 10 == 9:
                    app.transport.checkpoint("PASSIVE")
        assert len(acknowledged) > 50
        assert shutil.disk_usage(small_disk).free < 64 * 1024
        # When 1 MiB of space returns and a worker starts
        reserve.unlink()
        start_worker("-A", "jobs", "-c", "1", store=store)
        # Then every acknowledged job runs, once
        wait_until(lambda: app.transport.count_jobs().get("default", {}).get("success", 0)
                   == len(acknowledged), 60, message="every acknowledged job ran")
        for result in acknowledged:
            job = app.transport.get(result.id)
            assert (job.state, job.attempts) == (JobState.SUCCESS, 1)
            assert result.get(timeout=5) == 20_000
