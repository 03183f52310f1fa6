"""A worker serves the queues it consumes in turn (kombu's round-robin), on both stores."""

from __future__ import annotations

from litejobs import group

import jobs


def test_a_quiet_queue_is_served_beside_a_flooded_one(app, start_worker):
    # Given 3,000 jobs in "flood", then one in "quiet"
    flood = group(jobs.add.s(i, 0).set(queue="flood") for i in range(3000))()
    quiet = jobs.add.apply_async((1, 1), queue="quiet")
    # When a worker consumes both
    start_worker("-A", "jobs", "-c", "1", "-Q", "flood,quiet")
    # Then the quiet job runs without waiting for the flood to drain
    assert quiet.get(timeout=30) == 2
    done = app.transport.count_jobs().get("flood", {}).get("success", 0)
    assert done < 500, f"{done} flood jobs ran before the quiet one"
    assert flood.get(timeout=120) == list(range(3000))
