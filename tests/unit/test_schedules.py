"""Interval and crontab schedules, and the beat stepped with a frozen clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

import litejobs
from litejobs.beat import Beat, entries_of
from litejobs.exceptions import ConfigurationError
from litejobs.schedules import crontab, schedule

UTC = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")


def ts(*args, tz=UTC) -> float:
    return dt.datetime(*args, tzinfo=tz).timestamp()


def test_interval_schedule():
    every = schedule(10)
    assert every.due_slot(None, 100.0, UTC) == 100.0  # never run: due at once
    assert every.due_slot(100.0, 105.0, UTC) is None
    assert every.due_slot(100.0, 110.0, UTC) == 110.0
    assert every.due_slot(100.0, 1000.0, UTC) == 1000.0  # many missed: one slot
    assert every.next_slot(100.0, 105.0, UTC) == 110.0
    assert every.next_slot(100.0, 1005.0, UTC) == 1010.0
    assert schedule(dt.timedelta(minutes=1)).seconds == 60
    with pytest.raises(ConfigurationError):
        schedule(0)


def test_crontab_fields_and_names():
    assert crontab(minute="*/15").expr == "*/15 * * * *"
    assert crontab(hour=6, minute=0, day_of_week="mon-fri").expr == "0 6 * * mon-fri"
    assert crontab(minute=[0, 30], hour="9-17").expr == "0,30 9-17 * * *"
    assert crontab.from_string("5 4 * * sun") == crontab(minute=5, hour=4, day_of_week="sun")
    for bad in ({"minute": "61"}, {"hour": "x"}, {"day_of_week": "funday"}):
        with pytest.raises(ConfigurationError):
            crontab(**bad)


def test_crontab_next_and_due():
    quarter = crontab(minute="*/15")
    now = ts(2024, 5, 1, 10, 7)
    assert quarter.next_slot(now, now, UTC) == ts(2024, 5, 1, 10, 15)
    assert quarter.due_slot(None, now, UTC) is None  # a crontab waits for its first slot
    assert quarter.due_slot(ts(2024, 5, 1, 9, 0), now, UTC) == ts(2024, 5, 1, 10, 0)
    assert quarter.due_slot(ts(2024, 5, 1, 10, 0), now, UTC) is None
    weekdays = crontab(hour=6, minute=0, day_of_week="mon-fri")
    friday = ts(2024, 5, 3, 7, 0)
    assert weekdays.next_slot(friday, friday, UTC) == ts(2024, 5, 6, 6, 0)  # Monday


def test_crontab_in_a_time_zone_across_dst():
    daily = crontab(hour=2, minute=30)
    # spring forward: 02:30 does not exist on 2024-03-31 in Paris; it runs once, at 03:00
    before = ts(2024, 3, 30, 12, 0, tz=PARIS)
    first = daily.next_slot(before, before, PARIS)
    assert dt.datetime.fromtimestamp(first, PARIS).replace(tzinfo=None) == dt.datetime(
        2024, 3, 31, 3, 0)
    following = daily.next_slot(first, first, PARIS)
    assert following - first == 23.5 * 3600  # back to 02:30 the next day
    # fall back: 02:30 happens twice on 2024-10-27; it runs once
    start = ts(2024, 10, 26, 12, 0, tz=PARIS)
    slots = []
    last = start
    while last < ts(2024, 10, 28, 12, 0, tz=PARIS):
        last = daily.next_slot(last, last, PARIS)
        slots.append(last)
    fires_on_27 = [s for s in slots if dt.datetime.fromtimestamp(s, PARIS).day == 27]
    assert len(fires_on_27) == 1
    # 06:00 Paris is 04:00 UTC in summer and 05:00 UTC in winter
    six = crontab(hour=6, minute=0)
    summer = six.next_slot(ts(2024, 7, 1, 0, 0), ts(2024, 7, 1, 0, 0), PARIS)
    winter = six.next_slot(ts(2024, 1, 1, 0, 0), ts(2024, 1, 1, 0, 0), PARIS)
    assert dt.datetime.fromtimestamp(summer, UTC).hour == 4
    assert dt.datetime.fromtimestamp(winter, UTC).hour == 5


@pytest.fixture
def app(store_path):
    app = litejobs.App(store_path)

    @app.task(name="tick")
    def tick(n=0):
        return n

    yield app
    app.close()


def fired(app) -> list[str]:
    return sorted(j.id for j in app.transport.list_jobs(task="tick", limit=10_000))


def test_two_beats_fire_each_tick_once(app):
    app.conf.beat_schedule = {"every-second": {"task": "tick", "schedule": 1.0}}
    a, b = Beat(app, holder="a"), Beat(app, holder="b")
    start = 1_700_000_000.0
    for step in range(11):
        now = start + step
        a.run_once(now)
        b.run_once(now)
    ids = fired(app)
    assert len(ids) == 11 and len(set(ids)) == 11
    assert a.leading and not b.leading


def test_restart_and_missed_runs_fire_once(app):
    app.conf.beat_schedule = {"every-ten": {"task": "tick", "schedule": 10.0, "args": (7,)}}
    start = 1_700_000_000.0
    Beat(app, holder="first").run_once(start)
    assert len(fired(app)) == 1
    restarted = Beat(app, holder="second", lease=5.0)
    restarted.run_once(start + 1)  # the first beat's lease still holds
    assert not restarted.leading and len(fired(app)) == 1
    restarted.run_once(start + 6)  # taken over; nothing due yet
    assert restarted.leading and len(fired(app)) == 1
    restarted.run_once(start + 95)  # down for 9 slots: one catch-up run
    assert len(fired(app)) == 2
    restarted.run_once(start + 96)
    assert len(fired(app)) == 2
    job = app.transport.list_jobs(task="tick")[0]
    assert job.id == f"beat:every-ten:{start + 90:.3f}"


def test_clock_stepping_back_fires_nothing_twice(app):
    app.conf.beat_schedule = {"every-ten": {"task": "tick", "schedule": 10.0}}
    beat = Beat(app, holder="b")
    start = 1_700_000_000.0
    for now in (start, start + 10, start + 20):
        beat.run_once(now)
    assert len(fired(app)) == 3
    for now in (start + 5, start + 12, start + 20):  # the clock went back
        beat.run_once(now)
    assert len(fired(app)) == 3
    beat.run_once(start + 30)
    assert len(fired(app)) == 4


def test_crontab_entry_waits_for_its_slot_then_fires(app):
    app.add_periodic_task(crontab(minute="*/15"), app.tasks["tick"].s(1), name="quarter")
    beat = Beat(app, holder="b")
    beat.run_once(ts(2024, 5, 1, 10, 7))
    assert fired(app) == []
    beat.run_once(ts(2024, 5, 1, 10, 15, 0))
    beat.run_once(ts(2024, 5, 1, 10, 15, 30))
    assert len(fired(app)) == 1
    entry = app.transport.list_schedules()[0]
    assert entry.name == "quarter" and entry.next_run == ts(2024, 5, 1, 10, 30)


def test_declaring_schedules_and_removing_one(app):
    app.conf.beat_schedule = {"a": {"task": "tick", "schedule": 5, "kwargs": {"n": 1},
                                    "options": {"queue": "q"}}}

    @app.periodic_task(schedule(60), name="hourly-ish")
    def cleanup():
        return "clean"

    names = {e.name for e in entries_of(app)}
    assert names == {"a", "hourly-ish"}
    beat = Beat(app, holder="b")
    beat.run_once(1_700_000_000.0)
    assert {e.name for e in app.transport.list_schedules()} == {"a", "hourly-ish"}
    assert app.transport.list_jobs(task="tick")[0].queue == "q"
    del app.conf.beat_schedule  # back to the default: no dict entries
    Beat(app, holder="b").run_once(1_700_000_001.0)
    assert {e.name for e in app.transport.list_schedules()} == {"hourly-ish"}
    with pytest.raises(ConfigurationError):
        app.conf.beat_schedule = {"bad": {"task": "tick"}}
        entries_of(app)
