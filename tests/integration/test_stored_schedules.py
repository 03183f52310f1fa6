"""Schedules edited while two real ``litejobs beat`` processes run (CLI and app.schedules)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from helpers import TESTS_DIR, wait_until
from integration.conftest import start_beat


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "litejobs", "schedule", *args], cwd=TESTS_DIR,
                          capture_output=True, text=True, timeout=60, check=False)


def slots(app, name: str) -> list[float]:
    ids = [j.id for j in app.transport.list_jobs(task="jobs.beat_tick", limit=100_000)
           if j.id.startswith(f"beat:{name}:")]
    return sorted(float(i.rsplit(":", 1)[1]) for i in ids)


def test_a_schedule_added_while_two_beats_run_fires_each_slot_once_and_stops(
        app, store_path, tmp_path):
    beats = [start_beat(store_path, tmp_path, n) for n in range(2)]
    try:
        wait_until(lambda: app.transport.get_beat_leader(time.time()), 30, message="a leader")
        # When a schedule is added from the shell while both beats run
        added = cli("add", store_path, "live", "jobs.beat_tick", "1")
        assert added.returncode == 0, added.stderr
        added_at = time.time()
        # Then the leader fires it without a restart, its first slot within a second or so
        wait_until(lambda: slots(app, "live"), 15, message="the first slot")
        assert slots(app, "live")[0] - added_at < 2.5
        wait_until(lambda: len(slots(app, "live")) >= 4, 30, message="4 slots")
        fired = slots(app, "live")
        assert len(fired) == len(set(fired))  # each slot once, with two beats
        assert all(abs((b - a) - 1.0) < 1e-6 for a, b in zip(fired, fired[1:], strict=False))
        # When it is made slower through the API, the beats follow the edit
        app.schedules.update("live", schedule=2.0)
        edited_at = time.time()
        wait_until(lambda: slots(app, "live")[-1] > edited_at + 3, 30, message="slower slots")
        after = [s for s in slots(app, "live") if s > edited_at + 1.5]
        assert all(abs((b - a) - 2.0) < 1e-6 for a, b in zip(after, after[1:], strict=False))
        # When it is disabled, it stops firing (after at most one slot in flight)
        assert cli("disable", store_path, "live").returncode == 0
        disabled_at = time.time()
        time.sleep(0.2)
        count = len(slots(app, "live"))
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:  # 4 s = two slots that must not fire
            time.sleep(0.2)
        assert len(slots(app, "live")) == count
        assert all(s <= disabled_at for s in slots(app, "live"))
        listed = cli("ls", store_path)
        assert "live  jobs.beat_tick  <every 2s>  [store, disabled]" in listed.stdout
    finally:
        for p in beats:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(10)
