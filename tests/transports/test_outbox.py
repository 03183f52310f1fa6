"""The outbox (transports/sqlite/outbox.py): jobs written through another SQLite
database's own DB-API cursor, in its transaction, and relayed into a store (either
kind) once committed. A real file opened with Python's sqlite3, as Django opens it."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest

from litejobs import serializer
from litejobs.exceptions import StoreError
from litejobs.job import Job, JobState, new_id
from litejobs.transports.sqlite import outbox

NOW = 1_700_000_000.0


def make_job(eta: float = NOW, **kw) -> Job:
    return Job(id=new_id(), task="t.add", payload=serializer.dumps_call("t.add", (1, 2), {}),
               eta=eta, created_at=NOW, **kw)


def app_db(tmp_path) -> tuple[str, sqlite3.Connection]:
    path = str(tmp_path / "app.sqlite3")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
    return path, conn


def test_rolled_back_jobs_are_never_relayed_committed_ones_once(tmp_path, transport):
    path, conn = app_db(tmp_path)
    gone = make_job()
    conn.execute("BEGIN")
    conn.execute("INSERT INTO item (name) VALUES ('gone')")
    outbox.write(conn.cursor(), [gone], NOW)
    conn.execute("ROLLBACK")
    assert outbox.relay_file(path, transport, NOW) == 0

    kept = [make_job(), make_job(eta=NOW + 60, queue="q2", priority=3,
                                 options={"headers": {"h": 1}})]
    conn.execute("BEGIN")
    conn.execute("INSERT INTO item (name) VALUES ('kept')")
    outbox.write(conn.cursor(), kept, NOW)
    assert outbox.relay_file(path, transport, NOW) == 0  # not committed yet: invisible
    conn.execute("COMMIT")
    assert outbox.relay_file(path, transport, NOW) == 2
    assert outbox.relay_file(path, transport, NOW) == 0  # moved once
    assert transport.get(gone.id) is None
    first, second = transport.get(kept[0].id), transport.get(kept[1].id)
    assert first.state is JobState.PENDING and first.payload == kept[0].payload
    assert (second.state, second.queue, second.priority, second.eta) == \
        (JobState.SCHEDULED, "q2", 3, NOW + 60)
    assert second.options == {"headers": {"h": 1}}
    conn.close()


def test_a_database_without_outbox_is_not_written(tmp_path, transport):
    path, conn = app_db(tmp_path)
    conn.close()
    before = os.stat(path).st_mtime_ns, os.path.getsize(path)
    assert outbox.relay_file(path, transport, NOW) == 0
    assert (os.stat(path).st_mtime_ns, os.path.getsize(path)) == before
    assert transport.list_jobs() == []


def test_concurrent_relays_hand_on_each_job_once(tmp_path, make_transport):
    path, conn = app_db(tmp_path)
    jobs = [make_job() for _ in range(300)]
    conn.execute("BEGIN")
    outbox.write(conn.cursor(), jobs, NOW)
    conn.execute("COMMIT")
    conn.close()
    stores = [make_transport() for _ in range(4)]
    moved: list[int] = []
    threads = [threading.Thread(target=lambda t=t: moved.append(outbox.relay_file(path, t, NOW)))
               for t in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(moved) == 300  # each row was taken by exactly one relay
    assert len(stores[0].list_jobs(limit=1000)) == 300


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_relay_on_the_callers_connection_leaves_its_settings(tmp_path, transport,
                                                             journal_mode):
    # the sender relays through its own (Django's) connection, right after its commit
    path, conn = app_db(tmp_path)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN")
    outbox.write(conn.cursor(), [make_job()], NOW)
    conn.execute("COMMIT")
    assert outbox.relay(conn, transport, NOW) == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert not conn.in_transaction
    assert len(transport.list_jobs()) == 1
    conn.close()


def test_a_job_id_sent_twice_is_one_job_and_the_transaction_goes_on(tmp_path, transport):
    path, conn = app_db(tmp_path)
    job = make_job()
    conn.execute("BEGIN")
    outbox.write(conn.cursor(), [job], NOW)
    outbox.write(conn.cursor(), [make_job(), job], NOW)  # no IntegrityError mid-transaction
    conn.execute("INSERT INTO item (name) VALUES ('after')")
    conn.execute("COMMIT")
    assert outbox.relay_file(path, transport, NOW) == 2
    assert conn.execute("SELECT name FROM item").fetchall() == [("after",)]
    conn.close()


def test_a_relay_inside_a_transaction_that_fails_leaves_that_transaction_whole(tmp_path):
    class Unreachable:  # a store that cannot take the jobs now
        def enqueue(self, jobs, now, chords=()):
            raise StoreError("store unreachable")

    path, conn = app_db(tmp_path)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO item (name) VALUES ('kept')")
    outbox.write(conn.cursor(), [make_job()], NOW)
    with pytest.raises(StoreError, match="store unreachable"):
        outbox.relay(conn, Unreachable(), NOW)
    assert conn.in_transaction  # only the relay's savepoint went
    conn.execute("COMMIT")
    assert conn.execute("SELECT name FROM item").fetchall() == [("kept",)]
    assert conn.execute("SELECT count(*) FROM litejobs_outbox").fetchone()[0] == 1
    conn.close()
