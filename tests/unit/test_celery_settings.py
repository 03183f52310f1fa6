"""Celery's settings, loading and routing, with their meaning here."""

from __future__ import annotations

import re
import sys
import types
import warnings
from pathlib import Path

import pytest

import litejobs
from litejobs.celery_settings import NO_EFFECT, REFUSED
from litejobs.config import DEFAULTS
from litejobs.exceptions import ConfigurationError

DOC = Path(__file__).parents[2] / "docs" / "coming-from-celery.md"


@pytest.fixture
def settings_module(monkeypatch):
    """A settings module ``lj_settings_N`` importable by name, removed afterwards."""
    made = []

    def make(name: str, **values):
        module = types.ModuleType(name)
        for key, value in values.items():
            setattr(module, key, value)
        monkeypatch.setitem(sys.modules, name, module)
        made.append(name)
        return name

    return make


def test_celeryconfig_module_with_celery_names(settings_module, tmp_path):
    store = str(tmp_path / "jobs.sqlite")
    name = settings_module(
        "celeryconfig", broker_url=store, result_backend=store, task_serializer="json",
        result_serializer="json", accept_content=["json"], enable_utc=True,
        timezone="Europe/Paris", task_routes={"tasks.add": "low-priority"},
        worker_prefetch_multiplier=1, task_track_started=True, result_extended=True,
        task_reject_on_worker_lost=True, task_create_missing_queues=True,
        worker_hijack_root_logger=False, imports=("json",))
    app = litejobs.App()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an equal result_backend is fine: no warning
        app.config_from_object(name)
    assert app.url == store
    assert app.conf.timezone == "Europe/Paris"
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.imports == ("json",)
    job = app.make_job("tasks.add", (1, 2), None, {})
    assert job.queue == "low-priority"


def test_module_attr_string_and_namespace(settings_module, tmp_path):
    store = str(tmp_path / "dj.sqlite")
    holder = types.SimpleNamespace(CELERY_BROKER_URL=store, CELERY_TASK_DEFAULT_QUEUE="dj",
                                   CELERY_TASK_ALWAYS_EAGER=False, DEBUG=True,
                                   SECRET_KEY="x", task_default_queue="ignored")
    name = settings_module("fake_django_conf", settings=holder)
    app = litejobs.App()
    app.config_from_object(f"{name}:settings", namespace="CELERY")
    assert app.url == store and app.conf.task_default_queue == "dj"

    holder.CELERY_TASK_DEFAULT_QUEU = "typo"
    with pytest.raises(ConfigurationError, match="did you mean 'task_default_queue'"):
        litejobs.App().config_from_object(f"{name}:settings", namespace="CELERY")


def test_config_from_envvar(settings_module, monkeypatch, tmp_path):
    name = settings_module("envconfig", task_default_queue="from-env")
    monkeypatch.setenv("LJ_TEST_CONFIG", name)
    app = litejobs.App(str(tmp_path / "a.sqlite"))
    assert app.config_from_envvar("LJ_TEST_CONFIG") is True
    assert app.conf.task_default_queue == "from-env"
    monkeypatch.delenv("LJ_TEST_CONFIG")
    assert app.config_from_envvar("LJ_TEST_CONFIG", silent=True) is False
    with pytest.raises(ConfigurationError, match="LJ_TEST_CONFIG is not set"):
        app.config_from_envvar("LJ_TEST_CONFIG")


def test_app_celery_signature(tmp_path):
    store = str(tmp_path / "p.sqlite")
    app = litejobs.App("proj", broker=store, backend=store, include=["json"])
    assert (app.main, app.url, app.conf.include) == ("proj", store, ("json",))
    app.conf.update(task_default_queue="q2", worker_concurrency=2)
    assert app.conf.task_default_queue == "q2" and app.conf.worker_concurrency == 2


def test_store_named_twice(tmp_path):
    a, b = str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")
    assert litejobs.App(a, broker_url=a).url == a
    assert litejobs.App(a, broker_url=f"sqlite:///{a}").url == a  # the same store
    with pytest.raises(ConfigurationError, match="two different stores"):
        litejobs.App(a, broker_url=b)
    app = litejobs.App(a)
    with pytest.raises(ConfigurationError, match="two different stores"):
        app.conf.broker_url = b
    assert app.url == a  # nothing changed


def test_other_result_backend_warns_once(tmp_path):
    with pytest.warns(UserWarning, match="results in the store") as record:
        litejobs.App(str(tmp_path / "a.sqlite"), result_backend="redis://localhost/1")
    assert len(record) == 1


@pytest.mark.parametrize(("key", "value", "why"), [
    ("task_serializer", "pickle", "pickle is refused: unpickling"),
    ("result_serializer", "yaml", "yaml is refused"),
    ("accept_content", ["json", "application/x-python-serialize"], "not supported"),
    ("accept_content", ["json", "pickle"], "pickle is refused"),
    ("security_key", "k.pem", "no message signing"),
    ("task_annotations", {"*": {"rate_limt": "1/s"}}, "unknown task option(s) rate_limt"),
    ("broker_url", "amqp://guest@localhost//", "SQLite or Redis"),
])
def test_refused_settings_say_why(tmp_path, key, value, why):
    app = litejobs.App(str(tmp_path / "a.sqlite"))
    with pytest.raises(ConfigurationError, match=re.escape(why)):
        app.conf[key] = value


def test_task_annotations_set_options(tmp_path):
    app = litejobs.App(str(tmp_path / "a.sqlite"))

    @app.task
    def early():
        pass

    app.conf.task_annotations = {early.name: {"rate_limit": "10/m"}, "*": {"max_retries": 9}}

    @app.task
    def late():
        pass

    assert early.rate_limit == "10/m" and late.max_retries == 9
    assert app.rate_limits()[early.name] == pytest.approx(10 / 60)


def test_serializers_json_and_msgpack_accepted(tmp_path):
    app = litejobs.App(str(tmp_path / "a.sqlite"), task_serializer="msgpack",
                       accept_content=["application/json", "msgpack"],
                       result_accept_content=["json"], event_serializer="json")
    assert app.conf.accept_content == ["application/json", "msgpack"]


def test_every_celery_setting_is_in_the_docs_table():
    """The docs table lists each setting under what the code does with it."""
    found = re.findall(r"^\| `([a-z0-9_]+)` \| (honoured|no effect|refused)",
                       DOC.read_text(), re.M)
    rows = dict(found)
    assert len(rows) == len(found), "a setting is listed twice"
    expected = {**{k: "no effect" for k in NO_EFFECT}, **{k: "refused" for k in REFUSED},
                **{k: "honoured" for k in DEFAULTS}}
    assert rows == expected


# -- routing --------------------------------------------------------------------------


def _queue(app, name, **options):
    return app.make_job(name, (1,), {"k": 2}, options).queue


def test_routes_dict_exact_glob_and_regex(tmp_path):
    app = litejobs.App(str(tmp_path / "a.sqlite"), task_routes={
        "feed.tasks.import_feed": {"queue": "feeds"},
        "feed.tasks.*": "feed-misc",
        re.compile(r"(video|image)\.tasks\..*"): {"queue": "media"},
    })
    assert _queue(app, "feed.tasks.import_feed") == "feeds"  # exact beats the glob
    assert _queue(app, "feed.tasks.other") == "feed-misc"
    assert _queue(app, "video.tasks.encode") == "media"
    assert _queue(app, "web.tasks.x") == "default"
    assert _queue(app, "feed.tasks.other", queue="mine") == "mine"  # the call wins


def test_routes_list_of_pairs_router_functions_and_task_queue(tmp_path):
    calls = []

    def route_task(name, args, kwargs, options, task=None, **kw):
        calls.append((name, args, kwargs))
        if name.startswith("billing."):
            return {"queue": "billing", "priority": 7}
        return None

    app = litejobs.App(str(tmp_path / "a.sqlite"), task_routes=(
        [("feed.tasks.*", {"queue": "feeds"}), ("web.tasks.*", {"queue": "web"})],
        route_task,
    ))

    @app.task(queue="own")
    def mine():
        pass

    @app.task
    def plain():
        pass

    assert _queue(app, "web.tasks.x") == "web"
    job = app.make_job("billing.charge", (1,), {"k": 2}, {})
    assert (job.queue, job.priority) == ("billing", 7)
    assert ("billing.charge", (1,), {"k": 2}) in calls  # the router sees the arguments
    assert _queue(app, mine.name) == "own"  # no route: the task's queue
    app.conf.task_routes = {mine.name: "routed"}
    assert _queue(app, mine.name) == "routed"  # a route beats the task's queue
    assert _queue(app, plain.name) == "default"
    assert plain.apply_async(queue="q9").id  # and the call beats both
    app.conf.task_routes = f"{__name__}._string_router"
    assert _queue(app, "anything") == "from-string"


def _string_router(name, args, kwargs, options, task=None, **kw):
    return "from-string"


@pytest.mark.parametrize(("routes", "why"), [
    (42, "expected a dict"),
    ({"a": 5}, "a route is a queue name or a dict"),
    ({"a": {"queue": "x", "exchang": "y"}}, "unknown route key"),
    ("no_such_module_xyz.route", "cannot import router"),
])
def test_bad_routes_refused(tmp_path, routes, why):
    app = litejobs.App(str(tmp_path / "a.sqlite"))
    with pytest.raises(ConfigurationError, match=why):
        app.conf.task_routes = routes
    assert app.conf.task_routes is None


def test_routes_through_groups_and_chains(tmp_path):
    def by_arg(name, args, kwargs, options, task=None, **kw):
        return f"q{args[0]}" if name == "t.two" else None

    app = litejobs.App(str(tmp_path / "a.sqlite"), task_routes=[{"t.one": "tq"}, by_arg])
    app.send_task("t.one", (1,))
    litejobs.group(litejobs.signature("t.two", (i,), app=app) for i in range(3)).apply_async()
    (litejobs.signature("t.one", (5,), app=app) | litejobs.signature("t.two", app=app)
     ).apply_async()
    jobs = app.transport.list_jobs(limit=10)
    assert sorted(j.queue for j in jobs) == ["q0", "q1", "q2", "tq", "tq"]


def test_docs_code_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {"__name__": "docs_block"})


def test_celery_style_bare_name_yields_to_broker_url(tmp_path):
    store = str(tmp_path / "named.sqlite")
    app = litejobs.App("proj")  # Celery("proj"): a name, the store given by the settings
    app.config_from_object({"broker_url": store})
    assert app.url == store
    assert litejobs.App("tasks").url == "tasks"  # alone, it is still a store path


def test_include_and_imports_are_imported_on_load(settings_module, tmp_path):
    from litejobs.loading import load_app

    settings_module("lj_included_tasks")
    app = litejobs.App(str(tmp_path / "a.sqlite"), include=["lj_included_tasks"],
                       imports=["no_such_module_for_imports"])
    sys.modules.pop("no_such_module_for_imports", None)
    with pytest.raises(ConfigurationError, match="no_such_module_for_imports"):
        app.import_default_modules()
    app.conf.imports = ()
    app.import_default_modules()
    assert load_app(None, str(tmp_path / "b.sqlite")).url.endswith("b.sqlite")
