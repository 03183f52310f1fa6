"""Nothing waits behind a running job: batching costs no latency (real workers, both stores)."""

from __future__ import annotations

import time

from litejobs import group

import jobs
from helpers import wait_until


def warm_up(n: int = 300) -> None:
    """Fast jobs, so the worker claims them in large batches from now on."""
    assert group(jobs.add.s(i, i) for i in range(n))().get(timeout=60) == [
        2 * i for i in range(n)]


def test_a_finished_result_does_not_wait_for_the_next_job(app, start_worker):
    start_worker("-A", "jobs", "-c", "1")
    warm_up()
    # Given one child with a batch of [fast, slow, fast] (one task, so the claim order is
    # the group's: members of different tasks may differ in eta by microseconds)
    first, slow, second = group([jobs.sleep.s(0), jobs.sleep.s(4), jobs.sleep.s(0.001)])(
    ).results
    # Then the first result is stored while the slow job runs
    assert first.get(timeout=2) == 0
    wait_until(lambda: slow.state == "STARTED", 5, message="slow job started")
    # and the second, claimed behind it but not started, is back in the queue, waiting
    wait_until(lambda: second.state == "PENDING", 2, message="second handed back")
    time.sleep(0.5)
    assert slow.state == "STARTED" and second.state == "PENDING"
    assert app.transport.get(second.id).started_at is None
    assert second.get(timeout=20) == 0.001
    assert slow.get(timeout=20) == 4


def test_jobs_behind_a_long_job_go_to_an_idle_sibling(app, start_worker):
    start_worker("-A", "jobs", "-c", "2")
    warm_up()
    # Given a long job with 30 fast ones queued behind it in the same child's batches
    results = group([jobs.sleep.s(20)] + [jobs.sleep.s(i / 1000) for i in range(30)])()
    long_job, fast = results.results[0], results.results[1:]
    # Then the fast ones all finish while the long job runs (the other child takes them)
    assert [r.get(timeout=10) for r in fast] == [i / 1000 for i in range(30)]
    assert long_job.state == "STARTED"
    long_job.revoke(terminate=True)
