"""What only the SQLite store promises: pragmas, schema checks, file modes, plans."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import textwrap

import apsw
import pytest

from litejobs import serializer
from litejobs.exceptions import SchemaError, StoreError
from litejobs.job import Job, JobState, Outcome, new_id
from litejobs.transports.sqlite import APPLICATION_ID, SCHEMA_VERSION, SQLiteTransport

NOW = 1_700_000_000.0


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_pragmas_are_really_set(store_path):
    t = SQLiteTransport(store_path)
    assert t.pragma("journal_mode") == "wal"
    assert t.pragma("synchronous") == 1  # NORMAL
    assert t.pragma("application_id") == APPLICATION_ID
    assert t.pragma("user_version") == SCHEMA_VERSION
    t.close()
    full = SQLiteTransport(store_path, durability="full")
    assert full.pragma("synchronous") == 2
    full.close()


def _make_foreign_sqlite(path: str) -> None:
    # sqlite3 runs in a subprocess: never two SQLite libraries on one file in one process.
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute('create table people(name text)'); "
            "c.execute(\"insert into people values ('ada')\"); c.commit(); c.close()")
    subprocess.run([sys.executable, "-c", code, path], check=True)


def test_a_foreign_sqlite_file_is_refused_and_left_unchanged(tmp_path):
    path = str(tmp_path / "app.db")
    _make_foreign_sqlite(path)
    before = digest(path)
    with pytest.raises(SchemaError, match="not a litejobs store"):
        SQLiteTransport(path)
    assert digest(path) == before
    assert sorted(os.listdir(tmp_path)) == ["app.db"]


def test_a_file_that_is_not_sqlite_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some text, long enough to look like a header" * 20)
    before = digest(str(path))
    with pytest.raises(SchemaError, match="not a SQLite database"):
        SQLiteTransport(str(path))
    assert digest(str(path)) == before
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_newer_schema_is_refused_and_left_unchanged(store_path, tmp_path):
    SQLiteTransport(store_path).close()
    conn = apsw.Connection(store_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = digest(store_path)
    with pytest.raises(SchemaError, match="newer litejobs"):
        SQLiteTransport(store_path)
    assert digest(store_path) == before


def test_store_files_are_owner_only(store_path):
    t = SQLiteTransport(store_path)
    t.enqueue([Job(id=new_id(), task="t", payload=serializer.dumps([[], {}]))], NOW)
    for suffix in ("", "-wal", "-shm"):
        mode = stat.S_IMODE(os.stat(store_path + suffix).st_mode)
        assert mode == 0o600, (suffix, oct(mode))
    t.close()


def test_missing_directory_and_read_only_store_give_clear_errors(tmp_path, store_path):
    with pytest.raises(StoreError, match="does not exist"):
        SQLiteTransport(str(tmp_path / "no" / "such" / "jobs.sqlite"))
    SQLiteTransport(store_path).close()
    if os.geteuid() == 0:
        pytest.skip("root can write to read-only files")
    os.chmod(store_path, 0o400)
    with pytest.raises(StoreError, match="read-only"):
        SQLiteTransport(store_path)


def test_memory_store_is_refused():
    with pytest.raises(StoreError, match="file path"):
        SQLiteTransport(":memory:")


def test_sqlite_url_form(tmp_path):
    t = SQLiteTransport(f"sqlite:///{tmp_path}/x.sqlite")
    assert t.path == str(tmp_path / "x.sqlite")
    t.close()


def test_many_processes_creating_one_store_at_once(tmp_path):
    path = str(tmp_path / "race.sqlite")
    code = textwrap.dedent("""
        import sys
        from litejobs.transports.sqlite import SQLiteTransport
        from litejobs.job import Job, new_id
        from litejobs import serializer
        t = SQLiteTransport(sys.argv[1])
        t.enqueue([Job(id=new_id(), task="t", payload=serializer.dumps([[], {}]))], 0.0)
        t.close()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, path]) for _ in range(8)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 8
    t = SQLiteTransport(path)
    assert t.count_jobs() == {"default": {"pending": 8}}
    t.close()


def test_claim_and_lookups_use_indexes(store_path):
    t = SQLiteTransport(store_path)
    one = t.explain("claim_one_queue", ("w", 1, NOW, "default", 10))
    assert "job_pending" in one and "TEMP B-TREE" not in one
    many = t.explain("claim_queues", ("w", 1, NOW, 10, "a", "b"))
    assert many.count("job_pending") == 2
    assert "job_scheduled" in t.explain("promote_due", (NOW,))
    assert "job_purge" in t.explain("prune", (NOW, 10))
    assert "sqlite_autoindex_job_1" in t.explain("get_job", ("x",))
    t.close()


def test_a_connection_never_crosses_a_fork(store_path):
    t = SQLiteTransport(store_path)
    t.enqueue([Job(id=new_id(), task="t", payload=serializer.dumps([[], {}]))], NOW)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        answer = b"error"
        try:
            closed_before_fork = not t.connected
            pending = sum(c.get("pending", 0) for c in t.count_jobs().values())
            answer = f"{closed_before_fork} {pending}".encode()
        finally:
            os.write(w, answer)
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 100) == b"True 1"
    os.close(r)
    assert not t.connected  # the parent closed before the fork too
    assert t.count_jobs() == {"default": {"pending": 1}}  # and reopens on its next use
    assert t.connected
    t.close()


def test_the_stdlib_sqlite3_module_is_never_loaded(tmp_path):
    # Two SQLite libraries in one process can drop each other's POSIX locks.
    code = textwrap.dedent("""
        import sys, litejobs
        app = litejobs.App(sys.argv[1])
        @app.task
        def f():
            return 1
        f.delay()
        app.run_until_idle()
        print("sqlite3" in sys.modules, "_sqlite3" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "j.sqlite")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_version_1_store_is_migrated_in_place(tmp_path):
    from litejobs.transports.sqlite import Q

    path = str(tmp_path / "old.sqlite")
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode = wal").fetchall()
    for _ in conn.execute(Q["schema_1"]):
        pass
    conn.execute("PRAGMA user_version = 1")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("INSERT INTO job (id, task, queue, state, eta, payload, created_at) "
                 "VALUES ('old', 't', 'default', 'pending', 0, x'929080', 0)")
    conn.close()
    t = SQLiteTransport(path)
    assert t.pragma("user_version") == SCHEMA_VERSION == 8
    assert t.get("old").state.value == "pending"
    t.save_group("g", ["old"], NOW)  # a table schema 2 added
    assert t.restore_group("g") == ["old"]
    claimed = t.claim(["default"], "w1", 1, 1, NOW)[0]  # schema 3: attempts are kept
    t.settle([Outcome(claimed.id, claimed.attempts, JobState.SUCCESS)], NOW)
    assert [a.outcome for a in t.list_attempts("old")] == ["success"]
    t.put_control("rate:t", b"1")  # the table schema 5 added
    assert t.list_controls("rate:") == {"rate:t": b"1"}
    t.close()


def test_a_version_2_stores_schedules_are_codes_after_migration(tmp_path):
    from litejobs.transports.sqlite import Q

    path = str(tmp_path / "v2.sqlite")
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode = wal").fetchall()
    for name in ("schema_1", "schema_2"):
        for _ in conn.execute(Q[name]):
            pass
    conn.execute("PRAGMA user_version = 2")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("INSERT INTO beat_entry (name, task, schedule, last_run) "
                 "VALUES ('tick', 't.tick', '<every 5s>', 100)")
    conn.close()
    t = SQLiteTransport(path)
    assert t.pragma("user_version") == SCHEMA_VERSION == 8
    (tick,) = t.list_schedules()  # code's, enabled, its last run kept
    assert (tick.origin, tick.enabled, tick.spec, tick.last_run) == ("code", True, None, 100)
    t.close()


def test_the_supervisors_checkpoint_keeps_the_wal_bounded(store_path):
    import litejobs
    from litejobs.supervisor import Supervisor

    app = litejobs.App(store_path)

    @app.task(name="wal.noop")
    def noop(i):
        return i

    # Given a WAL grown well past the checkpoint threshold (no worker checkpointing)
    from litejobs.supervisor import WAL_CHECKPOINT_FRAMES

    for _ in range(40):
        litejobs.group(noop.s(i) for i in range(2000))()
        if os.path.getsize(store_path + "-wal") > (WAL_CHECKPOINT_FRAMES + 100) * 4096:
            break
    assert os.path.getsize(store_path + "-wal") > WAL_CHECKPOINT_FRAMES * 4096
    wal = store_path + "-wal"
    # When the supervisor's maintenance runs, then a commit follows
    Supervisor(app)._maintain()
    noop.delay(0)
    # Then the log started over: it holds only the latest commit's pages
    frames_after = app.transport.checkpoint("PASSIVE")[0]
    assert frames_after < 50, frames_after
    assert os.path.getsize(wal) <= 64 * 1024 * 1024  # journal_size_limit
    app.close()
