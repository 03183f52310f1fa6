"""A store written by the schema before job_args (version 2) upgrades in place.

The old store is built from tests/transports/fixtures/schema_v2.sql, a pinned copy of
that release's schema, with raw apsw (the only way to write an old file); everything after
goes through the transport's verbs.
"""

from __future__ import annotations

import multiprocessing
import pathlib

import apsw

from litejobs import serializer
from litejobs.job import Job, JobState, Outcome
from litejobs.transports.sqlite import APPLICATION_ID, SCHEMA_VERSION, SQLiteTransport

NOW = 1_700_000_000.0
PINNED = pathlib.Path(__file__).parent / "fixtures" / "schema_v2.sql"
BIG = serializer.dumps_call("t.big", ("x" * 20_000,), {})


def make_v2_store(path: str) -> None:
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode = wal").fetchall()
    sql = PINNED.read_text()
    for part in sql.split("-- name: ")[1:]:
        for _ in conn.execute(part.split("\n", 1)[1]):
            pass
    conn.execute("PRAGMA user_version = 2")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    ins = ("INSERT INTO job (id, task, queue, priority, state, eta, payload, options, result, "
           "error_type, error_message, created_at, done_at, purge_at) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    opts = serializer.dumps({"max_retries": 7})
    conn.execute("BEGIN")
    conn.execute(ins, ("pending", "t.big", "default", 3, "pending", NOW - 5, BIG, opts, None,
                       None, None, NOW - 5, None, None))
    conn.execute(ins, ("later", "t.add", "default", 0, "scheduled", NOW + 3600,
                       serializer.dumps_call("t.add", (1, 2), {}), None, None, None, None,
                       NOW - 5, None, None))
    conn.execute(ins, ("done", "t.add", "default", 0, "success", NOW - 9,
                       serializer.dumps_call("t.add", (2, 2), {}), None, serializer.dumps(4),
                       None, None, NOW - 9, NOW - 8, NOW + 86400))
    conn.execute(ins, ("failed", "t.add", "default", 0, "failure", NOW - 9,
                       serializer.dumps_call("t.add", (0, 0), {}), None, None, "ValueError",
                       "bad", NOW - 9, NOW - 8, NOW + 86400))
    conn.execute("INSERT INTO beat_entry (name, task, schedule, last_run, next_run) "
                 "VALUES ('nightly', 't.add', 'crontab(0 6 * * *)', ?, ?)", (NOW - 60, NOW + 60))
    conn.execute("INSERT INTO group_meta (id, members, created_at) VALUES ('g', ?, ?)",
                 (serializer.dumps(["done", "failed"]), NOW))
    conn.execute("COMMIT")
    conn.close()


def test_a_version_2_store_keeps_every_job_result_and_schedule(tmp_path):
    path = str(tmp_path / "v2.sqlite")
    make_v2_store(path)

    t = SQLiteTransport(path)

    assert t.pragma("user_version") == SCHEMA_VERSION == 7
    pending = t.get("pending")
    assert (pending.state, pending.payload, pending.priority) == (JobState.PENDING, BIG, 3)
    assert pending.options == {"max_retries": 7}
    assert t.get("later").state is JobState.SCHEDULED
    done = t.get("done")
    assert done.state is JobState.SUCCESS and serializer.loads(done.result) == 4
    assert serializer.loads_call(done.payload) == ((2, 2), {})
    failed = t.get("failed")
    assert (failed.state, failed.error_type, failed.error_message) == (
        JobState.FAILURE, "ValueError", "bad")
    [entry] = t.list_schedules()
    assert (entry.name, entry.last_run, entry.next_run) == ("nightly", NOW - 60, NOW + 60)
    assert t.restore_group("g") == ["done", "failed"]
    # and the migrated jobs run: claimed with their arguments, settled, pruned
    [claimed] = t.claim(["default"], "w", 1, 10, NOW)
    assert claimed.id == "pending" and claimed.payload == BIG
    assert claimed.options == {"max_retries": 7}
    t.settle([Outcome("pending", claimed.attempts, JobState.SUCCESS,
                      result=serializer.dumps(1), purge_at=NOW + 1)], NOW)
    assert t.get("pending").state is JobState.SUCCESS
    t.prune(NOW + 86400 * 2, 1000)
    assert t.get("pending") is None and t.get("done") is None
    assert t.get("later") is not None
    t.close()


def _open(path: str) -> None:
    SQLiteTransport(path).close()


def test_many_processes_opening_a_version_2_store_migrate_it_once(tmp_path):
    path = str(tmp_path / "v2.sqlite")
    make_v2_store(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(path,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    t = SQLiteTransport(path)
    assert t.pragma("user_version") == SCHEMA_VERSION
    assert t.get("pending").payload == BIG
    assert {j.id for j in t.list_jobs(None, None, None, 10, 0)} == {
        "pending", "later", "done", "failed"}
    t.close()


def test_a_migrated_store_keeps_unique_jobs_and_their_keys_go_with_them(tmp_path):
    # migration 7 (job_unique) on a store that already holds jobs
    path = str(tmp_path / "v2.sqlite")
    make_v2_store(path)
    t = SQLiteTransport(path)
    first = Job(id="u1", task="t.add", payload=serializer.dumps_call("t.add", (1,), {}),
                eta=NOW, created_at=NOW)
    assert t.enqueue_unique(first, NOW, "t.add:k", 60) == "u1"
    again = Job(id="u2", task="t.add", payload=first.payload, eta=NOW, created_at=NOW)
    assert t.enqueue_unique(again, NOW, "t.add:k", 60) == "u1"
    assert t.purge() == 3  # the two waiting jobs of the old store and u1
    assert t.enqueue_unique(again, NOW, "t.add:k", 60) == "u2"
