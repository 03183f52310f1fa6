"""Nested canvas (issue #15): groups in groups, chords in groups and chord headers, chains
of groups and chords in any order, chord bodies that are chains, groups or chords; on a
real worker (SQLite and Redis) and in eager mode."""

from __future__ import annotations

import canvas_jobs as cj
import pytest

from litejobs import chain, chord, group
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
