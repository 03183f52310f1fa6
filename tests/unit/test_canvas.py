"""Workflows through the real store (in-process worker) and in eager mode: same results."""

from __future__ import annotations

import pytest

import litejobs
from litejobs import chain, chord, group, signature
from litejobs.exceptions import ChordError, ConfigurationError, TaskRevokedError
from litejobs.testing import use_store

import jobs


@pytest.fixture(params=["store", "eager"])
def run(request, store_path):
    """``run(thing)`` sends a workflow and returns its result once everything ran."""
    with use_store(jobs.app, store_path) as app:
        app.conf.task_always_eager = request.param == "eager"
        try:
            def go(make):
                result = make()
                if not app.eager:
                    app.run_until_idle()
                return result

            go.app = app
            go.mode = request.param
            yield go
        finally:
            app.conf.task_always_eager = False


def test_signature_basics():
    s = jobs.add.s(2)
    assert s.task == "jobs.add" and s.args == (2,)
    assert s.clone((3,)).args == (2, 3)
    assert s.set(queue="q").options == {"queue": "q"}
    assert jobs.add.si(1, 1).immutable
    assert signature("jobs.add", args=(1, 2)) == jobs.add.s(1, 2)
    assert jobs.add.s(1, 2)() == 3  # inline call


def test_signature_delay(run):
    r = run(lambda: jobs.add.s(2).delay(3))
    assert r.get() == 5
    r = run(lambda: jobs.add.s(1, 1).set(countdown=0, priority=3).apply_async())
    assert r.get() == 2


def test_chain_passes_each_result_on(run):
    r = run(lambda: chain(jobs.add.s(2, 2), jobs.add.s(4), jobs.add.s(8)).apply_async())
    assert r.get() == 16
    assert r.parent.get() == 8 and r.parent.parent.get() == 4
    r2 = run(lambda: (jobs.add.s(1, 1) | jobs.add.s(1) | jobs.add.si(10, 10)).delay())
    assert r2.get() == 20


def test_nested_chains_and_groups_in_chains(run):
    r = run(lambda: chain(jobs.add.s(1, 1), chain(jobs.add.s(1), jobs.add.s(1))).delay())
    assert r.get() == 4
    r = run(lambda: chain(jobs.add.s(1, 1), group(jobs.add.s(10), jobs.add.s(20)),
                          jobs.tsum.s(), jobs.add.s(100)).delay())
    assert r.get() == 134


def test_failing_link_stops_the_chain(run, tmp_path, monkeypatch):
    monkeypatch.setenv("LITEJOBS_LEDGER", str(tmp_path / "ledger"))
    r = run(lambda: chain(jobs.add.s(1, 1), jobs.fail.s(), jobs.add.s(5)).apply_async(
        link_error=jobs.on_error.s()))
    with pytest.raises(jobs.AppError):
        r.get()
    assert r.state == "FAILURE"
    assert r.parent.state == "FAILURE" and r.parent.parent.get() == 2
    if run.mode == "store":
        run.app.run_until_idle()
        assert f"errback {r.parent.id}" in (tmp_path / "ledger").read_text()


def test_group_results_in_member_order(run):
    g = run(lambda: group(jobs.add.s(i, i) for i in range(10))())
    assert g.get() == [2 * i for i in range(10)]
    assert g.ready() and g.successful() and not g.failed()
    assert g.completed_count() == 10 and len(g.results) == 10
    mixed = run(lambda: group([jobs.add.s(1, 1), jobs.fail.s()]).apply_async())
    assert mixed.failed() and not mixed.successful() and mixed.completed_count() == 1
    with pytest.raises(jobs.AppError):
        mixed.get()


def test_large_group_results_in_order_with_failures(run):
    # more members than one read of the store looks at, failures among them
    n = 700
    g = run(lambda: group(jobs.fail.s(f"no {i}") if i % 250 == 7 else jobs.add.s(i, i)
                          for i in range(n))())
    values = g.get(propagate=False)
    assert [v for i, v in enumerate(values) if i % 250 != 7] == [
        2 * i for i in range(n) if i % 250 != 7]
    assert [str(v) for i, v in enumerate(values) if i % 250 == 7] == ["no 7", "no 257",
                                                                       "no 507"]
    with pytest.raises(jobs.AppError, match="no 7"):
        g.get()
    assert g.ready() and g.failed() and g.completed_count() == n - 3


def test_group_save_and_restore(run):
    if run.mode == "eager":
        pytest.skip("eager results are not stored")
    g = run(lambda: group(jobs.add.s(i, 1) for i in range(3))())
    g.save()
    again = run.app.GroupResult.restore(g.id)
    assert again.id == g.id and again.get() == [1, 2, 3]
    assert run.app.GroupResult.restore("nope") is None


def test_chord_runs_the_body_with_results_in_order(run):
    r = run(lambda: chord([jobs.add.s(i, i) for i in range(5)], jobs.collect.s(tag="x"))())
    assert r.get() == {"results": [0, 2, 4, 6, 8], "tag": "x"}
    assert r.parent.get() == [0, 2, 4, 6, 8]
    r2 = run(lambda: chord(group(jobs.add.s(i, 1) for i in range(3)))(jobs.tsum.s()))
    assert r2.get() == 6
    r3 = run(lambda: (group(jobs.add.s(1, 1), jobs.add.s(2, 2)) | jobs.tsum.s()).delay())
    assert r3.get() == 6


def test_chord_inside_a_chain(run):
    r = run(lambda: chain(jobs.add.s(1, 1), chord([jobs.add.s(1), jobs.add.s(2)],
                                                   jobs.tsum.s()), jobs.add.s(100)).delay())
    assert r.get() == 107  # 2 -> [3, 4] -> 7 -> 107


def test_chord_with_an_immutable_body_and_an_empty_header(run):
    assert run(lambda: chord([jobs.add.s(1, 1)], jobs.add.si(5, 5))()).get() == 10
    assert run(lambda: chord([], jobs.tsum.s())()).get() == 0


def test_a_failed_member_fails_the_chord(run):
    r = run(lambda: chord([jobs.add.s(1, 1), jobs.fail.s("member down")], jobs.tsum.s())())
    with pytest.raises(jobs.AppError, match="member down"):  # the member's own, as Celery
        r.get()
    if run.mode == "store":  # the body's own record keeps ChordError as the wrapper
        with pytest.raises(ChordError, match="Dependency .* raised AppError: member down"):
            type(r)(r.id, app=run.app).get()


def test_the_seed_example(run):
    urls = ["https://a.example/x", "https://b.example/yy"]
    r = run(lambda: chord(group(jobs.download.s(u) for u in urls))(jobs.combine.s()))
    assert r.get() == {"urls": urls, "total": sum(len(u) for u in urls)}


def test_map_starmap_chunks(run):
    assert run(lambda: jobs.identity.map([1, "a"]).delay()).get() == [1, "a"]
    assert run(lambda: jobs.add.starmap([(1, 2), (3, 4)]).delay()).get() == [3, 7]
    ch = run(lambda: jobs.add.chunks([(i, i) for i in range(7)], 3)())
    assert ch.get() == [[0, 2, 4], [6, 8, 10], [12]]
    flat = run(lambda: jobs.add.chunks([(i, i) for i in range(5)], 2)(flatten=True))
    assert flat.get() == [0, 2, 4, 6, 8]
    with pytest.raises(ConfigurationError):
        jobs.add.chunks([(1, 1)], 0)


def test_workflow_ids_reach_the_request(run):
    r = run(lambda: chain(jobs.whoami.si(), jobs.whoami.si()).apply_async())
    first = r.parent.get()
    assert r.get()["id"] == r.id and first["id"] == r.parent.id
    if run.mode == "store":
        job = run.app.transport.get(r.id)
        assert job.options["parent_id"] == r.parent.id
        assert job.options["root_id"] == r.parent.id


def test_link_option_on_apply_async(run):
    r = run(lambda: jobs.add.apply_async((1, 2), link=jobs.add.s(10)))
    assert r.get() == 3
    if run.mode == "store":
        child = r.children[0]
        assert child.get() == 13


def test_a_link_set_on_a_group_member(run):
    # one signature or a list, as Celery takes both
    g = run(lambda: group(jobs.add.s(1, 1).set(link=jobs.add.s(100)),
                          jobs.add.s(2, 2).set(link=[jobs.add.s(200)]))())
    assert g.get() == [2, 4]
    if run.mode == "store":
        run.app.run_until_idle()
        assert [r.children[0].get(timeout=5) for r in g.results] == [102, 204]


def test_chains_as_group_members(run):
    g = run(lambda: group(chain(jobs.add.s(1, 1), jobs.add.s(10)), jobs.add.s(5, 5),
                          jobs.add.s(2, 2) | jobs.add.s(20) | jobs.add.s(200))())
    assert g.get() == [12, 10, 224]
    inner = run(lambda: (jobs.add.s(0, 1) | group(jobs.add.s(1) | jobs.add.s(2),
                                                   jobs.add.s(3)))())
    assert inner.get() == [4, 4]
    failing = run(lambda: group(jobs.fail.s("first step") | jobs.add.s(1),
                                jobs.add.s(1, 1))())
    values = failing.get(propagate=False)
    assert str(values[0]) == "first step" and values[1] == 2 and failing.failed()
    if run.mode == "store":
        assert run.app.GroupResult.restore(g.id).get() == [12, 10, 224]


def test_chains_in_a_chord_header(run):
    c = run(lambda: chord([jobs.add.s(1, 1) | jobs.add.s(10), jobs.add.s(5, 5),
                           jobs.add.s(2, 2) | jobs.add.s(20) | jobs.add.s(200)],
                          jobs.tsum.s())())
    assert c.get() == 12 + 10 + 224
    assert c.parent.get() == [12, 10, 224]
    # a group of chains followed by a task is a chord; a chord inside a chain
    assert run(lambda: (group(jobs.add.s(1, 1) | jobs.add.s(1), jobs.add.s(2, 2))
                        | jobs.tsum.s()).delay()).get() == 7
    inner = run(lambda: (jobs.add.s(0, 1) | chord([jobs.add.s(1) | jobs.add.s(2),
                                                   jobs.add.s(3)], jobs.tsum.s())
                         | jobs.add.s(100))())
    assert inner.get() == 108
    # a failing step anywhere in a member chain fails the chord; the body never runs
    for member in (jobs.fail.s("early") | jobs.add.s(1), jobs.add.s(1, 1) | jobs.fail.si("late")):
        failed = run(lambda m=member: chord([m, jobs.add.s(1, 1)], jobs.tsum.s())())
        with pytest.raises(jobs.AppError, match="early|late"):
            failed.get()


def test_revoking_a_waiting_workflow_step_ends_the_workflow(store_path):
    # a revoked step never runs; what waits on it fails instead of waiting forever
    with use_store(jobs.app, store_path) as app:
        c = chain(jobs.add.s(1, 1), jobs.add.s(10), jobs.add.s(100)).apply_async()
        first = c.parent.parent
        first.revoke()
        with pytest.raises(TaskRevokedError):
            c.get(timeout=5)
        assert c.parent.state == "FAILURE" and first.state == "REVOKED"
        joined = chord([jobs.add.s(1, 1), jobs.add.s(2, 2)], jobs.tsum.s())()
        app.control.revoke(joined.parent.results[1].id)
        app.run_until_idle()
        with pytest.raises(ChordError, match="revoked"):
            joined.get(timeout=5)
        assert joined.parent.results[0].get() == 2
        assert app.run_until_idle() == 0  # the body never ran and nothing waits


def test_bad_workflows_are_refused():
    with pytest.raises(ConfigurationError, match="group members must be"):
        group([1, 2])
    with pytest.raises(ConfigurationError):
        chain()
    with pytest.raises(ConfigurationError):
        chord([jobs.add.s(1, 1)]).apply_async()


def test_an_empty_group_then_a_step_goes_to_the_steps_app_not_the_app_made_last(
        run, tmp_path):
    other = litejobs.App(str(tmp_path / "made-last.sqlite"))  # the default app now
    try:
        flow = group([]) | jobs.tsum.s()
        assert flow.app is run.app
        assert run(lambda: flow()).get(timeout=10) == 0
        if not run.app.eager:
            assert other.transport.count_jobs() == {}  # nothing went to the other store
    finally:
        other.close()
