"""The Django example project (examples/django_project) against a real worker started as
`litejobs worker -A proj`: settings through the CELERY namespace, tasks found by
autodiscover_tasks(), delay_on_commit, Django set up before the tasks import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from helpers import stop_warmly

pytest.importorskip("django")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "django_project")


def test_django_project(tmp_path):
    project = tmp_path / "django_project"
    shutil.copytree(EXAMPLE, project)
    env = dict(os.environ, PYTHONUNBUFFERED="1", SHOP_DB=str(tmp_path / "db.sqlite3"),
               SHOP_STORE=str(tmp_path / "jobs.sqlite"))
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def run(*argv: str) -> str:
        out = subprocess.run([sys.executable, *argv], cwd=project, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    run("manage.py", "migrate", "--verbosity", "0")
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "litejobs", "worker", "-A", "proj",
                                   "-c", "1", "-l", "info"], cwd=project, env=env,
                                  stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        out = run("demo.py")
        assert "kettle rolled back: payment declined" in out
        assert "order 1 teapot: fulfilled by worker process" in out
        assert "orders stored: 2; fulfil jobs sent: 2" in out  # nothing for the rollback
        # one pool process ran both: the fix-up closed the first job's connection
        assert "fresh connection in each job: [True, True]" in out
        pid = int(out.split("worker process ")[1].split()[0])
        assert pid != worker.pid  # a forked pool child ran it, with its own connection
        registered = run("-m", "litejobs", "-A", "proj", "inspect", "registered", "--json")
        assert "shop.tasks.fulfil" in registered and "proj.celery.debug_task" in registered
    finally:
        stop_warmly(worker)
    with open(tmp_path / "worker.log") as f:
        log_text = f.read()
    assert "Task shop.tasks.fulfil[" in log_text and "succeeded" in log_text, log_text
