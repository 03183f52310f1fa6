"""A project from Celery's "First steps", "Next steps" and routing guides, with only the
imports changed (``celery`` -> ``litejobs``, ``Celery(...)`` -> ``litejobs.App(...)``)
and the broker URL pointed at a store, run by ``litejobs worker -A proj`` with no DB."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import litejobs
from litejobs.timeutil import now

from helpers import stop_warmly, wait_until

CELERY_PY = '''\
import litejobs

app = litejobs.App("proj", broker={store!r}, backend="rpc://", include=["proj.tasks"])

# Optional configuration, see the application user guide.
app.conf.update(
    result_expires=3600,
)
'''

TASKS_PY = '''\
from .celery import app


@app.task
def add(x, y):
    return x + y


@app.task
def mul(x, y):
    return x * y


@app.task
def xsum(numbers):
    return sum(numbers)
'''

CELERYCONFIG_PY = '''\
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "Europe/Oslo"
enable_utc = True
task_routes = {{
    "proj.tasks.add": {{"queue": "hipri"}},
    "proj.tasks.m*": "lopri",
}}
task_annotations = {{"proj.tasks.add": {{"rate_limit": "600/m"}}}}
worker_prefetch_multiplier = 1
task_acks_late = True
broker_url = {store!r}
'''


@pytest.fixture
def project(tmp_path, store_path, monkeypatch):
    root = tmp_path / "project"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "__init__.py").write_text("")
    (root / "proj" / "celery.py").write_text(
        CELERY_PY.format(store=store_path) + "app.config_from_object('celeryconfig')\n")
    (root / "proj" / "tasks.py").write_text(TASKS_PY)
    (root / "celeryconfig.py").write_text(CELERYCONFIG_PY.format(store=store_path))
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m == "proj" or m.startswith("proj.")] + [
            "celeryconfig"]:
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield root
    for name in [m for m in sys.modules if m == "proj" or m.startswith("proj.")] + [
            "celeryconfig"]:
        sys.modules.pop(name, None)


@pytest.fixture
def run_cli(project, tmp_path):
    started: list[subprocess.Popen] = []

    def run(*args: str, background: bool = False) -> subprocess.Popen | str:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        argv = [sys.executable, "-m", "litejobs", *args]
        if not background:
            out = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True,
                                 timeout=60)
            assert out.returncode == 0, out.stdout + out.stderr
            return out.stdout
        with open(tmp_path / f"worker-{len(started)}.log", "wb") as log:
            proc = subprocess.Popen(argv, cwd=project, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        started.append(proc)
        return proc

    yield run
    for proc in started:
        if proc.poll() is None:
            stop_warmly(proc, 20)


def _wait_worker(app: litejobs.App, proc: subprocess.Popen, queues: set[str]) -> None:
    def ready():
        assert proc.poll() is None, f"worker exited with {proc.returncode}"
        return any(w.pid == proc.pid and set(w.queues) == queues
                   for w in app.transport.list_workers(now()))

    wait_until(ready, 30, message="the project's worker")


def test_celery_guides_project_runs(project, run_cli, store_path):
    with pytest.warns(UserWarning, match="results in the store"):  # backend="rpc://"
        from proj.celery import app
    from proj.tasks import add, mul, xsum

    assert app.url == store_path and app.main == "proj"
    proc = run_cli("worker", "-A", "proj", "-l", "info", "-c", "2", "-Q",
                   "hipri,lopri,default", background=True)
    _wait_worker(app, proc, {"hipri", "lopri", "default"})

    # First steps
    result = add.delay(4, 4)
    assert result.get(timeout=30) == 8 and result.successful()
    # Next steps: calling, canvas
    assert add.apply_async((2, 2), countdown=0.2).get(timeout=30) == 4
    assert add.s(2, 2).delay().get(timeout=30) == 4
    assert litejobs.group(add.s(i, i) for i in range(10))().get(timeout=30) == \
        [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert litejobs.chain(add.s(4, 4) | mul.s(8))().get(timeout=30) == 64
    assert (add.s(4, 4) | mul.s(8))().get(timeout=30) == 64
    assert litejobs.chord((add.s(i, i) for i in range(10)), xsum.s())().get(timeout=30) == 90
    # Routing: the routes in celeryconfig put each task in its queue
    assert app.transport.get(result.id).queue == "hipri"
    assert app.transport.get(mul.delay(2, 3).id).queue == "lopri"
    assert app.transport.get(xsum.delay([1]).id).queue == "default"
    assert add.apply_async((1, 1), queue="default").get(timeout=30) == 2  # the call wins


def test_cli_without_db_takes_the_apps_store(project, run_cli, store_path):
    with pytest.warns(UserWarning):
        from proj.celery import app
    from proj.tasks import add, mul

    proc = run_cli("worker", "-A", "proj", "-X", "lopri", background=True)
    _wait_worker(app, proc, {"hipri", "default"})  # every queue the app names, less -X
    assert add.delay(1, 2).get(timeout=30) == 3
    waiting = mul.delay(2, 2)  # lopri: excluded, so it waits
    assert f"Store: {store_path}" in run_cli("-A", "proj", "status")
    assert "PENDING" in run_cli("-A", "proj", "inspect", waiting.id)
    run_cli("-A", "proj", "pause", "hipri")
    assert app.transport.list_paused_queues() == ["hipri"]
    run_cli("-A", "proj", "resume", "hipri")
    assert "revoked" in run_cli("-A", "proj", "revoke", waiting.id)
    assert waiting.state == "REVOKED"
    beat = run_cli("beat", "-A", "proj", background=True)  # no DB: the app's store
    wait_until(lambda: beat.poll() is None and app.transport.get_beat_leader(now()),
               30, message="beat leading on the app's store")


def test_cli_without_db_or_app_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("LITEJOBS_URL", raising=False)
    out = subprocess.run([sys.executable, "-m", "litejobs", "status"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "give the store" in out.stderr
    assert not os.listdir(tmp_path)  # nothing created


@pytest.mark.parametrize("layout", ["celery_module", "app_attribute", "dotted"])
def test_dash_a_finds_the_app_as_celery_does(tmp_path, layout, monkeypatch):
    from litejobs.loading import find_app

    pkg = tmp_path / f"finder_{layout}"
    pkg.mkdir()
    body = textwrap.dedent(f"""
        import litejobs
        app = litejobs.App({str(tmp_path / 'x.sqlite')!r})
    """)
    if layout == "celery_module":  # proj/celery.py, found from -A proj
        (pkg / "__init__.py").write_text("")
        (pkg / "celery.py").write_text(body)
        spec, holder = pkg.name, f"{pkg.name}.celery"
    elif layout == "app_attribute":  # proj/__init__.py defines app
        (pkg / "__init__.py").write_text(body)
        spec, holder = pkg.name, pkg.name
    else:  # -A proj.app: the module proj/app.py
        (pkg / "__init__.py").write_text("")
        (pkg / "app.py").write_text(body.replace("app =", "application ="))
        spec, holder = f"{pkg.name}.app", f"{pkg.name}.app"
    monkeypatch.syspath_prepend(str(tmp_path))
    found = find_app(spec)
    assert isinstance(found, litejobs.App)
    assert found is vars(sys.modules[holder]).get("app", vars(sys.modules[holder]).get(
        "application"))
