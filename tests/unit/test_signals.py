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


def test_connect_with_sender_hears_only_that_task(app):
    by_task, by_name, everyone = [], [], []

    def on_task(sender=None, **kwargs):
        by_task.append(kwargs["result"])

    def on_name(sender=None, **kwargs):
        by_name.append(kwargs["result"])

    def on_any(sender=None, **kwargs):
        everyone.append(kwargs["result"])

    signals.task_success.connect(on_task, sender=jobs.add)
    signals.task_success.connect(sender="jobs.add")(on_name)
    signals.task_success.connect(on_any)
    try:
        r1, r2 = jobs.add.delay(2, 3), jobs.identity.delay("x")
        app.run_until_idle() if not app.eager else None
        assert (r1.get(), r2.get()) == (5, "x")
        assert by_task == [5] and by_name == [5] and sorted(map(str, everyone)) == ["5", "x"]
    finally:
        assert signals.task_success.disconnect(on_task, sender=jobs.add)
        assert signals.task_success.disconnect(on_name)
        assert signals.task_success.disconnect(on_any)
    assert on_task not in signals.task_success.receivers


def test_dispatch_uid_connects_a_receiver_once():
    calls = []
    for _ in range(3):  # as when a module that connects is imported again
        @signals.worker_ready.connect(dispatch_uid="my-ready")
        def ready(sender=None, **kwargs):
            calls.append(sender)
    signals.worker_ready.send(sender="w")
    assert calls == ["w"]
    assert signals.worker_ready.disconnect(dispatch_uid="my-ready")
    assert not signals.worker_ready.disconnect(dispatch_uid="my-ready")


@pytest.fixture
def heard():
    """Receivers on the signals the worker, beat and logging set-up send."""
    calls = []
    connected = []

    def listen(*names):
        for name in names:
            def receiver(sender=None, _name=name, **kwargs):
                calls.append((_name, sender, kwargs))
            getattr(signals, name).connect(receiver)
            connected.append((name, receiver))
        return calls

    yield listen
    for name, receiver in connected:
        getattr(signals, name).disconnect(receiver)


def test_task_rejected_and_task_unknown(store_path, heard):
    from litejobs.execution import run_job
    from litejobs.job import Job, JobState

    calls = heard("task_rejected", "task_unknown", "task_received")
    with use_store(jobs.app, store_path) as app:
        garbled = Job(id="j1", task="jobs.add", payload=b"\xc1 not msgpack", queue="default")
        assert run_job(app, garbled).outcome.state is JobState.FAILURE
        unknown = Job(id="j2", task="nowhere.at_all", payload=garbled.payload,
                      queue="default")
        assert run_job(app, unknown).outcome.state is JobState.FAILURE
    [(name, sender, kwargs)] = [c for c in calls if c[0] == "task_rejected"]
    assert kwargs["message"] is garbled and kwargs["exc"] is not None
    [(name, sender, kwargs)] = [c for c in calls if c[0] == "task_unknown"]
    assert (kwargs["name"], kwargs["id"]) == ("nowhere.at_all", "j2")
    assert type(kwargs["exc"]).__name__ == "NotRegistered"
    assert not [c for c in calls if c[0] == "task_received"]  # neither job was run


def test_beat_init(store_path, heard):
    from litejobs.beat import Beat

    calls = heard("beat_init")
    with use_store(jobs.app, store_path) as app:
        beat = Beat(app)
        beat.run_forever(lambda: True)  # stops at once
    assert calls == [("beat_init", beat, {"signal": signals.beat_init})]


def test_setup_logging_receiver_replaces_the_set_up(heard, monkeypatch):
    import logging

    from litejobs.loading import setup_logging

    calls = heard("setup_logging", "after_setup_logger", "after_setup_task_logger")
    configured = []
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: configured.append(kw))
    setup_logging("info")
    assert configured == []  # a setup_logging receiver does it instead
    assert [c[0] for c in calls] == ["setup_logging", "after_setup_logger",
                                     "after_setup_task_logger"]
    assert calls[0][2]["loglevel"] == "INFO"
    assert calls[1][2]["logger"] is logging.getLogger()
    assert calls[2][2]["logger"].name == "litejobs.task"
