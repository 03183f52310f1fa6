from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest

from litejobs.autoscale import Autoscaler, parse
from litejobs.config import Conf
from litejobs.exceptions import ConfigurationError
from litejobs.job import JobState, new_id, validate_task_options
from litejobs.retry import backoff
from litejobs.states import celery_state
from litejobs.timeutil import parse_rate, to_seconds, to_timestamp


@pytest.mark.parametrize("rate,per_second", [
    ("10/s", 10.0), ("100/m", 100 / 60), ("1000/h", 1000 / 3600), ("0.5/s", 0.5),
    ("24/d", 24 / 86400), ("5/10s", 0.5), (3, 3.0),
])
def test_parse_rate(rate, per_second):
    assert parse_rate(rate) == pytest.approx(per_second)


@pytest.mark.parametrize("rate", ["10", "ten/s", "10/x", "0/s", "-1/s", "", None, -2])
def test_parse_rate_rejects_nonsense(rate):
    with pytest.raises(ValueError):
        parse_rate(rate)


def test_to_seconds_and_timestamps():
    assert to_seconds(dt.timedelta(minutes=2)) == 120.0
    assert to_seconds(3) == 3.0
    with pytest.raises(ConfigurationError):
        to_seconds("3")
    naive = dt.datetime(2024, 1, 1)
    assert to_timestamp(naive) == to_timestamp(naive.replace(tzinfo=dt.timezone.utc))


def test_backoff_doubles_caps_and_jitters():
    assert [backoff(i, 1) for i in range(4)] == [1, 2, 4, 8]
    assert backoff(10, 2, cap=60) == 60
    rng = random.Random(1)
    draws = [backoff(3, 1, cap=5, jitter=True, rng=rng) for _ in range(100)]
    assert all(0 <= d <= 5 for d in draws) and len(set(draws)) > 50


def test_new_ids_are_uuid7_and_ordered():
    ids = [new_id() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert uuid.UUID(ids[0]).version == 7


def test_unknown_task_option_lists_valid_ones():
    with pytest.raises(ConfigurationError, match="max_retires.*valid options:.*max_retries"):
        validate_task_options("f", {"max_retires": 3})


@pytest.mark.parametrize("options", [
    {"max_retries": -1}, {"time_limit": 0}, {"soft_time_limit": "5"}, {"rate_limit": "fast"},
    {"queue": ""}, {"priority": "high"}, {"autoretry_for": (int,)}, {"bind": "yes"},
    {"acks_late": 1},
])
def test_bad_task_option_values(options):
    with pytest.raises(ConfigurationError):
        validate_task_options("f", options)


def test_conf_defaults_and_validation():
    conf = Conf()
    assert conf.result_expires == 86400
    assert conf.task_default_queue == "default"
    assert conf.task_acks_late is True
    assert conf.worker_lease_timeout == 30
    assert conf.durability == "normal"
    assert conf.timezone == "UTC"
    conf.result_expires = dt.timedelta(hours=1)
    assert conf["result_expires"] == 3600
    with pytest.raises(ConfigurationError, match="did you mean .result_expires."):
        conf.result_expire = 5
    with pytest.raises(ConfigurationError):
        conf.durability = "paranoid"
    with pytest.raises(ConfigurationError):
        conf.timezone = "Mars/Base"


def test_conf_from_object_reads_known_names_and_catches_typos():
    class Settings:
        task_default_queue = "q1"
        something_else = 1

    conf = Conf()
    conf.from_object(Settings)
    assert conf.task_default_queue == "q1"

    class Typo:
        task_default_queu = "q1"

    with pytest.raises(ConfigurationError, match="task_default_queu"):
        conf.from_object(Typo)


def test_celery_states():
    assert celery_state(None, None, 0) == "PENDING"
    assert celery_state(JobState.SCHEDULED, None, 0) == "PENDING"
    assert celery_state(JobState.PENDING, None, 2) == "RETRY"
    assert celery_state(JobState.RUNNING, None, 0) == "STARTED"
    assert celery_state(JobState.RUNNING, "PROGRESS", 0) == "PROGRESS"
    assert celery_state(JobState.SUCCESS, None, 0) == "SUCCESS"
    assert celery_state(JobState.FAILURE, None, 0) == "FAILURE"
    assert celery_state(JobState.REVOKED, None, 0) == "REVOKED"


def test_a_redis_url_without_the_extra_says_how_to_install_it(monkeypatch):
    import sys

    from litejobs.transports import open_transport

    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.delitem(sys.modules, "litejobs.transports.redis", raising=False)
    with pytest.raises(ConfigurationError, match=r"pip install 'litejobs\[redis\]'"):
        open_transport("redis://127.0.0.1:1/0")


def test_autoscaler_grows_one_a_step_and_shrinks_after_keepalive():
    assert parse("10,3") == (10, 3) and parse("3,10") == (10, 3) and parse("4") == (4, 0)
    with pytest.raises(ValueError):
        parse("a,b")
    scale = Autoscaler(3, 1, keepalive=10)
    assert scale.decide(0, 0, False, 0) == 1  # below MIN
    assert scale.decide(1, 1, True, 0) == 1  # all busy, jobs waiting
    assert scale.decide(3, 3, True, 1) == 0  # at MAX
    assert scale.decide(3, 3, False, 2) == 0  # busy, nothing waiting
    assert scale.decide(3, 1, False, 3) == 0  # idle child: the keepalive starts
    assert scale.decide(3, 1, False, 12) == 0
    assert scale.decide(3, 0, False, 13) == -1  # idle for 10 s
    assert scale.decide(2, 0, False, 14) == 0  # one step per keepalive
    assert scale.decide(2, 0, False, 23) == -1
    assert scale.decide(1, 0, False, 40) == 0  # never below MIN
