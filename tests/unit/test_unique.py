"""Unique jobs (docs/unique.md): options, the key, eager mode, workflows.

The store's side (atomic check-and-insert, which states hold a key) is in
tests/transports/test_contract.py; real workers and racing producer processes in
tests/integration/test_unique.py.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import litejobs
from litejobs import chain, chord, group, signals
from litejobs import eager as eager_module
from litejobs.exceptions import ConfigurationError
from litejobs.unique import unique_key


@pytest.fixture
def eager_app(tmp_path):
    app = litejobs.App(str(tmp_path / "eager.sqlite"), eager=True)
    yield app
    assert not os.path.exists(tmp_path / "eager.sqlite"), "eager mode must not touch the store"


@pytest.fixture
def app(tmp_path):
    app = litejobs.App(str(tmp_path / "jobs.sqlite"))
    yield app
    app.close()


def _total(app) -> int:
    return sum(n for states in app.transport.count_jobs().values() for n in states.values())


# -- the key -------------------------------------------------------------------------
def test_the_key_is_the_task_and_its_arguments_whatever_the_keyword_order():
    assert unique_key("t.a", (1, 2), {"x": 1, "y": 2}) == unique_key("t.a", [1, 2],
                                                                      {"y": 2, "x": 1})
    assert unique_key("t.a", (1,), {}) != unique_key("t.a", (2,), {})
    assert unique_key("t.a", (1,), {}) != unique_key("t.b", (1,), {})
    assert unique_key("t.a", (), {"x": 1}) != unique_key("t.a", (1,), {})
    # a given key stands for the arguments, per task
    assert unique_key("t.a", (1,), {}, "k") == unique_key("t.a", (2,), {"z": 0}, "k")
    assert unique_key("t.a", (), {}, "k") != unique_key("t.b", (), {}, "k")


# -- options -----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [-1, "60", True, [1]])
def test_a_bad_unique_for_is_refused_where_it_is_given(app, bad):
    with pytest.raises(ConfigurationError, match="unique_for"):
        @app.task(unique_for=bad)
        def declared():
            pass

    @app.task
    def plain():
        pass

    with pytest.raises(ConfigurationError, match="unique_for for .*plain must be seconds"):
        plain.apply_async(unique_for=bad)
    assert _total(app) == 0


def test_unique_key_needs_unique_for_and_must_be_a_string(app):
    @app.task
    def plain(x):
        pass

    with pytest.raises(ConfigurationError, match="unique_key for .*plain needs unique_for"):
        plain.apply_async((1,), unique_key="k")
    with pytest.raises(ConfigurationError, match="unique_key .* must be a non-empty string"):
        plain.apply_async((1,), unique_for=5, unique_key=7)
    assert _total(app) == 0


def test_the_call_wins_over_the_task_and_false_turns_it_off(app):
    @app.task(unique_for=60)
    def report(day):
        return day

    first = report.delay("mon")
    assert report.delay("mon").id == first.id
    assert report.apply_async(("mon",), unique_for=dt.timedelta(seconds=5)).id == first.id
    assert report.apply_async(("mon",), unique_for=False).id != first.id
    assert report.delay("tue").id != first.id
    assert app.send_task(report.name, ("mon",)).id == first.id  # by name: the task's option
    assert _total(app) == 3


def test_keyword_order_does_not_matter_and_only_a_stored_job_is_announced(app):
    @app.task(unique_for=60)
    def report(day, lang="en", full=False):
        return day

    before, after = [], []

    def on_before(sender=None, headers=None, **kwargs):
        before.append(headers["id"])

    def on_after(sender=None, headers=None, **kwargs):
        after.append(headers["id"])

    signals.before_task_publish.connect(on_before)
    signals.after_task_publish.connect(on_after)
    try:
        first = report.apply_async(("mon",), {"lang": "fr", "full": True})
        again = report.apply_async(("mon",), {"full": True, "lang": "fr"})
    finally:
        signals.before_task_publish.disconnect(on_before)
        signals.after_task_publish.disconnect(on_after)
    assert again.id == first.id and _total(app) == 1
    assert len(before) == 2 and after == [first.id]


def test_countdown_eta_and_task_id_of_a_duplicate_are_not_used(app):
    @app.task(unique_for=60)
    def report(day):
        return day

    first = report.apply_async(("mon",), countdown=3600)
    eta = app.transport.get(first.id).eta
    again = report.apply_async(("mon",), task_id="my-own-id", countdown=1)
    assert again.id == first.id
    assert app.transport.get("my-own-id") is None
    assert app.transport.get(first.id).eta == eta  # the waiting job is left as it was
    assert _total(app) == 1


def test_a_plain_task_enqueues_every_call_through_the_unchanged_path(app):
    @app.task
    def plain(x):
        return x

    ids = {plain.delay(1).id for _ in range(3)}
    assert len(ids) == 3 and _total(app) == 3


# -- workflows ------------------------------------------------------------------------
def test_a_lone_signature_of_a_unique_task_is_sent_alone(app):
    @app.task(unique_for=60)
    def report(day, lang="en"):
        return day

    first = report.delay("mon", lang="fr")
    assert report.s("mon").delay(lang="fr").id == first.id
    assert report.s(lang="fr").apply_async(("mon",)).id == first.id
    assert report.si("mon", lang="fr").set(queue="other").delay().id == first.id
    assert _total(app) == 1


@pytest.mark.parametrize("shape", ["chain", "group", "chord header", "chord body", "link",
                                   "call option"])
def test_a_workflow_refuses_a_unique_step_and_stores_nothing(app, shape):
    @app.task(unique_for=60)
    def report(day):
        return day

    @app.task
    def plain(x=None):
        return x

    workflow = {
        "chain": lambda: chain(plain.s(1), report.s()),
        "group": lambda: group(plain.s(1), report.s(2)),
        "chord header": lambda: chord([report.s(1), plain.s(2)], plain.s()),
        "chord body": lambda: chord([plain.s(1)], report.s()),
        "link": lambda: plain.s(1).set(link=report.s()),
        "call option": lambda: chain(plain.s(1), plain.s()),
    }[shape]()
    options = {"unique_for": 5} if shape == "call option" else {}
    with pytest.raises(ConfigurationError, match="a unique job is sent on its own"):
        workflow.apply_async(**options)
    with pytest.raises(ConfigurationError, match="a unique job is sent on its own"):
        report.apply_async((1,), link=plain.s())
    assert _total(app) == 0


def test_a_unique_task_runs_as_a_plain_step_with_unique_for_false(app):
    @app.task(unique_for=60)
    def report(day):
        return day

    @app.task
    def plain(x=None):
        return x

    result = group(report.s(1).set(unique_for=False), report.s(1).set(unique_for=False))()
    assert len({r.id for r in result.results}) == 2
    chain(plain.s(1), report.s().set(unique_for=False)).delay()
    assert _total(app) == 3


# -- eager mode ---------------------------------------------------------------------
def test_eager_a_finished_job_holds_its_key_for_unique_for(eager_app, monkeypatch):
    runs = []

    @eager_app.task(unique_for=10)
    def report(day, lang="en"):
        runs.append(day)
        return f"{day}-{lang}"

    clock = [1_000.0]
    monkeypatch.setattr(eager_module, "clock_now", lambda: clock[0])
    first = report.delay("mon", lang="fr")
    assert first.get() == "mon-fr"
    clock[0] += 9
    again = report.apply_async(("mon",), {"lang": "fr"})
    assert again is first and runs == ["mon"]
    assert report.delay("tue").get() == "tue-en" and runs == ["mon", "tue"]
    clock[0] += 2  # 11 s after the first finished
    later = report.delay("mon", lang="fr")
    assert later.id != first.id and later.get() == "mon-fr" and runs == ["mon", "tue", "mon"]
    # apply() runs here and now, unique or not
    assert report.apply(("mon",), {"lang": "fr"}).id != later.id
    assert len(runs) == 4


def test_eager_a_failure_holds_no_key(eager_app):
    runs = []

    @eager_app.task(unique_for=60)
    def flaky(x):
        runs.append(x)
        if len(runs) == 1:
            raise ValueError("first run fails")
        return x

    first = flaky.delay(1)
    assert first.state == "FAILURE"
    second = flaky.delay(1)
    assert second.id != first.id and second.get() == 1
    assert flaky.delay(1) is second and runs == [1, 1]


def test_eager_a_failure_raised_by_task_eager_propagates_holds_no_key(eager_app):
    eager_app.conf.task_eager_propagates = True
    runs = []

    @eager_app.task(unique_for=60)
    def flaky(x):
        runs.append(x)
        if len(runs) == 1:
            raise ValueError("first run fails")
        return x

    with pytest.raises(ValueError):
        flaky.delay(1)
    assert flaky.delay(1).get() == 1 and runs == [1, 1]


def test_eager_a_running_job_holds_its_key(eager_app):
    seen = []

    @eager_app.task(bind=True, unique_for=0)
    def again(self, x):
        if not seen:
            seen.append(self.request.id)
            nested = again.delay(x)  # the same key while this one runs
            seen.append((nested.id, nested.state))
        return x

    result = again.delay(5)
    assert result.get() == 5
    assert seen == [result.id, (result.id, "STARTED")]
    # unique_for=0: once finished, the key is free
    assert again.delay(5).id != result.id


def test_eager_unique_key_and_workflows(eager_app):
    @eager_app.task(unique_for=60)
    def sync(account, page=1):
        return page

    first = sync.apply_async(("acme",), {"page": 1}, unique_key="acme")
    assert sync.apply_async(("acme",), {"page": 2}, unique_key="acme") is first
    assert sync.s("acme", page=1).delay().id != first.id  # no unique_key: its arguments
    lone = sync.s("acme", page=1).delay()
    assert sync.s("acme").delay(page=1).id == lone.id  # a lone signature is sent alone
    with pytest.raises(ConfigurationError, match="a unique job is sent on its own"):
        group(sync.s("a"), sync.s("b")).delay()


def test_the_example_of_docs_unique_md_runs_as_written(tmp_path, monkeypatch):
    doc = Path(__file__).parents[2] / "docs" / "unique.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # and again on the same store, within unique_for
        for block in blocks:
            exec(compile(block, str(doc), "exec"), {"__name__": "unique_demo"})


FRESH = """
import sys
import litejobs
from litejobs import chain, group
from litejobs.core import UniqueSeen
from litejobs.exceptions import ConfigurationError

app = litejobs.App(sys.argv[1])

@app.task
def plain(x=None):
    return x

group(plain.s(i) for i in range(3)).apply_async()
assert not UniqueSeen.seen  # plain workflows never look for unique steps
for send, error in (
        (lambda: group(plain.s(1), plain.s(2).set(unique_for=5)).apply_async(), "on its own"),
        (lambda: chain(plain.s(1), plain.s()).apply_async(unique_for=5), "on its own"),
        (lambda: chain(plain.s(1), plain.s()).apply_async(unique_key="k"),
         "needs unique_for")):
    try:
        send()
    except ConfigurationError as exc:
        assert error in str(exc), exc
    else:
        raise AssertionError("a unique step was sent in a workflow")
print("ok")
"""


def test_a_process_that_met_no_unique_job_still_refuses_a_unique_step(tmp_path):
    # a fresh interpreter: no task of it is unique, so the workflow walk is skipped
    # until a signature or a call asks for uniqueness
    out = subprocess.run([sys.executable, "-c", FRESH, str(tmp_path / "fresh.sqlite")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_a_bad_unique_for_on_a_workflow_step_is_refused_clearly(app):
    @app.task
    def plain(x=None):
        return x

    with pytest.raises(ConfigurationError, match="unique_for for .*plain must be seconds"):
        group(plain.s(1), plain.s(2).set(unique_for=[1])).apply_async()
    assert _total(app) == 0
