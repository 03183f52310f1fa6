"""Task.delay_many: a job per call in one transaction, on a real SQLite store and in
eager mode (a real worker runs them in tests/integration/test_worker.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import litejobs
from litejobs import signals
from litejobs.exceptions import ConfigurationError


@pytest.fixture(params=[False, True], ids=["store", "eager"])
def app(request, tmp_path):
    app = litejobs.App(str(tmp_path / "many.sqlite"), eager=request.param)
    yield app
    app.close()


def _tasks(app):
    @app.task
    def add(x, y=0):
        return x + y

    @app.task(unique_for=60)
    def once(x):
        return x

    return add, once


def test_a_job_per_call_with_their_arguments_and_results(app):
    add, _ = _tasks(app)
    results = add.delay_many([(1, 2), [3, 4], {"x": 5, "y": 6}, (7,)])
    assert len(results) == 4 and len({r.id for r in results}) == 4
    if not app.conf.task_always_eager:
        assert app.run_until_idle() == 4
    assert [r.get(timeout=5) for r in results] == [3, 7, 11, 7]
    assert add.delay_many([]) == []


def test_options_apply_to_every_job(app):
    add, _ = _tasks(app)
    results = add.delay_many([(1, 1), (2, 2)], queue="bulk", priority=7)
    if app.conf.task_always_eager:
        assert [r.get() for r in results] == [2, 4]
        return
    jobs = [app.transport.get(r.id) for r in results]
    assert {(j.queue, j.priority, j.state.value) for j in jobs} == {("bulk", 7, "pending")}
    assert app.run_until_idle(queues=["bulk"]) == 2


def test_bad_calls_and_options_are_refused_and_nothing_is_sent(app):
    add, once = _tasks(app)
    with pytest.raises(ConfigurationError, match="tuple or list of arguments or a dict"):
        add.delay_many([(1, 2), 3])
    with pytest.raises(TypeError, match="do not fit its signature"):
        add.delay_many([(1, 2), (1, 2, 3)])
    with pytest.raises(ConfigurationError, match="option.*task_id .*sent many at once"):
        add.delay_many([(1, 2)], task_id="mine")
    with pytest.raises(ConfigurationError, match="option.*link .*sent many at once"):
        add.delay_many([(1, 2)], link=add.s(1))
    with pytest.raises(ConfigurationError, match="unknown option.*colour"):
        add.delay_many([(1, 2)], colour="red")
    with pytest.raises(ConfigurationError, match="priority for .*add must be an int"):
        add.delay_many([(1, 2)], priority="high")
    with pytest.raises(ConfigurationError, match="unique task .*delay_many does not send"):
        once.delay_many([(1,)])
    if not app.conf.task_always_eager:
        assert app.transport.count_jobs() == {}


def test_publish_signals_for_each_job(app):
    add, _ = _tasks(app)
    seen = []

    def before(sender=None, headers=None, **kwargs):
        seen.append(("before", sender, headers["id"]))

    def after(sender=None, headers=None, **kwargs):
        seen.append(("after", sender, headers["id"]))

    if app.conf.task_always_eager:
        pytest.skip("eager mode runs inline: nothing is published to a store")
    signals.before_task_publish.connect(before)
    signals.after_task_publish.connect(after)
    try:
        results = add.delay_many([(1, 2), (3, 4)])
    finally:
        signals.before_task_publish.disconnect(before)
        signals.after_task_publish.disconnect(after)
    ids = [r.id for r in results]
    assert seen == [("before", add.name, ids[0]), ("before", add.name, ids[1]),
                    ("after", add.name, ids[0]), ("after", add.name, ids[1])]


def test_routes_by_arguments_route_each_call(app):
    add, _ = _tasks(app)
    app.conf.task_routes = [lambda name, args, kwargs, options, task=None, **kw:
                            {"queue": "big"} if args and args[0] > 10 else None]
    results = add.delay_many([(1, 1), (20, 1)])
    if app.conf.task_always_eager:
        assert [r.get() for r in results] == [2, 21]
        return
    assert [app.transport.get(r.id).queue for r in results] == ["default", "big"]


def test_the_example_of_docs_tasks_md_runs_as_written(tmp_path, monkeypatch, capsys):
    doc = Path(__file__).parents[2] / "docs" / "tasks.md"
    block = re.search(r"<!-- bulk -->\n```python\n(.*?)```", doc.read_text(), re.S)[1]
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "bulk_demo"}
    exec(compile(block, str(doc), "exec"), namespace)
    namespace["app"].close()
    assert capsys.readouterr().out.strip() == "['a.png@800', 'b.png@400', 'c.png@800']"
