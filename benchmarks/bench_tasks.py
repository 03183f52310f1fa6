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
