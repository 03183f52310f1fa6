"""Enqueue and claim+complete rates on a store already holding many finished jobs.

    python benchmarks/store_size.py            # 0, 100,000 and 1,000,000 finished jobs

The in-process worker (app.run_until_idle) runs on one core. The finished jobs are
made with one SQL statement (fixture setup only; litejobs itself keeps SQL in
litejobs/transports/).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

import apsw

import litejobs
from litejobs.timeutil import now

FILL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO job (id, task, queue, priority, state, eta, attempts, result,
                 created_at, started_at, done_at, purge_at)
SELECT printf('old-%012d', i), 'bench.add', 'default', 0, 'success', ?, 1,
       x'03', ?, ?, ? + (i % 997) / 1000.0, ? + 86400 FROM n
"""
# each job's arguments (job_args, as the job_new view's trigger writes them)
FILL_ARGS = "INSERT INTO job_args (seq, payload) SELECT seq, x'929201028090' FROM job"


def measure(finished: int, workdir: str, n: int = 10000) -> tuple[float, float, float]:
    path = os.path.join(workdir, f"store-{finished}.sqlite")
    app = litejobs.App(path)

    @app.task(name="bench.add")
    def add(x, y):
        return x + y

    if finished:
        t = now()
        app.transport  # noqa: B018 - create the schema first
        conn = apsw.Connection(path)  # fixture setup only: a connection of its own
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(FILL, (finished, t, t, t, t, t))
        conn.execute(FILL_ARGS)
        conn.execute("COMMIT")
        conn.close()
        app.transport.checkpoint("TRUNCATE")
    start = time.perf_counter()
    for i in range(n):
        add.delay(i, i)
    one_by_one = n / (time.perf_counter() - start)
    start = time.perf_counter()
    litejobs.group(add.s(i, i) for i in range(n))()
    batch = n / (time.perf_counter() - start)
    start = time.perf_counter()
    ran = app.run_until_idle()
    assert ran == 2 * n, ran
    drain = ran / (time.perf_counter() - start)
    app.close()
    return one_by_one, batch, drain


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [0, 100_000, 1_000_000]
    workdir = tempfile.mkdtemp(prefix="litejobs-size-")
    try:
        print(f"{'finished jobs in store':>24}{'delay()/s':>12}{'batch/s':>12}"
              f"{'claim+complete/s':>18}")
        for size in sizes:
            a, b, c = measure(size, workdir)
            print(f"{size:>24,}{a:>12,.0f}{b:>12,.0f}{c:>18,.0f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
