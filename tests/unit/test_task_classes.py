"""Task classes as in Celery: handlers in Celery's order, base=, task_cls, class-based
tasks; and eager mode refusing what the store refuses."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

import litejobs
from litejobs import signals
from litejobs.exceptions import ConfigurationError, Ignore


class Recorder(litejobs.Task):
    """Appends each handler call to ``calls`` (a class attribute tests reset)."""

    calls: list[tuple] = []

    def before_start(self, task_id, args, kwargs):
        self.calls.append(("before_start", tuple(args)))

    def on_success(self, retval, task_id, args, kwargs):
        self.calls.append(("on_success", retval, tuple(args)))

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        self.calls.append(("on_retry", type(exc).__name__, type(einfo.exception).__name__))

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        self.calls.append(("on_failure", type(exc).__name__,
                           f"{type(exc).__name__}: " in einfo.traceback))

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        self.calls.append(("after_return", status,
                           retval if not isinstance(retval, BaseException)
                           else type(retval).__name__))


@pytest.fixture(params=["store", "eager"])
def app(request, tmp_path):
    app = litejobs.App(str(tmp_path / "jobs.sqlite"), eager=request.param == "eager")
    app.mode = request.param
    Recorder.calls = []
    yield app
    app.close()


def run(app, result):
    """Run what was sent (through the real store, unless eager) and return the result."""
    if app.mode == "store":
        app.run_until_idle()
    return result


def test_handlers_run_in_celerys_order_on_success_with_signals_between(app):
    @app.task(base=Recorder)
    def add(x, y):
        Recorder.calls.append(("run",))
        return x + y

    def note(name):
        def receiver(sender=None, **kwargs):
            Recorder.calls.append((name,))
        return receiver

    receivers = {signals.task_prerun: note("prerun"), signals.task_success: note("success"),
                 signals.task_postrun: note("postrun")}
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        assert run(app, add.delay(2, 3)).get(timeout=5) == 5
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    assert Recorder.calls == [("prerun",), ("before_start", (2, 3)), ("run",),
                              ("on_success", 5, (2, 3)), ("success",),
                              ("after_return", "SUCCESS", 5), ("postrun",)]


def test_an_ignored_or_replaced_job_calls_no_handlers_and_posts_ignored(app):
    @app.task(base=Recorder)
    def add(x, y):
        return x + y

    @app.task(base=Recorder)
    def skipped():
        raise Ignore()

    @app.task(base=Recorder, bind=True)
    def replaced(self, x):
        raise self.replace(add.s(x, 1))

    states = []

    def on_postrun(sender=None, state=None, **kwargs):
        states.append((sender.name.rsplit(".", 1)[-1], state))

    signals.task_postrun.connect(on_postrun)
    try:
        run(app, skipped.delay())
        assert run(app, replaced.delay(1)).get(timeout=5) == 2
    finally:
        signals.task_postrun.disconnect(on_postrun)
    # as in Celery: Ignore ends the job with no handler called; the replacement's own run
    # calls add's
    assert Recorder.calls == [("before_start", ()), ("before_start", (1,)),
                              ("before_start", (1, 1)), ("on_success", 2, (1, 1)),
                              ("after_return", "SUCCESS", 2)]
    assert states == [("skipped", "IGNORED"), ("replaced", "IGNORED"), ("add", "SUCCESS")]


def test_failure_and_retry_handlers_get_the_exception_and_its_traceback(app):
    @app.task(base=Recorder, bind=True, max_retries=1, default_retry_delay=0)
    def flaky(self):
        if self.request.retries == 0:
            raise self.retry(exc=OSError("again"))
        raise KeyError("still broken")

    result = run(app, flaky.delay())
    with pytest.raises(KeyError):
        result.get(timeout=5)
    assert Recorder.calls == [
        ("before_start", ()), ("on_retry", "OSError", "OSError"),
        ("after_return", "RETRY", "OSError"),
        ("before_start", ()), ("on_failure", "KeyError", True),
        ("after_return", "FAILURE", "KeyError")]


def test_a_raising_handler_is_logged_and_changes_nothing(app, caplog):
    class Broken(litejobs.Task):
        def on_success(self, retval, task_id, args, kwargs):
            raise RuntimeError("handler bug")

        def after_return(self, *args):
            raise RuntimeError("handler bug too")

    @app.task(base=Broken)
    def fine():
        return "ok"

    with caplog.at_level(logging.ERROR, logger="litejobs.worker"):
        result = run(app, fine.delay())
        assert result.get(timeout=5) == "ok" and result.state == "SUCCESS"
    assert sum("handler" in r.getMessage() and "raised" in r.getMessage()
               for r in caplog.records) == 2


def test_task_cls_is_the_base_of_every_task_of_the_app(tmp_path):
    for spec in (Recorder, f"{__name__}:Recorder"):
        Recorder.calls = []
        app = litejobs.App(str(tmp_path / "x.sqlite"), eager=True, task_cls=spec)

        @app.task
        def hello():
            return "hi"

        assert isinstance(hello, Recorder) and hello.delay().get() == "hi"
        assert Recorder.calls[-1] == ("after_return", "SUCCESS", "hi")
        # base= still picks another class for one task
        plain = app.task(base=litejobs.Task)(lambda: 1)
        assert not isinstance(plain, Recorder)
    with pytest.raises(ConfigurationError, match="task_cls"):
        litejobs.App(str(tmp_path / "y.sqlite"), task_cls="litejobs:App")
    with pytest.raises(ConfigurationError, match="task_cls"):
        litejobs.App(str(tmp_path / "y.sqlite"), task_cls="no.such.module:Thing")


def test_class_based_tasks(app):
    class Mul(app.Task):
        name = "tests.mul"
        max_retries = 0

        def run(self, x, y):
            return x * y

    class Greet(litejobs.Task):
        def run(self, name):
            return f"hi {name} from {self.request.id == self.request.id}"

    mul = app.register_task(Mul())
    greet = app.register_task(Greet)  # a class is instantiated
    assert mul.name == "tests.mul" and app.tasks["tests.mul"] is mul
    assert greet.name.endswith("test_class_based_tasks.<locals>.Greet")
    assert mul(3, 4) == 12  # inline
    r1, r2 = mul.delay(6, 7), greet.delay("ada")
    run(app, r1)
    assert r1.get(timeout=5) == 42 and r2.get(timeout=5) == "hi ada from True"
    assert mul.s(2).delay(5) and greet.app is app

    class NoRun(litejobs.Task):
        pass

    with pytest.raises(ConfigurationError, match="no run"):
        app.register_task(NoRun())

    class BadOption(litejobs.Task):
        max_retries = "three"

        def run(self):
            return None

    with pytest.raises(ConfigurationError, match="max_retries"):
        app.register_task(BadOption())


def test_base_must_be_a_task_class(app):
    with pytest.raises(ConfigurationError, match="base="):
        app.task(base=dict)(lambda: 1)
    with pytest.raises(ConfigurationError, match="unknown task option"):
        app.task(retries_max=3)(lambda: 1)


@pytest.mark.parametrize("options", [
    {"priority": 9999}, {"queue": 5}, {"countdown": "soon"}, {"task_id": 7},
    {"eta": "tomorrow"}, {"expires": "later"}, {"countdown": 1, "eta": dt.datetime(2030, 1, 1)},
    {"no_such_option": 1},
])
def test_eager_mode_refuses_every_option_the_store_refuses(tmp_path, options):
    raised = []
    for eager in (False, True):
        app = litejobs.App(str(tmp_path / f"{eager}.sqlite"), eager=eager)

        @app.task
        def add(x, y):
            return x + y

        with pytest.raises(ConfigurationError) as info:
            add.apply_async((1, 2), **options)
        raised.append(type(info.value))
        with pytest.raises(ConfigurationError):
            add.apply_async("12")  # args must be a list or tuple
        app.close()
    assert raised[0] is raised[1]
