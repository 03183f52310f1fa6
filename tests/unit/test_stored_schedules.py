"""app.schedules: periodic tasks kept in the store, and the beat picking changes up."""

from __future__ import annotations

import datetime as dt

import pytest

import litejobs
from litejobs.beat import Beat
from litejobs.exceptions import ConfigurationError
from litejobs.schedules import clocked, crontab, parse_schedule, schedule
from litejobs.serializer import loads_call

START = 1_700_000_000.0


@pytest.fixture
def app(store_path):
    app = litejobs.App(store_path)

    @app.task(name="tick")
    def tick(n=0):
        return n

    yield app
    app.close()


def fired(app, name: str) -> list[str]:
    return sorted(j.id for j in app.transport.list_jobs(task="tick", limit=10_000)
                  if j.id.startswith(f"beat:{name}:"))


def test_add_list_update_disable_remove(app):
    app.conf.beat_schedule = {"from-code": {"task": "tick", "schedule": 60.0}}
    app.schedules.add("nightly", "tick", crontab(hour=3, minute=0), args=[1],
                      kwargs={"n": 2}, options={"queue": "low"})
    app.schedules.add("often", "tick", dt.timedelta(seconds=30))
    listed = {s.name: s for s in app.schedules.list()}
    assert listed["from-code"].origin == "code" and not listed["from-code"].editable
    nightly = listed["nightly"]
    assert (nightly.origin, nightly.enabled, nightly.schedule, nightly.args, nightly.kwargs,
            nightly.options) == ("store", True, "<crontab: 0 3 * * *>", (1,), {"n": 2},
                                 {"queue": "low"})
    app.schedules.update("often", schedule=5)
    assert {s.name: s for s in app.schedules.list()}["often"].schedule == "<every 5s>"
    app.schedules.disable("often")
    assert not {s.name: s for s in app.schedules.list()}["often"].enabled
    app.schedules.enable("often")
    app.schedules.remove("often")
    assert [s.name for s in app.schedules.list()] == ["from-code", "nightly"]


def test_bad_input_is_refused_with_a_clear_error_and_nothing_changes(app):
    app.conf.beat_schedule = {"from-code": {"task": "tick", "schedule": 60.0}}
    app.schedules.add("mine", "tick", 10)
    with pytest.raises(ConfigurationError, match="already exists"):
        app.schedules.add("mine", "tick", 20)
    with pytest.raises(ConfigurationError, match="declared in code"):
        app.schedules.add("from-code", "tick", 20)
    for action in (app.schedules.remove, app.schedules.disable, app.schedules.enable):
        with pytest.raises(ConfigurationError, match="read-only"):
            action("from-code")
        with pytest.raises(ConfigurationError, match="no stored schedule named 'nope'"):
            action("nope")
    with pytest.raises(ConfigurationError, match="read-only"):
        app.schedules.update("from-code", schedule=5)
    with pytest.raises(ConfigurationError, match="plain JSON"):
        app.schedules.add("objects", "tick", 10, args=[object()])
    with pytest.raises(ConfigurationError, match="a schedule must be"):
        app.schedules.add("weird", "tick", "often")
    with pytest.raises(ConfigurationError, match="run_every must be positive"):
        app.schedules.update("mine", schedule=-1)
    (mine,) = [s for s in app.schedules.list() if s.name == "mine"]
    assert (mine.schedule, mine.enabled) == ("<every 10s>", True)
    assert [s.name for s in app.schedules.list()] == ["from-code", "mine"]


def test_a_running_beat_picks_up_adds_edits_disables_and_removals(app):
    a, b = Beat(app, holder="a"), Beat(app, holder="b")

    def step(now):
        a.run_once(now)
        b.run_once(now)

    step(START)  # no schedule yet
    app.schedules.add("every-2", "tick", 2.0, args=[5])
    for s in range(1, 6):  # the next look fires it at once, then every 2 s, once each
        step(START + s)
    assert [float(i.rsplit(":", 1)[1]) for i in fired(app, "every-2")] == [
        START + 1, START + 3, START + 5]
    job = app.transport.get(fired(app, "every-2")[0])
    assert loads_call(job.payload) == ((5,), {})
    app.schedules.update("every-2", schedule=1.0)
    step(START + 6)
    assert len(fired(app, "every-2")) == 4
    app.schedules.disable("every-2")
    for s in range(7, 10):
        step(START + s)
    assert len(fired(app, "every-2")) == 4
    app.schedules.enable("every-2")
    step(START + 10)
    assert len(fired(app, "every-2")) == 5
    app.schedules.remove("every-2")
    step(START + 11)
    assert len(fired(app, "every-2")) == 5


def test_a_one_off_fires_once_at_its_time(app):
    beat = Beat(app)
    at = dt.datetime.fromtimestamp(START + 10, dt.timezone.utc)
    app.schedules.add("once", "tick", at)
    for s in range(0, 30, 3):
        beat.run_once(START + s)
    assert fired(app, "once") == [f"beat:once:{START + 10:.3f}"]
    (once,) = app.schedules.list()
    assert once.schedule.startswith("<once at ")


def test_run_now_sends_a_job_outside_the_slots(app):
    app.schedules.add("mine", "tick", 3600, args=[9])
    app.conf.beat_schedule = {"from-code": {"task": "tick", "schedule": 60.0}}
    result = app.schedules.run_now("mine")
    assert result.id.startswith("beat:mine:now:")
    assert loads_call(app.transport.get(result.id).payload) == ((9,), {})
    assert app.schedules.run_now("from-code").id.startswith("beat:from-code:now:")
    with pytest.raises(ConfigurationError, match="no stored schedule"):
        app.schedules.run_now("nope")


def test_parse_schedule_text():
    assert parse_schedule("30") == schedule(30)
    assert parse_schedule("5m") == schedule(300)
    assert parse_schedule("*/15 * * * *") == crontab(minute="*/15")
    assert parse_schedule("2030-01-01T09:00") == clocked(dt.datetime(2030, 1, 1, 9))
    with pytest.raises(ConfigurationError, match="cron expression"):
        parse_schedule("whenever")


def test_a_code_schedule_marked_editable_is_stored_once_then_edited_at_runtime(app):
    app.conf.beat_schedule = {
        "fixed": {"task": "tick", "schedule": 60.0},
        "tunable": {"task": "tick", "schedule": 60.0, "args": [1], "editable": True},
    }
    listed = {s.name: s for s in app.schedules.list()}
    assert (listed["fixed"].origin, listed["tunable"].origin) == ("code", "store")
    app.schedules.update("tunable", schedule=2.0)  # allowed: the code said so
    with pytest.raises(ConfigurationError, match="read-only"):
        app.schedules.update("fixed", schedule=2.0)
    beat = Beat(app)
    for s in range(0, 5):
        beat.run_once(START + s)
    # the edit holds across the beat's sync: every 2 s, not every 60 s
    assert [float(i.rsplit(":", 1)[1]) for i in fired(app, "tunable")] == [
        START, START + 2, START + 4]
    assert len(fired(app, "fixed")) == 1
    assert {s.name: s for s in app.schedules.list()}["tunable"].schedule == "<every 2s>"
