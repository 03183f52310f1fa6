"""`litejobs worker` as users run it: a subprocess, real signals, real SIGKILLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from litejobs.exceptions import NotRegistered, TaskRevokedError, WorkerLostError

import jobs
from helpers import TESTS_DIR, wait_until
from integration.conftest import cpu_seconds, read_ledger


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "litejobs", *args], cwd=TESTS_DIR,
                          capture_output=True, text=True, timeout=60)


def test_worker_runs_jobs_and_reports_status(app, start_worker, store_path):
    worker = start_worker("-A", "jobs", "-c", "2", "-l", "info")
    results = [jobs.add.delay(i, i) for i in range(50)]
    assert [r.get(timeout=20) for r in results] == [2 * i for i in range(50)]
    assert "Task jobs.add[" in worker.output() and "succeeded in" in worker.output()

    out = cli("status", store_path)
    assert out.returncode == 0, out.stderr
    assert "default" in out.stdout and "Workers (1 live)" in out.stdout
    assert f"pid={worker.pid}" in out.stdout and "concurrency=2" in out.stdout
    data = json.loads(cli("status", store_path, "--json").stdout)
    assert data["queues"]["default"]["success"] == 50
    assert data["workers"][0]["queues"] == ["default"]

    failed = jobs.fail.delay("kaput")
    with pytest.raises(jobs.AppError):
        failed.get(timeout=20)
    shown = cli("inspect", store_path, failed.id)
    assert shown.returncode == 0
    for text in (failed.id, "jobs.fail", "FAILURE", "('kaput',)", "AppError: kaput",
                 "Traceback", "attempts:"):
        assert text in shown.stdout, text
    whole = json.loads(cli("inspect", store_path, results[0].id, "--json").stdout)
    assert whole["state"] == "SUCCESS" and whole["result"] == 0 and whole["args"] == [0, 0]
    missing = cli("inspect", store_path, "no-such-id")
    assert missing.returncode == 3 and "no job" in missing.stderr


def test_queue_routing_and_warning_for_unconsumed_queues(app, start_worker, store_path):
    start_worker("-A", "jobs", "-c", "1", "-Q", "emails,other")
    email = jobs.send_email.delay("ada@example.com")
    other = jobs.add.apply_async((1, 2), queue="other")
    stays = jobs.add.delay(3, 4)
    assert email.get(timeout=20) == "sent to ada@example.com"
    assert other.get(timeout=20) == 3
    time.sleep(0.3)  # give the worker a chance to (wrongly) take the default-queue job
    assert stays.state == "PENDING"
    out = cli("status", store_path).stdout
    assert "Warning: queue 'default' has 1 waiting job(s) and no live worker consumes it" in out


def test_priority_order(app, start_worker, ledger):
    for tag, priority in (("p0", 0), ("p9", 9), ("p5", 5), ("p5b", 5)):
        jobs.record.apply_async((tag,), priority=priority)
    start_worker("-A", "jobs", "-c", "1")
    wait_until(lambda: len(read_ledger(ledger)) == 8, 20, message="4 jobs")
    started = [tag for kind, tag, _pid, _ts in read_ledger(ledger) if kind == "start"]
    assert started == ["p9", "p5", "p5b", "p0"]


def test_countdown_job_starts_on_time(app, start_worker):
    start_worker("-A", "jobs", "-c", "1")
    result = jobs.add.apply_async((1, 1), countdown=1.0)
    assert result.get(timeout=20) == 2
    job = app.transport.get(result.id)
    lateness = job.started_at - job.eta
    assert 0 <= lateness < 0.5, lateness  # the benchmark measures it closely; this is loose


def test_expired_jobs_never_run(app, start_worker, ledger):
    gone = jobs.record.apply_async(("late",), expires=0.01)
    time.sleep(0.05)
    start_worker("-A", "jobs", "-c", "1")
    with pytest.raises(TaskRevokedError):
        gone.get(timeout=20)
    assert gone.state == "REVOKED"
    assert read_ledger(ledger) == []


def test_unregistered_names_fail_the_job_not_the_worker(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "1")
    missing = app.send_task("jobs.not_a_task")
    nowhere = app.send_task("nowhere.at_all", args=(1,))
    with pytest.raises(NotRegistered):
        missing.get(timeout=20)
    with pytest.raises(NotRegistered):
        nowhere.get(timeout=20)
    assert jobs.add.delay(1, 1).get(timeout=20) == 2
    assert worker.proc.poll() is None


def test_without_dash_a_tasks_are_imported_by_name(app, start_worker):
    start_worker("-c", "1")
    assert app.send_task("jobs.add", (20, 22)).get(timeout=20) == 42


def test_solo_pool(app, start_worker):
    # Celery's spellings: -P for the pool, -E (events are always on) accepted
    worker = start_worker("-A", "jobs", "-P", "solo", "-E", "--loglevel", "info")
    assert jobs.pid.delay().get(timeout=20) == worker.pid


def test_spawn_start_method(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "1", "--start-method", "spawn")
    child = jobs.pid.delay().get(timeout=30)
    assert child in worker.children()


def test_warm_shutdown_finishes_running_jobs(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "1")
    running = jobs.sleep.delay(1.0)
    wait_until(lambda: running.state == "STARTED", 20, message="job started")
    queued = jobs.add.delay(1, 1)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert running.state == "SUCCESS" and running.get() == 1.0
    assert queued.state == "PENDING"  # not claimed after the shutdown began
    assert app.transport.list_workers(time.time()) == []


def test_second_ctrl_c_hands_running_jobs_back(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "1")
    running = jobs.sleep.delay(30)
    wait_until(lambda: running.state == "STARTED", 20, message="job started")
    worker.signal(signal.SIGINT)
    time.sleep(0.2)
    worker.signal(signal.SIGINT)
    worker.wait(20)
    assert running.state == "PENDING"
    job = app.transport.get(running.id)
    assert job.state.value == "pending" and job.worker is None


def test_killed_pool_child_is_replaced_and_its_job_runs_again(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "2")
    result = jobs.sleep.delay(1.5)
    wait_until(lambda: result.state == "STARTED", 20, message="job started")
    victim = app.transport.get(result.id).pid
    os.kill(victim, signal.SIGKILL)
    assert result.get(timeout=30) == 1.5
    job = app.transport.get(result.id)
    assert job.attempts == 2 and job.pid is None
    wait_until(lambda: len(worker.children()) == 2, 10, message="pool back to 2")
    assert victim not in worker.children()


def test_killed_pool_child_fails_an_at_most_once_job(app, start_worker):
    start_worker("-A", "jobs", "-c", "1")
    result = jobs.sleep_at_most_once.delay(30)
    wait_until(lambda: result.state == "STARTED", 20, message="job started")
    os.kill(app.transport.get(result.id).pid, signal.SIGKILL)
    with pytest.raises(WorkerLostError, match="died"):
        result.get(timeout=20)
    assert result.state == "FAILURE"


def test_killed_worker_jobs_are_recovered_by_another_within_the_lease(app, start_worker):
    first = start_worker("-A", "jobs", "-c", "2", lease=2)
    results = [jobs.sleep.delay(3) for _ in range(2)]
    wait_until(lambda: all(r.state == "STARTED" for r in results), 20, message="both started")
    first.kill_group()  # the supervisor and its children, as a power cut would
    killed_at = time.monotonic()
    start_worker("-A", "jobs", "-c", "2", lease=2)
    assert [r.get(timeout=30) for r in results] == [3, 3]
    # each job re-ran in full (3 s) after being rescued; the lease is 2 s
    assert time.monotonic() - killed_at < 2 + 3 + 5
    assert all(app.transport.get(r.id).attempts == 2 for r in results)


def test_idle_worker_uses_almost_no_cpu(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "2")
    jobs.add.delay(1, 1).get(timeout=20)
    pids = [worker.pid, *worker.children()]
    time.sleep(0.5)
    before = sum(cpu_seconds(p) for p in pids)
    time.sleep(3)
    used = sum(cpu_seconds(p) for p in pids) - before
    assert used < 0.15, f"idle worker used {used:.3f}s of CPU in 3s"
    # and it still wakes up at once for new work
    assert jobs.add.delay(2, 2).get(timeout=5) == 4


def test_many_producers_two_workers_every_job_exactly_once(app, start_worker, store_path,
                                                          ledger):
    start_worker("-A", "jobs", "-c", "2")
    start_worker("-A", "jobs", "-c", "2")
    producer = (
        "import sys, jobs\n"
        "from litejobs.testing import use_store\n"
        "with use_store(jobs.app, sys.argv[1]):\n"
        "    for i in range(5000):\n"
        "        jobs.record.delay(f'{sys.argv[2]}-{i}')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", producer, store_path, f"p{n}"],
                              cwd=TESTS_DIR) for n in range(4)]
    assert [p.wait(120) for p in procs] == [0] * 4

    def done():
        counts = app.transport.count_jobs().get("default", {})
        return counts.get("success", 0) == 20000

    wait_until(done, 120, interval=0.2, message="20,000 jobs done")
    starts = [tag for kind, tag, _pid, _ts in read_ledger(ledger) if kind == "start"]
    assert len(starts) == 20000 and len(set(starts)) == 20000


def test_revoke_purge_and_retry_commands(app, store_path, start_worker):
    queued = [jobs.add.delay(i, 1) for i in range(3)]
    out = cli("revoke", store_path, queued[0].id)
    assert out.returncode == 0 and "revoked" in out.stdout
    assert queued[0].state == "REVOKED"
    out = cli("purge", store_path)
    assert "purged 2" in out.stdout
    assert app.transport.count_jobs()["default"] == {"revoked": 1}
    start_worker("-A", "jobs", "-c", "1")
    failed = jobs.fail_once.delay("t1")
    with pytest.raises(jobs.AppError):
        failed.get(timeout=20)
    out = cli("retry", store_path, failed.id)
    assert out.returncode == 0, out.stderr
    wait_until(lambda: failed.state == "SUCCESS", 20, message="retried job succeeds")
    assert app.AsyncResult(failed.id).get() == "t1 ok"
    assert cli("retry", store_path, "--failed").stdout.startswith("queued 0")
    assert cli("retry", store_path).returncode == 2


def test_max_tasks_per_child_replaces_children(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "1", "--max-tasks-per-child", "2")
    pids = [jobs.pid.delay().get(timeout=20) for _ in range(6)]
    assert len(set(pids)) == 3, pids  # a fresh child every two jobs
    assert worker.proc.poll() is None


def test_events_tail_and_metrics_commands(app, start_worker, store_path):
    start_worker("-A", "jobs", "-c", "1")
    # --from-start: the store holds no job event yet, so the tail sees these jobs' events
    # however late it starts (it used to sleep a second and hope)
    tail = subprocess.Popen([sys.executable, "-m", "litejobs", "events", store_path, "--json",
                             "--from-start", "--count", "4", "--timeout", "30"],
                            cwd=TESTS_DIR, stdout=subprocess.PIPE, text=True)
    first, second = jobs.add.delay(1, 1), jobs.add.delay(2, 2)
    assert first.get(timeout=20) == 2 and second.get(timeout=20) == 4
    out, _ = tail.communicate(timeout=40)
    lines = [json.loads(line) for line in out.splitlines()]
    seen = [(e["job_id"], e["kind"]) for e in lines]
    for job in (first, second):  # each job started, then succeeded (batches may interleave)
        assert [k for j, k in seen if j == job.id] == ["task-started", "task-succeeded"]
    text = cli("metrics", store_path).stdout
    assert 'litejobs_jobs{queue="default",state="success"} 2' in text
    assert "litejobs_workers 1" in text


def _woken(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:  # the main thread's sleeps that ended
        return next(int(line.split()[1]) for line in status
                    if line.startswith("voluntary_ctxt_switches"))


def _asleep(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as status:
        return next(line.split()[1] for line in status if line.startswith("State:")) == "S"


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_a_commit_wakes_one_idle_child_of_a_pool_not_all(app, start_worker, store_path):
    if store_path.startswith("redis"):
        pytest.skip("Redis wakes only the consumers of the queue written to")
    worker = start_worker("-A", "jobs", "-c", "3")
    assert [r.get(timeout=20) for r in [jobs.add.delay(i, i) for i in range(30)]] == [
        2 * i for i in range(30)]
    wait_until(lambda: len(worker.children()) == 3, 10, message="three children")
    children = worker.children()
    wait_until(lambda: all(_asleep(pid) for pid in children), 10,
               message="the children idle")
    before = {pid: _woken(pid) for pid in children}
    for i in range(100):  # 100 commits, none of them work for this worker
        jobs.add.apply_async((i, i), queue="not-consumed")
    wait_until(lambda: any(_woken(pid) > before[pid] for pid in children), 10,
               message="the watching child woke")
    woken = sorted(_woken(pid) - before[pid] for pid in children)
    # the child watching the store wakes (once for many commits close together); the
    # others wait their turn without waking (without turns each woke about 70 times)
    assert woken[1] <= 3, woken


def test_delay_many_sends_a_job_per_call_that_a_worker_runs(app, start_worker):
    start_worker("-A", "jobs", "-c", "2")
    results = jobs.add.delay_many([(i, i) for i in range(300)] + [{"x": 1, "y": 2}])
    assert [r.get(timeout=30) for r in results] == [2 * i for i in range(300)] + [3]
    assert app.transport.count_jobs()["default"] == {"success": 301}
