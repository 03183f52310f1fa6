"""The raw SQLite ceiling, measured in the same run as litejobs: a bare apsw table in WAL
with ``synchronous=NORMAL``, no job runner around it.

- ``single_commits``: one INSERT per commit (what one ``delay()`` is),
- ``batched_inserts``: 100 rows per commit (what a bulk ``group()`` could be),
- ``claim_complete``: two processes, each claiming 50 rows (UPDATE ... RETURNING) and
  completing them (UPDATE) in one transaction per batch, until the table is drained.
"""

from __future__ import annotations

import multiprocessing
import os
import time

import apsw

SCHEMA = ("CREATE TABLE IF NOT EXISTS job (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, "
          "state TEXT NOT NULL, payload BLOB NOT NULL, result BLOB, worker INTEGER)")
INDEX = "CREATE INDEX IF NOT EXISTS job_pending ON job (seq) WHERE state = 'pending'"
PAYLOAD = b"\x92\x92\x01\x02\x80"


def connect(path: str) -> apsw.Connection:
    conn = apsw.Connection(path)
    conn.set_busy_timeout(60_000)
    conn.execute("PRAGMA journal_mode = wal").fetchall()
    conn.execute("PRAGMA synchronous = normal")
    conn.execute(SCHEMA)
    conn.execute(INDEX)
    return conn


def single_commits(path: str, n: int) -> float:
    """Rows per second, one INSERT per commit (autocommit)."""
    conn = connect(path)
    sql = "INSERT INTO job (id, state, payload) VALUES (?, 'pending', ?)"
    start = time.perf_counter()
    for i in range(n):
        conn.execute(sql, (f"s{i:012d}", PAYLOAD))
    rate = n / (time.perf_counter() - start)
    conn.close()
    return rate


def batched_inserts(path: str, n: int, per: int = 100) -> float:
    """Rows per second, ``per`` rows per commit."""
    conn = connect(path)
    sql = "INSERT INTO job (id, state, payload) VALUES (?, 'pending', ?)"
    start = time.perf_counter()
    for b in range(0, n, per):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, [(f"b{i:012d}", PAYLOAD) for i in range(b, min(b + per, n))])
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    conn.close()
    return rate


def _drain(path: str, worker: int, batch: int) -> None:
    conn = connect(path)
    claim = ("UPDATE job SET state = 'running', worker = ? WHERE seq IN (SELECT seq FROM job "
             "WHERE state = 'pending' ORDER BY seq LIMIT ?) RETURNING seq, payload")
    done = "UPDATE job SET state = 'success', result = ? WHERE seq = ?"
    claimed: list[tuple] = []
    while True:
        conn.execute("BEGIN IMMEDIATE")
        if claimed:
            conn.executemany(done, [(b"\x04", seq) for seq, _payload in claimed])
        claimed = conn.execute(claim, (worker, batch)).fetchall()
        conn.execute("COMMIT")
        if not claimed:
            break
    conn.close()


def claim_complete(path: str, n: int, processes: int = 2, batch: int = 50) -> float:
    """Jobs per second drained by ``processes`` processes claiming ``batch`` at a time."""
    conn = connect(path)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO job (id, state, payload) VALUES (?, 'pending', ?)",
                     [(f"c{i:012d}", PAYLOAD) for i in range(n)])
    conn.execute("COMMIT")
    conn.close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_drain, args=(path, w, batch)) for w in range(processes)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return n / (time.perf_counter() - start)


def ceiling(workdir: str, n: int, bulk: int, drain: int) -> dict[str, float]:
    return {
        "enqueue": single_commits(os.path.join(workdir, "raw-single.sqlite"), n),
        "bulk": batched_inserts(os.path.join(workdir, "raw-batch.sqlite"), bulk),
        "drain": claim_complete(os.path.join(workdir, "raw-drain.sqlite"), drain),
    }


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for key, value in ceiling(d, 10_000, 50_000, 30_000).items():
            print(f"{key:10}{value:>12,.0f}/s")
