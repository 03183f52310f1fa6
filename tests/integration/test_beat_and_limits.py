"""Real beat processes, worker -B, global rate limits, queue limits and paused queues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import jobs
from helpers import TESTS_DIR, wait_until
from integration.conftest import read_ledger, start_beat


def tick_slots(app) -> list[float]:
    ids = [j.id for j in app.transport.list_jobs(task="jobs.beat_tick", limit=100_000)]
    return sorted(float(i.rsplit(":", 1)[1]) for i in ids)


def test_two_beats_fire_once_per_tick_and_survive_a_leader_kill(app, store_path, tmp_path):
    # Given two beat processes on one store with a 1 s schedule
    beats = [start_beat(store_path, tmp_path, n, code_schedules=True) for n in range(2)]
    try:
        wait_until(lambda: len(tick_slots(app)) >= 5, 30, message="5 ticks")
        slots = tick_slots(app)
        # Then each tick fired once: slots are unique and 1 s apart
        assert len(slots) == len(set(slots))
        assert all(abs((b - a) - 1.0) < 1e-6 for a, b in zip(slots, slots[1:], strict=False))
        # When the leader is SIGKILLed, the other takes over within the lease (5 s)
        leader = app.transport.get_beat_leader(time.time())
        victim = next(p for p in beats if f":{p.pid}:" in leader)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(10)
        killed_at = time.time()
        wait_until(lambda: tick_slots(app)[-1] > killed_at + 1, 20, message="takeover")
        slots = tick_slots(app)
        assert len(slots) == len(set(slots))
        # a restart neither fires a slot twice nor replays every missed one
        beats.append(start_beat(store_path, tmp_path, 3, code_schedules=True))
        time.sleep(2)
        slots = tick_slots(app)
        assert len(slots) == len(set(slots))
    finally:
        for p in beats:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(10)


def test_worker_with_dash_b_runs_the_schedule(app, store_path, start_worker, monkeypatch):
    monkeypatch.setenv("LITEJOBS_TEST_BEAT", "1")
    start_worker("-A", "jobs", "-c", "1", "-B")
    wait_until(lambda: len(tick_slots(app)) >= 2, 20, message="two ticks")
    first = app.transport.list_jobs(task="jobs.beat_tick")[-1]
    wait_until(lambda: app.AsyncResult(first.id).state == "SUCCESS", 20, message="tick ran")
    from litejobs.metrics import status_data

    data = status_data(app)
    assert data["schedules"][0]["name"] == "tick" and data["beat_leader"]


def test_rate_limit_holds_across_two_workers(app, start_worker, ledger):
    # Given 40 jobs of a 10/s task and 10 unlimited jobs in the same queue
    limited = [jobs.rate_limited.delay(f"r{i}") for i in range(40)]
    free = [jobs.add.delay(i, 1) for i in range(10)]
    started = time.time()
    start_worker("-A", "jobs", "-c", "2")
    start_worker("-A", "jobs", "-c", "2")
    # Then the unlimited jobs finish while the limited ones still wait
    assert [r.get(timeout=20) for r in free] == list(range(1, 11))
    assert not all(r.ready() for r in limited)
    assert [r.get(timeout=30) for r in limited] == [f"r{i}" for i in range(40)]
    assert sum(1 for kind, *_ in read_ledger(ledger) if kind == "start") == 40
    # The limit governs claims, so judge it by the claim times the store keeps: the
    # ledger's in-task times add the child's start-up jitter, which no limiter controls.
    times = sorted(app.transport.get(r.id).started_at for r in limited)
    # no one-second window holds more than 10 starts
    busiest = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert busiest <= 10, busiest
    # and the limiter does not starve the task: the total is within 10% of 39 gaps of
    # 1.02/10 s
    expected = 39 * 1.02 / 10
    assert expected * 0.9 <= times[-1] - times[0] <= expected * 1.1, times[-1] - times[0]
    assert all(app.transport.get(r.id).attempts == 1 for r in limited)  # waits cost nothing
    assert time.time() - started < 30


def test_queue_concurrency_limit_across_workers(app, start_worker, ledger):
    start_worker("-A", "jobs", "-c", "2", "-Q", "slowq:1,default")
    start_worker("-A", "jobs", "-c", "2", "-Q", "slowq:1,default")
    results = [jobs.one_at_a_time.delay(f"s{i}", 0.2) for i in range(6)]
    assert [r.get(timeout=30) for r in results] == [f"s{i}" for i in range(6)]
    spans = {}
    for kind, tag, _pid, ts in read_ledger(ledger):
        spans.setdefault(tag, {})[kind] = ts
    ordered = sorted((s["start"], s["end"]) for s in spans.values())
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        assert start >= end - 0.01  # never two at once


def test_pause_and_resume_a_queue(app, store_path, start_worker):
    start_worker("-A", "jobs", "-c", "2")
    out = subprocess.run([sys.executable, "-m", "litejobs", "pause", store_path, "default"],
                         capture_output=True, text=True, cwd=TESTS_DIR)
    assert out.returncode == 0 and "paused" in out.stdout
    held = jobs.add.delay(1, 2)
    time.sleep(1.0)  # a paused queue is not claimed, however long we wait
    assert held.state == "PENDING"
    other = jobs.add.apply_async((2, 2), queue="default2")
    assert other.state == "PENDING"
    app.resume_queue("default")
    assert held.get(timeout=20) == 3
    app.pause_queue("default")
    assert app.transport.list_paused_queues() == ["default"]


def test_an_idle_worker_does_not_spin_on_a_paused_queue(app, start_worker):
    from integration.conftest import cpu_seconds

    worker = start_worker("-A", "jobs", "-c", "2")
    app.pause_queue("default")
    for i in range(20):
        jobs.add.delay(i, i)
    time.sleep(0.5)
    pids = [worker.pid, *worker.children()]
    before = sum(cpu_seconds(p) for p in pids)
    time.sleep(2)
    assert sum(cpu_seconds(p) for p in pids) - before < 0.2


@pytest.mark.parametrize("spec", ["emails:0", "emails:x"])
def test_bad_queue_limits_are_refused(store_path, spec):
    out = subprocess.run([sys.executable, "-m", "litejobs", "worker", store_path, "-Q", spec],
                         capture_output=True, text=True, cwd=TESTS_DIR, timeout=30)
    assert out.returncode == 2 and "queue limit" in out.stderr
