"""delay_in_transaction: jobs enqueued inside a SQLite Django database's own transaction,
so the row and the job commit together, or neither is stored.

Real Django (the example project, examples/django_project), a real `litejobs worker -A
proj`, each scenario in its own Django process (tests/django_txn.py), real SIGKILLs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys

import pytest

from litejobs.job import JobState
from litejobs.transports.sqlite import SQLiteTransport

from helpers import stop_warmly, wait_until

pytest.importorskip("django")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "django_project")


class Project:
    def __init__(self, root, env):
        self.root, self.env = root, env
        self.db = env["SHOP_DB"]
        self.store = SQLiteTransport(env["SHOP_STORE"])

    def run(self, scenario: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([sys.executable, "django_txn.py", scenario], cwd=self.root,
                             env=self.env, capture_output=True, text=True, timeout=120)
        if check:
            assert out.returncode == 0, out.stdout + out.stderr
        return out

    def popen(self, scenario: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "django_txn.py", scenario], cwd=self.root,
                                env=self.env, stdout=subprocess.PIPE, text=True)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(self.db, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def orders(self, item: str) -> list[tuple]:
        return self.rows("SELECT item, status FROM shop_order WHERE item = ?", (item,))

    def outbox(self) -> list[tuple]:
        if not self.rows("SELECT 1 FROM sqlite_master WHERE name = 'litejobs_outbox'"):
            return []
        return self.rows("SELECT id FROM litejobs_outbox")

    def fulfil_jobs(self) -> int:
        return len(self.store.list_jobs(task="shop.tasks.fulfil"))


def make_project(tmp) -> Project:
    root = tmp / "django_project"
    shutil.copytree(EXAMPLE, root)
    shutil.copy(os.path.join(ROOT, "tests", "django_txn.py"), root)
    env = dict(os.environ, PYTHONUNBUFFERED="1", SHOP_DB=str(tmp / "db.sqlite3"),
               SHOP_STORE=str(tmp / "jobs.sqlite"))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=root,
                   env=env, check=True, timeout=120)
    return Project(root, env)


@contextlib.contextmanager
def running_worker(proj: Project, *args: str):
    log_path = proj.root.parent / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "litejobs", "worker", "-A", "proj",
                                   "-c", "1", "-l", "info", *args], cwd=proj.root,
                                  env=proj.env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        wait_until(lambda: proj.store.list_workers(0) or worker.poll() is not None,
                   timeout=60, message="the worker to start")
        assert worker.poll() is None, log_path.read_text()
        yield worker
    finally:
        stop_warmly(worker)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    proj = make_project(tmp_path_factory.mktemp("django_txn"))
    try:
        with running_worker(proj):
            yield proj
    finally:
        proj.store.close()


def test_commit_runs_the_job_which_sees_the_row(project):
    out = project.run("commit").stdout
    assert "in store before commit: False" in out  # written into the transaction only
    assert "in store after commit: True" in out  # relayed by the sender at once
    assert "result: teapot" in out  # the worker found the committed row
    assert project.orders("teapot") == [("teapot", "fulfilled")]
    assert project.outbox() == []


def test_rollback_stores_no_job(project):
    before = project.fulfil_jobs()
    out = project.run("rollback").stdout
    assert "rolled back: payment declined" in out
    assert project.orders("kettle") == []
    assert project.outbox() == []
    assert project.fulfil_jobs() == before


def test_exception_in_a_savepoint_loses_nothing_else_and_runs_nothing(project):
    out = project.run("savepoint").stdout
    assert "savepoint rolled back: saucer out of stock" in out
    assert "result: cup" in out  # the rest of the transaction committed and ran
    lost = out.split("lost job: ")[1].split()[0]
    assert project.store.get(lost) is None
    assert project.orders("saucer") == []
    assert project.orders("cup") == [("cup", "fulfilled")]


def test_sigkill_inside_the_transaction_leaves_neither_row_nor_job(project):
    before = project.fulfil_jobs()
    proc = project.popen("hang")
    try:
        line = proc.stdout.readline()
        assert "written; waiting inside the transaction" in line, line
        job_id = line.split()[1]
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.stdout.close()
    assert project.orders("lamp") == []  # the next reader rolls the dead writer back
    assert project.outbox() == []
    assert project.store.get(job_id) is None
    assert project.fulfil_jobs() == before
    # and the database is not left locked: the next transaction commits and runs
    assert "result: teapot" in project.run("commit").stdout


def relayed_after_the_sender_died(project: Project) -> None:
    # delay_on_commit loses this job: the process dies between COMMIT and the send
    out = project.run("die-after-commit", check=False)
    assert out.returncode == -signal.SIGKILL, out.stdout + out.stderr
    job_id = out.stdout.split("job ")[1].split()[0]
    assert project.orders("clock") == [("clock", "new")]  # committed, not yet run

    def done():
        job = project.store.get(job_id)
        return job is not None and job.state is JobState.SUCCESS

    wait_until(done, timeout=60, message="the worker to relay and run the job")
    assert project.orders("clock") == [("clock", "fulfilled")]
    assert project.outbox() == []


def test_sender_killed_after_commit_the_worker_relays_the_job(project):
    relayed_after_the_sender_died(project)


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_every_pool_relays(tmp_path, pool):
    proj = make_project(tmp_path)
    try:
        with running_worker(proj, "-P", pool):
            relayed_after_the_sender_died(proj)
    finally:
        proj.store.close()


def test_in_a_test_case_the_captured_hooks_send_the_job(project):
    # Django's TestCase never commits; captureOnCommitCallbacks(execute=True) runs the
    # hooks inside its transaction, and the job is sent then, as delay_on_commit's is
    out = project.run("test-case")
    assert "hooks: 1 in store: True" in out.stdout, out.stdout + out.stderr
    assert "outbox left: [(0,)]" in out.stdout
    assert "eager, before the hooks: new" in out.stdout
    assert "eager, after the hooks: fulfilled" in out.stdout
    assert "wait for a worker to relay" not in out.stderr
    assert project.orders("bowl") == []  # the test's transaction rolled back


def test_eager_mode_runs_the_task_here_after_the_commit(project):
    before = project.fulfil_jobs()
    out = project.run("eager").stdout
    assert "status before commit: new" in out
    assert "status after commit: fulfilled by this process: True" in out
    assert "rolled back: no forks today" in out
    assert project.orders("fork") == []
    assert project.fulfil_jobs() == before  # eager mode stores nothing


def test_refused_where_it_cannot_work(project):
    before = project.fulfil_jobs()
    out = project.run("refuse").stdout
    assert "NOT refused" not in out, out
    assert "other_vendor refused: delay_in_transaction needs a SQLite Django database" in out
    assert "in_memory refused: Django database 'in_memory' is in memory" in out
    assert "the_store refused: the store" in out and "give the store its own file" in out
    assert project.fulfil_jobs() == before
