"""Time limits and revoke(terminate=True) on a real worker."""

from __future__ import annotations

import time

import pytest

from litejobs.exceptions import SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded

import jobs
from helpers import wait_until


def test_soft_time_limit_raises_inside_the_task(app, start_worker):
    start_worker("-A", "jobs", "-c", "2")
    spinning = jobs.spin_until_soft_limit.delay()
    polite = jobs.clean_up_at_soft_limit.delay()
    with pytest.raises(SoftTimeLimitExceeded):
        spinning.get(timeout=20)
    assert polite.get(timeout=20) == "cleaned up"
    job = app.transport.get(polite.id)
    assert 0.4 < job.done_at - job.started_at < 5


@pytest.mark.parametrize("task", ["sleep_past_hard_limit", "swallow_soft_limit"])
def test_hard_time_limit_kills_the_child_and_fails_the_job(app, start_worker, task):
    worker = start_worker("-A", "jobs", "-c", "2")
    before = set(worker.children())
    result = getattr(jobs, task).delay()
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=20)
    assert result.state == "FAILURE"
    wait_until(lambda: len(worker.children()) == 2, 10, message="pool back to 2 children")
    assert set(worker.children()) != before  # one child was replaced
    assert jobs.add.delay(1, 2).get(timeout=20) == 3


def test_revoke_terminate_kills_a_running_job(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "1")
    result = jobs.sleep.delay(60)
    wait_until(lambda: result.state == "STARTED", 20, message="job started")
    child = app.transport.get(result.id).pid
    started = time.monotonic()
    result.revoke(terminate=True)
    assert result.state == "REVOKED"
    wait_until(lambda: child not in worker.children(), 10, message="child killed")
    assert time.monotonic() - started < 10
    with pytest.raises(TaskRevokedError):
        result.get(timeout=5)
    assert jobs.add.delay(2, 2).get(timeout=20) == 4  # a replacement child took over
    assert app.transport.get(result.id).state.value == "revoked"


def test_revoke_without_terminate_lets_a_running_job_finish(app, start_worker):
    start_worker("-A", "jobs", "-c", "1")
    result = jobs.sleep.delay(0.5)
    wait_until(lambda: result.state == "STARTED", 20, message="job started")
    result.revoke()
    assert result.get(timeout=20) == 0.5


def test_a_hard_limit_kill_is_retried_when_the_task_autoretries_for_it(app, start_worker):
    start_worker("-A", "jobs", "-c", "1")
    result = jobs.slow_then_fast.delay("once")
    assert result.get(timeout=30) == "fast"
    job = app.transport.get(result.id)
    assert job.retries == 1 and job.attempts == 2
