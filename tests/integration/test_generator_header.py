"""A chord header from a generator is read member by member, each sent as it is made
(Celery 5.3+), on a real worker (SQLite and Redis); eager mode and ``run_until_idle()``
give the same result."""

from __future__ import annotations

import os
import time

import canvas_jobs as cj
import pytest

from litejobs import chord
from litejobs.exceptions import ChordError, ConfigurationError

from integration.conftest import canvas_mode

TIMEOUT = 30


def _first_line(path):
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.readline()


def test_members_run_before_the_generator_ends(app, start_worker, tmp_path):
    start_worker("-A", "canvas_jobs", "-c", "2")
    path = str(tmp_path / "written.txt")
    seen = []

    def members(size):
        for i in range(size):
            if i == size - 1:
                # the last member is made only once an earlier one has run: the chord
                # must have sent it already (a header listed up front would wait here
                # until the deadline, and see nothing)
                deadline = time.monotonic() + TIMEOUT
                while not _first_line(path) and time.monotonic() < deadline:
                    time.sleep(0.02)
                seen.append(_first_line(path))
            yield cj.write_to_file_and_return_int.s(path, i)

    result = chord(members(4), cj.tsum.s())()
    assert seen[0] in ("0\n", "1\n", "2\n"), "the header was read whole before it was sent"
    assert result.get(timeout=TIMEOUT) == 0 + 1 + 2 + 3
    assert result.parent.get(timeout=TIMEOUT) == [0, 1, 2, 3]


@pytest.mark.parametrize("mode", ["worker", "idle", "eager"])
def test_a_generator_header_gives_the_results_in_order(app, start_worker, mode):
    with canvas_mode(mode, app, start_worker):
        result = chord((cj.identity.si(i) for i in range(20)), cj.identity.s())()
        if mode == "idle":
            app.run_until_idle(timeout=TIMEOUT)
        assert result.get(timeout=TIMEOUT) == list(range(20))


@pytest.mark.parametrize("mode", ["worker", "idle"])
def test_an_empty_generator_header_calls_the_body_with_an_empty_list(app, start_worker, mode):
    if mode == "worker":
        start_worker("-A", "canvas_jobs", "-c", "1")
    result = chord((x for x in ()), cj.identity.s())()
    if mode == "idle":
        app.run_until_idle(timeout=TIMEOUT)
    assert result.get(timeout=TIMEOUT) == []


def test_a_failing_member_of_a_generator_header_fails_the_chord(app, start_worker):
    start_worker("-A", "canvas_jobs", "-c", "2")
    members = (cj.fail.si() if i == 1 else cj.identity.si(i) for i in range(3))
    with pytest.raises((cj.ExpectedError, ChordError)):
        chord(members, cj.identity.s())().get(timeout=TIMEOUT)


def test_a_unique_member_of_a_generator_header_is_refused_as_it_comes(app):
    made = []

    def members():
        made.append(0)
        yield cj.identity.si(0)
        made.append(1)
        yield cj.identity.si(1).set(unique_for=60)
        made.append(2)
        yield cj.identity.si(2)

    with pytest.raises(ConfigurationError, match="is unique"):
        chord(members(), cj.identity.s())()
    assert made == [0, 1]  # read lazily up to the refused member, no further
