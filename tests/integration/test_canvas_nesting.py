"""Nested canvas (issue #15): groups in groups, chords in groups and chord headers, chains
of groups and chords in any order, chord bodies that are chains, groups or chords; on a
real worker (SQLite and Redis) and in eager mode."""

from __future__ import annotations

import canvas_jobs as cj
import pytest

from litejobs import chain, chord, group
from litejobs.canvas import StampingVisitor
from litejobs.exceptions import ChordError

from integration import test_canvas_bugs

mode = test_canvas_bugs.mode  # the fixture: a worker on each store, or eager mode

add, identity, tsum = cj.add, cj.identity, cj.tsum


def test_groups_in_groups_are_flattened(mode):
    flow = group(add.si(1, 0), group(add.si(2, 0), group(add.si(3, 0), add.si(4, 0))))
    assert flow.delay().get(timeout=30) == [1, 2, 3, 4]


def test_chord_in_a_group(mode):
    flow = group(chord([add.si(1, 1), add.si(2, 2)], tsum.s()), add.si(10, 10))
    assert flow.delay().get(timeout=30) == [6, 20]


def test_chord_in_a_chord_header(mode):
    flow = chord([chord([add.si(1, 1), add.si(2, 2)], tsum.s()), add.si(10, 10)], tsum.s())
    assert flow.delay().get(timeout=30) == 26


def test_chord_body_is_a_chain(mode):
    flow = chord([add.si(1, 1), add.si(2, 2)], tsum.s() | add.s(100))
    assert flow.delay().get(timeout=30) == 106


def test_chord_body_is_a_group(mode):
    flow = chord([add.si(1, 1), add.si(2, 2)], group(tsum.s(), identity.s()))
    assert flow.delay().get(timeout=30) == [6, [2, 4]]


def test_chord_body_is_a_chord(mode):
    flow = chord([add.si(1, 1), add.si(2, 2)], chord([tsum.s(), tsum.s()], tsum.s()))
    assert flow.delay().get(timeout=30) == 12


def test_chain_of_group_then_chord_then_signature(mode):
    flow = chain(add.si(1, 1), group(add.s(1), add.s(2)),
                 chord([tsum.s(), tsum.s()], tsum.s()), add.s(1))
    assert flow.delay().get(timeout=30) == 15  # [3, 4] -> 7, 7 -> 14 -> 15


def test_chord_then_group(mode):
    flow = chord([add.si(1, 1), add.si(2, 2)], tsum.s()) | group(add.s(1), add.s(2))
    assert flow.delay().get(timeout=30) == [7, 8]


def test_failed_member_of_a_nested_chord_fails_the_outer_chord(mode):
    flow = chord([chord([add.si(1, 1), cj.fail.si()], tsum.s()), add.si(10, 10)], tsum.s())
    with pytest.raises((cj.ExpectedError, ChordError)):
        flow.delay().get(timeout=30)


def test_failed_member_of_a_group_body_chord_fails_the_chain(mode):
    flow = chain(chord([add.si(1, 1), cj.fail.si()], group(identity.s(), identity.s())),
                 identity.s())
    with pytest.raises((cj.ExpectedError, ChordError)):
        flow.delay().get(timeout=30)


def test_chains_in_a_nested_chord_header_inside_a_chain(mode):
    inner = chord([add.s(1) | add.s(2), add.s(3)], tsum.s())
    flow = add.s(0, 1) | chord([inner, add.s(5)], tsum.s()) | add.s(100)
    assert flow.delay().get(timeout=30) == 114  # 1 -> [4, 4] -> 8; 6; 14; 114
    members = group(chord([add.s(1) | add.s(2), add.s(3)], tsum.s()), add.s(5))
    assert members.delay(1).get(timeout=30) == [8, 6]


# -- callbacks on every canvas type ----------------------------------------------------
calls = test_canvas_bugs.calls


def test_group_link_is_called_once_with_the_list(mode, ledger):
    g = group(identity.si(42), identity.si(1337))
    g.link(cj.mark.si("group-done"))
    assert g.delay().get(timeout=30) == [42, 1337]
    test_canvas_bugs.wait_until(lambda: calls(ledger, "group-done") >= 1, 30,
                                message="group callback")
    assert calls(ledger, "group-done") == 1
    collected = group(add.si(1, 1), add.si(2, 2))
    collected.link(tsum.s())
    res = collected.delay()
    assert res.get(timeout=30) == [2, 4]


def test_group_link_error_is_called_for_each_failed_member(mode, ledger):
    g = group(cj.fail.si(), identity.si(42), cj.fail.si())
    g.link_error(cj.mark.si("member-failed"))
    with pytest.raises(cj.ExpectedError):
        g.delay().get(timeout=30)
    test_canvas_bugs.wait_until(lambda: calls(ledger, "member-failed") >= 2, 30,
                                message="two errbacks")
    assert calls(ledger, "member-failed") == 2


def test_chain_link_and_link_error(mode, ledger):
    ok = chain(add.si(1, 1), add.s(1))
    ok.link(cj.mark.si("chain-done"))
    assert ok.delay().get(timeout=30) == 3
    bad = chain(add.si(1, 1), cj.fail.s(), add.s(1))
    bad.link_error(cj.mark.si("chain-failed"))
    with pytest.raises(cj.ExpectedError):
        bad.delay().get(timeout=30)
    test_canvas_bugs.wait_until(lambda: calls(ledger, "chain-failed") >= 1
                                and calls(ledger, "chain-done") >= 1, 30,
                                message="chain callback and errback")
    assert calls(ledger, "chain-done") == 1 and calls(ledger, "chain-failed") == 1


def test_chord_link_error_once_not_on_the_header_by_default(mode, ledger, app):
    c = chord([cj.fail.si(), cj.fail.si(), add.si(1, 1)], tsum.s())
    c.link_error(cj.mark.si("chord-failed"))
    with pytest.raises((cj.ExpectedError, ChordError)):
        c.delay().get(timeout=30)
    test_canvas_bugs.wait_until(lambda: calls(ledger, "chord-failed") >= 1, 30,
                                message="chord errback")
    assert calls(ledger, "chord-failed") == 1


def test_chord_link_error_on_the_header_when_allowed(mode, ledger, app):
    app.conf.task_allow_error_cb_on_chord_header = True
    try:
        c = chord([cj.fail.si(), cj.fail.si(), add.si(1, 1)], tsum.s())
        c.link_error(cj.mark.si("header-failed"))
    finally:
        app.conf.task_allow_error_cb_on_chord_header = False
    with pytest.raises((cj.ExpectedError, ChordError)):
        c.delay().get(timeout=30)
    # each failed header member, and the body once
    test_canvas_bugs.wait_until(lambda: calls(ledger, "header-failed") >= 3, 30,
                                message="three errbacks")
    assert calls(ledger, "header-failed") == 3


# -- stamping --------------------------------------------------------------------------
class MonitoringIdVisitor(StampingVisitor):
    def on_signature(self, sig, **headers):
        return {"monitoring_id": "m-1"}


def test_stamps_reach_every_job_of_a_workflow(mode):
    flow = chain(cj.stamps_of.si(), group(cj.stamps_of.si(), cj.stamps_of.si()),
                 chord([cj.stamps_of.si()], cj.stamps_of.si()))
    flow.stamp(visitor=MonitoringIdVisitor(), tenant="acme")
    stamp = {"tenant": "acme", "monitoring_id": "m-1"}
    result = flow.delay()
    assert result.get(timeout=30) == stamp
    assert result.parent.get(timeout=30) == [stamp]  # the chord's header
    fan = group(cj.stamps_of.si(), cj.stamps_of.si()) | cj.stamps_of.s()
    fan.stamp(visitor=MonitoringIdVisitor(), tenant="acme")
    res = fan.delay()
    assert res.get(timeout=30) == stamp and res.parent.get(timeout=30) == [stamp] * 2


def test_revoke_by_stamped_headers(mode, app):
    if mode == "eager":
        pytest.skip("eager jobs have run before they could be revoked")
    later = cj.stamps_of.si().set(countdown=60)
    later.stamp(batch="b-7")
    other = cj.stamps_of.si().set(countdown=60)
    other.stamp(batch="b-8")
    doomed, kept = later.delay(), other.delay()
    assert app.control.revoke_by_stamped_headers({"batch": "b-7"}) == [doomed.id]
    assert doomed.state == "REVOKED" and kept.state == "PENDING"
