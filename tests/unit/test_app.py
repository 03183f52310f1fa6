"""App, tasks, results and the in-process worker, on a real SQLite store."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import uuid

import pytest

import litejobs
from litejobs.exceptions import (
    ConfigurationError,
    NotRegistered,
    SchemaError,
    SerializationError,
    TaskError,
    TaskRevokedError,
    TimeoutError,
)
from litejobs.testing import use_store

import jobs


@pytest.fixture
def app(store_path):
    with use_store(jobs.app, store_path) as app:
        yield app


def test_public_api_is_exported():
    assert set(litejobs.__all__) >= {"App", "AsyncResult", "Task", "exceptions"}
    for name in litejobs.__all__:
        assert hasattr(litejobs, name)
    names = {"LiteJobsError", "SchemaError", "SerializationError", "NotRegistered", "Retry",
             "MaxRetriesExceededError", "SoftTimeLimitExceeded", "TimeLimitExceeded",
             "WorkerLostError", "TaskRevokedError", "TaskError", "ChordError", "TimeoutError"}
    assert names <= set(litejobs.exceptions.__all__)
    assert issubclass(litejobs.exceptions.TimeoutError, TimeoutError.__mro__[-2])


def test_task_names_and_plain_calls():
    assert jobs.add.name == "jobs.add"
    assert jobs.add(2, 3) == 5
    assert jobs.app.tasks["jobs.add"] is jobs.add
    assert jobs.whoami()["id"] == ""


def test_delay_then_run_until_idle_then_get(app):
    result = jobs.add.delay(4, 5)
    assert isinstance(result, litejobs.AsyncResult)
    assert result.state == "PENDING" and not result.ready()
    assert app.run_until_idle() == 1
    assert result.state == result.status == "SUCCESS"
    assert result.get(timeout=1) == 9 and result.result == 9
    assert result.ready() and result.successful() and not result.failed()
    assert isinstance(result.date_done, dt.datetime)
    assert result.name == "jobs.add" and result.args == (4, 5) and result.kwargs == {}
    again = app.AsyncResult(result.id)
    assert again.get() == 9 and again == result and again == result.id


def test_types_round_trip_through_a_real_job(app):
    value = {"when": dt.datetime(2024, 1, 2, 3, 4, 5), "day": dt.date(2024, 1, 2),
             "id": uuid.UUID(int=7), "money": decimal.Decimal("1.10"), "pair": (1, 2),
             "raw": b"\x00"}
    result = jobs.identity.delay(value)
    app.run_until_idle()
    assert result.get() == value


def test_apply_async_options(app):
    result = jobs.whoami.apply_async(queue="special", priority=7, task_id="my-id")
    assert result.id == "my-id"
    job = app.transport.get("my-id")
    assert job.queue == "special" and job.priority == 7
    app.run_until_idle(queues=["special"])
    out = result.get()
    assert out["queue"] == "special" and out["priority"] == 7 and out["id"] == "my-id"
    assert out["is_eager"] is False and out["task"] == "jobs.whoami"


def test_countdown_and_eta_delay_a_job(app):
    later = jobs.add.apply_async((1, 1), countdown=3600)
    at = jobs.add.apply_async((1, 2), eta=dt.datetime.now(dt.timezone.utc)
                              + dt.timedelta(hours=1))
    naive = jobs.add.apply_async((1, 3), eta=dt.datetime.utcnow() + dt.timedelta(hours=1))  # noqa: DTZ003
    assert app.run_until_idle() == 0
    for r in (later, at, naive):
        assert r.state == "PENDING"
        assert app.transport.get(r.id).state.value == "scheduled"
        assert app.transport.get(r.id).eta > dt.datetime.now().timestamp() + 3500
    past = jobs.add.apply_async((2, 2), eta=dt.datetime(2000, 1, 1))
    app.run_until_idle()
    assert past.get() == 4


def test_expired_job_is_revoked_and_never_runs(app, tmp_path, monkeypatch):
    monkeypatch.setenv("LITEJOBS_LEDGER", str(tmp_path / "ledger"))
    gone = jobs.record.apply_async(("x",), expires=dt.datetime(2000, 1, 1))
    soon = jobs.record.apply_async(("y",), expires=-1)
    fine = jobs.record.apply_async(("z",), expires=3600)
    app.run_until_idle()
    for r in (gone, soon):
        assert r.state == "REVOKED"
        with pytest.raises(TaskRevokedError, match="expired"):
            r.get()
    assert fine.get() == "z"
    assert (tmp_path / "ledger").read_text().split()[1] == "z"


def test_send_task_by_name(app):
    result = app.send_task("jobs.add", args=(2, 3))
    app.run_until_idle()
    assert result.get() == 5


def test_unknown_task_name_fails_that_job_only(app):
    missing = app.send_task("jobs.not_a_task", args=())
    nowhere = app.send_task("no_such_module.task")
    fine = jobs.add.delay(1, 1)
    app.run_until_idle()
    assert fine.get() == 2
    for r in (missing, nowhere):
        assert r.state == "FAILURE"
        with pytest.raises(NotRegistered, match="not registered"):
            r.get()
    job = app.transport.get(missing.id)
    assert job.error_type == "litejobs.exceptions.NotRegistered"
    assert app.transport.retry_failed(job_id=missing.id, now=0) == 1  # kept, retryable


def test_failure_reraises_the_tasks_own_exception(app):
    result = jobs.fail.delay("bad thing")
    app.run_until_idle()
    assert result.state == "FAILURE" and result.failed()
    with pytest.raises(jobs.AppError, match="bad thing"):
        result.get()
    exc = result.get(propagate=False)
    assert isinstance(exc, jobs.AppError)
    assert isinstance(result.result, jobs.AppError)
    assert "AppError: bad thing" in result.traceback
    assert 'raise AppError(message)' in result.traceback


def test_failure_of_an_unimportable_exception_class_is_a_task_error(app):
    from litejobs.job import JobState

    # a job stored as failed by a class this process cannot import
    job = app.make_job("jobs.add", (1, 1), {}, {})
    job.state = JobState.FAILURE
    job.error_type, job.error_message = "gone.module.Vanished", "it broke"
    job.traceback = "Traceback: ..."
    app.transport.enqueue([job], 0)
    with pytest.raises(TaskError) as info:
        app.AsyncResult(job.id).get()
    assert info.value.exc_type == "gone.module.Vanished"
    assert info.value.message == "it broke" and info.value.traceback == "Traceback: ..."


def test_reject_and_unserializable_result_fail_clearly(app):
    r1, r2 = jobs.reject.delay(), jobs.unserializable_result.delay()
    app.run_until_idle()
    with pytest.raises(litejobs.exceptions.Reject):
        r1.get()
    with pytest.raises(SerializationError, match="result of jobs.unserializable_result"):
        r2.get()


def test_unserializable_arguments_store_nothing(app):
    with pytest.raises(SerializationError, match=r"args\[0\].*object"):
        jobs.identity.delay(object())
    with pytest.raises(SerializationError, match="value="):
        jobs.identity.apply_async(kwargs={"value": {1, object()}})
    assert app.transport.count_jobs() == {}


def test_bad_send_options_are_refused(app):
    with pytest.raises(ConfigurationError, match="valid options"):
        jobs.add.apply_async((1, 2), countdwn=5)
    with pytest.raises(ConfigurationError, match="not both"):
        jobs.add.apply_async((1, 2), countdown=5, eta=dt.datetime.now())
    with pytest.raises(ConfigurationError, match="args=\\(value,\\)"):
        jobs.add.apply_async("12")
    with pytest.raises(ConfigurationError, match="priority"):
        jobs.add.apply_async((1, 2), priority="high")
    with pytest.raises(ConfigurationError, match="from -255 to 255"):
        jobs.add.apply_async((1, 2), priority=256)
    with pytest.raises(ConfigurationError, match="from -255 to 255"):
        app.conf.task_default_priority = -1000
    assert app.transport.count_jobs() == {}


def test_unknown_task_options_raise_at_declaration(store_path):
    app = litejobs.App(store_path)
    with pytest.raises(ConfigurationError, match="retries_max"):
        @app.task(retries_max=3)
        def f():
            pass


def test_unknown_conf_keys_raise(store_path):
    with pytest.raises(ConfigurationError, match="did you mean .task_always_eager."):
        litejobs.App(store_path, task_always_eagre=True)


def test_retry_until_success_and_until_exhausted(app):
    ok = jobs.flaky.delay(2)
    exhausted = jobs.flaky.delay(10)
    auto = jobs.always_fails.delay()
    for _ in range(6):
        app.run_until_idle()
    assert ok.get() == 2
    with pytest.raises(jobs.AppError, match="attempt 3"):
        exhausted.get()
    assert exhausted.retries == 3
    import time

    deadline = time.monotonic() + 10
    while not auto.ready() and time.monotonic() < deadline:
        app.run_until_idle()
    with pytest.raises(jobs.AppError, match="still broken"):
        auto.get(timeout=1)
    assert app.transport.get(auto.id).retries == 2


def test_retry_state_is_visible_while_waiting(app):
    @app.task(bind=True, max_retries=1, default_retry_delay=3600)
    def slow_retry(self):
        raise self.retry(exc=ValueError("later"))

    result = slow_retry.delay()
    app.run_until_idle()
    assert result.state == "RETRY"
    assert isinstance(result.info, ValueError)


def test_update_state_custom_state_and_meta(app):
    seen = []

    @app.task(bind=True)
    def stepper(self):
        self.update_state(state="PROGRESS", meta={"current": 1, "total": 2})
        seen.append((app.AsyncResult(self.request.id).state,
                     app.AsyncResult(self.request.id).info))
        return "done"

    result = stepper.delay()
    app.run_until_idle()
    assert seen == [("PROGRESS", {"current": 1, "total": 2})]
    assert result.get() == "done" and result.state == "SUCCESS"


def test_get_timeout_raises_litejobs_timeout_error(app):
    result = jobs.add.delay(1, 1)
    with pytest.raises(TimeoutError):
        result.get(timeout=0.2)
    with pytest.raises(builtins_timeout()):
        result.get(timeout=0.05)


def builtins_timeout():
    import builtins

    return builtins.TimeoutError


def test_unknown_id_is_pending(app):
    assert app.AsyncResult("no-such-id").state == "PENDING"


def test_revoke_queued_job(app):
    result = jobs.add.delay(1, 2)
    result.revoke()
    assert app.run_until_idle() == 0
    assert result.state == "REVOKED"
    with pytest.raises(TaskRevokedError):
        result.get()


def test_forget_removes_the_result(app):
    result = jobs.add.delay(1, 2)
    app.run_until_idle()
    result.forget()
    assert result.state == "PENDING"
    assert app.transport.get(result.id) is None


def test_ignore_result_keeps_nothing(app):
    result = jobs.add.apply_async((1, 2), ignore_result=True)
    app.run_until_idle()
    assert app.transport.get(result.id) is None
    app.conf.task_ignore_result = True
    try:
        r2 = jobs.add.delay(1, 2)
        app.run_until_idle()
        assert app.transport.get(r2.id) is None
    finally:
        app.conf.task_ignore_result = False


def test_results_expire(app):
    app.conf.result_expires = 0.001
    try:
        result = jobs.add.delay(1, 2)
        app.run_until_idle()
        assert result.get() == 3
        import time

        time.sleep(0.01)  # the result is now past its expiry; no waiting on other work
        assert app.transport.prune(time.time()) == 1
        assert app.AsyncResult(result.id).state == "PENDING"
    finally:
        app.conf.result_expires = 86400


def test_corrupt_payload_fails_that_job_and_others_still_run(app):
    corrupt = app.make_job("jobs.add", (1, 1), {}, {})
    corrupt.payload = b"\xc1\xff"  # 0xc1 is never valid msgpack
    app.transport.enqueue([corrupt], corrupt.eta)
    bad = app.AsyncResult(corrupt.id)
    good = jobs.add.delay(2, 2)
    app.run_until_idle()
    assert good.get() == 4
    with pytest.raises(SerializationError, match="cannot decode the arguments"):
        bad.get()


def test_priority_order_in_one_worker(app):
    order = []

    @app.task
    def note(tag):
        order.append(tag)

    for tag, priority in (("low", 0), ("high", 9), ("mid", 5)):
        note.apply_async((tag,), priority=priority)
    app.run_until_idle()
    assert order == ["high", "mid", "low"]


def test_opening_a_foreign_file_raises_schema_error(tmp_path):
    path = tmp_path / "foreign.bin"
    path.write_bytes(os.urandom(4096))
    before = path.read_bytes()
    app = litejobs.App(str(path))
    with pytest.raises(SchemaError):
        app.send_task("jobs.add", (1, 1))
    assert path.read_bytes() == before


def test_config_from_object(store_path):
    app = litejobs.App(store_path)

    class Config:
        task_default_queue = "custom"
        result_expires = 60

    app.config_from_object(Config)
    assert app.conf.task_default_queue == "custom" and app.conf.result_expires == 60
    app.config_from_object({"task_acks_late": False})
    assert app.conf.task_acks_late is False
    app.config_from_object("jobs")  # a module without settings changes nothing
    with pytest.raises(ConfigurationError):
        app.config_from_object({"not_a_setting": 1})


def test_durability_full(tmp_path):
    app = litejobs.App(str(tmp_path / "full.sqlite"), durability="full")
    assert app.transport.pragma("synchronous") == 2
    app.close()
