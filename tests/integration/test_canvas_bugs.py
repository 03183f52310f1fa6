"""The five canvas bugs of issue #15, on a real worker (SQLite and Redis) and in eager mode."""

from __future__ import annotations

import warnings

import canvas_jobs as cj
import pytest

from litejobs import chain, chord, group
from litejobs.exceptions import ChordError, Reject, SoftTimeLimitExceeded

from helpers import wait_until
from integration.conftest import canvas_mode, read_ledger


@pytest.fixture(params=["worker", "eager"])
def mode(request, app, start_worker, ledger, monkeypatch):
    """A worker (``-A canvas_jobs``) on the store, or eager mode on the same app."""
    monkeypatch.setenv("LITEJOBS_LEDGER", ledger)  # eager mode writes it here
    with canvas_mode(request.param, app, start_worker) as mode:
        yield mode


def calls(ledger, tag):
    return sum(1 for kind, t, _, _ in read_ledger(ledger) if kind == "call" and t == tag)


# -- 1. a group followed by a group ---------------------------------------------------
def test_group_followed_by_group_gives_each_member_the_list(mode):
    flow = chain(cj.add.si(1, 0), group(cj.add.s(0), cj.add.s(10)),
                 group(cj.identity.s(), cj.identity.s()))
    assert flow.delay().get(timeout=30) == [[1, 11], [1, 11]]


# -- 2. a failed chord inside a chain ends the chain ---------------------------------
def test_failed_chord_in_a_chain_fails_the_later_steps(mode):
    flow = chain(chord([cj.add.si(1, 1), cj.fail.si()], cj.identity.s()), cj.identity.s())
    with pytest.raises((cj.ExpectedError, ChordError)):
        flow.delay().get(timeout=30)


def test_failed_group_then_two_steps_fails_the_last_step(mode):
    flow = group(cj.add.si(1, 1), cj.fail.si()) | cj.identity.s() | cj.identity.s()
    result = flow.delay()
    with pytest.raises((cj.ExpectedError, ChordError)):
        result.get(timeout=30)
    assert result.state == "FAILURE"


def test_failed_chord_calls_the_chains_errback_once(mode, ledger):
    flow = chain(chord([cj.add.si(1, 1), cj.fail.si()], cj.identity.s()), cj.identity.s())
    result = flow.apply_async(link_error=cj.mark.si("errback"))
    with pytest.raises((cj.ExpectedError, ChordError)):
        result.get(timeout=30)
    wait_until(lambda: calls(ledger, "errback") >= 1, 30, message="errback ran")
    assert calls(ledger, "errback") == 1


# -- 3. get() on an ignore_result job -----------------------------------------------
def test_get_of_an_ignored_result_returns_none_with_a_warning(mode):
    result = cj.ignored.delay(5)
    if mode == "eager":  # Celery's EagerResult keeps the value
        assert result.get(timeout=5) == 5
        return
    with pytest.warns(RuntimeWarning, match="ignore_result"):
        assert result.get(timeout=5) is None


# -- 4. async def tasks ----------------------------------------------------------------
def test_async_tasks_run(mode):
    assert cj.async_add.delay(2, 3).get(timeout=30) == 5
    assert chain(cj.async_add.s(1, 1), cj.add.s(1)).delay().get(timeout=30) == 3
    with pytest.raises(cj.ExpectedError, match="async failure"):
        cj.async_fail.delay().get(timeout=30)


def test_async_tasks_reuse_one_loop_per_process(mode):
    first = cj.async_loop_id.delay().get(timeout=30)
    again = [cj.async_loop_id.delay().get(timeout=30) for _ in range(3)]
    assert isinstance(first, int)
    if mode == "eager":
        assert set(again) == {first}


def test_async_task_soft_time_limit_holds(mode):
    if mode == "eager":
        pytest.skip("eager mode sets no time limits (as Celery)")
    with pytest.raises(SoftTimeLimitExceeded):
        cj.async_past_soft_limit.delay().get(timeout=30)


# -- 5. one callback signature shared by several parents -----------------------------
def test_shared_link_runs_once_per_parent(mode, ledger):
    cb = cj.mark.si("shared")
    a, b = cj.add.s(1, 1), cj.add.s(2, 2)
    a.link(cb)
    b.link(cb)
    a.delay().get(timeout=30)
    b.delay().get(timeout=30)
    cj.add.apply_async((3, 3), link=cb).get(timeout=30)
    cj.add.apply_async((4, 4), link=cb).get(timeout=30)
    wait_until(lambda: calls(ledger, "shared") >= 4, 30, message="four callbacks")
    assert calls(ledger, "shared") == 4
    assert cb.id is None  # the user's signature is never frozen


def test_shared_link_error_runs_once_per_parent(mode, ledger):
    eb = cj.mark.si("errback")
    with warnings.catch_warnings():
        for _ in range(2):
            with pytest.raises(cj.ExpectedError):
                cj.fail.apply_async(link_error=eb).get(timeout=30)
    wait_until(lambda: calls(ledger, "errback") >= 2, 30, message="two errbacks")
    assert calls(ledger, "errback") == 2
    assert eb.id is None


def test_one_callback_linked_to_five_chain_steps_runs_five_times(mode, ledger):
    cb = cj.mark.si("step")
    steps = [cj.add.s(1, 1)] + [cj.add.s(1) for _ in range(4)]
    for step in steps:
        step.link(cb)
    assert chain(*steps).delay().get(timeout=30) == 6
    wait_until(lambda: calls(ledger, "step") >= 5, 30, message="five callbacks")
    assert calls(ledger, "step") == 5


# -- results: disable_sync_subtasks --------------------------------------------------
def test_get_inside_a_task_raises_unless_allowed(mode):
    if mode == "eager":  # Celery's eager mode runs the inner job at once: allowed
        assert cj.waits_for_another.delay(1).get(timeout=30) == 2
        return
    with pytest.raises(RuntimeError, match="Never call result.get"):
        cj.waits_for_another.delay(1).get(timeout=30)
    assert cj.waits_for_another_allowed.delay(1).get(timeout=30) == 2


# -- Reject(requeue=) and Ignore ------------------------------------------------------
def test_reject_requeue_runs_the_job_again(mode, app):
    if mode == "eager":
        with pytest.raises(Reject, match="not now"):  # inline: it cannot wait in a queue
            cj.reject_once.delay("r").get(timeout=5)
        return
    result = cj.reject_once.delay("r")
    assert result.get(timeout=30) == "r"
    assert result.retries == 0  # a requeue spends no retry


def test_ignore_leaves_no_result_and_calls_no_callback(mode, ledger, app):
    result = cj.ignore_me.apply_async(link=cj.mark.si("after-ignore"))
    if mode == "worker":  # ran, and left nothing behind
        wait_until(lambda: app.transport.get(result.id) is None, 30, message="ignored job")
    cj.mark.delay("sentinel").get(timeout=30)  # anything linked would have run by now
    assert calls(ledger, "after-ignore") == 0
    if mode == "worker":
        assert result.state == "PENDING"  # nothing stored, as Celery's Ignore
