"""What only the Redis store does: its wake-ups skip a connection's own changes."""

from __future__ import annotations

import secrets

from litejobs.job import JobState, Outcome

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
