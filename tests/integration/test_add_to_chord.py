"""``self.add_to_chord(sig)`` (Celery's ``Task.add_to_chord``) on a real worker (SQLite
and Redis), through ``run_until_idle()`` and in eager mode (which refuses ``lazy=True``
clearly: the chord runs inline)."""

from __future__ import annotations

import canvas_jobs as cj
import pytest

from litejobs import chord, group
from litejobs.exceptions import ConfigurationError

from integration.conftest import canvas_mode

TIMEOUT = 30


@pytest.fixture(params=["worker", "idle", "eager"])
def run(request, app, start_worker):
    with canvas_mode(request.param, app, start_worker) as mode:
        def send(workflow):
            result = workflow.delay()
            if mode == "idle":
                app.run_until_idle(timeout=TIMEOUT)
            return result

        send.mode = mode
        yield send


def test_members_added_while_the_chord_runs_join_the_body_after_the_others(run):
    flow = chord([cj.add_to_all_to_chord.s([1, 2, 3], 4), cj.identity.si("x")],
                 cj.identity.s())
    out = run(flow).get(timeout=TIMEOUT)
    assert out[:2] == [0, "x"]  # the header's own results first, in order
    assert sorted(out[2:]) == [5, 6, 7]  # then each added member's


def test_an_added_chain_that_ends_in_a_group_counts_as_one_member(run):
    flow = group([cj.add_chord_to_chord.s([1, 2, 3], 4)]) | cj.identity.s()
    assert sorted(run(flow).get(timeout=TIMEOUT)) == [0, 18]


def test_lazy_returns_the_signature_to_send(run):
    flow = chord([cj.add_to_chord_lazily.s(5), cj.add.s(1, 1)], cj.identity.s())
    if run.mode == "eager":
        with pytest.raises(ConfigurationError, match="lazy=True. needs a store"):
            run(flow).get(timeout=TIMEOUT)
        return
    assert run(flow).get(timeout=TIMEOUT) == [5, 2, 6]


def test_outside_a_chord_it_raises_value_error(run):
    with pytest.raises(ValueError, match="not member of any chord"):
        run(cj.add_to_chord_outside_a_chord.s()).get(timeout=TIMEOUT)
