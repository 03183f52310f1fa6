"""Eager mode: inline runs through the same execution path, with the serializer round trip."""

from __future__ import annotations

import os

import pytest

import litejobs
from litejobs.exceptions import SerializationError
from litejobs.result import EagerResult


@pytest.fixture
def app(tmp_path):
    app = litejobs.App(str(tmp_path / "eager.sqlite"), eager=True)
    yield app
    assert not os.path.exists(tmp_path / "eager.sqlite"), "eager mode must not touch the store"


def test_delay_runs_inline_and_returns_a_result(app):
    @app.task
    def add(x, y):
        return x + y

    result = add.delay(2, 3)
    assert isinstance(result, EagerResult) and isinstance(result, litejobs.AsyncResult)
    assert result.get() == 5 and result.result == 5
    assert result.state == "SUCCESS" and result.ready() and result.successful()
    assert add.apply_async((1, 1), countdown=10, queue="x").get() == 2
    assert app.send_task(add.name, (2, 2)).get() == 4


def test_arguments_and_results_round_trip(app):
    @app.task
    def same(value):
        return value

    assert same.delay((1, [2, (3,)])).get() == (1, [2, (3,)])
    with pytest.raises(SerializationError, match=r"args\[0\]"):
        same.delay(object())

    @app.task
    def bad_result():
        return {1, object()}

    with pytest.raises(SerializationError, match="result of"):
        bad_result.delay().get()


def test_failures_and_propagation(app):
    @app.task
    def boom():
        raise KeyError("nope")

    result = boom.delay()
    assert result.state == "FAILURE" and result.failed()
    assert isinstance(result.result, KeyError)
    assert "KeyError" in result.traceback
    with pytest.raises(KeyError):
        result.get()
    app.conf.task_eager_propagates = True
    with pytest.raises(KeyError):
        boom.delay()


def test_retries_run_at_once(app):
    calls = []

    @app.task(bind=True, max_retries=5, default_retry_delay=3600)
    def flaky(self):
        calls.append(self.request.retries)
        if self.request.retries < 3:
            raise self.retry(exc=ValueError("again"))
        return "ok"

    result = flaky.delay()
    assert result.get() == "ok" and calls == [0, 1, 2, 3] and result.retries == 3

    @app.task(autoretry_for=(ValueError,), max_retries=2, retry_backoff=True)
    def never():
        calls.append("never")
        raise ValueError("always")

    calls.clear()
    with pytest.raises(ValueError):
        never.delay().get()
    assert calls == ["never"] * 3


def test_request_and_update_state(app):
    @app.task(bind=True)
    def info(self, x):
        self.update_state(state="PROGRESS", meta={"x": x})
        return [self.request.is_eager, self.request.id, list(self.request.args),
                self.request.custom_state]

    result = info.apply_async((7,), task_id="abc")
    assert result.get() == [True, "abc", [7], "PROGRESS"]
    assert result.id == "abc"


def test_conf_switch(tmp_path):
    app = litejobs.App(str(tmp_path / "x.sqlite"))

    @app.task
    def one():
        return 1

    app.conf.task_always_eager = True
    assert one.delay().get() == 1
    assert not os.path.exists(tmp_path / "x.sqlite")


def test_fixtures_from_litejobs_testing(litejobs_app, litejobs_eager_app, litejobs_drain):
    @litejobs_app.task
    def double(x):
        return 2 * x

    r = double.delay(21)
    assert litejobs_drain(litejobs_app) == 1
    assert r.get() == 42

    @litejobs_eager_app.task
    def triple(x):
        return 3 * x

    assert triple.delay(2).get() == 6
