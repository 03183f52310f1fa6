"""What only the Redis store does: its wake-ups skip a connection's own changes."""

from __future__ import annotations

import secrets

import litejobs
from litejobs.dashboard.joblist import scan_note
from litejobs.job import JobState, Outcome
from litejobs.transports.base import JobQuery
from litejobs.transports.redis import search

from .test_contract import NOW, make_job


def test_a_worker_is_not_woken_by_its_own_claim_or_settle(redis_url):
    from litejobs.transports.redis import RedisTransport

    prefix = f"test-{secrets.token_hex(4)}"
    worker, producer = RedisTransport(redis_url, prefix=prefix), RedisTransport(
        redis_url, prefix=prefix)
    try:
        assert worker.wait_for_change(0) is True  # subscribes: may have missed something
        producer.enqueue([make_job(), make_job()], NOW)
        assert worker.wait_for_change(5) is True  # another connection's change wakes it
        (job,) = worker.claim(["default"], "w1", 1, 1, NOW)
        assert worker.wait_for_change(0.2) is False  # its own claim does not
        worker.settle([Outcome(job.id, 1, JobState.SUCCESS)], NOW)
        assert worker.wait_for_change(0.2) is False  # nor its own settle
        (job,) = worker.claim(["default"], "w1", 1, 1, NOW,
                              settle=[Outcome(job.id, 1, JobState.SUCCESS)])
        assert worker.wait_for_change(0.2) is False
        producer.settle([Outcome(job.id, 1, JobState.SUCCESS)], NOW)
        assert worker.wait_for_change(5) is True
    finally:
        worker.close()
        producer.close()


def test_a_search_reads_the_newest_jobs_at_most_and_the_page_says_so(redis_url, monkeypatch):
    monkeypatch.setattr(search, "SCAN_LIMIT", 5)  # the store's bound, made small
    app = litejobs.App(redis_url, redis_key_prefix=f"test-{secrets.token_hex(4)}")
    transport = app.transport
    transport.search_scan_limit = 5
    try:
        jobs = [make_job(task=f"t.{11 - i:02d}") for i in range(12)]  # newest: t.00
        for i, job in enumerate(jobs):
            transport.enqueue([job], NOW + i)
        by_task = transport.search_jobs(JobQuery(sort="task", limit=3))
        assert [j.task for j in by_task] == ["t.04", "t.03", "t.02"]  # of the newest 5
        deep = transport.search_jobs(JobQuery(limit=3, offset=8))  # a plain page: all
        assert [j.task for j in deep] == ["t.08", "t.09", "t.10"]
        note = scan_note(app, JobQuery(sort="task"))
        assert note and "newest 5 jobs (of 12)" in note
        assert scan_note(app, JobQuery()) is None  # unfiltered, by creation: every job
    finally:
        transport.purge()  # the waiting jobs this test made
        app.close()
