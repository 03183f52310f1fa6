"""Hostile tasks and hostile names on a real worker: the pool child survives, and a job's
name never makes a worker started with -A import a module."""

from __future__ import annotations

import os

import pytest

from litejobs.exceptions import NotRegistered, TaskError

import hostile_jobs
import jobs


def test_a_task_that_misbehaves_never_costs_a_pool_child(app, start_worker):
    start_worker("-A", "hostile_jobs", "-c", "1")
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
