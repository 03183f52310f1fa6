"""Signatures, chains, groups, chords, AsyncResult and GroupResult as task arguments and
results (Celery: JSON with ``__type__``; here msgpack extension types, no pickle), on a
real worker (SQLite and Redis) and in eager mode."""

from __future__ import annotations

import canvas_jobs as cj
import pytest

import litejobs
from litejobs import Signature, chain, chord, group, serializer, signature
from litejobs.result import AsyncResult, GroupResult

from integration.conftest import canvas_mode

TIMEOUT = 30


@pytest.fixture(params=["worker", "eager"])
def mode(request, app, start_worker):
    with canvas_mode(request.param, app, start_worker) as mode:
        yield mode


def test_a_returned_signature_comes_back_as_one_the_caller_applies(mode):
    sig = cj.make_signature.delay(41).get(timeout=TIMEOUT)
    assert isinstance(sig, Signature) and sig == cj.add.s(41, 1)
    assert sig.delay().get(timeout=TIMEOUT) == 42


@pytest.mark.parametrize(("kind", "cls", "value"), [
    ("chain", chain, 4), ("group", group, [2, 4]), ("chord", chord, 6)])
def test_a_returned_workflow_comes_back_as_itself(mode, kind, cls, value):
    made = cj.make_workflow.delay(kind).get(timeout=TIMEOUT)
    assert type(made) is cls
    assert made.delay().get(timeout=TIMEOUT) == value


def test_a_signature_argument_arrives_as_a_signature(mode):
    kind, name = cj.describe_given.delay(cj.add.s(1, 2)).get(timeout=TIMEOUT)
    assert (kind, name) == ("Signature", cj.add.name)
    kind, _ = cj.describe_given.delay(cj.add.s(1) | cj.add.s(2)).get(timeout=TIMEOUT)
    assert kind == "chain"


def test_an_async_result_argument_arrives_as_one(mode):
    given = cj.add.delay(2, 2)
    kind, found_id = cj.describe_given.delay(given).get(timeout=TIMEOUT)
    assert (kind, found_id) == ("AsyncResult", given.id)


def test_a_task_waits_on_a_given_result_only_when_allowed(mode):
    if mode == "eager":
        pytest.skip("an eager result is not stored: a copy of it has nothing to read")
    given = cj.add.delay(20, 22)
    assert cj.wait_for_given.delay(given).get(timeout=TIMEOUT) == 42
    with pytest.raises(RuntimeError, match="Never call result.get"):  # Celery's rule
        cj.wait_for_given_strictly.delay(given).get(timeout=TIMEOUT)


def test_a_returned_async_result_and_group_result_are_waited_on(mode):
    if mode == "eager":
        pytest.skip("an eager result is not stored: a copy of it has nothing to read")
    result = cj.apply_given.delay(cj.add.s(1), 2).get(timeout=TIMEOUT)
    assert isinstance(result, AsyncResult) and result.get(timeout=TIMEOUT) == 3
    members = cj.apply_given.delay(group(cj.add.s(1, 1), cj.add.s(2, 2))).get(timeout=TIMEOUT)
    assert isinstance(members, GroupResult)
    assert members.get(timeout=TIMEOUT) == [2, 4]
    assert cj.wait_for_given.delay(members).get(timeout=TIMEOUT) == [2, 4]


def test_signature_from_a_dict_in_celerys_form_rebuilds_any_canvas_type():
    as_dict = {"task": "celery.chain", "args": (), "subtask_type": "chain",
               "options": {}, "immutable": False,
               "kwargs": {"tasks": [
                   {"task": cj.add.name, "args": [1, 1], "kwargs": {}, "options": {},
                    "subtask_type": None, "immutable": False},
                   {"task": cj.add.name, "args": [2], "kwargs": {}, "options": {},
                    "subtask_type": None, "immutable": False}]}}
    made = signature(as_dict)
    assert type(made) is chain and made.tasks == [cj.add.s(1, 1), cj.add.s(2)]
    assert Signature.from_dict(as_dict).tasks == made.tasks


def test_links_travel_with_a_signature_unfrozen():
    sig = cj.add.s(1, 2)
    sig.link(cj.echo.s())
    back = serializer.loads(serializer.dumps(sig))
    assert back.options["link"] == [cj.echo.s()]  # an object, with no id fixed on it
    assert "task_id" not in back.options["link"][0].options


def test_what_arrives_is_bound_to_the_app_that_reads_it(app, tmp_path):
    other = litejobs.App(str(tmp_path / "other.sqlite"))  # made last: the default App
    try:
        result = cj.make_signature.delay(1)
        app.run_until_idle(timeout=TIMEOUT)
        sig = result.get(timeout=TIMEOUT)
        assert sig.app is app
        again = cj.apply_given.delay(sig)
        app.run_until_idle(timeout=TIMEOUT)
        sent = again.get(timeout=TIMEOUT)
        assert sent.app is app  # the AsyncResult returned, read by this app
        app.run_until_idle(timeout=TIMEOUT)
        assert sent.get(timeout=TIMEOUT) == 2
    finally:
        other.close()
