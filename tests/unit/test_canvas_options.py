"""Issue #15: options checked when given (typing, soft above hard limit), ResultSet,
signatures as data."""

from __future__ import annotations

import canvas_jobs as cj
import pytest

from litejobs import signature
from litejobs.canvas import Signature
from litejobs.exceptions import ConfigurationError
from litejobs.result import ResultSet
from litejobs.testing import use_store

import jobs


@pytest.fixture
def app(tmp_path):
    with use_store(jobs.app, str(tmp_path / "jobs.sqlite")) as app:
        yield app


def test_typing_checks_arguments_at_delay_and_stores_nothing(app):
    with pytest.raises(TypeError, match="canvas_jobs.add.*signature"):
        cj.add.delay(1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        cj.add.apply_async((1, 2), {"nope": 3})
    assert app.transport.count_jobs() == {}
    assert cj.add.delay(1, 2).id  # fits: sent


def test_typing_false_sends_anything(app):
    @app.task(typing=False)
    def loose(x):
        return x

    assert loose.delay(1, 2, 3).id
    assert app.transport.count_jobs() == {"default": {"pending": 1}}


def test_soft_time_limit_above_time_limit_is_refused(app):
    with pytest.raises(ConfigurationError, match="soft_time_limit .* above its time_limit"):
        app.task(soft_time_limit=5, time_limit=2)(lambda: None)
    with pytest.raises(ConfigurationError, match="soft_time_limit .* above its time_limit"):
        cj.add.apply_async((1, 2), soft_time_limit=5, time_limit=2)
    with pytest.raises(ConfigurationError, match="soft_time_limit"):
        jobs.sleep_past_hard_limit.apply_async((), soft_time_limit=2)  # task: time_limit=1
    assert app.transport.count_jobs() == {}
    assert cj.add.apply_async((1, 2), soft_time_limit=1, time_limit=2).id


def test_result_set(app):
    rs = ResultSet([cj.add.delay(1, 1), cj.add.delay(2, 2)])
    rs.add(cj.add.delay(3, 3))
    app.run_until_idle()
    assert rs.get(timeout=10) == [2, 4, 6]
    assert rs.ready() and rs.successful() and rs.completed_count() == 3
    failing = ResultSet([cj.fail.delay(), cj.add.delay(1, 1)])
    app.run_until_idle()
    failing.get(timeout=10, propagate=False)
    assert failing.results[0].failed() and failing.results[1].successful()
    empty = ResultSet([])
    empty.add(cj.add.delay(5, 5))
    app.run_until_idle()
    assert empty.get(timeout=10) == [10]


def test_signatures_as_data(app):
    sig = cj.add.s(2).set(countdown=0)
    data = sig.to_dict()
    assert Signature.from_dict(data) == sig
    assert signature(data) == sig
    assert signature(data).delay(3).id
    with pytest.raises(ConfigurationError, match="'task' name"):
        Signature.from_dict({"args": [1]})
    # a signature's dict survives the serializer (msgpack) as a job argument
    result = cj.identity.delay(data)
    app.run_until_idle()
    assert Signature.from_dict(result.get(timeout=10)) == sig


def test_apply_runs_signatures_and_workflows_here_and_stores_nothing(app):
    from litejobs import chain, chord, group

    assert cj.add.s(2, 2).apply().get() == 4
    assert cj.add.s(2).apply((3,)).get() == 5
    assert chain(cj.add.s(1, 1), cj.add.s(10)).apply().get() == 12
    assert group(cj.add.s(1, 1), cj.add.s(2, 2)).apply().get() == [2, 4]
    assert chord([cj.add.s(1, 1), cj.add.s(2, 2)], cj.tsum.s()).apply().get() == 6
    with pytest.raises(cj.ExpectedError):
        chain(cj.add.s(1, 1), cj.fail.s()).apply().get()
    with pytest.raises(cj.ExpectedError):
        chain(cj.add.s(1, 1), cj.fail.s()).apply(throw=True)
    assert app.transport.count_jobs() == {}


def test_clone_and_partial_arguments_as_celery(app):
    base = cj.add.s(1, z=3)
    assert base.clone((2,)).args == (1, 2)
    assert base.clone((2,), {"z": 4}).kwargs == {"z": 4}
    assert base.args == (1,) and base.kwargs == {"z": 3}  # the original unchanged
    frozen = base.clone()
    result = frozen.freeze()
    assert frozen.id == result.id and base.id is None
    assert cj.add.si(1, 2).apply((100,)).get() == 3  # immutable: ignores the argument
