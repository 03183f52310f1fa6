"""Unique jobs (docs/unique.md) with real workers and real producer processes, on both
stores: a duplicate call returns the job holding the key; producers racing on one key
store one job."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import jobs
from helpers import TESTS_DIR, wait_until
from integration.conftest import read_ledger

PRODUCER = textwrap.dedent("""
    import os, sys, time
    import jobs
    go = sys.argv[1]
    open(sys.argv[2], "w").close()        # ready
    while not os.path.exists(go):         # the barrier: every producer starts at once
        time.sleep(0.001)
    ids = {jobs.unique_record.delay("race").id for _ in range(int(sys.argv[3]))}
    print(" ".join(sorted(ids)))
""")


def _total(app, task: str) -> int:
    return len(app.transport.list_jobs(task=task, limit=1000))


def test_producers_racing_on_one_key_store_one_job(app, store_path, tmp_path):
    # Given four producer processes waiting at a barrier, each about to call delay()
    # 200 times with the same arguments (one key), and no worker to take the job
    n, calls = 4, 200
    go = str(tmp_path / "go")
    env = dict(os.environ, LITEJOBS_TEST_DB=store_path)
    app.transport.list_jobs()  # the store exists before they open it
    procs = []
    for i in range(n):
        ready = str(tmp_path / f"ready-{i}")
        procs.append((ready, subprocess.Popen(
            [sys.executable, "-c", PRODUCER, go, ready, str(calls)], cwd=TESTS_DIR, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    wait_until(lambda: all(os.path.exists(r) for r, _ in procs), 60, message="producers")
    # When they all start at once
    open(go, "w").close()
    outputs = []
    for _, proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out.split())
    # Then every call of every producer got the one job, and the store holds one
    ids = {i for out in outputs for i in out}
    assert len(ids) == 1, outputs
    assert _total(app, jobs.unique_record.name) == 1
    assert app.transport.get(ids.pop()).state.value == "pending"


def test_a_finished_job_answers_for_unique_for_then_a_new_one_runs(app, start_worker,
                                                                    ledger):
    start_worker("-A", "jobs", "-c", "1")
    window = 6.0  # room for a loaded machine between the finish and the next call
    first = jobs.unique_record.apply_async(("a",), unique_for=window)
    # waiting or running: the same job
    assert jobs.unique_record.apply_async(("a",), unique_for=window).id == first.id
    assert first.get(timeout=30) == "a"
    # finished less than unique_for ago: still the same job, and its result
    again = jobs.unique_record.apply_async(("a",), unique_for=window)
    done = app.transport.get(first.id).done_at
    assert again.id == first.id and again.get(timeout=1) == "a"
    # a job of other arguments is a job of its own
    assert jobs.unique_record.apply_async(("b",), unique_for=window).get(timeout=30) == "b"

    # past the window, the next call enqueues a new job (polled, not slept on)
    def new_job():
        result = jobs.unique_record.apply_async(("a",), unique_for=window)
        return result if result.id != first.id else None

    later = wait_until(new_job, 60, interval=0.1, message="a new job after unique_for")
    assert later.id != first.id
    assert time.time() - done >= window
    assert later.get(timeout=30) == "a"
    runs = [tag for kind, tag, _, _ in read_ledger(ledger) if kind == "unique"]
    assert sorted(runs) == ["a", "a", "b"]


def test_a_failed_job_frees_its_key_at_once(app, start_worker, ledger):
    start_worker("-A", "jobs", "-c", "1")
    def send():
        return jobs.fail_once.apply_async(("f",), unique_for=3600)

    first = send()
    wait_until(lambda: first.state == "FAILURE", 30, message="the first run's failure")
    second = send()
    assert second.id != first.id and second.get(timeout=30) == "f ok"
    assert send().id == second.id
