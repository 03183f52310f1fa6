"""A chord of 10,000 no-op members beside the same fan-out as a plain group.

    python benchmarks/chord.py [MEMBERS]

Celery is not installed here (no broker to run it against in this benchmark), so the
comparison is the chord against a plain group of the same members on the same worker:
the difference is what the chord's join costs. Times run from sending to the body's
result (chord) or the last member's result (group), worker `-c 2` already running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main() -> None:
    import litejobs
    from litejobs.testing import use_store

    import bench_tasks

    members = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    workdir = tempfile.mkdtemp(prefix="litejobs-chord-")
    db = os.path.join(workdir, "chord.sqlite")
    with use_store(bench_tasks.app, db):
        proc = subprocess.Popen([sys.executable, "-m", "litejobs", "worker", db, "-A",
                                 "bench_tasks", "-c", "2"], cwd=HERE,
                                env=dict(os.environ, PYTHONPATH=HERE),
                                stderr=subprocess.DEVNULL)
        try:
            bench_tasks.add.delay(0, 0).get(timeout=30)  # the worker is up
            rows = []
            for _ in range(2):
                start = time.perf_counter()
                g = litejobs.group(bench_tasks.add.s(i, i) for i in range(members))()
                g.results[-1].get(timeout=600)
                g.get(timeout=600)
                group_s = time.perf_counter() - start

                start = time.perf_counter()
                c = litejobs.chord(bench_tasks.add.s(i, i) for i in range(members))(
                    bench_tasks.tsum.s())
                total = c.get(timeout=600)
                chord_s = time.perf_counter() - start
                assert total == sum(2 * i for i in range(members))
                rows.append((group_s, chord_s))
        finally:
            proc.terminate()
            proc.wait(30)
    group_s, chord_s = min(rows, key=lambda r: r[1])
    print(f"{members:,} members, worker -c 2 (best of 2)")
    print(f"  plain group, to the last result: {group_s:6.2f} s  ({members / group_s:,.0f}/s)")
    print(f"  chord, to the body's result:     {chord_s:6.2f} s  ({members / chord_s:,.0f}/s)")
    print(f"  chord / group:                   {chord_s / group_s:6.2f}x")


if __name__ == "__main__":
    main()
