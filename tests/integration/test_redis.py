"""The same litejobs on Redis: real workers and commands against a real redis-server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import litejobs
from litejobs import chain, chord, group
from litejobs.exceptions import StoreError
from litejobs.testing import use_store

import jobs
from helpers import TESTS_DIR, wait_until
from integration.conftest import read_ledger

pytestmark = pytest.mark.one_store  # these tests pick their Redis themselves


@pytest.fixture
def redis_app(redis_url, start_worker):  # after start_worker, which points jobs.app at SQLite
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    with use_store(jobs.app, redis_url) as app:
        yield app


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "litejobs", *args], cwd=TESTS_DIR,
                          capture_output=True, text=True, timeout=60)


def test_worker_on_redis_runs_jobs_workflows_and_retries(redis_app, redis_url, start_worker,
                                                        ledger):
    start_worker("-A", "jobs", "-c", "2", store=redis_url, wait=False)
    wait_until(lambda: redis_app.transport.list_workers(time.time()), 20, message="worker up")
    assert jobs.add.delay(2, 3).get(timeout=20) == 5
    assert jobs.flaky.delay(2).get(timeout=20) == 2
    with pytest.raises(jobs.AppError):
        jobs.fail.delay("x").get(timeout=20)
    assert chain(jobs.add.s(1, 1), jobs.add.s(2)).delay().get(timeout=20) == 4
    assert group(jobs.add.s(i, i) for i in range(5))().get(timeout=20) == [0, 2, 4, 6, 8]
    urls = ["https://a", "https://bb"]
    assert chord(jobs.download.s(u) for u in urls)(jobs.combine.s()).get(timeout=20) == {
        "urls": urls, "total": 19}
    failed = chord([jobs.add.s(1, 1), jobs.fail.s("m")], jobs.tsum.s())()
    with pytest.raises(jobs.AppError, match="m"):  # the member's own exception, as Celery
        failed.get(timeout=20)
    later = jobs.add.apply_async((1, 1), countdown=0.5)
    assert later.get(timeout=20) == 2
    job = redis_app.transport.get(later.id)
    assert 0 <= job.started_at - job.eta < 0.5


def test_commands_on_a_redis_url(redis_app, redis_url, start_worker):
    queued = jobs.add.delay(1, 1)
    out = cli("status", redis_url, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["queues"]["default"]["pending"] == 1
    assert "add" in cli("inspect", redis_url, queued.id).stdout
    assert "revoked" in cli("revoke", redis_url, queued.id).stdout
    assert queued.state == "REVOKED"
    jobs.add.delay(2, 2)
    assert "purged 1" in cli("purge", redis_url).stdout
    start_worker("-A", "jobs", "-c", "1", store=redis_url, wait=False)
    failed = jobs.fail_once.delay("redis")
    wait_until(lambda: failed.state == "FAILURE", 20, message="failure")
    assert cli("retry", redis_url, failed.id).returncode == 0
    assert failed.get(timeout=20) == "redis ok"


def _own_redis(tmp_path, *extra: str) -> tuple[subprocess.Popen, int]:
    """Our own redis-server with these options; tries each binary that accepts them."""
    import shutil
    import socket

    candidates = [b for b in dict.fromkeys([shutil.which("redis-server"),
                                            shutil.which("redis-server", path="/usr/bin")])
                  if b]
    if not candidates:
        pytest.skip("no redis-server on PATH")
    for binary in candidates:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save",
                                 "", "--dir", str(tmp_path), *extra],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(0.5)  # exited at once: this build refuses an option (e.g. TLS)
        except subprocess.TimeoutExpired:
            return proc, port
    pytest.skip(f"no redis-server here accepts {' '.join(extra)}")


def test_credentials_never_appear_in_output(tmp_path, start_worker):
    server, port = _own_redis(tmp_path, "--requirepass", "hunter2")
    url = f"redis://:hunter2@127.0.0.1:{port}/0"
    try:
        wait_until(lambda: _pings(url), 10, message="redis up")
        worker = start_worker("-A", "jobs", "-c", "1", store=url, wait=False)
        with use_store(jobs.app, url) as app:
            wait_until(lambda: app.transport.list_workers(time.time()), 20, message="worker up")
            assert jobs.add.delay(1, 2).get(timeout=20) == 3
        out = cli("status", url)
        assert out.returncode == 0 and "Workers (1 live)" in out.stdout
        assert "hunter2" not in out.stdout + out.stderr
        assert "hunter2" not in worker.output()
        wrong = cli("status", url.replace("hunter2", "nope"))
        assert wrong.returncode == 1 and "nope" not in wrong.stderr
    finally:
        server.kill()
        server.wait(10)


def test_crashes_terminate_and_beat_on_redis(redis_app, redis_url, start_worker, ledger,
                                             monkeypatch):
    monkeypatch.setenv("LITEJOBS_TEST_BEAT", "1")
    worker = start_worker("-A", "jobs", "-c", "2", "-B", store=redis_url, wait=False)
    wait_until(lambda: redis_app.transport.list_workers(time.time()), 20, message="worker up")
    # a killed pool child: its job runs again; an at-most-once job fails WorkerLostError
    again = jobs.sleep.delay(1.0)
    once = jobs.sleep_at_most_once.delay(30)
    wait_until(lambda: again.state == "STARTED" and once.state == "STARTED", 20,
               message="both started")
    os.kill(redis_app.transport.get(again.id).pid, signal.SIGKILL)
    os.kill(redis_app.transport.get(once.id).pid, signal.SIGKILL)
    assert again.get(timeout=30) == 1.0
    from litejobs.exceptions import WorkerLostError

    with pytest.raises(WorkerLostError):
        once.get(timeout=30)
    # revoke with terminate kills a running job
    running = jobs.sleep.delay(60)
    wait_until(lambda: running.state == "STARTED", 20, message="started")
    running.revoke(terminate=True)
    wait_until(lambda: len(worker.children()) == 2 and running.state == "REVOKED", 20,
               message="terminated and replaced")
    # the beat inside the worker fires its 1 s schedule, once per tick
    def ticks():
        return [j for j in redis_app.transport.list_jobs(task="jobs.beat_tick", limit=1000)]

    wait_until(lambda: len(ticks()) >= 2, 20, message="two ticks")
    ids = [j.id for j in ticks()]
    assert len(ids) == len(set(ids))


def test_two_machines_one_killed_every_job_done(redis_app, redis_url, start_worker, ledger):
    # Given two workers with different host names on one Redis, and 20,000 jobs
    first = start_worker("-A", "jobs", "-c", "2", "-n", "machine-a", store=redis_url,
                         wait=False, lease=3)
    start_worker("-A", "jobs", "-c", "2", "-n", "machine-b", store=redis_url, wait=False,
                 lease=3)
    wait_until(lambda: len(redis_app.transport.list_workers(time.time())) == 2, 20,
               message="both workers up")
    litejobs.group(jobs.record.s(f"j{i}", 0.001) for i in range(20000))()
    # When one of them is SIGKILLed mid-run
    wait_until(lambda: len(read_ledger(ledger)) > 4000, 60, message="work under way")
    os.killpg(first.pid, signal.SIGKILL)
    # Then every job is done; only jobs running on the dead machine ran twice
    wait_until(lambda: redis_app.transport.count_jobs().get("default", {}).get("success") == 20000,
               180, interval=0.5, message="every job done")
    starts = [tag for kind, tag, _pid, _ts in read_ledger(ledger) if kind == "start"]
    assert set(starts) == {f"j{i}" for i in range(20000)}
    assert len(starts) - 20000 <= 4 * 64  # at most what the dead worker's children held


def test_wake_up_is_fast_on_redis(redis_app, redis_url, start_worker):
    start_worker("-A", "jobs", "-c", "1", store=redis_url, wait=False)
    wait_until(lambda: redis_app.transport.list_workers(time.time()), 20, message="worker up")
    jobs.add.delay(0, 0).get(timeout=20)
    took = []
    for i in range(20):
        started = time.perf_counter()
        jobs.add.delay(i, i).get(timeout=20)
        took.append(time.perf_counter() - started)
    assert sorted(took)[10] < 0.1  # a loose bound: the benchmark measures it closely


def test_a_redis_restart_with_aof_is_survived(tmp_path, start_worker, ledger):
    # Given our own redis-server with the append-only file (appendfsync everysec)
    import shutil
    import socket


    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server on PATH")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--appendonly", "yes",
            "--appendfsync", "everysec", "--save", "", "--dir", str(tmp_path)]

    def start_server():
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        wait_until(lambda: _pings(url), 10, message="redis up")
        return proc

    server = start_server()
    try:
        with use_store(jobs.app, url) as app:
            start_worker("-A", "jobs", "-c", "2", store=url, wait=False)
            wait_until(lambda: app.transport.list_workers(time.time()), 20, message="worker up")
            first = [jobs.record.delay(f"a{i}", 0.01) for i in range(100)]
            assert all(r.get(timeout=30) for r in first)
            time.sleep(1.5)  # past one fsync of the append-only file
            # When Redis is SIGKILLed under load and started again from its AOF
            more = [jobs.record.delay(f"b{i}", 0.01) for i in range(100)]
            server.kill()
            server.wait(10)
            with pytest.raises(StoreError, match="Redis at"):  # a clear error meanwhile
                jobs.add.delay(1, 1)
            server = start_server()
            # Then the worker recovers by itself and jobs flow again
            assert jobs.add.delay(2, 2).get(timeout=60) == 4
            survived = sum(1 for r in more if app.transport.get(r.id) is not None)
            # everysec: at most about the last second of changes is lost
            assert all(app.transport.get(r.id) is not None for r in first)
            wait_until(lambda: all(app.transport.get(r.id).state.value == "success"
                                   for r in more if app.transport.get(r.id) is not None),
                       60, message="surviving jobs done")
            print(f"jobs enqueued in the last moment before the kill that survived: "
                  f"{survived}/100")
    finally:
        server.kill()
        server.wait(10)


def _pings(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.2).ping())
    except redis.RedisError:
        return False


def test_password_from_the_environment_and_tls(tmp_path, start_worker, monkeypatch):
    # Given a redis-server that requires a password and also listens with TLS
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                           "-keyout", str(key), "-out", str(cert), "-days", "1",
                           "-subj", "/CN=127.0.0.1"], capture_output=True)
    if made.returncode != 0:
        pytest.skip("openssl cannot make a certificate here")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        tls_port = s.getsockname()[1]
    server, port = _own_redis(tmp_path, "--requirepass", "hunter2", "--tls-port",
                              str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file",
                              str(key), "--tls-auth-clients", "no")
    try:
        # When the password comes from the environment, not the URL
        monkeypatch.setenv("LITEJOBS_REDIS_PASSWORD", "hunter2")
        url = f"redis://127.0.0.1:{port}/0"
        wait_until(lambda: _pings(url.replace("redis://", "redis://:hunter2@")), 10,
                   message="redis up")
        worker = start_worker("-A", "jobs", "-c", "1", store=url, wait=False)
        with use_store(jobs.app, url) as app:
            wait_until(lambda: app.transport.list_workers(time.time()), 20, message="worker up")
            # Then jobs flow, and the same store answers over TLS (rediss://)
            assert jobs.add.delay(1, 2).get(timeout=20) == 3
        tls_url = f"rediss://127.0.0.1:{tls_port}/0?ssl_cert_reqs=none"
        with use_store(jobs.app, tls_url) as app:
            assert jobs.add.delay(2, 3).get(timeout=20) == 5
            assert app.transport.count_jobs()["default"]["success"] == 2
        assert "hunter2" not in worker.output()
    finally:
        server.kill()
        server.wait(10)
