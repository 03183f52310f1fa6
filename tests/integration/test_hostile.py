"""Hostile tasks and hostile names on a real worker: the pool child survives, and a job's
name never makes a worker started with -A import a module."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

import litejobs
from litejobs.exceptions import NotRegistered, TaskError

import hostile_jobs
import jobs
from helpers import TESTS_DIR, wait_until


def test_a_task_that_misbehaves_never_costs_a_pool_child(app, start_worker):
    start_worker("-A", "hostile_jobs", "-c", "1", "-l", "info")  # info: it logs each outcome
    child = jobs.pid.delay().get(timeout=20)
    unprintable = hostile_jobs.unprintable.delay()
    exited = hostile_jobs.exits.delay(3)
    with pytest.raises(hostile_jobs.UnprintableError):
        unprintable.get(timeout=30)
    with pytest.raises(TaskError, match="SystemExit"):  # never SystemExit in the reader
        exited.get(timeout=30)
    stored = app.transport.get(unprintable.id)
    assert stored.state.value == "failure" and stored.crashes == 0
    assert stored.error_type == "hostile_jobs.UnprintableError"
    assert "str() failed" in stored.error_message
    stored = app.transport.get(exited.id)
    assert stored.state.value == "failure" and stored.crashes == 0
    assert stored.error_type == "SystemExit" and "3" in stored.error_message
    assert jobs.pid.delay().get(timeout=20) == child  # the same pool child
    assert jobs.add.delay(1, 1).get(timeout=20) == 2


def test_a_worker_with_dash_a_never_imports_a_module_a_task_name_mentions(
        app, start_worker, tmp_path, monkeypatch):
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "sidefx_planted.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('imported').write_text('yes')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(planted), *filter(None, [os.environ.get("PYTHONPATH")])]))
    worker = start_worker("-A", "jobs", "-c", "1")
    result = app.send_task("sidefx_planted.anything")
    with pytest.raises(NotRegistered, match="sidefx_planted.anything"):
        result.get(timeout=20)
    assert not (planted / "imported").exists()
    assert jobs.add.delay(1, 1).get(timeout=20) == 2
    assert worker.proc.poll() is None


def test_a_password_in_the_url_works_but_the_worker_warns_once(tmp_path):
    # Given a Redis that needs a password, and a worker given it in the URL (so in `ps`)
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server on PATH")
    pytest.importorskip("redis")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save",
                               "", "--requirepass", "s3cret-pw", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "worker.log"
    try:
        def listening() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return True
            except OSError:
                return False

        wait_until(listening, 10, message="redis-server listening")
        with open(log, "wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "litejobs", "worker",
                 f"redis://:s3cret-pw@127.0.0.1:{port}/0", "-A", "jobs", "-c", "2"],
                cwd=TESTS_DIR, stdout=out, stderr=subprocess.STDOUT)
        try:
            # Then it works, the documented way works too, and the warning comes once
            producer = litejobs.App(f"redis://127.0.0.1:{port}/0", redis_password="s3cret-pw")
            try:
                assert producer.send_task("jobs.add", (2, 3)).get(timeout=30) == 5
            finally:
                producer.close()
        finally:
            worker.terminate()
            worker.wait(15)
        text = log.read_text()
        assert text.count("carries a password") == 1, text
        assert "LITEJOBS_REDIS_PASSWORD" in text
        assert "s3cret-pw" not in text
    finally:
        server.terminate()
        server.wait(10)
