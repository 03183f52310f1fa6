"""app.start_worker(): the same supervisor and pool, from inside a program."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import jobs
from helpers import wait_until


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_start_worker_runs_jobs_and_stops_warm(app, start_method):
    worker = app.start_worker(concurrency=2, start_method=start_method)
    try:
        assert jobs.add.delay(2, 3).get(timeout=30) == 5
        slow = jobs.sleep.delay(0.5)
        wait_until(lambda: slow.state == "STARTED", 20, message="job started")
    finally:
        assert worker.stop(timeout=30) == 0
    assert slow.state == "SUCCESS"  # warm: the running job finished first
    assert not worker.alive
    assert app.transport.list_workers(time.time()) == []


def test_start_worker_as_context_manager_with_queues(app):
    with app.start_worker(concurrency=1, queues=["emails"]) as worker:
        assert worker.alive
        assert jobs.send_email.delay("x@y").get(timeout=30) == "sent to x@y"
        other = jobs.add.delay(1, 1)
        time.sleep(0.3)
        assert other.state == "PENDING"
    assert not worker.alive


def test_tasks_defined_in_a_script_run_in_the_embedded_worker(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        "import sys, litejobs\n"
        "app = litejobs.App(sys.argv[1])\n"
        "@app.task\n"
        "def shout(word):\n"
        "    return word.upper()\n"
        "if __name__ == '__main__':\n"
        "    with app.start_worker(concurrency=1, start_method=sys.argv[2]):\n"
        "        print(shout.delay('hi').get(timeout=30))\n"
    )
    for method in ("fork", "spawn"):
        out = subprocess.run([sys.executable, str(script), str(tmp_path / f"{method}.sqlite"),
                              method], capture_output=True, text=True, timeout=120,
                             cwd=str(tmp_path))
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "HI", (method, out.stderr)


def test_embedded_worker_dies_with_its_program(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(
        "import sys, time, litejobs\n"
        "app = litejobs.App(sys.argv[1])\n"
        "w = app.start_worker(concurrency=1)\n"
        "print(w.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "j.sqlite")],
                            stdout=subprocess.PIPE, text=True)
    supervisor = int(proc.stdout.readline())
    proc.kill()
    proc.wait(10)
    proc.stdout.close()

    def gone():
        try:
            os.kill(supervisor, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{supervisor}/stat") as f:
            return f.read().split(")")[1].split()[0] == "Z"

    wait_until(gone, 10, message="embedded supervisor to exit")


def test_a_script_run_directly_names_its_tasks_after_its_file(tmp_path):
    # `python tasks.py` must send jobs that `litejobs worker DB -A tasks` knows.
    (tmp_path / "mytasks.py").write_text(
        "import sys, litejobs\n"
        "app = litejobs.App('jobs.sqlite')\n"
        "@app.task\n"
        "def add(x, y):\n"
        "    return x + y\n"
        "if __name__ == '__main__':\n"
        "    print(add.name, add.delay(4, 5).get(timeout=30))\n"
    )
    worker = subprocess.Popen([sys.executable, "-m", "litejobs", "worker", "jobs.sqlite", "-A",
                               "mytasks", "-c", "1"], cwd=str(tmp_path),
                              stderr=subprocess.DEVNULL)
    try:
        out = subprocess.run([sys.executable, "mytasks.py"], cwd=str(tmp_path),
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.split() == ["mytasks.add", "9"], out.stderr
    finally:
        worker.terminate()
        worker.wait(20)


def test_stop_at_any_moment_of_start_up_never_hangs(app):
    # A stop that arrives while pool children are starting must reach every one of them.
    for i in range(30):
        worker = app.start_worker(concurrency=3)
        time.sleep((i % 10) * 0.02)  # 0 to 180 ms after start_worker()
        started = time.monotonic()
        try:
            worker.stop(timeout=20)
        except Exception:
            worker.terminate()
            raise
        assert time.monotonic() - started < 20
        assert not worker.alive
