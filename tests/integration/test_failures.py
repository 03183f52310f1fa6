"""Failure paths on real processes: poison pills, fencing, orphans, dead letters, disk full."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from litejobs.exceptions import StoreError, WorkerLostError
from litejobs.testing import use_store

import jobs
from helpers import TESTS_DIR, alive, wait_until
from integration.conftest import read_ledger


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "litejobs", *args], cwd=TESTS_DIR,
                          capture_output=True, text=True, timeout=60)


def test_a_poison_pill_is_not_rerun_forever(app, start_worker, ledger):
    worker = start_worker("-A", "jobs", "-c", "1")
    result = jobs.poison.delay()  # max_retries=1: one crash re-run, then FAILURE
    with pytest.raises(WorkerLostError, match="lost its process 2 times"):
        result.get(timeout=30)
    assert len([r for r in read_ledger(ledger) if r[1] == "poison"]) == 2
    job = app.transport.get(result.id)
    assert job.crashes == 1 and job.attempts == 2
    assert jobs.add.delay(1, 1).get(timeout=20) == 2
    assert worker.proc.poll() is None


def test_a_frozen_workers_late_completion_is_dropped(app, start_worker, ledger):
    # Given a job running on worker A, and A frozen (SIGSTOP) past its lease
    first = start_worker("-A", "jobs", "-c", "1", lease=2)
    result = jobs.record.delay("slow", 2.0)
    wait_until(lambda: result.state == "STARTED", 20, message="job started")
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        # When worker B takes the job over and runs it again
        second = start_worker("-A", "jobs", "-c", "1", lease=2)
        def taken_over():
            job = app.transport.get(result.id)
            return job.attempts == 2 and job.pid in second.children()

        wait_until(taken_over, 20, message="job re-claimed by the second worker")
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    # Then A's completion of the old attempt is fenced off, and B's is the one kept
    assert result.get(timeout=30) == "slow"
    wait_until(lambda: "stale outcome" in first.output(), 20, message="stale outcome logged")
    runs = [r for r in read_ledger(ledger) if r[0] == "start" and r[1] == "slow"]
    assert len(runs) == 2
    assert app.transport.get(result.id).attempts == 2


def test_children_die_with_their_supervisor(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "2")
    result = jobs.sleep.delay(30)
    wait_until(lambda: result.state == "STARTED", 20, message="job started")
    children = worker.children()
    assert len(children) == 2
    os.kill(worker.pid, signal.SIGKILL)
    worker.proc.wait(10)

    wait_until(lambda: not any(alive(pid) for pid in children), 10,
               message="children to exit")


def test_dead_letters_purge_by_state(app, start_worker, store_path):
    start_worker("-A", "jobs", "-c", "1")
    failed = [jobs.fail.delay(str(i)) for i in range(3)]
    for r in failed:
        with pytest.raises(jobs.AppError):
            r.get(timeout=20)
    ok = jobs.add.delay(1, 1)
    assert ok.get(timeout=20) == 2
    out = cli("purge", store_path, "--state", "failure")
    assert out.returncode == 0 and "purged 3" in out.stdout, out.stdout + out.stderr
    assert all(app.transport.get(r.id) is None for r in failed)
    assert app.transport.get(ok.id) is not None
    bad = cli("purge", store_path, "--state", "running")
    assert bad.returncode == 2
    assert cli("purge", store_path, "--state", "failed").stdout.startswith("purged 0")
    assert cli("purge", store_path, "-f").stdout.startswith("purged 0")  # Celery's -f


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs the test fills up (needs root, as CI has)."""
    mount = tmp_path / "small"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                       check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.skip(f"cannot mount a small tmpfs here: {exc}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.one_store
def test_a_worker_that_cannot_write_keeps_its_outcome_and_resumes(small_disk, app,
                                                                  start_worker):
    # Given a worker running a job on a store whose disk is then filled up
    store = str(small_disk / "jobs.sqlite")
    with use_store(jobs.app, store) as app:
        start_worker("-A", "jobs", "-c", "1", store=store)
        running = jobs.sleep.delay(1.5)
        wait_until(lambda: running.state == "STARTED", 20, message="job started")
        app.transport.checkpoint("TRUNCATE")  # an empty WAL: the next commit needs space
        filler = small_disk / "filler"
        with open(filler, "wb") as f:
            f.write(b"\0" * shutil.disk_usage(small_disk).free)
        # When the job finishes, its outcome cannot be written: the worker holds on to it
        time.sleep(2.5)
        assert running.state == "STARTED"
        # Then, once space is back, the outcome is written and nothing was lost
        filler.unlink()
        assert running.get(timeout=30) == 1.5
        assert app.transport.get(running.id).attempts == 1  # not re-run: resumed


def test_a_read_only_store_fails_clearly_at_start(small_disk):
    store = str(small_disk / "jobs.sqlite")
    with use_store(jobs.app, store):
        jobs.add.delay(1, 1)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    out = cli("worker", store, "-A", "jobs")
    assert out.returncode == 1 and "read-only" in out.stderr, out.stderr


def test_disk_full_raises_clearly_and_loses_nothing_acknowledged(small_disk):
    store = str(small_disk / "jobs.sqlite")
    with use_store(jobs.app, store) as app:
        jobs.add.delay(0, 0)
        filler = small_disk / "filler"
        with open(filler, "wb") as f:  # leave about 600 KiB free
            f.write(b"\0" * (shutil.disk_usage(small_disk).free - 600 * 1024))
        acknowledged = 1
        with pytest.raises(StoreError, match="disk full"):
            for i in range(100_000):
                jobs.add.delay(i, i)
                acknowledged += 1
        stored = sum(app.transport.count_jobs().get("default", {}).values())
        assert stored == acknowledged  # every delay() that returned is stored; no more
        filler.unlink()
        jobs.add.delay(1, 1)  # space is back: enqueue works again
        assert app.run_until_idle() == acknowledged + 1
        assert app.transport.count_jobs()["default"] == {"success": acknowledged + 1}


def test_the_worker_prunes_expired_results(app, start_worker):
    start_worker("-A", "jobs", "-c", "1", lease=3, result_expires=0.5)
    done = [jobs.add.delay(i, i) for i in range(20)]
    assert [r.get(timeout=20) for r in done] == [2 * i for i in range(20)]
    # the supervisor prunes on every heartbeat (here every second)
    wait_until(lambda: all(app.transport.get(r.id) is None for r in done), 20,
               message="expired results pruned")


def test_a_missing_or_foreign_store_fails_the_worker_at_start(tmp_path):
    out = cli("worker", str(tmp_path / "no" / "such" / "jobs.sqlite"), "-A", "jobs")
    assert out.returncode == 1 and "does not exist" in out.stderr
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello" * 1000)
    out = cli("worker", str(foreign), "-A", "jobs")
    assert out.returncode == 1 and "not a SQLite database" in out.stderr
    assert foreign.read_text() == "hello" * 1000
