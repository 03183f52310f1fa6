"""Workflows on a real worker, and chords while pool children are being SIGKILLed."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest

from litejobs import chain, chord, group
from litejobs.exceptions import ChordError

import jobs
from helpers import wait_until
from integration.conftest import read_ledger


def test_workflows_on_the_real_worker(app, start_worker):
    start_worker("-A", "jobs", "-c", "2")
    assert chain(jobs.add.s(2, 2), jobs.add.s(4), jobs.add.s(8)).apply_async().get(
        timeout=30) == 16
    assert group(jobs.add.s(i, i) for i in range(20))().get(timeout=30) == [
        2 * i for i in range(20)]
    urls = [f"https://example.com/{i}" for i in range(5)]
    seed = chord(group(jobs.download.s(u) for u in urls))(jobs.combine.s())
    assert seed.get(timeout=30)["urls"] == urls
    assert jobs.add.chunks([(i, 1) for i in range(10)], 4)().get(timeout=30) == [
        [1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    # chains as group members, the group itself a step of a chain
    fan = chain(jobs.add.s(1, 1), group(jobs.add.s(10) | jobs.add.s(100), jobs.add.s(1000)))
    assert fan.apply_async().get(timeout=30) == [112, 1002]
    # chains in a chord header; one whose first step fails fails the chord
    joined = chord([jobs.add.s(1, 1) | jobs.add.s(10), jobs.add.s(5, 5)], jobs.tsum.s())()
    assert joined.get(timeout=30) == 22
    broken = chord([jobs.fail.s("early") | jobs.add.s(1), jobs.add.s(1, 1)], jobs.tsum.s())()
    with pytest.raises(jobs.AppError, match="early"):  # the member's own, as in Celery
        broken.get(timeout=30)
    with pytest.raises(ChordError, match="early"):  # the body's record: the wrapper
        type(broken)(broken.id, app=app).get(timeout=30)


def test_chords_under_random_child_kills_fire_each_body_once(app, start_worker, ledger):
    # Given two workers whose pool children are SIGKILLed at random every 0.5 s while
    # 500 chords of 20 members each run
    workers = [start_worker("-A", "jobs", "-c", "2"), start_worker("-A", "jobs", "-c", "2")]
    n_chords, members = 500, 20
    rng = random.Random(7)
    results = [
        chord([jobs.chord_member.s(c, i, rng.uniform(0, 0.004)) for i in range(members)],
              jobs.chord_body.s(c))()
        for c in range(n_chords)
    ]
    kills = 0
    deadline = time.monotonic() + 150
    while not all(r.ready() for r in results) and time.monotonic() < deadline:
        children = [pid for w in workers for pid in w.children()]
        if children:
            try:
                os.kill(rng.choice(children), signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    # Then every chord fired its body exactly once (one body job each), with every
    # member's result; a body ran again only if its own process was killed
    wait_until(lambda: all(r.ready() for r in results), 90, message="all chords done")
    assert [r.get(timeout=10) for r in results] == [members] * n_chords
    body_jobs = app.transport.list_jobs(task="jobs.chord_body", limit=10 * n_chords)
    assert len(body_jobs) == n_chords
    runs = Counter(tag for kind, tag, _pid, _ts in read_ledger(ledger) if kind == "body")
    assert set(runs) == {str(c) for c in range(n_chords)}
    for c, result in enumerate(results):
        # every run was a claim (a claim may also be lost before the run starts)
        assert runs[str(c)] <= app.transport.get(result.id).attempts
    assert sum(runs.values()) - n_chords <= kills
    assert kills > 0


def test_signals_fire_in_the_worker(app, start_worker, ledger, monkeypatch):
    monkeypatch.setenv("LITEJOBS_TEST_WORKER_SIGNALS", "1")
    worker = start_worker("-A", "jobs", "-c", "1")
    ok, failed, retried = (jobs.signal_probe.delay(m) for m in ("ok", "fail", "retry"))
    ok.get(timeout=20)
    retried.get(timeout=20)
    failed.get(timeout=20, propagate=False)

    def seen(result):
        return [kind for kind, tag, _pid, _ts in read_ledger(ledger) if tag == result.id]

    assert seen(ok) == ["signal-task_prerun", "signal-task_success", "signal-task_postrun"]
    assert seen(failed) == ["signal-task_prerun", "signal-task_failure", "signal-task_postrun"]
    assert seen(retried) == ["signal-task_prerun", "signal-task_retry", "signal-task_postrun",
                             "signal-task_prerun", "signal-task_success",
                             "signal-task_postrun"]
    worker.signal(signal.SIGTERM)
    worker.wait(20)
    kinds = [(kind, pid) for kind, _tag, pid, _ts in read_ledger(ledger)
             if kind.startswith("signal-worker")]
    assert kinds == [("signal-worker_ready", worker.pid), ("signal-worker_shutdown", worker.pid)]
