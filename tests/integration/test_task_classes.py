"""Task handlers and class-based tasks on a real `litejobs worker`, on both stores."""

from __future__ import annotations

import pytest

import jobs
from helpers import wait_until
from integration.conftest import read_ledger


def handler_calls(ledger: str, job_id: str) -> list[str]:
    calls = []
    for kind, tag, _pid, _ts in read_ledger(ledger):
        if kind == "handler":
            hook, task_id, detail = tag.split(":", 2)
            if task_id == job_id:
                calls.append(f"{hook}:{detail}")
    return calls


def test_handlers_run_on_the_worker_in_celerys_order(app, start_worker, ledger):
    start_worker("-A", "jobs", "-c", "1")
    flaky = jobs.audited_flaky.delay(1)
    boom = jobs.audited_boom.delay()
    assert flaky.get(timeout=20) == "done"
    with pytest.raises(jobs.AppError):
        boom.get(timeout=20)
    # the handlers of the last attempt run before the worker stores its outcome
    wait_until(lambda: len(handler_calls(ledger, flaky.id)) == 6, 10, "flaky's handlers")
    assert handler_calls(ledger, flaky.id) == [
        "before_start:1", "on_retry:ValueError", "after_return:RETRY",
        "before_start:1", "on_success:done", "after_return:SUCCESS"]
    assert handler_calls(ledger, boom.id) == [
        "before_start:0", "on_failure:AppError,traced", "after_return:FAILURE"]


def test_a_class_based_task_runs_on_the_worker(app, start_worker):
    start_worker("-A", "jobs", "-c", "1")
    assert jobs.multiply.delay(6, 7).get(timeout=20) == 42
    assert app.send_task("jobs.multiply", (2, 5)).get(timeout=20) == 10
