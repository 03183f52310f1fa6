"""The worker in production: what it logs, its service options, and clear start-up errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from litejobs.exceptions import SoftTimeLimitExceeded, WorkerLostError

import jobs
from helpers import TESTS_DIR, alive, wait_until


def cli(*args: str, cwd: str = TESTS_DIR) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "litejobs", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_default_level_logs_a_failure_with_its_traceback(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "2")
    failed = jobs.fail.delay("kaput")
    ok = jobs.add.delay(4, 5)
    assert ok.get(timeout=30) == 9
    with pytest.raises(jobs.AppError):
        failed.get(timeout=30)
    line = f"Task jobs.fail[{failed.id}] raised AppError: kaput"
    wait_until(lambda: line in worker.output(), 20, message="the failure logged")
    out = worker.output()
    assert "ERROR/ForkPoolWorker-" in out
    assert "Traceback (most recent call last)" in out and "raise AppError(message)" in out
    assert "received" not in out and "succeeded" not in out  # those are INFO
    # the banner, as Celery's
    assert "[tasks]" in out and "  . jobs.add" in out and ".> concurrency: 2 (prefork)" in out


def test_info_level_logs_received_succeeded_with_result_and_retry_delay(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "1", "-l", "info")
    ok = jobs.add.delay(4, 5)
    assert ok.get(timeout=30) == 9
    retried = jobs.retry_later.delay()
    said = jobs.say.delay("hello")
    assert said.get(timeout=30) == "hello"
    wait_until(lambda: retried.state == "RETRY", 20, message="the retry stored")
    expected = [
        f"Task jobs.add[{ok.id}] received",
        f"Task jobs.add[{ok.id}] succeeded in ",
        f"Task jobs.retry_later[{retried.id}] retry: Retry in 10s: OSError('disk busy')",
        f"jobs.say[{said.id}]: saying hello",  # get_task_logger's format
    ]
    wait_until(lambda: all(e in worker.output() for e in expected), 20,
               message=f"{expected} in the log")
    out = worker.output()
    succeeded = next(x for x in out.splitlines() if f"jobs.add[{ok.id}] succeeded" in x)
    assert succeeded.endswith("s: 9") and "INFO/ForkPoolWorker-1" in succeeded
    assert "in 0s" not in succeeded and "0.0000s" not in succeeded  # a real runtime


def test_warm_shutdown_is_announced_and_a_cold_one_is_not_an_error(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "1")
    slow = jobs.sleep.delay(30)
    wait_until(lambda: slow.state == "STARTED", 20, message="job started")
    worker.signal(signal.SIGINT)
    wait_until(lambda: "Warm shutdown" in worker.output(), 20, message="warm shutdown line")
    assert "WARNING/MainProcess" in worker.output()
    worker.signal(signal.SIGINT)
    assert worker.wait(30) == 0
    out = worker.output()
    assert "Cold shutdown" in out
    assert "ERROR" not in out, out  # the kill was asked for


def test_logfile_and_pidfile(app, start_worker, tmp_path):
    logfile, pidfile = tmp_path / "worker.log", tmp_path / "worker.pid"
    worker = start_worker("-A", "jobs", "-c", "1", "--logfile", str(logfile),
                          "--pidfile", str(pidfile))
    assert pidfile.read_text().strip() == str(worker.pid)
    failed = jobs.fail.delay("into the file")
    with pytest.raises(jobs.AppError):
        failed.get(timeout=30)
    wait_until(lambda: f"jobs.fail[{failed.id}] raised AppError" in logfile.read_text(), 20,
               message="the failure in the log file")
    assert "raised AppError" not in worker.output()  # not on stderr
    # logrotate moves the file away: the next lines go to a new file of that name
    logfile.rename(tmp_path / "worker.log.1")
    again = jobs.fail.delay("after rotation")
    with pytest.raises(jobs.AppError):
        again.get(timeout=30)
    wait_until(lambda: logfile.exists() and f"jobs.fail[{again.id}] raised" in
               logfile.read_text(), 20, message="the failure in the reopened log file")
    assert f"jobs.fail[{again.id}]" not in (tmp_path / "worker.log.1").read_text()
    # a second worker on the same pid file refuses to start, and leaves the file alone
    second = cli("worker", app.url, "-A", "jobs", "--pidfile", str(pidfile))
    assert second.returncode == 1 and f"process {worker.pid} is running" in second.stderr
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert not pidfile.exists()


def test_max_memory_per_child_replaces_the_child_after_the_job(app, start_worker):
    start_worker("-A", "jobs", "-c", "1", "--max-memory-per-child", str(100 * 1024))
    small = jobs.pid.delay().get(timeout=30)
    assert jobs.pid.delay().get(timeout=30) == small  # under the limit: same child
    hogged = jobs.hog.delay(120).get(timeout=30)
    assert hogged == small
    after = jobs.pid.delay().get(timeout=30)
    assert after != hogged  # the job after the one that took 120 MB ran in a new child
    wait_until(lambda: not alive(hogged), 20, message="the old child gone")


def test_detach_runs_in_the_background(app, tmp_path):
    logfile, pidfile = tmp_path / "d.log", tmp_path / "d.pid"
    out = cli("worker", app.url, "-A", "jobs", "-c", "1", "--detach", "--logfile",
              str(logfile), "--pidfile", str(pidfile))
    assert out.returncode == 0, out.stderr
    wait_until(pidfile.exists, 20, message="the daemon's pid file")
    pid = int(pidfile.read_text())
    try:
        assert jobs.add.delay(1, 2).get(timeout=30) == 3
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not alive(pid), 30, message="the daemon stopped")
    assert not pidfile.exists()


@pytest.mark.one_store
def test_a_module_that_fails_to_import_is_one_line_and_exit_2(tmp_path, store_path):
    (tmp_path / "broken.py").write_text("import litejobs\napp = litejobs.App('x.sqlite')\n"
                                        "def f(:\n    pass\n")
    (tmp_path / "raises.py").write_text("import litejobs\nraise RuntimeError('no config')\n")
    out = cli("worker", store_path, "-A", "broken", cwd=str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1, out.stderr
    assert "SyntaxError" in out.stderr and "broken.py, line 3" in out.stderr
    out = cli("worker", store_path, "-A", "raises", cwd=str(tmp_path))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "RuntimeError: no config" in out.stderr and "raises.py, line 2" in out.stderr
    out = cli("worker", store_path, "-A", "nosuch", cwd=str(tmp_path))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "No module named 'nosuch'" in out.stderr and "frozen" not in out.stderr


@pytest.mark.one_store
def test_a_db_argument_other_than_the_apps_store_is_warned_about(tmp_path, store_path):
    (tmp_path / "named.py").write_text(
        "import litejobs\napp = litejobs.App('named.sqlite')\n"
        "@app.task\ndef one():\n    return 1\n")
    log = tmp_path / "err.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "litejobs", "worker",
                                 str(tmp_path / "other.sqlite"), "-A", "named", "-c", "1"],
                                cwd=str(tmp_path), stderr=err)
    try:
        wait_until(lambda: "[tasks]" in log.read_text(), 30, message="the banner")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = log.read_text()
    assert "WARNING" in text and "the app named names the store named.sqlite" in text
    assert "other.sqlite was given: using" in text
    assert ".> store:       " + str(tmp_path / "other.sqlite") in text


def test_jobs_lists_newest_first_with_filters(app, start_worker, store_path):
    start_worker("-A", "jobs", "-c", "1")
    done = jobs.add.delay(20, 22)
    assert done.get(timeout=30) == 42
    failed = jobs.fail.delay("x" * 300)
    with pytest.raises(jobs.AppError):
        failed.get(timeout=30)
    waiting = jobs.send_email.delay("a@b")  # no worker consumes "emails"
    out = cli("jobs", store_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "TASK", "STATE", "QUEUE"]
    assert [x.split()[0] for x in lines[1:]] == [waiting.id, failed.id, done.id]
    assert lines[3].endswith(" (20, 22)") and "SUCCESS" in lines[3]
    assert len(lines[2]) < 250 and "..." in lines[2]  # long arguments are shortened
    assert "emails" in lines[1] and "PENDING" in lines[1]

    def ids(*args: str) -> list[str]:
        result = cli("jobs", store_path, "--json", *args)
        assert result.returncode == 0, result.stderr
        return [row["id"] for row in json.loads(result.stdout)]

    assert ids("--state", "FAILURE") == [failed.id]
    assert ids("--state", "failure", "--task", "jobs.fail") == [failed.id]
    assert ids("--task", "jobs.add") == [done.id]
    assert ids("--queue", "emails") == [waiting.id]
    assert ids("--limit", "2") == [waiting.id, failed.id]
    assert ids("--since", "10m") == [waiting.id, failed.id, done.id]
    assert ids("--since", "0s") == []
    bad = cli("jobs", store_path, "--since", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    bad = cli("jobs", store_path, "--state", "nope")
    assert bad.returncode == 2 and "not a state" in bad.stderr


def test_ping_before_and_after_a_worker_starts(app, start_worker, store_path):
    app.transport  # noqa: B018 - the store exists, no worker yet
    before = cli("ping", store_path)
    assert before.returncode == 1 and "no live worker" in before.stderr
    worker = start_worker("-A", "jobs", "-c", "1", "-n", "probe-me")
    after = cli("ping", store_path)
    assert after.returncode == 0 and "OK pong" in after.stdout, after.stderr
    assert cli("ping", store_path, "-d", "probe-me").returncode == 0
    assert cli("ping", store_path, "-d", "someone-else").returncode == 1
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert cli("ping", store_path).returncode == 1  # a stopped worker no longer answers


@pytest.mark.one_store
def test_ping_on_a_missing_store_creates_nothing(tmp_path):
    out = cli("ping", str(tmp_path / "nothing.sqlite"))
    assert out.returncode == 1 and "no store at" in out.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.one_store
def test_backup_while_a_worker_runs(app, start_worker, tmp_path, store_path):
    start_worker("-A", "jobs", "-c", "2")
    results = [jobs.add.delay(i, 1) for i in range(200)]
    copy = tmp_path / "copy.sqlite"
    out = cli("backup", store_path, str(copy))  # while the worker settles jobs
    assert out.returncode == 0, out.stderr
    assert [r.get(timeout=30) for r in results] == [i + 1 for i in range(200)]
    listed = cli("jobs", str(copy), "--json", "--limit", "500")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 200  # every job, in some state
    again = cli("backup", store_path, str(copy))
    assert again.returncode == 1 and "exists" in again.stderr


def test_replay_runs_a_stored_job_in_the_foreground_and_changes_nothing(
        app, start_worker, store_path):
    worker = start_worker("-A", "jobs", "-c", "1")
    ok = jobs.add.delay(4, 5)
    assert ok.get(timeout=30) == 9
    failed = jobs.fail.delay("replay me")
    with pytest.raises(jobs.AppError):
        failed.get(timeout=30)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    before = [app.transport.get(ok.id), app.transport.get(failed.id)]

    out = cli("replay", store_path, ok.id, "-A", "jobs")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "9"
    out = cli("replay", store_path, failed.id, "-A", "jobs")
    assert out.returncode == 1
    assert "raise AppError(message)" in out.stderr and "AppError: replay me" in out.stderr
    assert [app.transport.get(ok.id), app.transport.get(failed.id)] == before  # untouched

    debug = subprocess.run([sys.executable, "-m", "litejobs", "replay", store_path, failed.id,
                            "-A", "jobs", "--pdb"], cwd=TESTS_DIR, capture_output=True,
                           text=True, timeout=60, input="p message\nq\n")
    assert "(Pdb)" in debug.stdout and "'replay me'" in debug.stdout, debug.stdout
    assert cli("replay", store_path, "no-such-id", "-A", "jobs").returncode == 3


def test_threads_pool_runs_io_bound_jobs_side_by_side_in_one_process(app, start_worker):
    worker = start_worker("-A", "jobs", "-P", "threads", "-c", "4", "-l", "info")
    jobs.add.delay(0, 0).get(timeout=30)  # warm: every thread is up and idle
    started = time.monotonic()
    results = [jobs.sleep_where.delay(1.0) for _ in range(4)]
    ran = [r.get(timeout=30) for r in results]
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, elapsed  # serially it takes 4 s
    assert {pid for pid, _ in ran} == {worker.pid}  # in the worker process itself
    assert len({thread for _, thread in ran}) == 4
    assert worker.children() == []
    # the soft limit is raised in the task's thread
    with pytest.raises(SoftTimeLimitExceeded):
        jobs.spin_until_soft_limit.delay().get(timeout=30)
    assert jobs.add.delay(1, 1).get(timeout=30) == 2  # the thread lives on
    assert "INFO/ThreadPoolWorker-" in worker.output()
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0


def test_every_attempt_of_a_job_that_failed_twice_then_succeeded(app, start_worker,
                                                                 store_path):
    worker = start_worker("-A", "jobs", "-c", "1")
    result = jobs.flaky.delay(2)  # retries at once twice, then returns 2
    assert result.get(timeout=30) == 2
    attempts = result.attempts
    assert [(a.attempt, a.outcome) for a in attempts] == [
        (1, "retry"), (2, "retry"), (3, "success")]
    for a in attempts:
        assert a.worker == worker_id(app, worker)
        assert a.pid and a.pid != worker.pid  # a pool child's
        assert a.started_at <= a.finished_at
    assert attempts[0].exc_type == "jobs.AppError" and attempts[0].exc_message == "attempt 0"
    assert "jobs.AppError: attempt 0" in attempts[0].traceback
    assert attempts[1].exc_message == "attempt 1" and attempts[0].retry_in == 0
    assert attempts[2].exc_type is None

    data = json.loads(cli("inspect", store_path, result.id, "--json").stdout)
    assert [a["outcome"] for a in data["attempts"]] == ["retry", "retry", "success"]
    assert set(data["attempts"][0]) >= {"started_at", "finished_at", "worker", "pid",
                                        "outcome", "exc_type", "exc_message", "traceback",
                                        "retry_in"}
    assert data["attempt_count"] == 3
    text = cli("inspect", store_path, result.id).stdout
    assert "attempts:" in text and "#1 retry" in text and "jobs.AppError: attempt 0" in text
    assert "#3 success" in text


def test_a_job_whose_process_is_killed_shows_lost_attempts(app, start_worker):
    worker = start_worker("-A", "jobs", "-c", "1")
    result = jobs.kill_own_process.delay()  # its child dies each time, until it fails
    with pytest.raises(WorkerLostError):
        result.get(timeout=60)
    attempts = result.attempts
    assert attempts and {a.outcome for a in attempts} == {"lost"}
    assert all(a.pid and a.pid != worker.pid for a in attempts)
    assert "WorkerLostError" in attempts[-1].exc_type  # the last one failed the job


def worker_id(app, worker) -> str:
    return next(w.id for w in app.transport.list_workers(time.time()) if w.pid == worker.pid)


def test_the_dashboards_job_page_lists_the_attempts(app, start_worker, store_path):
    pytest.importorskip("starlette")
    from integration.test_dashboard import Dashboard

    start_worker("-A", "jobs", "-c", "1")
    result = jobs.flaky.delay(1)
    assert result.get(timeout=30) == 1
    board = Dashboard(store_path)
    try:
        wait_until(board.up, 20, message="the dashboard")
        status, html, _ = board.request(f"/jobs/{result.id}")
    finally:
        board.stop()
    assert status == 200
    table = html[html.index('id="attempts"'):]
    assert table.count('class="outcome"') == 2
    assert "retry" in table and "success" in table and "jobs.AppError: attempt 0" in table


def test_autoscale_grows_under_backlog_and_shrinks_when_idle(app, start_worker,
                                                             monkeypatch):
    monkeypatch.setenv("LITEJOBS_AUTOSCALE_KEEPALIVE", "1")
    worker = start_worker("-A", "jobs", "--autoscale", "3,1", "-l", "info")
    wait_until(lambda: len(worker.children()) == 1, 20, message="MIN children at start")
    results = [jobs.sleep_where.delay(3) for _ in range(3)]
    wait_until(lambda: len(worker.children()) == 3, 20, message="grown to MAX")
    ran = [r.get(timeout=30) for r in results]
    assert len({pid for pid, _ in ran}) == 3  # three children ran them side by side
    wait_until(lambda: len(worker.children()) == 1, 30, message="shrunk to MIN")
    assert "autoscale: 3 -> 2" in worker.output() and "ERROR" not in worker.output()
    assert jobs.add.delay(2, 2).get(timeout=30) == 4


@pytest.mark.one_store
def test_autoscale_needs_max_and_min(store_path):
    out = cli("worker", store_path, "-A", "jobs", "--autoscale", "many")
    assert out.returncode == 2 and "MAX,MIN" in out.stderr


@pytest.mark.one_store
def test_beat_logs_slots_as_iso_dates(tmp_path, store_path):
    (tmp_path / "ticks.py").write_text(
        "import litejobs\napp = litejobs.App('ticks.sqlite')\n"
        "app.conf.beat_schedule = {'tick': {'task': 'ticks.tick', 'schedule': 0.5}}\n"
        "@app.task\ndef tick():\n    return 1\n")
    log = tmp_path / "beat.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "litejobs", "beat", store_path, "-A",
                                 "ticks", "-l", "info"], cwd=str(tmp_path), stderr=err)
    try:
        wait_until(lambda: "beat: sent tick" in log.read_text(), 30, message="a beat line")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    line = next(x for x in log.read_text().splitlines() if "beat: sent tick" in x)
    assert re.search(r"for \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", line), line


def test_replay_record_stores_the_run_as_an_attempt(app, start_worker, store_path,
                                                    tmp_path):
    fix = tmp_path / "fixed"
    worker = start_worker("-A", "jobs", "-c", "1")
    failed = jobs.fails_until.delay(str(fix))
    with pytest.raises(jobs.AppError):
        failed.get(timeout=30)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    fix.write_text("")  # the bug is fixed
    out = cli("replay", store_path, failed.id, "-A", "jobs")
    assert out.returncode == 0 and out.stdout.strip() == "'fixed'"
    assert failed.state == "FAILURE"  # without --record: nothing stored
    out = cli("replay", store_path, failed.id, "-A", "jobs", "--record")
    assert out.returncode == 0, out.stderr
    assert "recorded: the job is now success" in out.stderr
    assert failed.get(timeout=5) == "fixed"
    attempts = failed.attempts
    assert [a.outcome for a in attempts] == ["failure", "success"]
    assert attempts[1].worker.startswith("replay@") and attempts[1].pid != attempts[0].pid
    assert app.transport.list_workers(time.time()) == []  # the replay's heartbeat is gone


@pytest.mark.one_store
def test_worker_log_format_settings_are_honoured(tmp_path, store_path):
    (tmp_path / "fmt.py").write_text(
        "import litejobs\nfrom litejobs.log import get_task_logger\n"
        f"app = litejobs.App({store_path!r})\n"
        "app.conf.worker_log_format = 'CUSTOM %(levelname)s %(processName)s %(message)s'\n"
        "app.conf.worker_task_log_format = 'TASKFMT %(task_name)s %(task_id)s %(message)s'\n"
        "logger = get_task_logger(__name__)\n"
        "@app.task\ndef boom():\n    logger.warning('about to fail')\n"
        "    raise ValueError('custom')\n")
    log = tmp_path / "w.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "litejobs", "worker", store_path, "-A",
                                 "fmt", "-c", "1"], cwd=str(tmp_path), stderr=err)
    try:
        wait_until(lambda: "[tasks]" in log.read_text(), 30, message="the banner")
        sys.path.insert(0, str(tmp_path))
        try:
            import fmt
        finally:
            sys.path.remove(str(tmp_path))
        job = fmt.boom.delay()
        wait_until(lambda: "CUSTOM ERROR ForkPoolWorker-1 Task fmt.boom[" in log.read_text(),
                   30, message="the custom format")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        fmt_app = sys.modules.pop("fmt", None)
        if fmt_app is not None:
            fmt_app.app.close()
    assert f"TASKFMT fmt.boom {job.id} about to fail" in log.read_text()
