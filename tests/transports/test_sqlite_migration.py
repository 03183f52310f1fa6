"""A store written by the schema before job_args (version 2) upgrades in place, through
every later step (job_args in 6; job counts and the runtime index in 8).

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
from litejobs.transports.base import JobQuery
from litejobs.transports.sqlite import APPLICATION_ID, SCHEMA_VERSION, SQLiteTransport

NOW = 1_700_000_000.0
PINNED = pathlib.Path(__file__).parent / "fixtures" / "schema_v2.sql"
BIG = serializer.dumps_call("t.big", ("x" * 20_000,), {})


def make_v2_store(path: str, extra: int = 0) -> None:
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
    states = ["pending", "scheduled", "success", "failure", "revoked"]
    for i in range(extra):  # jobs of three queues in every state; finished ones timed
        state = states[i % 5]
        finished = state in ("success", "failure", "revoked")
        conn.execute(ins.replace("done_at,", "started_at, done_at,").replace(
            "?, ?, ?)", "?, ?, ?, ?)"), (
            f"x{i:04d}", "t.add", f"q{i % 3}", 0, state, NOW + (60 if i % 5 == 1 else -5),
            serializer.dumps_call("t.add", (i, i), {}), None, None, None, None, NOW - 9,
            NOW - 9 if finished else None, NOW - 9 + (i * 7919 % 1000) / 100 if finished
            else None, None))
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

    assert t.pragma("user_version") == SCHEMA_VERSION == 8
    assert t.count_jobs() == {"default": {"pending": 1, "scheduled": 1, "success": 1,
                                          "failure": 1}}
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
    assert t.count_jobs() == {"default": {"scheduled": 1}}  # the rest pruned
    t.close()


def test_migration_8_counts_the_jobs_stored_before_it_and_sorts_them_by_runtime(tmp_path):
    path = str(tmp_path / "v2.sqlite")
    make_v2_store(path, extra=600)

    t = SQLiteTransport(path)

    # every job kept, and counted where it is
    everything = t.search_jobs(JobQuery(limit=1000))
    assert len(everything) == 604
    expected: dict[str, dict[str, int]] = {}
    for job in everything:
        by_state = expected.setdefault(job.queue, {})
        by_state[job.state.value] = by_state.get(job.state.value, 0) + 1
    assert t.count_jobs() == expected
    assert expected["q0"] == {"pending": 40, "scheduled": 40, "success": 40, "failure": 40,
                              "revoked": 40}
    # sorted by runtime: longest first, ties (and no runtime, last) newest first
    def runtime(job):
        return (job.done_at - job.started_at if job.started_at is not None
                and job.done_at is not None else None)
    seqs = {job.id: n for n, job in enumerate(reversed(everything))}
    want = sorted(everything, key=lambda j: (runtime(j) is not None, runtime(j) or 0,
                                             seqs[j.id]), reverse=True)
    assert sum(runtime(j) is not None for j in want) == 360  # pages cross at 360 / 244
    for offset in (0, 50, 230, 340, 380, 600):
        page = t.search_jobs(JobQuery(sort="runtime", limit=50, offset=offset))
        assert [j.id for j in page] == [j.id for j in want[offset:offset + 50]]
        page = t.search_jobs(JobQuery(sort="runtime", descending=False, limit=50,
                                      offset=offset))
        assert [j.id for j in page] == [j.id for j in want[::-1][offset:offset + 50]]
    page = t.search_jobs(JobQuery(sort="runtime", descending=False, limit=50,
                                  queue="q1", state=JobState.FAILURE))
    assert [j.id for j in page] == [j.id for j in reversed(want) if j.queue == "q1"
                                    and j.state is JobState.FAILURE][:50]
    # and the counts follow what happens next
    [claimed] = t.claim(["q0"], "w", 1, 1, NOW)
    t.settle([Outcome(claimed.id, claimed.attempts, JobState.SUCCESS, result=None)], NOW)
    assert t.count_jobs()["q0"] == {"pending": 39, "scheduled": 40, "success": 41,
                                    "failure": 40, "revoked": 40}
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
