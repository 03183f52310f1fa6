"""app.control and app.control.inspect() over the store, against real workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from litejobs.timeutil import now

import jobs
from helpers import TESTS_DIR, wait_until


def _cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "litejobs", *args], cwd=TESTS_DIR,
                         capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_inspect_in_celerys_shapes(app, start_worker, store_path):
    start_worker("-A", "jobs", "-c", "2", "-n", "alpha@%h", "-Q", "default,emails")
    host = socket.getfqdn() or socket.gethostname()
    name = f"alpha@{host}"
    inspect = app.control.inspect()
    assert inspect.ping() == {name: {"ok": "pong"}}
    assert app.control.ping() == [{name: {"ok": "pong"}}]
    assert app.control.inspect(["nobody"]).ping() is None  # Celery: no reply is None

    running = jobs.sleep.delay(30)
    wait_until(lambda: inspect.active()[name], 20, message="the job to start")
    [request] = inspect.active()[name]
    assert request["id"] == running.id and request["name"] == "jobs.sleep"
    assert request["args"] == [30] and request["hostname"] == name
    assert request["delivery_info"]["routing_key"] == "default"
    assert inspect.reserved() == {name: []}

    later = jobs.add.apply_async((1, 2), countdown=600)
    elsewhere = jobs.add.apply_async((1, 2), countdown=600, queue="unconsumed")
    [waiting] = inspect.scheduled()[name]
    assert waiting["request"]["id"] == later.id and waiting["eta"]
    assert later.id != elsewhere.id

    registered = inspect.registered()[name]
    assert "jobs.add" in registered and "jobs.sleep" in registered
    assert all(not n.startswith("litejobs.") for n in registered)
    stats = inspect.stats()[name]
    assert stats["pool"]["max-concurrency"] == 2 and stats["hostname"] == name
    assert [q["name"] for q in inspect.active_queues()[name]] == ["default", "emails"]
    assert inspect.query_task(running.id, later.id, elsewhere.id) == {name: {
        running.id: ["active", inspect.active()[name][0]],
        later.id: ["scheduled", waiting["request"]],
    }}

    # the same from the command line, DB after the method
    assert f"-> {name}: OK pong" in _cli("inspect", "ping", store_path)
    assert json.loads(_cli("inspect", "registered", store_path, "--json"))[name] == registered
    assert running.id in _cli("inspect", "query_task", store_path, running.id)
    app.control.revoke(running.id, terminate=True)
    wait_until(lambda: running.state == "REVOKED", 20, message="revoked")


def test_rate_limit_reaches_every_worker_at_once(app, start_worker, ledger):
    start_worker("-A", "jobs", "-c", "1", "-n", "one")
    start_worker("-A", "jobs", "-c", "1", "-n", "two")
    replies = app.control.rate_limit("jobs.record", "30/m")
    assert sorted(name for r in replies for name in r) == ["one", "two"]
    # A consumer re-reads the stored limits on its first claim a second after its last
    # read, so every claim from here on obeys the new limit.
    time.sleep(1.5)
    for i in range(4):
        jobs.record.delay(f"r{i}")

    def runs():
        if not os.path.exists(ledger):
            return []
        with open(ledger) as f:
            return [line for line in f.read().splitlines() if line.startswith("start r")]

    wait_until(lambda: runs(), 20, message="a first run")
    time.sleep(3)  # 30/m across both workers: at most one run every 2 s
    assert len(runs()) <= 3
    app.control.rate_limit("jobs.record", None)  # lifted: the rest run at once
    wait_until(lambda: len(runs()) == 4, 20, message="every run once the limit is lifted")


def test_add_cancel_consumer_and_shutdown(app, start_worker, store_path):
    worker = start_worker("-A", "jobs", "-c", "1", "-n", "solo1")

    def queues():
        return [w.queues for w in app.transport.list_workers(now()) if w.pid == worker.pid]

    app.control.add_consumer("extra", destination=["solo1"])
    wait_until(lambda: queues() == [["default", "extra"]], 30, message="add_consumer")
    assert jobs.add.apply_async((2, 2), queue="extra").get(timeout=30) == 4
    _cli("control", "cancel_consumer", store_path, "extra", "-d", "solo1")
    wait_until(lambda: queues() == [["default"]], 30, message="cancel_consumer")
    running = jobs.sleep.delay(1.0)
    wait_until(lambda: running.state == "STARTED", 20, message="the job to start")
    app.control.shutdown()
    assert worker.wait(30) == 0
    assert running.get(timeout=5) == 1.0  # warm: the running job finished first


def test_bad_rate_is_refused_and_nothing_stored(app):
    with pytest.raises(ValueError):
        app.control.rate_limit("jobs.add", "ten per minute")
    assert app.stored_rate_limits() == {}
