"""AsyncResult as in Celery (result_extended is always on), against a real worker."""

from __future__ import annotations

import threading

import litejobs

import jobs


def test_extended_fields_children_collect_then_and_join(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "2")
    result = jobs.add.apply_async((2, 3), queue="default")
    assert result.get(timeout=30) == 5
    assert (result.name, result.args, result.kwargs) == ("jobs.add", (2, 3), {})
    assert result.queue == "default" and result.retries == 0
    assert result.worker.split(":")[1] == str(worker.pid)  # the worker's id
    assert result.date_started <= result.date_done

    first = (jobs.add.s(1, 1) | jobs.add.s(10) | jobs.add.s(100)).apply_async()
    assert first.get(timeout=30) == 112
    root = first.parent.parent
    assert [r.id for r in root.children] == [first.parent.id]
    assert [value for _, value in root.collect(timeout=30)] == [2, 12, 112]

    done = threading.Event()
    seen = []
    jobs.add.delay(20, 22).then(lambda r: (seen.append(r.result), done.set()))
    assert done.wait(30) and seen == [42]

    group = litejobs.group(jobs.add.s(i, i) for i in range(4))()
    assert group.join(timeout=30) == [0, 2, 4, 6]
    assert group.join_native(timeout=30) == [0, 2, 4, 6]
    got = []
    assert group.join(timeout=30, callback=lambda task_id, value: got.append(
        (task_id, value))) is None
    assert got == [(r.id, 2 * i) for i, r in enumerate(group.results)]
