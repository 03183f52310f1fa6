"""Dashboard page load times on a SQLite store holding many jobs (1,000,000 by default).

    python benchmarks/dashboard_pages.py               # 1,000,000 jobs
    python benchmarks/dashboard_pages.py --jobs 100000
    python benchmarks/dashboard_pages.py --store /tmp/dash-1m.sqlite   # built once, reused

The jobs are made with one SQL statement (fixture setup only; litejobs itself keeps SQL
in litejobs/transports/): five tasks, mostly succeeded, 2% failed, 0.1% pending, created
over the last week, each with a string argument ``invoice-NNNNNNN`` to search for. A
real ``litejobs dashboard`` process serves them; each figure is the median of three
GETs (server time and transfer on loopback, no browser rendering).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import apsw

import litejobs
from litejobs.timeutil import now

# One job per n, so seq = i in a new store; then each job's arguments (job_args, as the
# job_new view's trigger would write them, without a trigger call per row).
FILL_JOBS = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
INSERT INTO job (seq, id, task, queue, priority, state, eta, attempts, result,
                 error_type, error_message, created_at, started_at, done_at, purge_at)
SELECT i, printf('bench-%012d', i),
       CASE i % 5 WHEN 0 THEN 'billing.invoice' WHEN 1 THEN 'mail.send'
                  WHEN 2 THEN 'reports.daily' WHEN 3 THEN 'images.resize'
                  ELSE 'search.reindex' END,
       CASE WHEN i % 3 = 0 THEN 'billing' ELSE 'default' END, 0,
       CASE WHEN i % 1000 = 7 THEN 'pending' WHEN i % 50 = 3 THEN 'failure'
            ELSE 'success' END,
       ?2 - (?1 - i) * 0.6, 1,
       CASE WHEN i % 50 = 3 OR i % 1000 = 7 THEN NULL ELSE x'03' END,
       CASE WHEN i % 50 = 3 THEN 'app.Error' END, CASE WHEN i % 50 = 3 THEN 'boom' END,
       ?2 - (?1 - i) * 0.6, ?2 - (?1 - i) * 0.6 + 0.01,
       CASE WHEN i % 1000 = 7 THEN NULL ELSE ?2 - (?1 - i) * 0.6 + 0.01 + (i % 997) / 1000.0 END,
       ?2 + 86400 * 30 FROM n
"""
# payload: msgpack [["invoice-NNNNNNN"], {}] (0x92 array of 2, 0x91 array of 1, 0xaf str 15)
FILL_ARGS = """
INSERT INTO job_args (seq, payload)
SELECT seq, CAST(x'9291af' || printf('invoice-%07d', seq) || x'80' AS BLOB) FROM job
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(path: str, jobs: int) -> float:
    app = litejobs.App(path)
    app.schedules.add("nightly", "reports.daily", litejobs.schedules.crontab(hour=3, minute=0))
    app.close()
    start = time.perf_counter()
    conn = apsw.Connection(path)  # fixture setup only: a connection of its own
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(FILL_JOBS, (jobs, now()))
    conn.execute(FILL_ARGS)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - start


def timed_get(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as resp:
        body = resp.read()
    return time.perf_counter() - start, len(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--store", help="build the store at this path once and reuse it "
                        "on later runs (kept; the default is a temporary one)")
    opts = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="litejobs-dash-bench-")
    path = opts.store or os.path.join(workdir, "store.sqlite")
    proc = None
    try:
        if opts.store and os.path.exists(path):
            start = time.perf_counter()
            app = litejobs.App(path)
            app.transport.list_paused_queues()  # opening migrates an older schema
            app.close()
            print(f"reusing {path} ({os.path.getsize(path) / 2**20:.0f} MiB; "
                  f"opened in {time.perf_counter() - start:.1f}s)")
        else:
            took = fill(path, opts.jobs)
            print(f"store of {opts.jobs:,} jobs made in {took:.1f}s "
                  f"({os.path.getsize(path) / 2**20:.0f} MiB)")
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "litejobs", "dashboard", path,
                                 "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                timed_get(base + "/api/overview")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        middle = f"bench-{opts.jobs // 2:012d}"
        pages = {
            "overview /": "/",
            "overview feed /api/overview": "/api/overview",
            "overview charts /api/charts": "/api/charts",
            "job list, newest /jobs": "/jobs",
            "job list, page 2": "/jobs?page=2",
            "job list, page 200 (offset 9,950)": "/jobs?page=200",
            "failed jobs /jobs?state=failure": "/jobs?state=failure",
            "queue filter ?queue=billing": "/jobs?queue=billing",
            "task substring ?task=report": "/jobs?task=report",
            "last hour ?range=1h": "/jobs?range=1h",
            "sorted by task ?sort=task": "/jobs?sort=task",
            "sorted by queue ?sort=queue": "/jobs?sort=queue",
            "sorted by state ?sort=state": "/jobs?sort=state",
            "sorted by finish time ?sort=done": "/jobs?sort=done",
            "sorted by runtime ?sort=runtime": "/jobs?sort=runtime",
            "by runtime, shortest first": "/jobs?sort=runtime&dir=asc",
            "by runtime, page 200": "/jobs?sort=runtime&page=200",
            "search, common term ?q=invoice": "/jobs?q=invoice",
            "search, one job's argument": f"/jobs?q=invoice-{opts.jobs // 2:07d}",
            "search, no match": "/jobs?q=no-such-thing",
            "exact id ?q=<id> (redirect)": f"/jobs?q={middle}",
            "job page /jobs/<id>": f"/jobs/{middle}",
            "job live state /api/jobs/<id>": f"/api/jobs/{middle}",
            "schedules /schedules": "/schedules",
        }
        print(f"{'page':<40} {'median':>9} {'max':>9}  (3 GETs each)")
        for label, url in pages.items():
            times = [timed_get(base + url)[0] for _ in range(3)]
            flag = "" if max(times) < 1.0 else "  > 1 s"
            print(f"{label:<40} {statistics.median(times) * 1000:>7.0f}ms "
                  f"{max(times) * 1000:>7.0f}ms{flag}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
