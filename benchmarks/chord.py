"""A chord of 10,000 no-op members: litejobs (SQLite and Redis) beside Celery on Redis.

    pip install -e '.[bench]'          # Celery, for the comparison
    python benchmarks/chord.py [MEMBERS]

Each system runs `chord(add.s(i, i) for i in range(MEMBERS))(tsum.s())` and, for
reference, the same fan-out as a plain group, on a warm worker with 2 processes.
Times run from sending to the body's result (chord) or to the last member's result
(group); best of two. Celery runs on the redis-server this benchmark starts, with its
Redis result backend (the one Celery recommends for chords); litejobs runs on a SQLite
file and on the same redis-server. Without Celery or redis-server, those rows are
skipped and say so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from run import celery_worker, flush_redis, start_redis, stop  # noqa: E402

CELERY_TIMEOUT = 300


def best_of_two(send_group, send_chord, expected: int) -> tuple[float, float]:
    rows = []
    for _ in range(2):
        start = time.perf_counter()
        send_group()
        group_s = time.perf_counter() - start
        start = time.perf_counter()
        assert send_chord() == expected
        rows.append((group_s, time.perf_counter() - start))
    return min(rows, key=lambda r: r[1])


def litejobs_chord(db: str, members: int, expected: int) -> tuple[float, float]:
    import litejobs
    from litejobs.testing import use_store

    import bench_tasks

    with use_store(bench_tasks.app, db):
        proc = subprocess.Popen([sys.executable, "-m", "litejobs", "worker", db, "-A",
                                 "bench_tasks", "-c", "2", "-l", "warning"], cwd=HERE,
                                env=dict(os.environ, PYTHONPATH=HERE),
                                start_new_session=True, stderr=subprocess.DEVNULL)
        try:
            bench_tasks.add.delay(0, 0).get(timeout=30)  # the worker is up

            def send_group() -> None:
                litejobs.group(bench_tasks.add.s(i, i) for i in range(members))().get(
                    timeout=600)

            def send_chord() -> int:
                return litejobs.chord(bench_tasks.add.s(i, i) for i in range(members))(
                    bench_tasks.tsum.s()).get(timeout=600)

            return best_of_two(send_group, send_chord, expected)
        finally:
            stop(proc)


def celery_chord(url: str, members: int, expected: int) -> tuple[float, float]:
    os.environ["BENCH_REDIS_URL"] = url
    import celery

    import bench_celery

    flush_redis(url)
    proc = celery_worker(dict(os.environ, PYTHONPATH=HERE))
    try:
        bench_celery.add.delay(0, 0).get(timeout=30)

        def send_group() -> None:
            # join_native fetches results in batches (GroupResult.get polls one by one,
            # which takes minutes for 10,000 members)
            celery.group(bench_celery.add.s(i, i) for i in range(members))().join_native(
                timeout=CELERY_TIMEOUT)

        def send_chord() -> int:
            # Poll the result backend for the body: AsyncResult.get() on a chord this
            # size keeps Celery's client busy tracking every member's result (at 10,000
            # members it had not returned after 600 s, with the workers idle).
            body = celery.chord(bench_celery.add.s(i, i) for i in range(members))(
                bench_celery.tsum.s())
            deadline = time.monotonic() + CELERY_TIMEOUT
            while (meta := bench_celery.app.backend.get_task_meta(body.id))["status"] \
                    != "SUCCESS":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no chord result after {CELERY_TIMEOUT} s")
                time.sleep(0.01)
            return meta["result"]

        return best_of_two(send_group, send_chord, expected)
    finally:
        stop(proc)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the workers on the way out
    members = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    expected = sum(2 * i for i in range(members))
    workdir = tempfile.mkdtemp(prefix="litejobs-chord-")
    rows: list[tuple[str, tuple[float, float] | None, str]] = []
    server = None
    try:
        rows.append(("litejobs, SQLite", litejobs_chord(
            os.path.join(workdir, "chord.sqlite"), members, expected), ""))
        if shutil.which("redis-server"):
            server, url = start_redis(workdir)
            rows.append(("litejobs, Redis", litejobs_chord(url, members, expected), ""))
            try:
                import celery  # noqa: F401
            except ImportError:
                rows.append(("Celery, Redis", None, "skipped: pip install -e '.[bench]'"))
            else:
                try:
                    rows.append(("Celery, Redis", celery_chord(url, members, expected), ""))
                except Exception as exc:  # Celery's own TimeoutError is not the builtin
                    rows.append(("Celery, Redis", None, f"did not finish: {exc!r}"))
        else:
            rows.append(("Redis rows", None, "skipped: no redis-server on PATH"))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{members:,} no-op members, worker with 2 processes, best of 2 (seconds)")
    print(f"{'':20}{'group':>10}{'chord':>10}{'chord/s':>10}{'chord/group':>13}")
    celery_s = next((r[1][1] for r in rows if r[0].startswith("Celery") and r[1]), None)
    for label, times, why in rows:
        if times is None:
            print(f"{label:20}{why}")
            continue
        group_s, chord_s = times
        print(f"{label:20}{group_s:10.2f}{chord_s:10.2f}{members / chord_s:10,.0f}"
              f"{chord_s / group_s:12.2f}x")
    if celery_s:
        for label, times, _ in rows:
            if times and not label.startswith("Celery"):
                print(f"{label}: chord {celery_s / times[1]:.1f}x faster than Celery on Redis")


if __name__ == "__main__":
    main()
