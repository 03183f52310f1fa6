"""``self.replace(sig)`` (Celery's ``Task.replace``) on a real worker (SQLite and Redis),
in this process through ``run_until_idle()`` on the same stores, and in eager mode.

Celery's own replace tests are ported in test_celery_canvas_port.py; these hold the
rules the port relies on, in every mode."""

from __future__ import annotations

import canvas_jobs as cj
import pytest

from litejobs import chain, chord, group
from litejobs.exceptions import ChordError, ConfigurationError

from helpers import wait_until
from integration.conftest import canvas_mode

TIMEOUT = 30


@pytest.fixture(params=["worker", "idle", "eager"])
def run(request, app, start_worker, ledger, monkeypatch):
    """Send a workflow and return its result: a ``litejobs worker`` runs it, or
    ``app.run_until_idle()`` here, or eager mode (once: it uses no store)."""
    monkeypatch.setenv("LITEJOBS_LEDGER", ledger)
    with canvas_mode(request.param, app, start_worker) as mode:
        def send(workflow):
            result = workflow.delay()
            if mode == "idle":
                app.run_until_idle(timeout=TIMEOUT)
            return result

        yield send


def test_a_replaced_job_returns_the_replacements_result(run, app):
    result = run(cj.add_replaced.s(2, 3))
    assert result.get(timeout=TIMEOUT) == 5
    if app.conf.task_always_eager:
        return  # nothing stored
    again = app.AsyncResult(result.id)  # the same id, read afresh from the store
    assert again.get(timeout=TIMEOUT) == 5
    assert again.state == "SUCCESS"


def test_a_chain_step_replaced_by_a_chain_keeps_its_callback_and_continuation(run):
    step = cj.replace_with_chain.s(link_msg="inner")
    step.link(cj.echo.si("outer"))
    flow = chain(cj.add.s(1, 1), step, cj.add.s(100))
    assert run(flow).get(timeout=TIMEOUT) == 102
    _await_echo(["inner", "outer"])


def test_replaced_by_a_group_gives_the_list_in_order(run):
    assert run(cj.add_to_all_replaced.s([3, 2, 1], 10)).get(timeout=TIMEOUT) == [13, 12, 11]


def test_a_chord_member_replaced_by_a_chord_is_counted_once_it_ends(run):
    flow = chord([cj.add_replaced.s(1, 1), cj.add.s(2, 2), cj.replaced_by_chord.s(10)],
                 cj.tsum.s())
    assert run(flow).get(timeout=TIMEOUT) == 2 + 4 + (11 + 12)


def test_a_group_member_replaced_keeps_its_place(run):
    flow = group(cj.identity.s(1), cj.replace_with_chain.s(2), cj.add_replaced.s(1, 2))
    assert run(flow).get(timeout=TIMEOUT) == [1, 2, 3]


def test_a_failing_replacement_fails_the_chord_and_calls_the_errback_once(run):
    flow = chord([cj.add.s(1, 1), cj.fail_replaced.s()], cj.tsum.s())
    flow.link_error(cj.echo.si("chord errback"))
    with pytest.raises((cj.ExpectedError, ChordError)):
        run(flow).get(timeout=TIMEOUT)
    _await_echo(["chord errback"])


def test_replacements_nest(run):
    run(cj.second_order_replace1.s()).get(timeout=TIMEOUT)
    assert cj.echoed() == ["In A", "In B", "In/Out C", "Out B", "Out A"]


def test_replace_takes_only_canvas_objects_and_only_in_a_job():
    with pytest.raises(ConfigurationError, match="outside a running job"):
        cj.add_replaced(1, 2)
    with pytest.raises(ConfigurationError, match="signature, chain, group or chord"):
        cj.add_replaced.replace("tasks.add")


def _await_echo(expected):
    wait_until(lambda: sorted(cj.echoed()) == sorted(expected), TIMEOUT,
               message=f"echoes {expected} (have {cj.echoed()})")
