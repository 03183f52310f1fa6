"""Chaos: producers and workers on one store while pool children are SIGKILLed at random.

    python benchmarks/chaos.py [JOBS]         # default 20,000 jobs; prints the figures

4 producer processes enqueue JOBS jobs of 10-200 ms while 2 workers (-c 4) run them and
a random pool child is SIGKILLed every 0.5 s. Every execution is written to a ledger
outside the store. Checked: no job lost, every job finished, duplicates no more than
kills, no two executions of one job overlapping, PRAGMA integrity_check ok.
tests/integration/test_chaos.py runs a short variant in CI.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))

PRODUCER = """
import random, sys
import bench_tasks
from litejobs.testing import use_store
db, name, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
with use_store(bench_tasks.app, db):
    for i in range(count):
        bench_tasks.chaos_job.delay(f"{name}-{i}", rng.uniform(0.01, 0.2))
"""


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def run_chaos(workdir: str, n_jobs: int, producers: int = 4, workers: int = 2,
              concurrency: int = 4, kill_every: float = 0.5, timeout: float = 600,
              seed: int = 1) -> dict:
    sys.path.insert(0, HERE)
    from litejobs.testing import use_store

    import bench_tasks

    db = os.path.join(workdir, "chaos.sqlite")
    ledger = os.path.join(workdir, "ledger.txt")
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""),
               LITEJOBS_LEDGER=ledger)
    rng = random.Random(seed)
    kills: list[tuple[int, float]] = []
    with use_store(bench_tasks.app, db) as app:
        app.transport  # noqa: B018 - create the store before the processes race to
        procs = [subprocess.Popen([sys.executable, "-m", "litejobs", "worker", db, "-A",
                                   "bench_tasks", "-c", str(concurrency)], cwd=HERE, env=env,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
                 for _ in range(workers)]
        makers = [subprocess.Popen([sys.executable, "-c", PRODUCER, db, f"p{n}",
                                    str(n_jobs // producers + (n < n_jobs % producers)),
                                    str(seed + n)], cwd=HERE, env=env)
                  for n in range(producers)]
        start = time.monotonic()
        try:
            while time.monotonic() - start < timeout:
                done = app.transport.count_jobs().get("default", {}).get("success", 0)
                if done >= n_jobs and all(m.poll() is not None for m in makers):
                    break
                victims = [c for p in procs for c in _children(p.pid)]
                if victims:
                    victim = rng.choice(victims)
                    # the time before the kill: a second run that starts before it
                    # overlaps for sure; one that starts after may follow the death
                    # (taken after os.kill, this process can be descheduled long
                    # enough for the job to be redelivered first)
                    sent = time.time()
                    try:
                        os.kill(victim, signal.SIGKILL)
                        kills.append((victim, sent))
                    except ProcessLookupError:
                        pass
                time.sleep(kill_every)
            elapsed = time.monotonic() - start
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
            for m in makers:
                m.wait(30)
        counts = app.transport.count_jobs().get("default", {})
        integrity = app.transport.pragma("integrity_check")

    runs: dict[str, list[list[float | int | None]]] = defaultdict(list)  # tag -> [pid, start, end]
    with open(ledger) as f:
        for line in f:
            kind, tag, pid, ts = line.split()
            if kind == "start":
                runs[tag].append([int(pid), float(ts), None])
            else:
                for run in runs[tag]:
                    if run[0] == int(pid) and run[2] is None:
                        run[2] = float(ts)
    killed_at = dict(kills)
    overlaps, redelivery = 0, []
    for executions in runs.values():
        executions.sort(key=lambda r: r[1])
        for first, second in itertools.pairwise(executions):
            end = first[2] if first[2] is not None else killed_at.get(first[0])
            if end is None or second[1] < end:
                overlaps += 1
            elif first[2] is None:
                redelivery.append(second[1] - end)
    finished = {tag for tag, ex in runs.items() if any(r[2] is not None for r in ex)}
    executions = sum(len(ex) for ex in runs.values())
    return {
        "jobs": n_jobs, "seconds": elapsed, "kills": len(kills),
        "succeeded": counts.get("success", 0), "lost": n_jobs - len(finished),
        "duplicates": executions - len(runs), "overlaps": overlaps,
        "redelivery_p50": statistics.median(redelivery) if redelivery else None,
        "redelivery_p99": (sorted(redelivery)[int(0.99 * (len(redelivery) - 1))]
                           if redelivery else None),
        "integrity": integrity, "states": counts,
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory(prefix="litejobs-chaos-") as workdir:
        stats = run_chaos(workdir, n, timeout=3600)
    for key, value in stats.items():
        if isinstance(value, float):
            value = f"{value:.3f}"
        print(f"{key:>16}: {value}")
    ok = (stats["lost"] == 0 and stats["overlaps"] == 0 and stats["integrity"] == "ok"
          and stats["duplicates"] <= stats["kills"])
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
