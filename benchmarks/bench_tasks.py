"""Tasks for benchmarks/run.py (imported by the litejobs worker with -A bench_tasks)."""

import os

import litejobs

app = litejobs.App(os.environ.get("BENCH_DB", "bench.sqlite"))


@app.task
def add(x, y):
    return x + y


@app.task
def tsum(numbers):
    return sum(numbers)


def _ledger(line: str) -> None:
    path = os.environ.get("LITEJOBS_LEDGER")
    if path:
        # one write() per line with O_APPEND: lines from many processes never interleave
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


@app.task
def chaos_job(tag, seconds):
    import time

    _ledger(f"start {tag} {os.getpid()} {time.time():.6f}")
    time.sleep(seconds)
    _ledger(f"end {tag} {os.getpid()} {time.time():.6f}")
    return tag


@app.task
def size(blob):
    return len(blob)


@app.task
def noop():
    return None
