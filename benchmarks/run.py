"""litejobs beside its peers on this machine, in one run, with ratios.

    pip install -e '.[bench]'      # huey, for the comparison
    python benchmarks/run.py       # about two minutes; --quick for a smoke run

Figures: enqueue (one delay() per job), bulk enqueue (one call), drain (queued no-op
jobs with results stored, worker with 2 processes, from worker start to the last
result), round trip (idle warm worker, delay().get()), idle worker CPU and RSS. On SQLite
it also measures the raw ceiling (raw.py: a bare apsw table, same disk, same run) and
prints litejobs' ratio to it. With --transport redis (on a redis-server the run starts)
the peers are Celery, Huey-Redis (RedisHuey) and Huey-Redis with notify_result=True
(its result waits block on BLPOP instead of polling). On a loaded machine,
``--repeat 3`` runs every system three times in turn and keeps each figure's best.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import raw  # noqa: E402 - beside this file


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def family(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    kids = [int(p) for p in out.split()]
    return [pid] + [g for k in kids for g in family(k)]


def wait_for(predicate, timeout: float, interval: float = 0.005) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise RuntimeError("benchmark timed out")
        time.sleep(interval)
    return time.perf_counter()


def idle_cpu_and_rss(pid: int, seconds: float) -> tuple[float, float]:
    pids = family(pid)
    before = sum(cpu_seconds(p) for p in pids)
    time.sleep(seconds)
    used = sum(cpu_seconds(p) for p in pids) - before
    return 100 * used / seconds, sum(rss_mib(p) for p in pids)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def round_trips(call, trips: int) -> tuple[float, float]:
    """p50 and p99 milliseconds of ``call(i)``: send one job and wait for its result."""
    latencies = []
    for i in range(trips):
        t0 = time.perf_counter()
        call(i)
        latencies.append((time.perf_counter() - t0) * 1000)
    return percentile(latencies, 50), percentile(latencies, 99)


def celery_worker(env: dict) -> subprocess.Popen:
    """`celery -A bench_celery worker -c 2`, as quiet and lean as Celery allows."""
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "bench_celery", "worker",
                             "-c", "2", "--pool", "prefork", "-l", "warning",
                             "--without-gossip", "--without-mingle", "--without-heartbeat"],
                            cwd=HERE, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- litejobs -------------------------------------------------------------------
def start_redis(workdir: str) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL)
    wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"],
                                    capture_output=True).returncode == 0, 10, 0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def flush_redis(url: str | None) -> None:
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()


def bench_litejobs(workdir: str, n: int, bulk: int, trips: int, idle: float,
                   url: str | None = None, drain: int | None = None) -> dict:
    import litejobs
    from litejobs.testing import use_store

    import bench_tasks

    out: dict = {}
    db = url or os.path.join(workdir, "enqueue.sqlite")
    with use_store(bench_tasks.app, db) as app:
        bench_tasks.add.delay(0, 0)
        start = time.perf_counter()
        for i in range(n):
            bench_tasks.add.delay(i, i)
        out["enqueue"] = n / (time.perf_counter() - start)

        start = time.perf_counter()
        litejobs.group(bench_tasks.add.s(i, i) for i in range(bulk))()
        out["bulk"] = bulk / (time.perf_counter() - start)

        start = time.perf_counter()
        bench_tasks.add.delay_many([(i, i) for i in range(bulk)])
        out["bulk_many"] = bulk / (time.perf_counter() - start)
        app.close()

    db = url or os.path.join(workdir, "drain.sqlite")
    flush_redis(url)
    n = drain or n
    with use_store(bench_tasks.app, db) as app:
        for i in range(n - 1):
            bench_tasks.add.delay(i, i)
        last = bench_tasks.add.delay(n, n)
        env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "litejobs", "worker", db, "-A",
                                 "bench_tasks", "-c", "2"], cwd=HERE, env=env,
                                start_new_session=True, stderr=subprocess.DEVNULL)
        try:
            # Block on the last job (the wake-up, not a polling loop that would take CPU
            # from the worker), then make sure every other job is done too.
            last.get(timeout=300)
            done = wait_for(lambda: app.transport.count_jobs().get("default", {})
                            .get("success", 0) == n, 300, interval=0.001)
            out["drain"] = n / (done - start)
            out["rt_p50"], out["rt_p99"] = round_trips(
                lambda i: bench_tasks.add.delay(i, i).get(timeout=10), trips)
            # countdown precision: how late a job due in 0.2 s starts
            late = []
            for _ in range(20):
                r = bench_tasks.add.apply_async((1, 1), countdown=0.2)
                r.get(timeout=10)
                job = app.transport.get(r.id)
                late.append((job.started_at - job.eta) * 1000)
            out["eta_late_p50"], out["eta_late_max"] = statistics.median(late), max(late)
            time.sleep(1)
            out["idle_cpu"], out["rss"] = idle_cpu_and_rss(proc.pid, idle)
        finally:
            stop(proc)
    return out


# -- Huey -----------------------------------------------------------------------
def bench_huey(workdir: str, n: int, trips: int, idle: float, url: str | None = None,
               notify: bool = False) -> dict | None:
    """SqliteHuey, or RedisHuey on ``url`` (``notify``: notify_result=True, BLPOP waits)."""
    try:
        import huey  # noqa: F401
    except ImportError:
        return None
    import importlib

    import bench_huey

    out: dict = {}
    if url:
        os.environ["BENCH_HUEY_REDIS"] = url
        os.environ["BENCH_HUEY_NOTIFY"] = "1" if notify else "0"
    else:
        os.environ.pop("BENCH_HUEY_REDIS", None)
        os.environ["BENCH_HUEY_DB"] = os.path.join(workdir, "huey-enqueue.sqlite")
    flush_redis(url)
    bench_huey = importlib.reload(bench_huey)
    start = time.perf_counter()
    for i in range(n):
        bench_huey.add(i, i)
    out["enqueue"] = n / (time.perf_counter() - start)
    out["bulk"] = None  # Huey has no bulk enqueue

    flush_redis(url)
    if not url:
        os.environ["BENCH_HUEY_DB"] = os.path.join(workdir, "huey-drain.sqlite")
    bench_huey = importlib.reload(bench_huey)
    h = bench_huey.huey
    for i in range(n):
        bench_huey.add(i, i)
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    consumer = shutil.which("huey_consumer") or shutil.which("huey_consumer.py")
    argv = [consumer] if consumer else [sys.executable, "-m", "huey.bin.huey_consumer"]
    start = time.perf_counter()
    proc = subprocess.Popen([*argv, "bench_huey.huey", "-w", "2", "-k", "process"], cwd=HERE,
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        done = wait_for(lambda: h.result_count() >= n, 600, interval=0.02)
        out["drain"] = n / (done - start)
        h.storage.flush_results()
        out["rt_p50"], out["rt_p99"] = round_trips(
            lambda i: bench_huey.add(i, i).get(blocking=True, timeout=30), trips)
        out["eta_late_p50"] = out["eta_late_max"] = None
        time.sleep(1)
        out["idle_cpu"], out["rss"] = idle_cpu_and_rss(proc.pid, idle)
    finally:
        stop(proc)
    return out


HIGHER_IS_BETTER = {"enqueue", "bulk", "bulk_many", "drain"}


def _best(old: dict | None, new: dict | None) -> dict | None:
    """Each figure's best of two runs of one system (throughput: the higher)."""
    if old is None or new is None:
        return new or old
    out = {}
    for key, value in new.items():
        kept = old.get(key)
        if value is None or kept is None:
            out[key] = value if kept is None else kept
        elif key == "eta_late_max":
            out[key] = value if new["eta_late_p50"] <= old["eta_late_p50"] else kept
        else:
            pick = max if key in HIGHER_IS_BETTER else min
            out[key] = pick(value, kept)
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def bench_celery(workdir: str, url: str, n: int, trips: int, idle: float) -> dict | None:
    try:
        import celery  # noqa: F401
    except ImportError:
        return None
    os.environ["BENCH_REDIS_URL"] = url
    import bench_celery

    out: dict = {}
    flush_redis(url)
    bench_celery.add.delay(0, 0)
    start = time.perf_counter()
    for i in range(n):
        bench_celery.add.delay(i, i)
    out["enqueue"] = n / (time.perf_counter() - start)
    out["bulk"] = None
    flush_redis(url)
    results = [bench_celery.add.delay(i, i) for i in range(n)]
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    proc = celery_worker(env)
    try:
        for r in results:
            r.get(timeout=600)
        out["drain"] = n / (time.perf_counter() - start)
        out["rt_p50"], out["rt_p99"] = round_trips(
            lambda i: bench_celery.add.delay(i, i).get(timeout=10), trips)
        out["eta_late_p50"] = out["eta_late_max"] = None
        time.sleep(1)
        out["idle_cpu"], out["rss"] = idle_cpu_and_rss(proc.pid, idle)
    finally:
        stop(proc)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--no-huey", action="store_true", help="skip the peer (Huey/Celery)")
    parser.add_argument("--transport", choices=["sqlite", "redis"], default="sqlite",
                        help="redis: litejobs and Celery on a redis-server this run starts")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="redis: run every system N times in turn and keep each "
                             "figure's best (a loaded machine drifts between runs)")
    args = parser.parse_args()
    n, bulk, drain, trips, idle = ((1000, 10000, 3000, 50, 2.0) if args.quick
                                   else (10000, 50000, 30000, 200, 10.0))
    workdir = tempfile.mkdtemp(prefix="litejobs-bench-")
    server = None
    ceiling: dict = {}
    peers: dict[str, dict | None] = {}
    try:
        if args.transport == "redis":
            server, url = start_redis(workdir)
            systems = {"litejobs": lambda: bench_litejobs(workdir, n, bulk, trips, idle,
                                                          url=url)}
            if not args.no_huey:
                systems["Celery"] = lambda: bench_celery(workdir, url, n, trips, idle)
                systems["Huey"] = lambda: bench_huey(workdir, n, trips, idle, url=url)
                systems["Huey+notify"] = lambda: bench_huey(workdir, n, trips, idle,
                                                            url=url, notify=True)
            best: dict[str, dict | None] = {}
            for _ in range(max(1, args.repeat)):
                for name, bench in systems.items():
                    flush_redis(url)
                    best[name] = _best(best.get(name), bench())
            lj = best.pop("litejobs") or {}
            peers.update(best)
        else:
            ceiling = raw.ceiling(workdir, n, bulk, drain)
            lj = bench_litejobs(workdir, n, bulk, trips, idle, drain=drain)
            if not args.no_huey:
                peers["Huey-SQLite"] = bench_huey(workdir, n, trips, idle)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)

    drained = drain if args.transport == "sqlite" else n
    rows = [
        ("enqueue, one delay() per job (jobs/s)", "enqueue", True),
        (f"bulk enqueue, {bulk:,} in one group() (jobs/s)", "bulk", True),
        (f"bulk, {bulk:,} in one delay_many() (jobs/s)", "bulk_many", True),
        (f"drain {drained:,} no-op jobs, -c 2 (jobs/s)", "drain", True),
        ("round trip p50 (ms)", "rt_p50", False),
        ("round trip p99 (ms)", "rt_p99", False),
        ("countdown lateness p50 / max (ms)", "eta_late_p50", False),
        (f"idle worker CPU over {idle:.0f}s (% of a core)", "idle_cpu", False),
        ("worker RSS, supervisor + children (MiB)", "rss", False),
    ]
    peers = {name: figures for name, figures in peers.items() if figures}
    head = "".join(f"{name:>13}{'ratio':>7}" for name in peers)
    where = " (Redis)" if args.transport == "redis" else ""
    print(f"\n{where:44}{'litejobs':>12}{head}")
    for label, key, higher_better in rows:
        a = lj.get(key)
        if key == "eta_late_p50":
            cell = f"{lj['eta_late_p50']:.1f}/{lj['eta_late_max']:.1f}"
            print(f"{label:44}{cell:>12}" + "".join(f"{'-':>13}{'':>7}" for _ in peers))
            continue
        cells = []
        for figures in peers.values():
            b = figures.get(key)
            ratio = ""
            if a is not None and b:
                ratio = f"{(a / b) if higher_better else (b / a if a else float('inf')):.2f}x"
            cells.append(f"{_fmt(b):>13}{ratio:>7}")
        print(f"{label:44}{_fmt(a):>12}" + "".join(cells))
    print("\nratio: how many times better litejobs is (higher throughput, or lower time/CPU).")
    if ceiling:
        print(f"\n{'raw SQLite ceiling, same run':44}{'raw':>12}{'litejobs':>14}{'ratio':>9}")
        for label, key in (("single-row commits/s vs delay()", "enqueue"),
                           ("100-row batches, rows/s vs group()", "bulk"),
                           ("100-row batches, rows/s vs delay_many()", "bulk_many"),
                           ("claim 50 + complete, 2 procs vs drain", "drain")):
            raw_key = "bulk" if key == "bulk_many" else key
            print(f"{label:44}{_fmt(ceiling[raw_key]):>12}{_fmt(lj[key]):>14}"
                  f"{lj[key] / ceiling[raw_key]:>8.2f}x")


if __name__ == "__main__":
    main()
