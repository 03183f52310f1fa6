"""Claim cost against queue depth, 1 MB jobs, and 10,000 distinct queues (SQLite).

    python benchmarks/scaling.py            # a few minutes; --quick for a smoke run

- claim cost: microseconds per claimed job (claim 50 + settle them, one transaction,
  through the transport's verbs) with 0 (just the batch), 10,000, 100,000 and 1,000,000
  other jobs queued;
- large jobs: 100 jobs with 1 MB arguments, enqueue and drain (`worker -c 2`) rates,
  peak RSS of the producer and of the worker (supervisor + children);
- many queues: one job in each of 10,000 queues, drained by `worker -Q` over all of
  them (`-c 2`), and the claim cost over 10,000 queues.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import litejobs  # noqa: E402
from litejobs.job import JobState, Outcome  # noqa: E402
from litejobs.testing import use_store  # noqa: E402

import bench_tasks  # noqa: E402
from run import family, rss_mib, stop, wait_for  # noqa: E402


def claim_cost(app: litejobs.App, queues: list[str], rounds: int = 40) -> float:
    """Microseconds per job of claim(50) + settle, averaged over ``rounds`` batches."""
    t = app.transport
    for _ in range(rounds):  # what the rounds will take, in front of the backlog
        litejobs.group(bench_tasks.noop.s().set(queue=q, priority=9)
                       for q in (queues * 50)[:50])()
    claimed = 0
    start = time.perf_counter()
    settle: list[Outcome] = []
    for _ in range(rounds):
        jobs = t.claim(queues, "bench", os.getpid(), 50, time.time(), settle=settle)
        settle = [Outcome(j.id, j.attempts, JobState.SUCCESS, result=b"\xc0") for j in jobs]
        claimed += len(jobs)
    t.settle(settle, time.time())
    return (time.perf_counter() - start) / claimed * 1e6


def depth_series(workdir: str, depths: list[int]) -> list[tuple[int, float]]:
    out = []
    with use_store(bench_tasks.app, os.path.join(workdir, "depth.sqlite")) as app:
        queued = 0
        for depth in depths:
            while queued < depth:
                n = min(50_000, depth - queued)
                litejobs.group(bench_tasks.add.s(i, i) for i in range(n))()
                queued += n
            out.append((depth, claim_cost(app, ["default"])))
    return out


def run_worker(db: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "litejobs", "worker", db, "-A",
                             "bench_tasks", "-c", "2", *args], cwd=HERE, env=env,
                            start_new_session=True, stderr=subprocess.DEVNULL)


def large_jobs(workdir: str, n: int) -> dict:
    db = os.path.join(workdir, "large.sqlite")
    blob = b"x" * 1_000_000
    out: dict = {}
    with use_store(bench_tasks.app, db) as app:
        start = time.perf_counter()
        results = [bench_tasks.size.delay(blob) for _ in range(n)]
        out["enqueue"] = n / (time.perf_counter() - start)
        start = time.perf_counter()
        proc = run_worker(db)
        peak = 0.0
        try:
            def done() -> bool:
                nonlocal peak
                peak = max(peak, sum(rss_mib(p) for p in family(proc.pid)))
                return app.transport.count_jobs().get("default", {}).get("success", 0) == n
            end = wait_for(done, 600, 0.01)
            out["drain"] = n / (end - start)
            out["worker_rss"] = peak
            assert all(r.get(timeout=10) == len(blob) for r in results)
        finally:
            stop(proc)
    out["producer_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def many_queues(workdir: str, n: int) -> dict:
    db = os.path.join(workdir, "queues.sqlite")
    queues = [f"q{i:05d}" for i in range(n)]
    out: dict = {}
    with use_store(bench_tasks.app, db) as app:
        start = time.perf_counter()
        litejobs.group(bench_tasks.noop.s().set(queue=q) for q in queues)()
        out["enqueue"] = n / (time.perf_counter() - start)
        start = time.perf_counter()
        proc = run_worker(db, "-Q", ",".join(queues))
        try:
            end = wait_for(lambda: sum(c.get("success", 0) for c in
                                       app.transport.count_jobs().values()) == n, 600, 0.05)
            out["drain"] = n / (end - start)
        finally:
            stop(proc)
        out["claim_us"] = claim_cost(app, queues, rounds=5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    depths = [0, 10_000, 100_000] if args.quick else [0, 10_000, 100_000, 1_000_000]
    with tempfile.TemporaryDirectory(prefix="litejobs-scaling-") as workdir:
        print("claim 50 + settle, us per job, by jobs queued behind:")
        for depth, us in depth_series(workdir, depths):
            print(f"  {depth:>9,}  {us:6.1f} us")
        big = large_jobs(workdir, 20 if args.quick else 100)
        print(f"1 MB jobs: enqueue {big['enqueue']:,.0f}/s, drain -c 2 {big['drain']:,.0f}/s, "
              f"peak RSS producer {big['producer_rss']:.0f} MiB, worker {big['worker_rss']:.0f}"
              " MiB (supervisor + children)")
        many = many_queues(workdir, 1_000 if args.quick else 10_000)
        print(f"{1_000 if args.quick else 10_000:,} queues, one job each: enqueue "
              f"{many['enqueue']:,.0f}/s, drain -c 2 {many['drain']:,.0f}/s, "
              f"claim over all queues {many['claim_us']:,.0f} us per job")


if __name__ == "__main__":
    main()
