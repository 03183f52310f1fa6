"""Signals fire in order with the right arguments, in eager mode and through the store."""

from __future__ import annotations

import pytest

from litejobs import signals
from litejobs.testing import use_store

import jobs


@pytest.fixture
def received():
    calls = []
    receivers = {}
    for name in ("task_prerun", "task_postrun", "task_success", "task_failure",
                 "task_retry", "task_revoked"):
        def receiver(sender=None, _name=name, **kwargs):
            calls.append((_name, getattr(sender, "name", sender), kwargs))
        receivers[name] = receiver
        getattr(signals, name).connect(receiver)
    yield calls
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


@pytest.fixture(params=["eager", "store"])
def app(request, store_path):
    with use_store(jobs.app, store_path) as app:
        app.conf.task_always_eager = request.param == "eager"
        try:
            yield app
        finally:
            app.conf.task_always_eager = False


def names(calls, task="jobs.add"):
    return [c[0] for c in calls if c[1] == task]


def test_success_signals(app, received):
    r = jobs.add.delay(2, 3)
    app.run_until_idle() if not app.eager else None
    assert r.get() == 5
    assert names(received) == ["task_prerun", "task_success", "task_postrun"]
    prerun = received[0][2]
    assert prerun["task_id"] == r.id and prerun["args"] == (2, 3) and prerun["kwargs"] == {}
    assert received[1][2]["result"] == 5
    post = received[2][2]
    assert post["retval"] == 5 and post["state"] == "SUCCESS"


def test_failure_and_retry_signals(app, received):
    failed = jobs.fail.delay("x")
    if not app.eager:
        app.run_until_idle()
    assert names(received, "jobs.fail") == ["task_prerun", "task_failure", "task_postrun"]
    failure = [c for c in received if c[0] == "task_failure"][0][2]
    assert failure["task_id"] == failed.id and isinstance(failure["exception"], jobs.AppError)
    assert "AppError: x" in failure["traceback"]
    received.clear()
    jobs.flaky.delay(1)
    if not app.eager:
        app.run_until_idle()
    assert names(received, "jobs.flaky") == [
        "task_prerun", "task_retry", "task_postrun",
        "task_prerun", "task_success", "task_postrun"]


def test_a_failing_receiver_never_breaks_the_job(app, caplog):
    def broken(sender=None, **kwargs):
        raise RuntimeError("receiver bug")

    signals.task_prerun.connect(broken)
    try:
        r = jobs.add.delay(1, 1)
        if not app.eager:
            app.run_until_idle()
        assert r.get() == 2
    finally:
        signals.task_prerun.disconnect(broken)
    assert "receiver bug" in caplog.text


def test_revoked_signal_for_an_expired_job(received, store_path):
    with use_store(jobs.app, store_path) as app:
        jobs.add.apply_async((1, 1), expires=-1)
        app.run_until_idle()
    revoked = [c for c in received if c[0] == "task_revoked"]
    assert revoked and revoked[0][2]["expired"] is True
