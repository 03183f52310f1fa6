"""Quickstart: a worker processing real jobs from a SQLite file.

    python examples/quickstart.py

It declares two tasks, starts a worker in the background (the same supervisor and
pool that `litejobs worker jobs.sqlite` runs), sends jobs, and prints their results.
"""

from __future__ import annotations

import os
import tempfile

import litejobs

store = os.path.join(tempfile.mkdtemp(prefix="litejobs-quickstart-"), "jobs.sqlite")
app = litejobs.App(store)


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task(bind=True, max_retries=3, default_retry_delay=0.1)
def flaky_fetch(self: litejobs.Task, url: str) -> str:
    if self.request.retries < 2:  # fail twice, then succeed
        raise self.retry(exc=ConnectionError(f"{url} timed out"))
    return f"fetched {url} after {self.request.retries} retries"


if __name__ == "__main__":
    with app.start_worker(concurrency=2):
        results = [add.delay(i, i) for i in range(10)]
        print("sums:", [r.get(timeout=30) for r in results])
        print(flaky_fetch.delay("https://example.com").get(timeout=30))
        failed = add.delay("one", 2)
        try:
            failed.get(timeout=30)
        except TypeError as exc:
            print("a failing job re-raises its own exception:", repr(exc))
    print(f"store: {store}")
