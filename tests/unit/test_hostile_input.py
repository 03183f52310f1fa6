"""Hostile input refused where it enters: impossible times, empty queues, bad names and
keys at apply_async; stored data never drives an import (CVE-2021-23727)."""

from __future__ import annotations

import datetime as dt
import sys

import pytest

from litejobs.exceptions import ConfigurationError, TaskError
from litejobs.failure import rebuild
from litejobs.testing import use_store

import jobs


@pytest.fixture
def app(store_path):
    with use_store(jobs.app, store_path) as app:
        yield app


@pytest.mark.parametrize("option", ["countdown", "expires"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e300, -1e300,
                                   10**400, dt.timedelta.max],
                         ids=["inf", "-inf", "nan", "1e300", "-1e300", "10**400", "timedelta.max"])
def test_impossible_durations_are_refused_naming_the_option(app, option, value):
    with pytest.raises(ConfigurationError, match=option):
        jobs.add.apply_async((1, 2), **{option: value})
    assert app.transport.count_jobs() == {}


@pytest.mark.parametrize("option", ["eta", "expires"])
def test_datetimes_beyond_the_platforms_range_are_refused(app, option):
    far = dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-23)))
    with pytest.raises(ConfigurationError, match=option):
        jobs.add.apply_async((1, 2), **{option: far})
    assert app.transport.count_jobs() == {}


def test_an_empty_queue_is_refused(app):
    with pytest.raises(ConfigurationError, match="queue"):
        jobs.add.apply_async((1, 2), queue="")
    with pytest.raises(ConfigurationError, match="queue"):
        app.send_task("tests.add", queue="")
    assert app.transport.count_jobs() == {}


def test_non_string_kwargs_keys_are_refused(app):
    with pytest.raises(ConfigurationError, match="kwargs"):
        jobs.echo.apply_async(kwargs={1: "one"})
    with pytest.raises(ConfigurationError, match="kwargs"):
        jobs.echo.apply_async(kwargs={b"x": "one"})
    assert app.transport.count_jobs() == {}


@pytest.mark.parametrize("name", ["evil\0name", "lone\ud800surrogate"])
def test_task_names_that_cannot_be_stored_are_refused(app, name):
    with pytest.raises(ConfigurationError, match="task name"):
        app.send_task(name)
    assert app.transport.count_jobs() == {}


def test_rebuilding_a_failure_imports_nothing(tmp_path, monkeypatch):
    (tmp_path / "planted_sidefx.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('imported').write_text('yes')\n"
        "class Boom(Exception):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    exc = rebuild("planted_sidefx.Boom", "stored message", None, None)
    assert "planted_sidefx" not in sys.modules
    assert not (tmp_path / "imported").exists()
    assert isinstance(exc, TaskError) and exc.exc_type == "planted_sidefx.Boom"
    assert "stored message" in str(exc)
    # classes of modules already imported, and builtins, still come back as themselves
    assert isinstance(rebuild("jobs.AppError", "m", None, None), jobs.AppError)
    assert isinstance(rebuild("ValueError", "m", None, None), ValueError)
    assert isinstance(rebuild("litejobs.exceptions.Reject", "m", None, None), Exception)
