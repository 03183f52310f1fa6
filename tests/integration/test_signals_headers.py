"""Message headers and the signals Celery users connect to, on a real worker: a trace
id set by the producer reaches every job of a workflow and every retry."""

from __future__ import annotations

import os
import signal

import pytest

import litejobs
from litejobs import signals

from helpers import wait_until


def _lines(ledger: str) -> list[str]:
    if not os.path.exists(ledger):
        return []
    with open(ledger) as f:
        return f.read().splitlines()


@pytest.fixture
def tracing(monkeypatch):
    """The propagator module, its receivers connected for this test only (and in the
    workers it starts, which inherit LITEJOBS_TRACING)."""
    import tracing as module

    monkeypatch.setenv("LITEJOBS_TRACING", "1")
    module.connect()
    yield module
    module.disconnect()


@pytest.fixture
def trace(tracing):
    token = tracing.current_trace.set("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    yield tracing.current_trace.get()
    tracing.current_trace.reset(token)


def test_trace_id_travels_through_chains_chords_and_retries(app, start_worker, ledger, trace,
                                                             tracing):
    worker = start_worker("-A", "tracing", "-c", "2", "-l", "info")
    assert tracing.traced.apply_async((1,), headers={"tenant": "t1"}).get(timeout=30) == 2
    assert tracing.traced.delay(10, fail_times=2).get(timeout=30) == 11
    assert (tracing.traced.s(20) | tracing.traced.s()).apply_async(
        headers={"tenant": "t2"}).get(timeout=30) == 22
    assert litejobs.chord([tracing.traced.s(i) for i in range(3)],
                          tracing.traced_sum.s())().get(timeout=30) == 6
    lines = _lines(ledger)
    runs = [line for line in lines if line.startswith(("traced", "sum"))]
    assert len(runs) == 1 + 3 + 2 + 3 + 1, lines
    assert all(f"trace={trace}" in line for line in runs), runs
    assert "traced 1 retries=0 trace=" + trace + " tenant=t1" in runs
    assert [line for line in runs if line.startswith("traced 10 ")] == [
        f"traced 10 retries={n} trace={trace} tenant=None" for n in range(3)]
    assert f"traced 21 retries=0 trace={trace} tenant=t2" in runs  # the chain's 2nd step
    # the worker's own signals, with Celery's arguments
    assert any(line.startswith("celeryd_init ") and line.endswith("queues=default")
               for line in lines)
    assert "worker_init Supervisor" in lines
    inits = [line for line in lines if line.startswith("worker_process_init ")]
    assert len(inits) == 2 and set(inits).isdisjoint({f"worker_process_init {worker.pid}"})
    assert "setup_logging INFO" in lines and "after_setup_logger root INFO" in lines
    assert sum(line.startswith("task_received tracing.traced ") for line in lines) >= 9

    unknown = app.send_task("tracing.no_such_task")
    wait_until(lambda: f"task_unknown tracing.no_such_task {unknown.id} NotRegistered"
               in _lines(ledger), 30, message="task_unknown")
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert sum(line.startswith("worker_process_shutdown ") and line.endswith(" 0")
               for line in _lines(ledger)) == 2


def test_before_task_publish_sees_celerys_arguments_and_may_add_headers(app, tracing):
    seen = []

    def receiver(sender=None, body=None, exchange=None, routing_key=None, headers=None,
                 properties=None, declare=None, retry_policy=None, **kwargs):
        seen.append((sender, body, routing_key, dict(headers)))
        headers["added"] = {"by": "receiver"}

    published = []

    def after(sender=None, headers=None, **kwargs):
        published.append((sender, headers))

    signals.before_task_publish.connect(receiver)
    signals.after_task_publish.connect(after)
    try:
        sent = tracing.traced.apply_async((7,), headers={"tenant": "x"}, queue="q1")
    finally:
        signals.before_task_publish.disconnect(receiver)
        signals.after_task_publish.disconnect(after)
    sender, body, routing_key, headers = seen[0]
    assert (sender, body, routing_key) == ("tracing.traced", ((7,), {}, {}), "q1")
    assert headers["id"] == sent.id and headers["task"] == "tracing.traced"
    assert headers["tenant"] == "x"
    job = app.transport.get(sent.id)
    assert job.options["headers"] == {"tenant": "x", "added": {"by": "receiver"}}
    assert published[0][0] == "tracing.traced" and published[0][1]["added"] == {"by": "receiver"}


def test_bad_headers_are_refused_and_nothing_is_stored(app, tracing):
    with pytest.raises(litejobs.exceptions.ConfigurationError, match="headers for"):
        tracing.traced.apply_async((1,), headers=["not", "a", "dict"])
    assert app.transport.list_jobs() == []
