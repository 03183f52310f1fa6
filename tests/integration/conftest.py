"""Real `litejobs worker` processes, started the way users start them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from litejobs.testing import use_store
from litejobs.timeutil import now

import jobs
from helpers import TESTS_DIR, wait_until


class WorkerProcess:
    def __init__(self, store: str, args: list[str], env: dict[str, str], log_path: str):
        self.store = store
        self.log_path = log_path
        self.log = open(log_path, "wb")
        argv = [sys.executable, "-m", "litejobs", "worker", store, *args]
        # its own process group, so a test can kill the whole worker at once
        self.proc = subprocess.Popen(argv, cwd=TESTS_DIR, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_ready(self, app, timeout: float = 20.0) -> None:
        def ready():
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited with {self.proc.returncode}:\n{self.output()}")
            return any(w.pid == self.pid for w in app.transport.list_workers(now()))

        wait_until(ready, timeout, message="worker heartbeat")

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill_group()
        self.log.close()


@pytest.fixture(params=["sqlite", "redis"])
def store_path(request, tmp_path):
    """The store of a worker test: a SQLite file, or a real Redis (flushed first).

    Tests marked ``one_store`` (they use files or mounts, or pick their own store) run once.
    """
    if request.param == "sqlite":
        return str(tmp_path / "jobs.sqlite")
    if request.node.get_closest_marker("one_store"):
        pytest.skip("this test picks its own store")
    import redis

    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def app(store_path):
    with use_store(jobs.app, store_path) as app:
        yield app


def start_beat(store_path: str, tmp_path, n: int, code_schedules: bool = False
               ) -> subprocess.Popen:
    """A ``litejobs beat`` process on the store, logging to ``beat-N.log``;
    ``code_schedules``: with the schedule tests/jobs.py declares under LITEJOBS_TEST_BEAT."""
    env = {k: v for k, v in os.environ.items() if k != "LITEJOBS_TEST_BEAT"}
    if code_schedules:
        env["LITEJOBS_TEST_BEAT"] = "1"
    with open(tmp_path / f"beat-{n}.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "litejobs", "beat", store_path,
                                 "-A", "jobs"], cwd=TESTS_DIR, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


@contextlib.contextmanager
def canvas_mode(mode: str, app, start_worker) -> Iterator[str]:
    """Workflows of tests/canvas_jobs.py run by a ``litejobs worker -A canvas_jobs -c 2``
    ("worker"), by ``app.run_until_idle()`` in the test ("idle": the test calls it), or
    inline ("eager": once, on the SQLite store, since eager mode uses no store)."""
    if mode == "eager":
        if not app.url.endswith(".sqlite"):
            pytest.skip("eager mode uses no store")
        app.conf.task_always_eager = True
    elif mode == "worker":
        start_worker("-A", "canvas_jobs", "-c", "2")
    try:
        yield mode
    finally:
        app.conf.task_always_eager = False


@pytest.fixture
def ledger(tmp_path):
    return str(tmp_path / "ledger.txt")


@pytest.fixture
def start_worker(store_path, ledger, tmp_path, app):
    started: list[WorkerProcess] = []

    def start(*args: str, wait: bool = True, lease: float | None = None,
              store: str | None = None, result_expires: float | None = None
              ) -> WorkerProcess:
        env = dict(os.environ, LITEJOBS_LEDGER=ledger, PYTHONUNBUFFERED="1")
        if lease is not None:
            env["LITEJOBS_TEST_LEASE"] = str(lease)
        if result_expires is not None:
            env["LITEJOBS_TEST_RESULT_EXPIRES"] = str(result_expires)
        log_path = str(tmp_path / f"worker-{len(started)}.log")
        worker = WorkerProcess(store or store_path, list(args), env, log_path)
        started.append(worker)
        if wait:
            worker.wait_ready(app)
        return worker

    yield start
    for worker in started:
        worker.stop()


def read_ledger(path: str) -> list[tuple[str, str, int, float]]:
    if not os.path.exists(path):
        return []
    rows = []
    with open(path) as f:
        for line in f:
            kind, tag, pid, ts = line.split()
            rows.append((kind, tag, int(pid), float(ts)))
    return rows


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


