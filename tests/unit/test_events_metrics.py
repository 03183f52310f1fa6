"""Job events in the store, and metrics derived from the store."""

from __future__ import annotations

import pytest

import litejobs
from litejobs.metrics import prometheus
from litejobs.testing import use_store

import jobs


@pytest.fixture
def app(store_path):
    with use_store(jobs.app, store_path) as app:
        yield app


def test_workers_record_job_events(app):
    ok, bad = jobs.add.delay(1, 2), jobs.fail.delay("x")
    jobs.flaky.delay(1)
    app.run_until_idle()
    app.run_until_idle()
    events = app.transport.list_events(0)
    by_job = {}
    for e in events:
        by_job.setdefault(e.job_id, []).append(e.kind)
    assert by_job[ok.id] == ["task-started", "task-succeeded"]
    assert by_job[bad.id] == ["task-started", "task-failed"]
    flaky = [kinds for job, kinds in by_job.items() if job not in (ok.id, bad.id)][0]
    assert flaky == ["task-started", "task-retried", "task-started", "task-succeeded"]
    failed = [e for e in events if e.kind == "task-failed"][0]
    assert failed.detail == "jobs.AppError" and failed.task == "jobs.fail"
    done = [e for e in events if e.kind == "task-succeeded"][0]
    assert done.runtime is not None and done.runtime >= 0
    assert app.transport.get_last_event_seq() == events[-1].seq


def test_events_can_be_turned_off(tmp_path):
    app = litejobs.App(str(tmp_path / "quiet.sqlite"), worker_send_task_events=False)

    @app.task
    def noop():
        return None

    noop.delay()
    app.run_until_idle()
    assert app.transport.list_events(0) == []
    app.close()


def test_event_retention_is_capped(app, monkeypatch):
    import litejobs.transports.sqlite as sqlite

    monkeypatch.setattr(sqlite, "EVENTS_KEPT", 5)
    for i in range(10):
        jobs.add.delay(i, i)
    app.run_until_idle()
    app.transport.prune(0)
    assert len(app.transport.list_events(0)) == 5


def test_metrics_and_prometheus_text(app):
    jobs.add.delay(1, 1)
    jobs.fail.delay("x")
    jobs.add.apply_async((1, 1), queue='we"ird')
    app.run_until_idle(queues=["default"])
    data = app.metrics()
    assert data["queues"]["default"] == {"success": 1, "failure": 1}
    assert data["outcomes"]["jobs.add"] == {"task-started": 1, "task-succeeded": 1}
    assert data["runtimes"]["jobs.add"]["count"] == 1
    text = prometheus(app)
    assert 'litejobs_jobs{queue="default",state="success"} 1' in text
    assert 'litejobs_jobs{queue="we\\"ird",state="pending"} 1' in text
    assert 'litejobs_task_events_total{task="jobs.fail",event="task-failed"} 1' in text
    assert 'litejobs_task_runtime_seconds_count{task="jobs.add"} 1' in text
    assert "litejobs_workers 0" in text
    for line in text.splitlines():  # every sample line is "name{labels} value"
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
